// The steps of a training job that the plain and the automatic (searching) job share.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

#include "ntn/jobs.h"

namespace ntn::detail {

struct JobFrame {
  DataSpec data;       // the job's, plus the calendar channels a model reads its time from
  nlohmann::json cfg;  // the job's model config
  std::size_t H = 0;   // the horizon (m4: the test file's)
  std::size_t L = 0;   // the config's input_size (0: not given)
  std::size_t L0 = 0;  // the input size in use: L, else default_input_size of the data
  bool dates = false;  // a wide file whose time column holds dates (read only when asked or needed)
};
// want_dates: read the file for `dates` even when the input size is given and the model reads no
// calendar channels (the file is otherwise read once, by prepare).
JobFrame job_frame(const TrainJob& job, bool want_dates = false);

// Reads the data for input size L and completes cfg (input_size, horizon, outputs from the loss,
// covariate counts), checking that tc's loss fits the model.
Prepared prepare_model(const JobFrame& f, std::size_t L, const TrainConfig& tc, nlohmann::json& cfg);
// The completion alone, for data already prepared for input size L and horizon H.
void complete_config(nlohmann::json& cfg, const Prepared& p, const TrainConfig& tc, std::size_t L,
                     std::size_t H);

// A draw of a search space (auto.h) applied to one candidate: input_size_multiplier sets L to
// m x H, calendar ("none" | "auto") adds --calendar auto to data, keys of TrainConfig go to train
// (TrainConfig JSON), every other key to the model config. Malformed values are errors naming the key.
void apply_draw(const nlohmann::json& draw, std::size_t H, std::size_t& L, DataSpec& data, nlohmann::json& train,
                nlohmann::json& model);

// Refit (--auto-refit): trains `model`, freshly initialised, on p's training AND validation windows
// with tc's schedule (derived from the training windows), without validation, up to `steps` (the
// run's best validated step). `record` gets {steps, windows, seconds}.
TrainSummary refit(Model<float>& model, const Prepared& p, const TrainConfig& tc, std::uint64_t steps,
                   nlohmann::json& record);

// Calibrates r.artifact's split-conformal intervals (conformal.h) on r.prepared's validation
// windows at job.conformal_levels. held_out: the model never trained on them (false after a refit
// on the validation part). What cannot be calibrated - no or too few windows for a level, a refit
// model - is recorded in r.artifact.training["conformal"] ("skipped") instead of failing the run.
void add_conformal(TrainResult& r, const TrainJob& job, bool held_out);

// The validation metric of a search or an ensemble: the one asked for, else smape for m4, else mae.
inline std::string validation_metric(const std::string& asked, Protocol protocol) {
  return !asked.empty() ? asked : protocol == Protocol::m4 ? "smape" : "mae";
}

}  // namespace ntn::detail
