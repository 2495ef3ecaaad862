// ntneural calibrate: (re)calibrate an artifact's split-conformal intervals on data it did not
// train on, at other levels or with another score, and write the result as a new artifact.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

#include "commands.h"
#include "common.h"
#include "ntn/conformal.h"
#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/parallel.h"
#include "ntn/pipeline.h"
#include "ntn/safetensors.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct CalibrateOpts {
  DataOpts data;
  std::string model, out, levels = "0.8,0.95", score = "absolute", part = "val";
  double half_life = 0;
  int threads = 0;
  bool json = false;
};

int run_calibrate(const CalibrateOpts& o) {
  set_num_threads(o.threads);
  const std::vector<double> levels = parse_real_list("--levels", o.levels, {1e-6, 1 - 1e-6});
  const ConformalScore score = parse_conformal_score(o.score);
  NTN_CHECK(std::isfinite(o.half_life) && o.half_life >= 0 && o.half_life <= 1e15,
            "--half-life must be a finite number of time steps >= 0 (0: every window weighs the same; got ", o.half_life,
            ")");
  NTN_CHECK(o.part == "val" || o.part == "test" || o.part == "all", "--part must be val, test or all (got '", o.part,
            "')");
  const std::string model = model_path(o.model);
  check_output_path("--out", o.out, {{"--model", model}, {"--data", o.data.path}});
  Artifact a = Artifact::load(model);
  std::size_t H = a.model->horizon();
  const Prepared p = prepare(data_spec_for(o.data, a), a.model->input_size(), H);
  std::vector<WindowRef> windows = o.part == "val" ? p.val : o.part == "test" ? p.test : p.train;
  if (o.part == "all") {
    windows.insert(windows.end(), p.val.begin(), p.val.end());
    windows.insert(windows.end(), p.test.begin(), p.test.end());
  }
  NTN_CHECK(!windows.empty(), "--part ", o.part, ": the data '", o.data.path, "' has no such windows for a model of ",
            a.model->input_size(), " inputs and horizon ", a.model->horizon());
  a.conformal = calibrate_conformal(a, p.store, windows, levels, score, o.half_life);
  // Another artifact (its intervals differ): a fresh uuid, the one it was calibrated from recorded.
  const std::string from = a.uuid;
  a.uuid = make_uuid();
  a.created = utc_now_iso8601();
  a.training["calibration"] = {{"from", from}, {"data", o.data.path}, {"part", o.part}, {"windows", windows.size()}};
  a.training.erase("conformal");  // an earlier note of skipped levels no longer applies
  a.save(o.out);
  json radius = json::object();  // per level, the radius averaged over the steps (series-scaled units x s)
  for (std::size_t k = 0; k < levels.size(); ++k) {
    double sum = 0;
    for (std::size_t h = 0; h < a.conformal.horizon; ++h) sum += a.conformal.r(k, h);
    radius[cat(levels[k] * 100)] = sum / double(a.conformal.horizon);
  }
  const json r = {{"model", o.out}, {"uuid", a.uuid},  {"calibrated_from", from}, {"windows", windows.size()},
                  {"part", o.part}, {"score", o.score}, {"levels", levels},         {"mean_radius", radius},
                  {"half_life", o.half_life}};
  print_result(r, o.json);
  return 0;
}

}  // namespace

Run add_calibrate(CLI::App& app) {
  auto o = std::make_shared<CalibrateOpts>();
  app.add_option("--model", o->model, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  add_data_options(app, o->data, true);
  app.add_option("--out", o->out, "The calibrated artifact (a new uuid)")->required();
  app.add_option("--levels", o->levels, "Interval levels (default 0.8,0.95)");
  app.add_option("--score", o->score, "absolute (default), window (residuals over the window's mean absolute step) or head (over the quantile or "
                 "distribution head's own spread)");
  app.add_option("--half-life", o->half_life,
                 "Weigh the windows by recency: one T time steps older than its series' last weighs half (0: none)");
  app.add_option("--part", o->part,
                 "Windows to calibrate on: val (default: the validation part of --data under its protocol), test, or "
                 "all (every window: data the model never saw)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print JSON");
  return [o] { return run_calibrate(*o); };
}

}  // namespace ntn::cli
