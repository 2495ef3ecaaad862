// Internal to src/models: the doubly-residual stacks shared by NHITS and N-BEATS. Each block
// (optionally pooled input) -> MLP -> theta -> basis: backcast subtracted from the block's input,
// forecast added to the output. The input is flipped and the forecast starts at the last input
// value (the naive level), as in the authors' libraries.
#pragma once

#include "models/common.h"
#include "ntn/nn.h"

namespace ntn::models {

enum class Basis { identity, trend, seasonality };

struct BlockSpec {
  std::size_t pool_k = 1;  // 1 = no pooling
  Basis basis = Basis::identity;
  std::size_t knots = 0;    // identity: forecast knots per output (interpolated to H)
  bool q_major = true;      // identity knots laid out (Q, K) (NHITS) or (H, Q) (N-BEATS)
  std::size_t n_basis = 0;  // trend / seasonality: basis functions p
  std::size_t mlp = 0;      // index of the MLP (blocks of a shared stack point to one)
  std::size_t stack = 0;
};

// Everything a residual-stacks model is built from. Covariates enter every block's MLP input as
// NHITS does in NeuralForecast: [pooled residual (P) | pooled hist (P, Ch) | pooled futr
// (Pf, Cf) | static (S)], P = ceil(L / k), Pf = ceil((L + H) / k), time-major; they are not
// residualised.
struct StacksSpec {
  std::string type;   // the registry name
  json config;        // the full config (Model::config())
  BaseConfig base;    // L, H, Q, covariates, activation, dropout
  std::vector<BlockSpec> blocks;
  Units units;
  nn::Pool pool = nn::Pool::max;
  nn::Interp interp = nn::Interp::linear;
  std::size_t harmonics = 2;  // seasonality basis
};

// The doubly-residual model of spec.blocks (one MLP per distinct BlockSpec::mlp, shaped by units).
template <class T>
std::unique_ptr<Model<T>> make_residual_stacks(StacksSpec spec);

}  // namespace ntn::models
