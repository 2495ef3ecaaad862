// ntneural plot: pictures of a model on a data file - an SVG chart (forecast fan, backtest, learning
// curve) or the one-page HTML report with all of them, the metrics and the model card (report.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "common.h"
#include "ntn/parallel.h"
#include "report.h"

namespace ntn::cli {
namespace {

struct PlotOpts {
  PlotRequest req;
  std::string model;
  int threads = 0;
};

int run_plot(PlotOpts& o) {
  set_num_threads(o.threads);
  o.req.model = model_path(o.model);
  o.req.command = "plot";
  check_plot_request(o.req, "--out", {{"--model", o.req.model}, {"--data", o.req.data.path}});
  std::printf("%s\n", write_plot(o.req).c_str());
  return 0;
}

}  // namespace

void add_plot_options(CLI::App& app, PlotRequest& r) {
  add_uint(app, "--plot-history", r.history, limits::kOrigins,
           "Pictures: values of history drawn before each forecast (default: the input size or 3 horizons, the larger)");
  add_uint(app, "--plot-series", r.series, {1, 1000}, "Pictures: forecasts of at most this many series (default 6)");
}

Run add_plot(CLI::App& app) {
  auto o = std::make_shared<PlotOpts>();
  app.add_option("--model", o->model, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  add_data_options(app, o->req.data, false);
  app.add_option("--out", o->req.out,
                 "FILE.svg: one chart (--kind); FILE.html: the report - forecast fans, backtest, learning curve, "
                 "metrics and model card on one page")
      ->required();
  app.add_option("--kind", o->req.kind,
                 "The chart of an .svg: forecast (default: each series' history, forecast and interval fan), "
                 "backtest (forecast vs actual, error by step, rolling coverage) or loss (learning curve)");
  add_uint(app, "--origins", o->req.origins, limits::kOrigins, "Backtest: the last N origins (default 250)");
  add_uint(app, "--step", o->req.step, limits::kStep, "Backtest: distance between origins (default 1)");
  app.add_option("--backtest-series", o->req.backtest_series, "Backtest: the column (default: the first)");
  add_plot_options(app, o->req);
  app.add_option("--precision", o->req.precision, "Draw forecasts with fp32 (default), fp16, bf16 or int8 weights");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  return [o] { return run_plot(*o); };
}

}  // namespace ntn::cli
