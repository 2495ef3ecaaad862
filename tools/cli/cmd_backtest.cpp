// ntneural backtest: rolling-origin evaluation of one model or an ensemble on one series.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "ntn/backtest.h"
#include "ntn/csv.h"
#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/parallel.h"
#include "ntn/safetensors.h"
#include "ntn/timing.h"
#include "ntn/trainer.h"
#include "report.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct BacktestOpts {
  DataOpts data;
  std::string models, precision = "fp32", ensemble = "mean", weights, csv;
  PlotRequest plot;  // --plot FILE (.svg: the backtest's charts; .html: the report)
  std::size_t origins = 1000, step = 1, season = 0, refit_every = 0;
  double aci_gamma = kAciGamma;
  int threads = 0;
  bool json = false;
};

int run_backtest(const BacktestOpts& o) {
  set_num_threads(o.threads);
  NTN_CHECK(!dist::world().distributed() || o.refit_every > 0, "backtest runs over MPI ranks only with --refit-every "
            "(its refits spread over them); without it run it as one process");
  const double t_start = now_s();
  if (!o.csv.empty() && o.csv != "-") {
    std::vector<std::pair<const char*, std::string>> inputs = {{"--data", o.data.path}};
    for (const std::string& m : split_list(o.models, "--model")) inputs.emplace_back("--model", model_path(m));
    check_output_path("--csv", o.csv, inputs);
  }
  PlotRequest plot = o.plot;
  if (!plot.out.empty()) {
    const std::vector<std::string> ms = split_list(o.models, "--model");
    NTN_CHECK(ms.size() == 1, "--plot draws one model's backtest (got ", ms.size(), " models)");
    plot.model = model_path(ms[0]);
    plot.data = o.data;
    plot.command = "backtest";
    plot.precision = o.precision;
    check_plot_request(plot, "--plot", {{"--data", o.data.path}, {"--model", plot.model}, {"--csv", o.csv}});
  }
  std::vector<std::unique_ptr<Predictor>> preds;
  std::vector<Predictor*> ptrs;
  for (const std::string& m : split_list(o.models, "--model")) {
    preds.push_back(std::make_unique<Predictor>(model_path(m), PredictorOptions{.precision = parse_precision(o.precision),
                                                                    .max_batch = 64,
                                                                    .workspaces = 0}));
    ptrs.push_back(preds.back().get());
  }
  NTN_CHECK(!ptrs.empty(), "--model names no artifact");
  // Models with covariates: every model must read the same ones (one table serves them all).
  const CovariateInfo& ci = ptrs[0]->artifact().covariates;
  for (const Predictor* p : ptrs)
    NTN_CHECK(p->artifact().covariates.to_json() == ci.to_json(), "--model: the models of an ensemble must take the "
              "same covariates (", p->artifact().source, " differs from ", ptrs[0]->artifact().source, ")");
  const bool with_cov = ci.counts().any();
  CsvOptions c = data_spec(o.data).csv;
  if (with_cov && c.columns.empty()) c.columns = ptrs[0]->artifact().series;
  NTN_CHECK(!with_cov || c.columns.size() == 1, o.data.path, ": backtest runs on one series; pick it with --columns");
  for (const std::string& col : ci.columns()) c.columns.push_back(col);
  const Frame f = read_wide_csv(o.data.path, c);
  NTN_CHECK(with_cov || f.names.size() == 1, o.data.path,
            ": backtest runs on one series; pick it with --columns (the file has ", f.names.size(), ")");
  RawCovariateTable table;
  if (with_cov) table = raw_covariates(ci, f, nullptr, 0);
  column_f32(f, 0);  // every value fits float32 (file:line: column otherwise)
  const std::vector<double>& x = f.cols[0];  // scaled in double by the predictors
  BacktestSpec spec;
  spec.origins = o.origins;
  spec.step = o.step;
  spec.season = o.season;
  spec.aci_gamma = o.aci_gamma;
  spec.ensemble = parse_ensemble(o.ensemble);
  if (!o.weights.empty())
    for (float w : parse_floats(o.weights, "--weights", limits::kWeight)) spec.weights.push_back(w);
  if (o.refit_every > 0) {  // retrain with the artifact's own model and training configuration
    const Artifact& a = ptrs[0]->artifact();
    NTN_CHECK(a.training.contains("config"), o.models, ": the artifact has no training configuration to refit with");
    const TrainConfig tc = TrainConfig::from_json(a.training["config"]);
    const nlohmann::json cfg = a.model->config();
    const std::string name = f.names[0];
    const Precision prec = parse_precision(o.precision);
    spec.refit_every = o.refit_every;
    // Covariate models retrain on the covariates of the same rows (scalers refitted on them).
    const CovariateInfo* cov_cols = with_cov ? &ci : nullptr;
    const RawCovariateTable* cov_raw = with_cov ? &table : nullptr;
    spec.refit = [=, scaling = a.scaling](const double* xs, std::size_t n) {
      return std::make_unique<Predictor>(train_on_series(cfg, tc, name, xs, n, scaling, cov_cols, cov_raw),
                                         PredictorOptions{.precision = prec, .max_batch = 64, .workspaces = 0});
    };
  }
  if (with_cov) spec.covariates = &table;
  // Under mpirun the refit blocks spread over the ranks (block j on rank j % N); rank 0 reports.
  dist::Comm& comm = dist::world();
  spec.comm = &comm;
  const BacktestResult r = backtest(ptrs, f.names[0], x.data(), x.size(), spec);
  if (!comm.root()) return 0;
  std::string plot_line;
  if (!plot.out.empty()) {
    plot.backtest = &r;
    plot.backtest_series = f.names[0];
    plot.data.columns = f.names[0];
    plot_line = write_plot(plot);
  }
  const double total = now_s() - t_start;
  if (!o.csv.empty()) {
    std::string s = "origin,mae,mse,smape,mase,directional_accuracy\n";
    char line[256];
    for (const auto& p : r.per_origin) {
      std::snprintf(line, sizeof line, "%zu,%.9g,%.9g,%.9g,%.9g,%.9g\n", p.origin, p.mae, p.mse, p.smape, p.mase,
                    p.directional_accuracy);
      s += line;
    }
    if (o.csv == "-") {  // the table on stdout instead of the summary
      std::fwrite(s.data(), 1, s.size(), stdout);
      return 0;
    }
    write_file_atomic(o.csv, s);
  }
  json j = r.aggregate;
  j["models"] = split_list(o.models, "--model");
  j["series"] = f.names[0];
  j["forecast_seconds"] = r.forecast_seconds;
  if (r.refits) j["refit_seconds"] = r.refit_seconds;
  j["total_seconds"] = total;
  if (ptrs.size() > 1) j["ensemble"] = o.ensemble;
  if (!plot_line.empty()) j["plot"] = plot.out;
  if (o.json) {
    json po = json::array();
    for (const auto& p : r.per_origin)
      po.push_back({{"origin", p.origin}, {"mae", p.mae}, {"mse", p.mse}, {"smape", p.smape}, {"mase", p.mase},
                    {"directional_accuracy", p.directional_accuracy}});
    j["per_origin"] = po;
  }
  print_result(j, o.json);
  return 0;
}

}  // namespace

Run add_backtest(CLI::App& app) {
  auto o = std::make_shared<BacktestOpts>();
  app.add_option("--model", o->models, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE]), or several comma-separated (an ensemble)")->required();
  add_data_options(app, o->data, false);
  add_uint(app, "--origins", o->origins, limits::kOrigins, "Forecast origins: the last N with complete targets (default 1000)");
  add_uint(app, "--step", o->step, limits::kStep, "Distance between origins (default 1)");
  add_uint(app, "--season", o->season, limits::kSeason, "MASE season (0: no MASE)");
  app.add_option("--ensemble", o->ensemble, "Several models: mean (default), median or weighted");
  app.add_option("--weights", o->weights, "--ensemble weighted: one weight per model, summing to 1");
  add_uint(app, "--refit-every", o->refit_every, limits::kOrigins, "Retrain every K origins on the data before them, with the "
                                                  "artifact's model and training configuration (0: never)");
  add_real(app, "--aci-gamma", o->aci_gamma, {0, 1},
           "Step of the adaptive conformal intervals scored beside the split ones (one model with intervals, "
           "--step 1; default 0.05, 0: none)");
  app.add_option("--precision", o->precision, "fp32 (default), fp16, bf16 or int8");
  app.add_option("--csv", o->csv, "Write the per-origin metrics to this CSV file (- : print them on stdout instead of the summary)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object (aggregate + per_origin)");
  app.add_option("--plot", o->plot.out,
                 "Draw the backtest: FILE.svg forecast vs actual, error by horizon step and rolling interval coverage "
                 "(split conformal, and adaptive with --step 1); FILE.html the report with the forecast and model card");
  add_plot_options(app, o->plot);
  return [o] { return run_backtest(*o); };
}

}  // namespace ntn::cli
