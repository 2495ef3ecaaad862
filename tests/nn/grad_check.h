// Finite-difference gradient checks in double precision: the loss is sum(y * r) for a fixed
// random r, so dL/dy = r is the upstream gradient and every analytic gradient can be compared
// with central differences (h = 1e-6; truncation error O(h^2), rounding O(1e-16 / h)).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ntn/rng.h"

namespace ntn::test {

inline std::vector<double> rand_d(std::size_t n, std::uint64_t stream, double lo = -1, double hi = 1) {
  std::vector<float> f(n);
  fill_uniform(f.data(), n, float(lo), float(hi), 4242, stream);
  return std::vector<double>(f.begin(), f.end());
}

// Perturbs every element of `v` (in place, restored) and compares d loss / d v[i] with grad[i].
inline void expect_fd_match(std::vector<double>& v, const std::vector<double>& grad,
                            const std::function<double()>& loss, const std::string& what, double tol = 1e-6) {
  ASSERT_EQ(v.size(), grad.size()) << what;
  const double h = 1e-6;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double lp = loss();
    v[i] = keep - h;
    const double lm = loss();
    v[i] = keep;
    const double fd = (lp - lm) / (2 * h);
    ASSERT_NEAR(grad[i], fd, tol * (1 + std::fabs(fd))) << what << " element " << i;
  }
}

// Every parameter of a ParamSet<double> whose gradients (ps.grads()) were computed for `loss`:
// each value perturbed in turn (and restored) against its analytic gradient.
template <class ParamSetD>
void expect_param_grads_fd_match(ParamSetD& ps, const std::function<double()>& loss, const std::string& what,
                                 double tol) {
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    std::vector<double> v(ps.value(i), ps.value(i) + e.size), g(ps.grad(i), ps.grad(i) + e.size);
    auto param_loss = [&] {
      std::copy(v.begin(), v.end(), ps.value(i));
      return loss();
    };
    expect_fd_match(v, g, param_loss, what + e.name, tol);
    std::copy(v.begin(), v.end(), ps.value(i));
  }
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace ntn::test
