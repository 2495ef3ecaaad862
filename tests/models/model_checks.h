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

// backward with accumulate = false over garbage gradients == backward into zeroed gradients.
inline void check_overwrite_equals_accumulate(const nlohmann::json& cfg) {
  auto m = make_model<double>(cfg);
  m->init(2);
  const std::size_t B = 3, L = m->input_size(), HQ = m->horizon() * m->outputs();
  const auto x = rand_d(B * L, 7), dy = rand_d(B * HQ, 8);
  std::vector<double> y(B * HQ);
  auto ws = m->make_workspace(B);
  m->forward(*ws, x.data(), y.data(), B, {});
  const std::size_t n = m->params().slab_size();
  std::vector<double> zeroed(n, 0.0), garbage(n, 123.0);
  m->backward(*ws, dy.data(), zeroed.data(), nullptr, B, {});
  nn::RunCtx overwrite;
  overwrite.accumulate = false;
  m->backward(*ws, dy.data(), garbage.data(), nullptr, B, overwrite);
  for (const auto& e : m->params().entries())
    for (std::size_t i = 0; i < e.size; ++i)
      ASSERT_DOUBLE_EQ(garbage[e.offset + i], zeroed[e.offset + i]) << cfg.dump() << " " << e.name;
}

}  // namespace ntn::test
