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

// The doubly-residual model of `blocks` (one MLP per distinct BlockSpec::mlp, shaped by units).
template <class T>
std::unique_ptr<Model<T>> make_residual_stacks(std::string type, json cfg, std::size_t L, std::size_t H,
                                               std::size_t Q, std::vector<BlockSpec> blocks,
                                               const Units& units, nn::Act act, float dropout, nn::Pool pool,
                                               nn::Interp interp);

}  // namespace ntn::models
