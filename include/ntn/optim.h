// Optimizers, learning-rate schedules and gradient clipping. State lives in flat arrays laid
// out like the parameter slab and indexed by parameter number (the origin crate keyed it by
// strings in hash maps). Semantics and operation order follow PyTorch (torch.optim 1.13).
//
// Intended usage:
//   ntn::OptimConfig oc;  oc.name = "adam";  oc.lr = 1e-3f;
//   ntn::Optimizer opt(oc, model.params());
//   ntn::Schedule sched(ntn::ScheduleConfig{"step", 1000, ...}, oc.lr);
//   float norm = ntn::clip_grad_norm(grads, slab, 1.0f);
//   opt.step(model.params(), grads, sched.lr(step));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ntn/nn.h"
#include "ntn/parallel.h"

namespace ntn {

struct OptimConfig {
  std::string name = "adam";  // sgd | adam | adamw | rmsprop
  float lr = 1e-3f;
  float weight_decay = 0.0f;  // L2 (sgd, adam, rmsprop) or decoupled (adamw)
  // Which parameters decay, by their declared role (nn::Role): "all" (PyTorch's default, what
  // NeuralForecast trains with) or "weights" (matrices, kernels, embeddings; not biases or norms).
  std::string decay_on = "all";
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // adam, adamw (rmsprop: eps)
  float momentum = 0.0f, dampening = 0.0f;          // sgd, rmsprop (momentum)
  bool nesterov = false;                            // sgd
  float alpha = 0.99f;                              // rmsprop smoothing
};

class Optimizer {
 public:
  Optimizer(const OptimConfig& cfg, const nn::ParamSet<float>& ps);
  // One update of every parameter with the given gradients (laid out like ps) and rate. The
  // slab is updated flat (alignment gaps hold zeros and stay zero) in cache-sized blocks, split
  // over threads (elementwise: the result does not depend on the split). If `prepare` is given
  // it is called on each block [lo, hi) just before that block is updated, e.g. to sum the
  // micro-batch gradients into `grads` while the block is in cache. [first, last) limits the
  // update to that part of the slab (a rank's shard in data-parallel training: the optimizer
  // state outside it is then left as it was, see Trainer::sync_state).
  void step(nn::ParamSet<float>& ps, float* grads, float lr,
            FunctionRef<void(std::size_t, std::size_t)>* prepare = nullptr, std::size_t first = 0,
            std::size_t last = SIZE_MAX);
  std::uint64_t steps() const { return t_; }
  const OptimConfig& config() const { return cfg_; }
  // State for checkpoints: named flat buffers ("exp_avg", "exp_avg_sq", "momentum_buffer",
  // "square_avg") of the slab size, and the step count.
  std::vector<std::pair<std::string, std::vector<float>*>> state();
  void set_steps(std::uint64_t t) { t_ = t; }

 private:
  OptimConfig cfg_;
  // Slab ranges [start, next start) with their decay flag, in slab order; one range when every
  // parameter decays alike.
  struct Range {
    std::size_t begin, end;
    bool decay;
  };
  std::vector<Range> ranges_;
  std::vector<float> a_, b_;  // first / second state buffer, slab-sized
  std::uint64_t t_ = 0;
};

struct ScheduleConfig {
  std::string name = "constant";  // constant | step | cosine | plateau
  std::uint64_t step_size = 0;    // step: decay every step_size steps
  float gamma = 0.5f;             // step: factor
  std::uint64_t warmup = 0;       // cosine: linear warm-up steps
  std::uint64_t total = 0;        // cosine: steps to reach lr_min
  float lr_min = 0.0f;            // cosine floor
  float factor = 0.1f;            // plateau: multiply on a plateau
  std::uint64_t patience = 10;    // plateau: evaluations without improvement before decaying
  float threshold = 1e-4f;        // plateau: relative improvement that counts
};

class Schedule {
 public:
  Schedule(const ScheduleConfig& cfg, float base_lr);
  float lr(std::uint64_t step) const;  // step counts from 0
  // Plateau only: feed a validation loss; may lower the rate. No-op for other schedules.
  void observe(double val_loss);
  // For checkpoints.
  float plateau_scale() const { return scale_; }
  double plateau_best() const { return best_; }
  std::uint64_t plateau_bad() const { return bad_; }
  void restore(float scale, double best, std::uint64_t bad) {
    scale_ = scale;
    best_ = best;
    bad_ = bad;
  }
  const ScheduleConfig& config() const { return cfg_; }

 private:
  ScheduleConfig cfg_;
  float base_;
  float scale_ = 1.0f;
  double best_ = 1e300;
  std::uint64_t bad_ = 0;
};

// Scales grads (n elements) so that their global L2 norm is at most max_norm (PyTorch's
// clip_grad_norm_, factor max_norm / (norm + 1e-6)); returns the norm before clipping.
// max_norm <= 0 only measures. A non-finite norm is returned unchanged (the trainer reports it).
float clip_grad_norm(float* grads, std::size_t n, float max_norm);

}  // namespace ntn
