// Pictures of a model on a data file, shared by `ntneural plot` and --plot on predict / backtest /
// train: the forecast after each series' end with its interval fan, a backtest (forecast vs
// actual over the origins, error by horizon step, rolling interval coverage), the learning curve
// recorded in the artifact, and a one-page HTML report with all of them, the metrics and the
// model card (ntn/plot.h draws them).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "ntn/backtest.h"

namespace ntn::cli {

struct PlotRequest {
  std::string model;        // artifact path (model_path already applied)
  DataOpts data;            // the file whose series are drawn (wide CSV)
  std::string out;          // FILE.svg: one kind of chart; FILE.html: the report
  std::string kind;         // .svg: forecast | backtest | loss ("": the command's own, else forecast)
  std::string command;      // the command that drew it (plot, predict, backtest, train), for the report
  std::string precision = "fp32";  // the weights the forecasts are drawn with (predict / backtest --precision)
  std::size_t history = 0;  // forecast: values of history drawn before it (0: max(input size, 3 horizons))
  std::size_t series = 6;   // forecast: at most this many series (the file's first ones)
  std::size_t origins = 250, step = 1;  // backtest of the report (the first series) when none is given
  nlohmann::json metrics;   // the run's own metrics (train: test metrics), a table of the report
  // backtest --plot: its result and settings (the report draws it instead of running one).
  const BacktestResult* backtest = nullptr;
  std::string backtest_series;  // the column it ran on
};

// Before the run: out ends in .svg or .html, may be written and is none of the inputs; kind is
// known. Throws naming --plot (or --out for `ntneural plot`).
void check_plot_request(const PlotRequest& r, const char* option,
                        const std::vector<std::pair<const char*, std::string>>& inputs);

// --plot-history and --plot-series (plot, and --plot of predict / backtest / train).
void add_plot_options(CLI::App& app, PlotRequest& r);

// Draws and writes r.out atomically; returns a line saying what it holds.
std::string write_plot(const PlotRequest& r);

}  // namespace ntn::cli
