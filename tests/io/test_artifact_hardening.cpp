// Hardening, class "artifacts": a model file is verified at load (checksum of every byte,
// finite weights, a scaler that fits float32) and every forecast is checked before it is
// returned, so no NaN / inf forecast ever leaves the library. Each row of a table is one
// hostile artifact, written legitimately (valid checksum) so the check behind the checksum is
// the one under test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "expect_error.h"
#include "small_artifact.h"
#include "ntn/csv.h"
#include "ntn/predictor.h"
#include "ntn/quantize.h"
#include "ntn/safetensors.h"

namespace ntn {
namespace {

using nlohmann::json;

const json kCfg = {{"type", "nhits"}, {"input_size", 16}, {"horizon", 4}, {"mlp_units", {{8, 8}}}};

Artifact base_artifact() { return test::small_artifact(kCfg); }

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ntn_hard_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<float> prices(std::size_t n, float level = 100.0f) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = level + std::sin(0.3f * float(i));
  return x;
}

// Sets every element of the first Linear weight to v.
void poison_weight(Artifact& a, float v) {
  auto& ps = a.model->params();
  for (std::size_t i = 0; i < ps.entries().size(); ++i)
    if (ps.entries()[i].packed()) {
      std::fill(ps.value(i), ps.value(i) + ps.entries()[i].size, v);
      return;
    }
}

TEST(ArtifactHardening, LoadRejectsWhatWouldForecastNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* name;
    std::function<void(Artifact&)> poison;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"scale_tiny", [](Artifact& a) { a.stats[0].scale = 1e-300; }, "is outside float32"},
      {"scale_huge", [](Artifact& a) { a.stats[0].scale = 1e39; }, "is outside float32"},
      {"center_huge", [](Artifact& a) { a.stats[0].center = 1e39; }, "is outside float32"},
      {"weight_nan", [&](Artifact& a) { poison_weight(a, nan); }, "holds nan at element 0"},
      {"weight_inf", [&](Artifact& a) { poison_weight(a, inf); }, "holds inf at element 0"},
      {"weight_neg_inf", [&](Artifact& a) { poison_weight(a, -inf); }, "holds -inf at element 0"},
      // Finite but at the edge of float32: loads, and the warm-up forecast overflows -> an error.
      {"weight_3e38", [](Artifact& a) { poison_weight(a, 3e38f); }, "is not finite"},
      {"quantiles_unordered",
       [](Artifact& a) {
         json cfg = kCfg;
         cfg["outputs"] = 2;
         a.model = make_model<float>(cfg);
         a.output.kind = OutputKind::quantiles;
         a.output.levels = {0.9f, 0.1f};
       },
       "quantile levels must increase"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Artifact a = base_artifact();
    c.poison(a);
    const std::string path = tmp_path(std::string(c.name) + ".ntn");
    a.save(path);
    test::expect_error([&] { Predictor p(path); }, {path.c_str(), c.fragment});
    std::filesystem::remove(path);
  }
}

TEST(ArtifactHardening, LowPrecisionCopiesAreCheckedToo) {
  Artifact a = base_artifact();
  poison_weight(a, 3e38f);  // fp16 saturates to inf: the quantised copy must not load
  const std::string path = tmp_path("fp16.ntn");
  quantize(a, Precision::fp16).save(path);
  test::expect_error([&] { Predictor p(path, {.precision = Precision::fp16}); }, {path.c_str(), "fp16"});
  // bf16 keeps fp32's range (3e38 is finite there), but 3.4e38 rounds past its largest value (3.39e38) to inf.
  poison_weight(a, 3.4e38f);
  quantize(a, Precision::bf16).save(path);
  test::expect_error([&] { Predictor p(path, {.precision = Precision::bf16}); },
                     {path.c_str(), "non-finite bf16 value"});
  // int8 of the same weights: finite codes and scales. Whether the forecast overflows depends on
  // the ISA's int8 kernel (the scalar table multiplies the scales in another order): either the
  // load is an error naming the file and the non-finite forecast, or every forecast is finite.
  quantize(a, Precision::int8).save(path);
  try {
    Predictor p(path, {.precision = Precision::int8});
    std::vector<float> x = prices(16), y(4);
    p.predict(x.data(), y.data(), 0);
    for (float v : y) EXPECT_TRUE(std::isfinite(v)) << v;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("not finite"), std::string::npos) << msg;
  }
  std::filesystem::remove(path);
}

TEST(ArtifactHardening, EveryForecastIsCheckedBeforeItIsReturned) {
  // A valid model; inputs that overflow float32 once scaled give an error naming the row.
  Artifact a = base_artifact();
  a.stats = {NormStats{0.0, 1e-30}};
  const std::string path = tmp_path("tiny_scale.ntn");
  a.save(path);
  Predictor p(path);
  std::vector<float> x = prices(16), y(4);
  p.predict(x.data(), y.data(), 0);  // 100 / 1e-30 = 1e32: fits
  for (float& v : y) EXPECT_TRUE(std::isfinite(v));
  std::vector<float> big = prices(16 * 3);
  for (std::size_t i = 16; i < 32; ++i) big[i] = 1e37f;  // row 1: 1e37 / 1e-30 = inf in float32
  std::vector<std::size_t> series(3, 0);
  std::vector<float> out(3 * 4);
  test::expect_error([&] { p.predict_batch(big.data(), 3, out.data(), series.data()); },
                     {path.c_str(), "forecast of input row 1 is not finite"});
  test::expect_error([&] { p.predict(big.data() + 16, y.data(), 0); }, {"not finite"});
  StreamingPredictor s(p, 0);
  for (std::size_t i = 0; i < 16; ++i) s.append(1e37f);
  test::expect_error([&] { s.forecast(y.data()); }, {"not finite"});
  std::filesystem::remove(path);
}

TEST(ArtifactHardening, ChecksumCatchesEveryByteFlip) {
  Artifact a = base_artifact();
  const std::string path = tmp_path("flip.ntn");
  a.save(path);
  const std::string good = read_file(path);
  EXPECT_TRUE(SafeTensorsFile::read(path).checksummed());
  // Every byte of a small artifact, one flip at a time (header, metadata, tensors): each is an
  // error at load; none loads and forecasts something different.
  const std::size_t step = std::max<std::size_t>(1, good.size() / 3000);
  std::size_t flips = 0;
  for (std::size_t i = 0; i < good.size(); i += step) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ (1 << (i % 8)));
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bad.data(), std::streamsize(bad.size()));
    try {
      Predictor p(path);
      ADD_FAILURE() << "flip of byte " << i << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    ++flips;
  }
  EXPECT_GT(flips, 1000u);
  std::filesystem::remove(path);
}

TEST(ArtifactHardening, ArtifactErrorsNameTheFile) {
  Artifact a = base_artifact();
  const std::string path = tmp_path("names.ntn");
  a.save(path);
  std::string text = read_file(path);
  // Without a checksum (an older or edited file): refused, naming the file.
  SafeTensorsFile f = SafeTensorsFile::read(path);
  SafeTensorsWriter w;
  for (const auto& [name, info] : f.tensors()) w.add(name, info.dtype, info.shape, f.get(name, info.dtype, info.shape));
  w.metadata = f.metadata();
  w.metadata["model_config"] = json({{"type", "lstm9"}}).dump();
  w.write(path);
  test::expect_error([&] { Artifact::load(path); }, {path.c_str(), "unknown model type 'lstm9'"});
  w.metadata = f.metadata();
  w.metadata["precision"] = "fp8";
  w.write(path);
  test::expect_error([&] { Artifact::load(path); }, {path.c_str(), "unknown precision 'fp8'"});
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ntn
