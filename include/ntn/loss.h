// Training losses over a batch of forecasts: pred (B, H, Q), target (B, H) (broadcast over the
// Q outputs of a quantile head). Each returns the SUM of its terms and writes
// grad = d(sum)/d(pred) * grad_scale, so micro-batches of one logical batch accumulate exactly
// the gradient of the logical batch mean when grad_scale = 1 / (B_total * H * terms()).
//
//   mse     (pred - y)^2                    mae   |pred - y|
//   huber   PyTorch HuberLoss(delta)        pinball (quantile q): max(q e, (q - 1) e), e = y - pred
//                                           (multi-quantile = one level per output, the MQLoss)
//   nll     negative log-likelihood of y under the distribution whose parameters are the step's
//           Q outputs (heads.h: gaussian (mu, sigma), student_t (mu, sigma, nu), negative_binomial
//           (mu, alpha)), for models with a distribution head (DeepAR). One term per step: the
//           mean is over B * H (terms()), not B * H * Q. Invalid parameters (a non-positive sigma,
//           a NaN) or a negative count give a NaN term - the trainer stops with "diverged" - never
//           an exception inside a parallel region.
//
// Intended usage:
//   ntn::LossSpec spec = ntn::parse_loss("mq", {0.1f, 0.5f, 0.9f});
//   double sum = ntn::loss_sum_grad(spec, pred, y, grad, B, H, 1.0f / (B * H * 3));
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ntn/heads.h"

namespace ntn {

enum class LossKind { mse, mae, huber, pinball, nll };

struct LossSpec {
  LossKind kind = LossKind::mae;
  float delta = 1.0f;            // huber
  std::vector<float> quantiles;  // pinball: one level in (0, 1) per output (Q of them)
  DistKind dist = DistKind::student_t;  // nll
  std::size_t outputs() const {
    return kind == LossKind::pinball ? quantiles.size() : kind == LossKind::nll ? dist_params(dist) : 1;
  }
  // Loss terms per forecast step: the divisor of the mean with B * H (pinball: one per level).
  std::size_t terms() const { return kind == LossKind::pinball ? quantiles.size() : 1; }
};

// "mse" | "mae" | "huber" | "pinball" / "mq" / "quantile" (needs quantiles) | "nll" (distribution:
// gaussian, student_t (default) or negative_binomial). Throws ntn::Error.
LossSpec parse_loss(const std::string& name, const std::vector<float>& quantiles = {}, float delta = 1.0f,
                    const std::string& distribution = "");
const char* loss_name(LossKind k);
// What a model trained with this loss outputs: point, quantiles (the pinball levels) or the
// distribution of the nll loss.
OutputSpec output_spec(const LossSpec& spec);

// grad may be null (evaluation only).
double loss_sum_grad(const LossSpec& spec, const float* pred, const float* target, float* grad, std::size_t B,
                     std::size_t H, float grad_scale);

}  // namespace ntn
