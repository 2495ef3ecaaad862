#include "ntn/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ntn/error.h"

namespace ntn {

const char* lbfgs_stop_name(LbfgsStop s) {
  switch (s) {
    case LbfgsStop::rel_obj:
      return "relative objective change";
    case LbfgsStop::grad:
      return "gradient norm";
    case LbfgsStop::param:
      return "parameter change";
    case LbfgsStop::max_iters:
      return "iteration limit";
    case LbfgsStop::line_search:
      return "line search found no decrease";
    case LbfgsStop::not_finite:
      return "objective not finite at the start";
  }
  return "?";
}

void Lbfgs::reserve(std::size_t n) {
  const std::size_t m = std::max<std::size_t>(options.memory, 1);
  cap_ = n;
  for (auto* v : {&g_, &d_, &x0_, &g0_, &xt_, &gt_}) v->assign(n, 0.0);
  s_.assign(m * n, 0.0);
  y_.assign(m * n, 0.0);
  rho_.assign(m, 0.0);
  alpha_.assign(m, 0.0);
}

namespace {

double dot(const double* a, const double* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

bool finite(const double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// The minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside [lo + 10%, hi - 10%]
// of the bracket (bisection when the cubic has no minimum there).
double cubic_min(double a, double fa, double da, double b, double fb, double db) {
  const double lo = std::min(a, b), hi = std::max(a, b), w = hi - lo;
  const double d1 = da + db - 3 * (fa - fb) / (a - b);
  const double disc = d1 * d1 - da * db;
  double t = 0.5 * (a + b);
  if (disc >= 0) {
    const double d2 = std::copysign(std::sqrt(disc), b - a);
    const double den = db - da + 2 * d2;
    if (den != 0) t = b - (b - a) * (db + d2 - d1) / den;
  }
  if (!std::isfinite(t) || t < lo + 0.1 * w || t > hi - 0.1 * w) t = 0.5 * (a + b);
  return t;
}

}  // namespace

LbfgsResult Lbfgs::minimize(double* x, std::size_t n, Fn fn, void* ctx) {
  NTN_CHECK(n <= cap_, "L-BFGS: ", n, " variables but reserve() sized ", cap_);
  const std::size_t m = std::max<std::size_t>(options.memory, 1);
  constexpr double c1 = 1e-4, c2 = 0.9;
  double* g = g_.data();
  double* d = d_.data();
  double* xt = xt_.data();
  double* gt = gt_.data();
  LbfgsResult r;
  double f = fn(ctx, x, g);
  r.evals = 1;
  r.f = f;
  if (!std::isfinite(f) || !finite(g, n)) {
    r.stop = LbfgsStop::not_finite;
    return r;
  }
  std::size_t stored = 0, head = 0;  // pairs in the ring, next slot
  // f and g at a trial point x + a d; non-finite values come back as +inf (too far).
  auto eval = [&](double a, double& fa, double& da) {
    for (std::size_t i = 0; i < n; ++i) xt[i] = x[i] + a * d[i];
    fa = fn(ctx, xt, gt);
    ++r.evals;
    if (!std::isfinite(fa) || !finite(gt, n)) {
      fa = INFINITY;
      da = INFINITY;
      return;
    }
    da = dot(gt, d, n);
  };
  for (r.iters = 0; r.iters < options.max_iters; ++r.iters) {
    double gmax = 0;
    for (std::size_t i = 0; i < n; ++i) gmax = std::max(gmax, std::fabs(g[i]));
    if (gmax < options.tol_grad) {
      r.stop = LbfgsStop::grad;
      break;
    }
    // Two-loop recursion: d = -H g.
    for (std::size_t i = 0; i < n; ++i) d[i] = -g[i];
    for (std::size_t k = 0; k < stored; ++k) {
      const std::size_t j = (head + m - 1 - k) % m;
      alpha_[j] = rho_[j] * dot(&s_[j * n], d, n);
      for (std::size_t i = 0; i < n; ++i) d[i] -= alpha_[j] * y_[j * n + i];
    }
    double gamma = 1;
    if (stored) {
      const std::size_t j = (head + m - 1) % m;
      gamma = dot(&s_[j * n], &y_[j * n], n) / dot(&y_[j * n], &y_[j * n], n);
    }
    for (std::size_t i = 0; i < n; ++i) d[i] *= gamma;
    for (std::size_t k = stored; k-- > 0;) {
      const std::size_t j = (head + m - 1 - k) % m;
      const double b = rho_[j] * dot(&y_[j * n], d, n);
      for (std::size_t i = 0; i < n; ++i) d[i] += (alpha_[j] - b) * s_[j * n + i];
    }
    double d0 = dot(g, d, n);
    if (!(d0 < 0)) {  // not a descent direction (numerical trouble): restart from steepest descent
      stored = 0;
      for (std::size_t i = 0; i < n; ++i) d[i] = -g[i];
      d0 = -dot(g, g, n);
    }
    // Strong-Wolfe line search (N&W Alg. 3.5 with the zoom of Alg. 3.6, cubic interpolation).
    double a = stored ? 1.0 : std::min(1.0, 1.0 / std::sqrt(-d0));
    double a_prev = 0, f_prev = f, d_prev = d0, fa = 0, da = 0;
    bool found = false;
    // Zoom into the bracket [lo, hi] (lo: the lower objective so far); a point without the
    // curvature condition but with a decrease is taken when no Wolfe point turns up.
    auto zoom = [&](double lo, double flo, double dlo, double hi, double fhi, double dhi) {
      for (int z = 0; z < 40; ++z) {
        const double t = std::isfinite(fhi) && std::isfinite(dhi) ? cubic_min(lo, flo, dlo, hi, fhi, dhi)
                                                                  : 0.5 * (lo + hi);
        double ft, dt;
        eval(t, ft, dt);
        if (ft > f + c1 * t * d0 || ft >= flo) {
          hi = t, fhi = ft, dhi = dt;
        } else {
          if (std::fabs(dt) <= -c2 * d0) {
            a = t, fa = ft;
            return true;
          }
          if (dt * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
          lo = t, flo = ft, dlo = dt;
        }
        if (std::fabs(hi - lo) <= 1e-16 * std::max(1.0, std::fabs(lo))) break;
      }
      if (!(flo < f)) return false;
      a = lo;
      eval(a, fa, da);
      return fa < f;
    };
    for (int it = 0; it < 40 && !found; ++it) {
      eval(a, fa, da);
      if (fa > f + c1 * a * d0 || (it > 0 && fa >= f_prev)) {
        found = zoom(a_prev, f_prev, d_prev, a, fa, da);
        break;
      }
      if (std::fabs(da) <= -c2 * d0) {
        found = true;
        break;
      }
      if (da >= 0) {
        found = zoom(a, fa, da, a_prev, f_prev, d_prev);
        break;
      }
      a_prev = a, f_prev = fa, d_prev = da;
      a *= 2;
    }
    if (!found) {
      r.stop = LbfgsStop::line_search;
      break;
    }
    // Accept x + a d (xt, gt hold it after the last eval at a).
    double step_max = 0;
    double* s = &s_[head * n];
    double* yv = &y_[head * n];
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = xt[i] - x[i];
      yv[i] = gt[i] - g[i];
      step_max = std::max(step_max, std::fabs(s[i]));
    }
    const double sy = dot(s, yv, n);
    if (sy > 1e-300) {  // keep the pair only when it keeps H positive definite
      rho_[head] = 1.0 / sy;
      head = (head + 1) % m;
      stored = std::min(stored + 1, m);
    }
    std::memcpy(x, xt, n * sizeof(double));
    std::memcpy(g, gt, n * sizeof(double));
    const double f_old = f;
    f = fa;
    r.f = f;
    if (std::fabs(f_old - f) / std::max({std::fabs(f_old), std::fabs(f), 1.0}) < options.tol_rel_obj) {
      r.stop = LbfgsStop::rel_obj;
      ++r.iters;
      break;
    }
    if (step_max < options.tol_param) {
      r.stop = LbfgsStop::param;
      ++r.iters;
      break;
    }
  }
  return r;
}

}  // namespace ntn
