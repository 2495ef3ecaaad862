#include "ntn/optim.h"

#include <algorithm>
#include <cmath>

#include "core/det_math.h"

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {

Optimizer::Optimizer(const OptimConfig& cfg, const nn::ParamSet<float>& ps) : cfg_(cfg) {
  NTN_CHECK(cfg.name == "sgd" || cfg.name == "adam" || cfg.name == "adamw" || cfg.name == "rmsprop",
            "unknown optimizer '", cfg.name, "': expected sgd, adam, adamw or rmsprop");
  NTN_CHECK(cfg.lr > 0 && std::isfinite(cfg.lr), "learning rate must be positive (got ", cfg.lr, ")");
  NTN_CHECK(cfg.weight_decay >= 0, "weight decay must be >= 0 (got ", cfg.weight_decay, ")");
  NTN_CHECK(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1, "adam betas must be in [0, 1)");
  NTN_CHECK(!cfg.nesterov || (cfg.momentum > 0 && cfg.dampening == 0),
            "nesterov momentum needs momentum > 0 and dampening 0");
  NTN_CHECK(cfg.decay_on == "all" || cfg.decay_on == "weights", "unknown decay_on '", cfg.decay_on,
            "': expected all or weights");
  // Each parameter's range runs to the next one's start (alignment gaps hold zeros either way).
  const auto& es = ps.entries();
  for (std::size_t i = 0; i < es.size(); ++i) {
    const bool d = cfg.decay_on == "all" || nn::role_is_weight(es[i].role);
    const std::size_t end = i + 1 < es.size() ? es[i + 1].offset : ps.slab_size();
    if (!ranges_.empty() && ranges_.back().decay == d)
      ranges_.back().end = end;
    else
      ranges_.push_back({es[i].offset, end, d});
  }
  a_.assign(ps.slab_size(), 0.0f);
  if (cfg.name != "sgd") b_.assign(ps.slab_size(), 0.0f);
}

std::vector<std::pair<std::string, std::vector<float>*>> Optimizer::state() {
  if (cfg_.name == "sgd") return {{"momentum_buffer", &a_}};
  if (cfg_.name == "rmsprop") return {{"square_avg", &b_}, {"momentum_buffer", &a_}};
  return {{"exp_avg", &a_}, {"exp_avg_sq", &b_}};
}

void Optimizer::step(nn::ParamSet<float>& ps, float* grads, float lr,
                     FunctionRef<void(std::size_t, std::size_t)>* prepare, std::size_t first, std::size_t last) {
  ++t_;
  float* p = ps.values();
  last = std::min(last, ps.slab_size());
  first = std::min(first, last);
  const float wd_all = cfg_.weight_decay;
  // det::pow_int, not std::pow: the same bits on every machine (core/det_math.h).
  const double bc1 = 1.0 - det::pow_int(double(cfg_.beta1), t_);
  const double bc2 = 1.0 - det::pow_int(double(cfg_.beta2), t_);
  const float step_size = float(double(lr) / bc1), inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const bool adam = cfg_.name == "adam" || cfg_.name == "adamw", decoupled = cfg_.name == "adamw";
  const KernelTable& k = kernels();
  auto update = [&](std::size_t lo, std::size_t hi, float wd) {
    float* w = p + lo;
    const float* g = grads + lo;
    float* buf = a_.data() + lo;
    const std::size_t m = hi - lo;
    if (adam) {
      k.f32_adam(w, g, buf, b_.data() + lo, m, step_size, cfg_.beta1, cfg_.beta2, cfg_.eps, inv_sqrt_bc2,
                 decoupled ? 0.0f : wd, decoupled ? lr * wd : 0.0f);
    } else if (cfg_.name == "sgd") {
      for (std::size_t i = 0; i < m; ++i) {
        float d = g[i] + wd * w[i];
        if (cfg_.momentum != 0.0f) {
          buf[i] = t_ == 1 ? d : cfg_.momentum * buf[i] + (1.0f - cfg_.dampening) * d;
          d = cfg_.nesterov ? d + cfg_.momentum * buf[i] : buf[i];
        }
        w[i] -= lr * d;
      }
    } else {  // rmsprop (not centered)
      float* sq = b_.data() + lo;
      for (std::size_t i = 0; i < m; ++i) {
        const float d = g[i] + wd * w[i];
        sq[i] = cfg_.alpha * sq[i] + (1.0f - cfg_.alpha) * d * d;
        const float avg = std::sqrt(sq[i]) + cfg_.eps;
        if (cfg_.momentum > 0.0f) {
          buf[i] = cfg_.momentum * buf[i] + d / avg;
          w[i] -= lr * buf[i];
        } else {
          w[i] -= lr * d / avg;
        }
      }
    }
  };
  constexpr std::size_t kBlock = 4096;  // 16 KiB per array: the block's 4-7 arrays stay in L1/L2
  parallel_for(last - first, kBlock, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t b = first + lo; b < first + hi; b += kBlock) {
      const std::size_t e = std::min(first + hi, b + kBlock);
      if (prepare) (*prepare)(b, e);
      // Split the block where the decay flag changes (ranges_ is in slab order).
      auto r = std::upper_bound(ranges_.begin(), ranges_.end(), b,
                                [](std::size_t v, const Range& x) { return v < x.end; });
      for (std::size_t s = b; s < e; ++r) {
        const std::size_t t = std::min(e, r->end);
        update(s, t, r->decay ? wd_all : 0.0f);
        s = t;
      }
    }
  });
}

Schedule::Schedule(const ScheduleConfig& cfg, float base_lr) : cfg_(cfg), base_(base_lr) {
  NTN_CHECK(cfg.name == "constant" || cfg.name == "step" || cfg.name == "cosine" || cfg.name == "plateau",
            "unknown schedule '", cfg.name, "': expected constant, step, cosine or plateau");
  NTN_CHECK(cfg.name != "step" || cfg.step_size > 0, "step schedule needs step_size > 0");
  NTN_CHECK(cfg.name != "cosine" || cfg.total > cfg.warmup, "cosine schedule needs total steps > warm-up steps");
  NTN_CHECK(cfg.gamma > 0 && cfg.factor > 0 && cfg.factor < 1, "schedule factors must be in (0, 1)");
}

float Schedule::lr(std::uint64_t step) const {
  if (cfg_.name == "step") return base_ * float(det::pow_int(double(cfg_.gamma), step / cfg_.step_size));
  if (cfg_.name == "cosine") {
    if (step < cfg_.warmup) return base_ * float(step + 1) / float(cfg_.warmup);
    const double t = std::min(1.0, double(step - cfg_.warmup) / double(cfg_.total - cfg_.warmup));
    double s, c;
    det::sincos_turns(0.5 * t, &s, &c);  // c = cos(pi t)
    return cfg_.lr_min + (base_ - cfg_.lr_min) * float(0.5 * (1.0 + c));
  }
  if (cfg_.name == "plateau") return base_ * scale_;
  return base_;
}

void Schedule::observe(double val_loss) {
  if (cfg_.name != "plateau") return;
  // PyTorch ReduceLROnPlateau, mode min, threshold_mode rel.
  if (val_loss < best_ * (1.0 - double(cfg_.threshold))) {
    best_ = val_loss;
    bad_ = 0;
  } else if (++bad_ > cfg_.patience) {
    scale_ *= cfg_.factor;
    bad_ = 0;
  }
}

float clip_grad_norm(float* grads, std::size_t n, float max_norm) {
  const float norm = std::sqrt(kernels().f32_sqnorm(grads, n));
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const float f = max_norm / (norm + 1e-6f);
    kernels().f32_scale(f, grads, grads, n);
  }
  return norm;
}

}  // namespace ntn
