// One library call per job of the command line - the calls the CLI, the Python bindings and
// distributed training make, so none of them re-implements the steps between reading a file and
// writing an artifact.
//
// Intended usage:
//   ntn::TrainJob job;
//   job.data.path = "sp500.csv";  job.data.csv.columns = {"close"};
//   job.data.covariates.hist = {"volume"};  job.data.covariates.calendar = {"dow"};
//   job.model = {{"type", "nhits"}, {"horizon", 5}};       // input_size: the protocol's default
//   job.train.max_steps = 500;
//   ntn::TrainResult r = ntn::train_job(job);               // prepared data, trained artifact
//   ntn::TestMetrics m = ntn::evaluate_test(r.artifact, r.prepared);
//   r.artifact.save("sp.ntn");
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ntn/pipeline.h"
#include "ntn/trainer.h"

namespace ntn {

struct TrainJob {
  DataSpec data;
  // Model config (its "type" and any fields; ntn::models' Config structs hold the defaults).
  // input_size / horizon absent or 0: horizon 24 (m4: the test file's), input_size by
  // default_input_size. outputs and the covariate counts are set from the loss and the data.
  nlohmann::json model = {{"type", "nhits"}};
  TrainConfig train;               // derive_schedule is applied to it
  bool resume = false;             // continue from train.checkpoint_path when that file exists
  // A checkpoint to start from instead of fresh weights (a fine-tune or refit, on this job's
  // data): its weights, optimizer state and progress; the same model and training config (the
  // step budget, patience and validation settings may differ). A resumed checkpoint
  // (resume, when train.checkpoint_path exists) takes precedence: it is this job's own progress.
  std::string init_from;
  // Split-conformal intervals calibrated on the validation windows (conformal.h; empty: none).
  std::vector<double> conformal_levels = {0.8, 0.95};
  ConformalScore conformal_score = ConformalScore::absolute;
  double conformal_half_life = 0;  // recency weighting of the calibration windows (time steps; 0: none)
  std::function<void(const TrainLog&)> on_log;  // progress (every train.log_every steps)
};

struct TrainResult {
  Prepared prepared;
  TrainSummary summary;
  Artifact artifact;  // the trained model with everything needed to forecast again
  nlohmann::json search;  // auto_train: the search; ensemble_train: the members (ntn/auto.h); null otherwise
  std::vector<Artifact> members;  // ensemble_train: each member alone
};

// The defaults `ntneural train` and the Python package share. The loss: mae, or nll for a model
// that only outputs a distribution (deepar). The window scaler: none for a model that fits each
// window itself (prophet), robust under the m4 protocol, standard for a likelihood of a location /
// scale law (gaussian / student_t: its scale follows the window's volatility, as DeepAR scales
// every window), else none (negative_binomial mean-scales counts itself).
std::string default_loss(const std::string& model_type);
std::string default_window_scaler(const std::string& model_type, Protocol protocol, const LossSpec& loss);

// Reads and splits the data, builds and initialises the model (seed train.seed), trains it and
// packages the artifact (Artifact::from_training). Errors name the file, row, column or field.
TrainResult train_job(const TrainJob& job);

// One model per series of the data (train --per-series): the job's config, seed and schedule
// rules for each, trained on that series' windows alone - bitwise what train_job gives for a file
// of that one column. Series s runs on rank s % N of comm and, within a rank, on one of its
// threads; where a model ran never changes its bits. Rank 0 gets every series' run, in series
// order; the other ranks get none.
// sink (optional) is called on the rank that trained series s, from one of its threads (so
// concurrently for different series), with the finished run; when it returns true it has kept
// the artifact (e.g. written the file where rank 0 will see it) and only the run's record goes to
// rank 0, with stored set and no artifact bytes.
struct SeriesRun {
  std::string name;
  nlohmann::json summary;  // TrainSummary::to_json
  nlohmann::json test;     // evaluate_test on the series' test part (null when it has none)
  std::string artifact;    // the artifact file's bytes (Artifact::bytes); empty when stored
  int rank = 0;            // where it was trained
  bool stored = false;     // the store callback kept the artifact
};
using SeriesSink = std::function<bool(std::size_t series, const SeriesRun& run)>;
std::vector<SeriesRun> train_per_series(const TrainJob& job, dist::Comm& comm, const SeriesSink& sink = {});

// Applies "key=value" settings to a model config: the value is JSON when it parses as JSON
// ([[512,512]], 0.1, true, "avg"), else a string (avg). The model's Config validates the result
// (make_model): an unknown key or a bad value is an error naming the field.
void apply_settings(nlohmann::json& model_config, const std::vector<std::string>& settings);

// The --hidden / --layers aliases (0 leaves a field alone): a model's one width and depth - mlp
// hidden_size / num_layers, a recurrent encoder's encoder_hidden_size / encoder_n_layers, a TCN's
// channels (every block `hidden` wide, `layers` blocks). A model without them (nhits, nbeats:
// mlp_units) is an error naming the flag.
void apply_width_depth(nlohmann::json& model_config, std::size_t hidden, std::size_t layers);

}  // namespace ntn
