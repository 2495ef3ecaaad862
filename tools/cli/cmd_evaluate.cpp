// ntneural evaluate: the test-part metrics of an artifact on a data set (+ the naive baseline).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ntn/pipeline.h"

#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/parallel.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct EvalOpts {
  DataOpts data;
  std::string model;
  int threads = 0;
  bool json = false;
  std::size_t paths = 100;
  std::uint64_t seed = 1;
  std::string intervals = "0.8,0.9";
};

int run_evaluate(const EvalOpts& o) {
  set_num_threads(o.threads);
  const Artifact a = Artifact::load(model_path(o.model));
  std::size_t H = a.model->horizon();
  const Prepared p = prepare(data_spec_for(o.data, a), a.model->input_size(), H);
  SampleOptions so;
  so.paths = o.paths;
  so.seed = o.seed;
  so.intervals = parse_real_list("--intervals", o.intervals, limits::kQuantile);
  const TestMetrics m = evaluate_test(a, p, so);
  json j = m.to_json();
  j["model"] = o.model;
  j["uuid"] = a.uuid;
  print_result(j, o.json);
  return 0;
}

}  // namespace

Run add_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvalOpts>();
  app.add_option("--model", o->model, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  add_data_options(app, o->data, true);
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object (mse, mae, rmse, smape, mase, ...)");
  add_uint(app, "--paths", o->paths, limits::kPaths,
           "Distribution models: sample paths per test window for CRPS and interval coverage (default 100)");
  add_uint(app, "--seed", o->seed, limits::kSeed, "Distribution models: seed of the sample paths (default 1)");
  app.add_option("--intervals", o->intervals,
                 "Distribution models: central intervals whose coverage is reported (default 0.8,0.9)");
  return [o] { return run_evaluate(*o); };
}

}  // namespace ntn::cli
