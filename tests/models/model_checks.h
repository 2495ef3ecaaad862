// Whole-model checks shared by test_models.cpp (hand-picked configs) and test_contract.cpp
// (every registry row).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "../nn/grad_check.h"
#include "ntn/models.h"

namespace ntn::test {

// A random batch of B windows with every covariate the model takes.
template <class T>
struct RandBatch {
  std::vector<T> y, hist, futr, stat;
  Batch<T> batch;
  RandBatch(const Model<T>& m, std::size_t B, std::uint64_t seed) {
    const std::size_t L = m.input_size(), H = m.horizon();
    const Covariates c = m.covariates();
    auto fill = [&](std::vector<T>& v, std::size_t n, std::uint64_t s) {
      const auto d = rand_d(n, s, -2, 2);
      v.assign(d.begin(), d.end());
    };
    fill(y, B * L, seed);
    fill(hist, B * L * c.hist, seed + 101);
    fill(futr, B * (L + H) * c.futr, seed + 202);
    fill(stat, B * c.stat, seed + 303);
    batch.B = B;
    batch.y = y.data();
    batch.hist = c.hist ? hist.data() : nullptr;
    batch.futr = c.futr ? futr.data() : nullptr;
    batch.stat = c.stat ? stat.data() : nullptr;
  }
};

// cfg with hist_exog / futr_exog / stat_exog set for every covariate kind the registry row takes
// (unchanged when it takes none).
inline nlohmann::json with_covariates(nlohmann::json cfg, const ModelInfo& info) {
  for (const auto& k : info.covariates) {
    if (k == "historic") cfg["hist_exog"] = 2;
    if (k == "future") cfg["futr_exog"] = 2;
    if (k == "static") cfg["stat_exog"] = 3;
  }
  return cfg;
}

// Full-model gradient check in double: every parameter and every input element.
inline void check_model_gradients(const nlohmann::json& cfg, std::size_t B, const nn::RunCtx& ctx = {}) {
  auto m = make_model<double>(cfg);
  m->init(3);
  auto& ps = m->params();
  // Small random weights everywhere (init leaves zero-mean U(+-1/sqrt(in)); keep them).
  const std::size_t L = m->input_size(), HQ = m->horizon() * m->outputs();
  RandBatch<double> in(*m, B, 1);
  std::vector<double>& x = in.y;
  const std::vector<double> r = rand_d(B * HQ, 2);
  auto ws = m->make_workspace(B);
  auto loss = [&] {
    std::vector<double> y(B * HQ);
    m->forward(*ws, in.batch, y.data(), ctx);
    return dot(y, r);
  };
  std::vector<double> y(B * HQ), dx(B * L);
  m->forward(*ws, in.batch, y.data(), ctx);
  ps.zero_grad();
  m->backward(*ws, r.data(), ps.grads(), dx.data(), B, ctx);
  test::expect_fd_match(x, dx, loss, cfg.dump() + " dx", 1e-5);
  test::expect_param_grads_fd_match(ps, loss, "", 1e-5);
}

// backward with accumulate = false over garbage gradients == backward into zeroed gradients.
inline void check_overwrite_equals_accumulate(const nlohmann::json& cfg) {
  auto m = make_model<double>(cfg);
  m->init(2);
  const std::size_t B = 3, HQ = m->horizon() * m->outputs();
  const RandBatch<double> in(*m, B, 7);
  const auto dy = rand_d(B * HQ, 8);
  std::vector<double> y(B * HQ);
  auto ws = m->make_workspace(B);
  m->forward(*ws, in.batch, y.data(), {});
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
