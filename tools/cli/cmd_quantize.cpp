// ntneural quantize: a low-precision copy of an artifact and its accuracy report (the library's).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>

#include "ntn/pipeline.h"
#include "ntn/quantize.h"
#include "ntn/safetensors.h"

#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/parallel.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct QuantizeOpts {
  DataOpts data;
  std::string model, out, to = "int8";
  int threads = 0;
  bool json = false;
};

// Writes the quantised artifact, then (with --data) scores fp32 and the quantised model on the
// protocol's test windows through the same Predictor path.
int run_quantize(const QuantizeOpts& o) {
  set_num_threads(o.threads);
  const Precision to = parse_precision(o.to);
  NTN_CHECK(to != Precision::fp32, "--to must be fp16, bf16 or int8");
  const std::string model = model_path(o.model);
  check_output_path("--out", o.out, {{"--model", model}, {"--data", o.data.path}, {"--test-data", o.data.test_path}});
  // Every input is read and validated before the output is created.
  const Artifact a = Artifact::load(model);
  std::optional<Prepared> p;
  if (!o.data.path.empty()) {
    std::size_t H = a.model->horizon();
    p = prepare(data_spec_for(o.data, a), a.model->input_size(), H);
  }
  quantize(a, to).save(o.out);
  print_result(quantization_report(model, o.out, p ? &*p : nullptr), o.json);
  return 0;
}

}  // namespace

Run add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOpts>();
  app.add_option("--model", o->model, "fp32 model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  app.add_option("--to", o->to, "int8 (default), fp16 or bf16");
  app.add_option("--out", o->out, "Quantised artifact to write")->required();
  add_data_options(app, o->data, true, /*data_required=*/false);  // --data: the accuracy report's data set
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_quantize(*o); };
}

}  // namespace ntn::cli
