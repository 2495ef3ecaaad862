// libFuzzer target: StreamingPredictor::restore on arbitrary bytes, for a tiny LSTM stream (a
// carried state) with a fixed uuid. A snapshot is either refused with an ntn::Error - and the
// stream is left as it was - or taken, after which a tick gives a finite forecast or an Error;
// never a crash, a hang or a non-finite forecast.
//
// The seed (tests/fuzz/seeds/snapshot/valid_lstm_snapshot) is this target's own stream after 20
// ticks: NTN_WRITE_SNAPSHOT_SEED=FILE ./fuzz_snapshot writes it and exits.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ntn/error.h"
#include "ntn/models.h"
#include "ntn/predictor.h"

namespace {

struct Setup {
  std::unique_ptr<ntn::Predictor> p;
  Setup() {
    ntn::Artifact a;
    a.model = ntn::make_model<float>({{"type", "lstm"}, {"input_size", 6}, {"horizon", 3}, {"encoder_hidden_size", 5},
                                      {"decoder_layers", 1}, {"decoder_hidden_size", 4}});
    a.model->init(3);
    a.scaling = ntn::SeriesScaling::standard;
    a.series = {"s"};
    a.stats = {ntn::NormStats{100.0, 4.0}};
    a.uuid = "00000000-0000-4000-8000-00000000f022";
    a.version = "fuzz";
    p = std::make_unique<ntn::Predictor>(std::move(a));
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

float tick(int i) { return 100.0f + 3.0f * std::sin(0.3f * float(i)); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* path = std::getenv("NTN_WRITE_SNAPSHOT_SEED")) {
    ntn::StreamingPredictor s(*setup().p);
    std::vector<float> y(setup().p->output_size());
    for (int i = 0; i < 20; ++i) s.push(tick(i), y.data());
    const std::string bytes = s.snapshot();
    std::FILE* f = std::fopen(path, "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) std::abort();
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ntn::Predictor& p = *setup().p;
  ntn::StreamingPredictor s(p);
  std::vector<float> y(p.output_size()), before(p.output_size());
  for (int i = 0; i < 8; ++i) s.push(tick(i), before.data());
  const std::string snap = s.snapshot();
  try {
    s.restore(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const ntn::Error&) {
    if (s.snapshot() != snap) __builtin_trap();  // a refused snapshot changes nothing
    return 0;
  }
  try {
    if (s.push(tick(9), y.data()))
      for (float v : y)
        if (!std::isfinite(v)) __builtin_trap();
  } catch (const ntn::Error&) {
  }
  return 0;
}
