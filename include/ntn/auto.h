// Automatic configuration (--auto): a seeded random search over a documented space of model and
// training settings, scored on the validation part only (never the test part) and pruned by
// successive halving, so that it costs a few times one training run.
//
// The space is JSON, one entry per setting:
//   {"lr": {"loguniform": [1e-4, 1e-2]}, "batch_size": {"choice": [32, 64, 128, 256]},
//    "seed": {"randint": [1, 20]}, "dropout": {"uniform": [0, 0.3]},
//    "input_size_multiplier": {"choice": [1, 2, 3, 4, 5]}}        // input_size = m x horizon
// Keys of the training configuration (TrainConfig::to_json) go to training, every other key to
// the model's config. The default space of a model (auto_space) is the common part above
// (input-size multiplier, learning rate, batch, window scaler, seed: NeuralForecast's Auto*
// models' space) plus the model's own knobs (ModelInfo::auto_space).
//
// Successive halving: n candidates train to total/eta^(K-1) steps (K = 1 + ceil(log_eta n)
// rungs, rounded up to the validation interval); the best 1/eta by validation score continue
// from where they paused to the next rung, until one candidate reaches the full run. A candidate
// that stops early keeps its score. Every candidate's trainer is the ordinary one, paused and
// resumed exactly (Trainer::run(until)), so the winner's weights are bitwise those of a plain
// training run of its configuration, and the whole search is deterministic for a given seed.
//
// Intended usage:
//   ntn::TrainJob job;  job.data = ...;  job.model = {{"type", "nhits"}, {"horizon", 96}};
//   ntn::AutoSpec spec;  spec.candidates = 9;
//   ntn::TrainResult r = ntn::auto_train(job, spec);   // r.search: every trial; r.artifact records it
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ntn/jobs.h"

namespace ntn {

struct AutoSpec {
  nlohmann::json space;        // null: auto_space(model type)
  std::size_t candidates = 9;  // configurations drawn
  std::size_t eta = 3;         // each rung keeps the best 1/eta
  std::uint64_t seed = 1;      // of the draws (each candidate's training seed is a setting)
  std::string metric;          // validation metric (mae, mse, smape); "": smape for m4, else mae
  // Refit: after the search, train the chosen configuration again from its initial weights on the
  // training AND validation windows (the test part stays unseen), for the steps at which its
  // validation was best (the learning-rate schedule of the full run, stopped there). What the
  // NHITS authors' long-horizon results do (NeuralForecast's refit_with_val).
  bool refit = false;
  std::vector<std::string> fixed;  // settings the user fixed: not searched (model config keys the
                                   // job sets are fixed too; input_size fixes input_size_multiplier)
  std::function<void(const nlohmann::json&)> on_trial;  // after each candidate's rung (progress)
};

// The default search space of a model type (see above). A model fitted directly (prophet) has
// nothing to search: an error.
nlohmann::json auto_space(const std::string& type);

// n distinct draws of a space (fewer if the space is smaller), in draw order, seeded. A
// malformed entry is an error naming its key.
std::vector<nlohmann::json> sample_space(const nlohmann::json& space, std::size_t n, std::uint64_t seed);

// The search, then the winner as a TrainResult (its training record and r.search hold the
// search: space, rungs, every trial's settings, validation curve, steps, score and time).
TrainResult auto_train(const TrainJob& job, const AutoSpec& spec);

// --ensemble K: the N-BEATS recipe (Oreshkin et al. 2020, section 3.4): K members of the job's
// model that differ in input size (multipliers of the horizon), training loss and seed, combined
// by the median, stored as ONE model (type "ensemble", src/models/ensemble.cpp) served in one
// batched forward. Member k takes multipliers[k mod M] x H, losses[(k + k / M) mod N] (so that
// the pairs differ before they repeat) and seed job.train.seed + k. Each member trains as a
// one-member ensemble over the longest input (the same windows and window scaler as the whole),
// one after the other, with the job's settings and early stopping on the validation metric, so
// the joined ensemble forecasts exactly what its members' median is.
struct EnsembleSpec {
  std::size_t members = 5;
  std::vector<std::size_t> multipliers = {2, 3, 4, 5, 6, 7};  // input_size = m x horizon; empty: the job's input size
  std::vector<std::string> losses = {"mae", "mse", "huber"};  // empty: the job's loss for every member
  std::string combine = "median";                             // | mean
  std::string metric;  // validation metric of the record (and early stopping when the job's is "loss"): "" = smape
                       // for m4, else mae
  // Refit (--auto-refit): each member trains again from its initial weights on the training AND
  // validation windows up to its best validated step (AutoSpec::refit, member by member); the
  // record's validation scores are those of the validated members.
  bool refit = false;
  std::function<void(const nlohmann::json&)> on_member;  // after each member (progress)
};

// The members, then the ensemble as a TrainResult: r.search holds the members (settings, steps,
// validation score, seconds) and the ensemble's validation score; r.members each member as its own
// artifact (a one-member ensemble: scored alone, the "best single model" to compare with).
TrainResult ensemble_train(const TrainJob& job, const EnsembleSpec& spec);

// --auto --ensemble K: the search first, then the ensemble of the chosen settings (learning rate,
// batch, window scaler, model knobs; the chosen seed is the members' first) whose members vary
// input size, loss and seed as above. search.refit refits the members (the search's winner alone
// is not refit). The artifact's record holds both (training "search" and
// "ensemble"); r.search is the ensemble's report with the search under "auto".
TrainResult auto_ensemble_train(const TrainJob& job, const AutoSpec& search, const EnsembleSpec& spec);

}  // namespace ntn
