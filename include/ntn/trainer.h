// Trainer: mini-batch training of a Model<float> on window references.
//
// Determinism: each logical batch of B windows is split into a FIXED number of micro-batches
// (config.micro_batches, not the thread count): micro-batch c holds rows [c*B/C, (c+1)*B/C).
// Micro-batches run in parallel, each into its own gradient slab, and the slabs are summed in
// the order c = 0..C-1. Threads beyond C split the matrix products inside each micro-batch by
// rows of the output; every element of a product is one FMA chain in a fixed order (our own
// GEMM, never a BLAS library), and every reduction has one canonical order on every ISA. Data
// order is a Philox shuffle of (seed, epoch), dropout masks depend on (seed, step, row). So a
// given seed gives bitwise-identical weights whatever the thread count, the ISA (NTN_ISA) or the
// BLAS library, and a resumed run equals an uninterrupted one.
//
// Batches are assembled (copied and scaled per window) on a background thread one step ahead.
// Validation runs every val_every steps; early stopping (patience > 0 evaluations without an
// improvement larger than min_delta) stops, and the run ends with the best validation's weights
// (restore_best, the default). Checkpoints hold
// weights, optimizer state, schedule state, data position, early-stopping state and step, and
// are written atomically.
//
// Intended usage:
//   ntn::TrainConfig tc;  tc.max_steps = 1000;  tc.batch_size = 32;
//   ntn::Trainer tr(*model, store, train_windows, val_windows, tc);
//   ntn::TrainSummary s = tr.run();
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ntn/dataset.h"
#include "ntn/heads.h"
#include "ntn/loss.h"
#include "ntn/models.h"
#include "ntn/optim.h"

namespace ntn {

namespace dist {
class Comm;
}

struct TrainConfig {
  std::uint64_t max_steps = 1000;   // optimizer steps (if epochs == 0)
  std::uint64_t epochs = 0;         // > 0: train this many passes over the windows instead
  std::size_t batch_size = 32;      // windows per logical batch
  std::size_t micro_batches = 4;    // fixed split of each batch (determinism does not depend on threads)
  std::uint64_t seed = 1;
  LossSpec loss;
  OptimConfig optim;
  ScheduleConfig schedule;
  float clip_norm = 0.0f;           // <= 0: no clipping
  WindowScaling window_scaling = WindowScaling::none;
  std::uint64_t val_every = 100;    // steps between validations (0: never)
  std::size_t val_batch = 1024;     // windows per validation batch
  std::uint64_t patience = 5;       // early stopping after this many validations without improvement (0: off)
  double min_delta = 0.0;
  bool restore_best = true;         // end with the weights of the best validation (when validation ran)
  // What validation scores (and early stopping / restore follow): "loss" = the training loss on
  // the model's (window-scaled) outputs; "mae" | "mse" | "smape" = that error of the point
  // forecast on the data's scale (window scaling inverted), comparable across losses and scalers.
  std::string val_metric = "loss";
  std::string checkpoint_path;      // empty: no checkpoints
  std::uint64_t checkpoint_every = 0;
  std::uint64_t log_every = 50;
  std::size_t lr_decays = 3;        // step schedule: halvings of the rate over the run (derive_schedule)
  // "fp32" or "bf16": mixed precision, every Linear product in bf16_gemm (bfloat16 operands, fp32
  // accumulation) with fp32 weights, gradients, optimizer state and reductions. bf16 needs a CPU
  // with AVX512_BF16 (the Trainer throws otherwise). Artifact::from_training turns the mode off:
  // the artifact serves in fp32 (or any --precision) as usual.
  std::string precision = "fp32";

  nlohmann::json to_json() const;
  // The inverse of to_json (fields absent keep their defaults; a bad or unknown field is an error
  // naming it).
  static TrainConfig from_json(const nlohmann::json& j);
  // Every field in its documented range (ntn/fields.h limits); the Trainer calls it too.
  void validate() const;
};

// Fills the schedule fields that depend on the run length, as `ntneural train` does: step =
// the authors' default (halve the rate lr_decays times over the run), cosine = over the run
// with 5% warm-up.
void derive_schedule(TrainConfig& tc, std::size_t train_windows);

struct TrainLog {
  std::uint64_t step = 0, total_steps = 0;
  double train_loss = 0;            // mean over the steps since the last log
  double val_loss = -1;             // < 0: not evaluated at this step
  double lr = 0;
  double grad_norm = 0;
  double elapsed_s = 0;
  bool final = false;
};

struct TrainSummary {
  std::uint64_t steps = 0;
  double seconds = 0;
  double last_train_loss = 0;
  double best_val_loss = -1;        // < 0: no validation
  std::uint64_t best_step = 0;
  bool stopped_early = false;
  bool restored_best = false;
  bool paused = false;              // run(until) stopped at `until` (more steps to go)
  // The learning curve: every logged step (train.log_every) and every validation, with the mean
  // training loss since the previous point and the validation loss (< 0: not evaluated there).
  // Past kCurvePoints points every other point is dropped (the last one kept), so a long run's
  // curve stays a few kB in the artifact. to_json writes it as {"step", "train", "val" (null:
  // not evaluated)}.
  struct CurvePoint {
    std::uint64_t step;
    double train, val;
  };
  static constexpr std::size_t kCurvePoints = 1024;
  std::vector<CurvePoint> curve;
  void add_curve_point(const CurvePoint& p);
  nlohmann::json to_json() const;
};

// Under an MPI launcher (ntn/dist.h) every rank builds the same Trainer and calls the same
// methods: each computes the micro-batches it owns of every batch, and the gradients and losses
// are combined in one fixed order, so the weights are bitwise those of one process (same batch,
// micro_batches and seed) on any number of ranks <= micro_batches. Each rank sums and updates
// its slice of the parameters, then the ranks exchange the updated slices. Rank 0 writes
// checkpoints.
class Trainer {
 public:
  // comm: the ranks that share each batch (nullptr: dist::world(), all of them; dist::self(): this
  // process alone, e.g. one model per series on each rank).
  Trainer(Model<float>& model, const SeriesStore& store, std::vector<WindowRef> train,
          std::vector<WindowRef> val, TrainConfig cfg, dist::Comm* comm = nullptr);
  ~Trainer();

  std::function<void(const TrainLog&)> on_log;  // progress reporting (CLI: bar or JSON lines)
  // Also write the checkpoint (cfg.checkpoint_path) when run() ends, before it restores the best
  // weights: the state a later fine-tune or a longer run continues from.
  bool checkpoint_at_end = false;

  // Loads a checkpoint written by a trainer of the same model and config; run() continues it.
  void resume(const std::string& checkpoint_path);
  // Trains to total_steps(). until > 0: stops after step min(until, total) instead; short of the
  // total the run is paused (a rung of a successive-halving search: summary.paused, no restore of
  // the best weights) and a later run() continues exactly as if it had not paused.
  TrainSummary run(std::uint64_t until = 0);
  // Mean loss over windows (scaled space, as training), batched and parallel, deterministic.
  double evaluate(const std::vector<WindowRef>& windows);
  std::uint64_t total_steps() const;
  // One training step on explicit windows (no data order, no logging): returns the mean loss.
  double train_step(const WindowRef* w, std::size_t B);

  // Rank 0's call after sync_state() (run() syncs before each checkpoint and at its end).
  void save_checkpoint(const std::string& path) const;
  // On more than one rank without clipping each rank updates only its slice of the parameters and
  // of the optimizer state (Comm::slice): this collective gives every rank all of the state.
  // Every rank must call it; a no-op when nothing is sharded.
  void sync_state();

 private:
  struct Chunk;
  class BatchStream;
  // One step on rows [row0, row0 + in.B) of a global batch of B rows (this rank's micro-batches).
  double step_on_batch(const Batch<float>& in, const float* y, std::size_t B, std::size_t row0);
  // The rows of a global batch of B rows this rank computes (all of them on one rank).
  std::pair<std::size_t, std::size_t> local_rows(std::size_t B) const;
  // The losses of micro-batches 0..C-1 summed in that order (gathered from every rank).
  double loss_sum(std::size_t C) const;
  // Rows per validation forward (each micro-batch's rows of a validation batch run this many at
  // a time through a forward-only workspace).
  std::size_t eval_rows() const {
    const std::size_t C = cfg_.micro_batches ? cfg_.micro_batches : 1;
    return std::min<std::size_t>((std::max<std::size_t>(cfg_.val_batch, 1) + C - 1) / C, 128);
  }

  Model<float>& model_;
  const SeriesStore& store_;
  std::vector<WindowRef> train_, val_;
  TrainConfig cfg_;
  Optimizer opt_;
  Schedule sched_;
  BatchAssembler assembler_;
  dist::Comm* comm_;  // the job's ranks (dist::world()): each computes its share of every batch
  std::vector<Chunk*> chunks_;
  std::vector<float> grads_;  // main gradient slab (micro-batch 0 accumulates here)
  std::vector<float> best_params_;
  WindowBatch step_batch_;  // train_step's batch, reused across calls
  // Progress (saved in checkpoints).
  std::uint64_t step_ = 0, epoch_ = 0, offset_ = 0;
  double best_val_ = -1;
  std::uint64_t best_step_ = 0, bad_evals_ = 0;
  double last_loss_ = 0;
  bool state_sharded_ = false;  // the optimizer state outside this rank's slice is stale
};

// Optimizer steps a configuration runs on n training windows: max_steps, or epochs times the
// batches per epoch (the last batch of an epoch may be partial).
std::uint64_t total_steps(const TrainConfig& cfg, std::size_t n_train);

// Forecasts for windows in the ORIGINAL scale (per-window scaling inverted): out (N, H, Q),
// each kind unscaled as its OutputSpec says (heads.h). Without a spec, Q > 1 outputs are
// quantile levels in increasing order: each step's outputs are sorted, so quantile forecasts
// never cross (Chernozhukov et al.'s rearrangement). Batched over max_batch windows, parallel
// over threads.
void predict_windows(const Model<float>& model, const SeriesStore& store, const std::vector<WindowRef>& windows,
                     WindowScaling scaling, float* out, std::size_t max_batch = 256,
                     const OutputSpec* output = nullptr);

}  // namespace ntn
