// Whole-model checks shared by test_models.cpp (hand-picked configs) and test_contract.cpp
// (every registry row).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "../nn/grad_check.h"
#include "ntn/models.h"

namespace ntn::test {

// Full-model gradient check in double: every parameter and every input element.
inline void check_model_gradients(const nlohmann::json& cfg, std::size_t B, const nn::RunCtx& ctx = {}) {
  auto m = make_model<double>(cfg);
  m->init(3);
  auto& ps = m->params();
  // Small random weights everywhere (init leaves zero-mean U(+-1/sqrt(in)); keep them).
  const std::size_t L = m->input_size(), HQ = m->horizon() * m->outputs();
  std::vector<double> x = rand_d(B * L, 1, -2, 2), r = rand_d(B * HQ, 2);
  auto ws = m->make_workspace(B);
  auto loss = [&] {
    std::vector<double> y(B * HQ);
    m->forward(*ws, x.data(), y.data(), B, ctx);
    return dot(y, r);
  };
  std::vector<double> y(B * HQ), dx(B * L);
  m->forward(*ws, x.data(), y.data(), B, ctx);
  ps.zero_grad();
  m->backward(*ws, r.data(), ps.grads(), dx.data(), B, ctx);
  test::expect_fd_match(x, dx, loss, cfg.dump() + " dx", 1e-5);
  test::expect_param_grads_fd_match(ps, loss, "", 1e-5);
}

}  // namespace ntn::test
