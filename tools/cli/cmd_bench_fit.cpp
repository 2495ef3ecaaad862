// ntneural bench fit: median time of one Prophet-style MAP fit (L-BFGS) on a whole series of a file -
// the number Prophet users compare (Stan's optimizer). Validated before timing: L-BFGS must stop on
// a convergence test (not the iteration limit or a failed line search), the fit must be finite and
// closer to the data in sample than the series' mean.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/jobs.h"
#include "ntn/parallel.h"
#include "ntn/prophet.h"
#include "ntn/timing.h"

namespace ntn::cli {
namespace {

struct Opts {
  std::string data, column;
  std::vector<std::string> settings;  // --set key=value (prophet config fields)
  int reps = 15;
  bool json = false;
};

int run(const Opts& o) {
  set_num_threads(1);  // one fit is one thread
  CsvOptions csv;
  if (!o.column.empty()) csv.columns = {o.column};
  const Frame f = read_wide_csv(o.data, csv);
  NTN_CHECK(
      f.cols.size() == 1, o.data, ": bench fit fits one series; name it with --column (columns: ",
      join(f.names),
      ")");
  const std::vector<double>& y = f.cols[0];
  const std::size_t n = y.size();
  const bool dates = time_is_dates(f);
  std::vector<double> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = dates ? f.time[i] / 86400.0 : double(i);  // days, or steps
  nlohmann::json cfg = {{"type", "prophet"}, {"timestamps", dates}, {"futr_exog", dates ? 2 : 0}};
  apply_settings(cfg, o.settings);
  const ProphetOptions opt = prophet_options(cfg);
  ProphetFitter p(opt);
  p.reserve(n, n, 1);
  LbfgsResult r = p.fit(y.data(), t.data(), n);
  NTN_CHECK(
      r.stop != LbfgsStop::max_iters && r.stop != LbfgsStop::not_finite && r.stop != LbfgsStop::line_search,
      "bench fit validation failed: L-BFGS stopped on '", lbfgs_stop_name(r.stop), "' after ", r.iters,
      " iterations");
  std::vector<double> yhat(n);
  p.predict(t.data(), n, nullptr, yhat.data());
  double mae = 0, mean = 0, mae_mean = 0;
  for (std::size_t i = 0; i < n; ++i) mean += y[i] / double(n);
  for (std::size_t i = 0; i < n; ++i)
    mae += std::fabs(yhat[i] - y[i]) / double(n), mae_mean += std::fabs(y[i] - mean) / double(n);
  NTN_CHECK(std::isfinite(mae) && mae < mae_mean, "bench fit validation failed: in-sample MAE ", mae,
            " is not below the mean forecast's ", mae_mean);
  const Timing tm = measure([&] { r = p.fit(y.data(), t.data(), n); }, o.reps, 0.0);
  nlohmann::json j = {{"data", o.data},
                      {"points", n},
                      {"time", dates ? "days" : "steps"},
                      {"growth", prophet_growth_name(opt.growth)},
                      {"seasonalities", p.fitted().seasonalities},
                      {"features", p.fitted().features},
                      {"changepoints", p.fitted().changepoints.size()},
                      {"fit_ms", tm.median_s * 1e3},
                      {"fit_ms_min", tm.min_s * 1e3},
                      {"fit_ms_max", tm.max_s * 1e3},
                      {"reps", tm.reps},
                      {"iterations", r.iters},
                      {"evaluations", r.evals},
                      {"stop", lbfgs_stop_name(r.stop)},
                      {"objective", r.f},
                      {"sigma", p.fitted().sigma * p.fitted().y_scale},
                      {"in_sample_mae", mae},
                      {"in_sample_mae_of_mean", mae_mean}};
  print_result(j, o.json);
  return 0;
}

}  // namespace

Run add_bench_fit(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_option("--data", o->data,
                 "Wide CSV: one series (dates in the time column give a time axis in days)")
      ->required();
  app.add_option("--column", o->column, "The series' column (needed when the file has several)");
  app.add_option("--set", o->settings, "Prophet config field, repeatable: key=value (as train --set)");
  add_uint(app, "--reps", o->reps, UintRange{1, 100000}, "Timed fits (the median is reported; default 15)");
  app.add_flag("--json", o->json, "Print one JSON object (fit_ms = median fit time)");
  return [o] { return run(*o); };
}

}  // namespace ntn::cli
