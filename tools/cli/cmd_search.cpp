// ntneural search: grid / random search over model and training configuration values, each
// candidate trained on the data before the backtest's first origin and scored by the backtest.
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
#include "ntn/trainer.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct SearchOpts {
  DataOpts data;
  std::string model = "nhits", grid, window_scaler = "none", loss = "mae", csv;
  std::size_t input_size = 168, horizon = 24, origins = 200, step = 1, random = 0, max_steps = 200,
              batch = 64;
  std::uint64_t seed = 1;
  int threads = 0;
  bool json = false;
};

int run_search(const SearchOpts& o) {
  set_num_threads(o.threads);
  if (!o.csv.empty() && o.csv != "-") check_output_path("--csv", o.csv, {{"--data", o.data.path}});
  NTN_CHECK(!o.grid.empty(), "--grid is required, e.g. \"mlp_units=[[64,64]]|[[256,256]]; lr=0.001|0.0003\"");
  const Frame f = read_wide_csv(o.data.path, data_spec(o.data).csv);
  NTN_CHECK(f.names.size() == 1, o.data.path, ": search runs on one series; pick it with --columns (the file has ",
            f.names.size(), ")");
  column_f32(f, 0);  // every value fits float32 (file:line: column otherwise)
  const std::vector<double>& x = f.cols[0];
  const json base_model = {{"type", o.model}, {"input_size", o.input_size}, {"horizon", o.horizon}};
  TrainConfig tc;
  tc.max_steps = o.max_steps;
  tc.batch_size = o.batch;
  tc.seed = o.seed;
  tc.loss = parse_loss(o.loss);
  tc.schedule.name = "step";
  tc.window_scaling = parse_window_scaling(o.window_scaler);
  const auto candidates = expand_grid(base_model, tc.to_json(), o.grid, o.random, o.seed);
  BacktestSpec spec;
  spec.origins = o.origins;
  spec.step = o.step;
  spec.season = o.data.season;
  // Under mpirun the candidates spread over the ranks (candidate i on rank i % N); rank 0 reports.
  dist::Comm& comm = dist::world();
  const auto results = search(candidates, f.names[0], x.data(), x.size(), spec,
                              parse_series_scaling(o.data.scaler.empty() ? "standard" : o.data.scaler), &comm);
  if (!comm.root()) return 0;
  json rows = json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    json row = {{"rank", i + 1}, {"model", r.candidate.model}, {"train", r.candidate.train},
                {"train_seconds", r.train_seconds}};
    for (const char* k : {"mae", "mse", "smape", "mase", "mae_over_naive"})
      if (r.aggregate.contains(k)) row[k] = r.aggregate[k];
    rows.push_back(row);
  }
  if (!o.csv.empty()) {
    std::string s = "rank,mae,smape,mae_over_naive,train_seconds,model,train\n";
    for (const auto& r : rows) {
      auto quote = [](const std::string& t) {
        std::string q = "\"";
        for (char c : t) q += c == '"' ? std::string("\"\"") : std::string(1, c);
        return q + "\"";
      };
      s += std::to_string(r["rank"].get<std::size_t>()) + "," + std::to_string(r["mae"].get<double>()) + "," +
           std::to_string(r["smape"].get<double>()) + "," + (r.contains("mae_over_naive") ? std::to_string(r["mae_over_naive"].get<double>()) : std::string()) + "," +
           std::to_string(r["train_seconds"].get<double>()) + "," + quote(r["model"].dump()) + "," +
           quote(r["train"].dump()) + "\n";
    }
    if (o.csv == "-") {  // the table on stdout instead of the summary
      std::fwrite(s.data(), 1, s.size(), stdout);
      return 0;
    }
    write_file_atomic(o.csv, s);
  }
  if (o.json) {
    std::printf("%s\n", json({{"series", f.names[0]}, {"origins", o.origins}, {"candidates", rows}}).dump().c_str());
    return 0;
  }
  // The table shows only the values the grid varies.
  std::printf("%4s %12s %10s %8s %9s  %s\n", "rank", "mae", "smape", "vs_naive", "train_s", "configuration");
  for (const auto& r : rows) {
    json diff = json::object();
    for (auto& [k, v] : r["model"].items())
      if (!base_model.contains(k)) diff[k] = v;
    for (auto& [k, v] : r["train"].items())
      if (tc.to_json()[k] != v) diff[k] = v;
    std::printf("%4zu %12.6g %10.5g %8.4f %9.3f  %s\n", r["rank"].get<std::size_t>(), r["mae"].get<double>(),
                r["smape"].get<double>(), r.value("mae_over_naive", -1.0), r["train_seconds"].get<double>(),
                diff.dump().c_str());
  }
  return 0;
}

}  // namespace

Run add_search(CLI::App& app) {
  auto o = std::make_shared<SearchOpts>();
  add_data_options(app, o->data, false);
  app.add_option("--scaler", o->data.scaler, "Per-series scaler fitted on each candidate's training part: none, "
                                             "standard (default), robust, minmax, mean");
  add_uint(app, "--season", o->data.season, limits::kSeason, "MASE season (0: no MASE)");
  app.add_option("--model", o->model, "Model type (default nhits): " + model_names() + " (ntneural models)");
  app.add_option("--grid", o->grid, "key=v1|v2;key2=... (JSON values; training keys like lr, max_steps, loss go to "
                                    "training, others to the model)")->required();
  add_uint(app, "--random", o->random, limits::kCandidates, "Try this many distinct random candidates of the grid (0: all)");
  add_uint(app, "--seed", o->seed, limits::kSeed, "Seed of the random choice and of every training run");
  add_uint(app, "--input-size", o->input_size, limits::kWindow, "Input window L (default 168)");
  add_uint(app, "--horizon", o->horizon, limits::kHorizon, "Forecast horizon H (default 24)");
  add_uint(app, "--max-steps", o->max_steps, limits::kSteps, "Training steps per candidate unless the grid sets max_steps (200)");
  add_uint(app, "--batch", o->batch, limits::kBatch, "Batch size unless the grid sets batch_size (64)");
  app.add_option("--loss", o->loss, "Training loss unless the grid sets it (mae)");
  app.add_option("--window-scaler", o->window_scaler, "Per-window scaling: none (default), standard, robust");
  add_uint(app, "--origins", o->origins, limits::kOrigins, "Backtest origins scoring each candidate (default 200)");
  add_uint(app, "--step", o->step, limits::kStep, "Distance between origins (default 1)");
  app.add_option("--csv", o->csv, "Write the table to this CSV file (- : print it on stdout instead of the summary)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_search(*o); };
}

}  // namespace ntn::cli
