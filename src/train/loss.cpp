#include "ntn/loss.h"

#include <cmath>
#include <limits>

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {

LossSpec parse_loss(const std::string& name, const std::vector<float>& quantiles, float delta,
                    const std::string& distribution) {
  LossSpec s;
  s.delta = delta;
  if (name == "mse") {
    s.kind = LossKind::mse;
  } else if (name == "mae") {
    s.kind = LossKind::mae;
  } else if (name == "huber") {
    s.kind = LossKind::huber;
    NTN_CHECK(delta > 0, "huber loss needs delta > 0 (got ", delta, ")");
  } else if (name == "pinball" || name == "mq" || name == "quantile") {
    s.kind = LossKind::pinball;
    s.quantiles = quantiles.empty() ? std::vector<float>{0.5f} : quantiles;
    for (float q : s.quantiles) NTN_CHECK(q > 0.0f && q < 1.0f, "quantile level ", q, " is outside (0, 1)");
    for (std::size_t i = 1; i < s.quantiles.size(); ++i)
      NTN_CHECK(s.quantiles[i] > s.quantiles[i - 1], "quantile levels must increase (", s.quantiles[i - 1], " then ",
                s.quantiles[i], ")");
  } else if (name == "nll") {
    s.kind = LossKind::nll;
    if (!distribution.empty()) s.dist = parse_dist(distribution);
  } else {
    throw Error(cat("unknown loss '", name, "': expected mse, mae, huber, mq (pinball) or nll"));
  }
  NTN_CHECK(s.kind == LossKind::nll || distribution.empty(), "a distribution (", distribution, ") is given for the ",
            name, " loss; use --loss nll");
  NTN_CHECK(s.kind == LossKind::pinball || quantiles.empty(), "quantile levels given for the ", name,
            " loss; use --loss mq");
  return s;
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::mse: return "mse";
    case LossKind::mae: return "mae";
    case LossKind::huber: return "huber";
    case LossKind::pinball: return "mq";
    case LossKind::nll: return "nll";
  }
  return "?";
}

OutputSpec output_spec(const LossSpec& spec) {
  if (spec.kind == LossKind::nll) return OutputSpec::distribution(spec.dist);
  return spec.quantiles.empty() ? OutputSpec::point() : OutputSpec::quantiles(spec.quantiles);
}

namespace {

// Parameters a distribution accepts (what dist_nll checks, without throwing).
bool valid_params(DistKind d, const double* p, double y) {
  if (!std::isfinite(y)) return false;
  if (d == DistKind::negative_binomial) return std::isfinite(p[0]) && p[0] > 0 && std::isfinite(p[1]) && p[1] > 0 && y >= 0;
  if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && p[1] > 0)) return false;
  return d != DistKind::student_t || (std::isfinite(p[2]) && p[2] > 0);
}

}  // namespace

double loss_sum_grad(const LossSpec& spec, const float* pred, const float* target, float* grad, std::size_t B,
                     std::size_t H, float grad_scale) {
  const std::size_t n = B * H;
  if (spec.kind == LossKind::nll) {  // in double per step, from the closed-form gradients (heads.h)
    const std::size_t Q = dist_params(spec.dist);
    double sum = 0, par[3], g[3];
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t q = 0; q < Q; ++q) par[q] = pred[i * Q + q];
      const double y = target[i];
      if (!valid_params(spec.dist, par, y)) {
        sum += std::numeric_limits<double>::quiet_NaN();
        if (grad)
          for (std::size_t q = 0; q < Q; ++q) grad[i * Q + q] = 0.0f;
        continue;
      }
      if (!grad) {
        sum += dist_nll(spec.dist, par, y);
        continue;
      }
      sum += dist_nll_grad(spec.dist, par, y, g);
      for (std::size_t q = 0; q < Q; ++q) grad[i * Q + q] = float(g[q] * grad_scale);
    }
    return sum;
  }
  if (spec.kind != LossKind::pinball) {
    // The fused kernels return the mean with a 1/n gradient: rescale both to (sum, grad_scale).
    const KernelTable& k = kernels();
    float mean = 0;
    switch (spec.kind) {
      case LossKind::mse: mean = k.f32_mse(pred, target, grad, n); break;
      case LossKind::mae: mean = k.f32_mae(pred, target, grad, n); break;
      case LossKind::huber: mean = k.f32_huber(pred, target, grad, n, spec.delta); break;
      case LossKind::pinball:
      case LossKind::nll: break;
    }
    if (grad) k.f32_scale(grad_scale * float(n), grad, grad, n);
    return double(mean) * double(n);
  }
  // Pinball, e = y - pred: q max(e, 0) + (1 - q) max(-e, 0). Gradient w.r.t. pred: -q (e > 0),
  // 1 - q (e < 0), and at a tie the mean of the two, (1 - 2q) / 2, as torch.maximum splits it.
  const std::size_t Q = spec.quantiles.size();
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float y = target[i];
    for (std::size_t q = 0; q < Q; ++q) {
      const float tau = spec.quantiles[q];
      const float e = y - pred[i * Q + q];
      sum += e > 0 ? double(tau) * e : double(tau - 1.0f) * e;
      if (grad) {
        const float d = e > 0 ? -tau : e < 0 ? 1.0f - tau : e == 0 ? 0.5f - tau : e;  // NaN propagates
        grad[i * Q + q] = d * grad_scale;
      }
    }
  }
  return sum;
}

}  // namespace ntn
