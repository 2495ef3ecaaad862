// L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 two-loop recursion with a
// strong-Wolfe line search, Alg. 3.5 / 3.6) for smooth unconstrained minimisation in double. What
// the directly fitted models (prophet) use for their MAP estimates, in place of Stan's optimizer.
// The convergence tests are Stan's (its defaults): relative objective change, gradient norm,
// parameter change.
//
// Plan memory, then run: reserve(n) sizes every buffer once; minimize() allocates nothing.
//
// Intended usage:
//   ntn::Lbfgs opt;  opt.reserve(n);
//   auto r = opt.minimize(x, n, [&](const double* x, double* g) { ...; return f; });
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

namespace ntn {

struct LbfgsOptions {
  std::size_t memory = 10;       // correction pairs kept (m)
  std::size_t max_iters = 2000;  // iterations (each one line search)
  double tol_rel_obj =
      2.2e-12;             // stop when |f_k - f_{k-1}| / max(|f_k|, |f_{k-1}|, 1) falls below (Stan: 1e4 eps)
  double tol_grad = 1e-8;  // stop when max |g_i| falls below
  double tol_param = 1e-10;  // stop when max |x_k - x_{k-1}| falls below
};

enum class LbfgsStop { rel_obj, grad, param, max_iters, line_search, not_finite };
const char* lbfgs_stop_name(LbfgsStop s);

struct LbfgsResult {
  double f = 0;           // objective at the returned x
  std::size_t iters = 0;  // iterations taken
  std::size_t evals = 0;  // objective + gradient evaluations
  LbfgsStop stop = LbfgsStop::max_iters;
};

class Lbfgs {
 public:
  // The objective: returns f(x) and writes its gradient into g (both length n).
  using Fn = double (*)(void* ctx, const double* x, double* g);

  LbfgsOptions options;
  // Buffers for problems of up to n variables (allocates; minimize() then does not).
  void reserve(std::size_t n);
  // Minimises from x (n <= the reserved size), leaving the best point found in x. A point where f
  // or g is not finite is never accepted (the line search backs off); a start that is not finite
  // returns at once with stop = not_finite.
  LbfgsResult minimize(double* x, std::size_t n, Fn fn, void* ctx);
  template <class F>
  LbfgsResult minimize(double* x, std::size_t n, F&& f) {
    using Fn_t = std::remove_reference_t<F>;
    return minimize(
        x, n, [](void* c, const double* v, double* g) -> double { return (*static_cast<Fn_t*>(c))(v, g); },
        static_cast<void*>(&f));
  }

 private:
  std::size_t cap_ = 0;
  std::vector<double> g_, d_, x0_, g0_, s_, y_, rho_, alpha_, xt_, gt_;
};

}  // namespace ntn
