// Portable elementary functions for values whose bits we promise (optimizer bias corrections,
// learning-rate schedules, the N-BEATS bases). The C library's pow / sin / cos are not
// correctly rounded and glibc picks FMA or SSE2 variants of them at run time, so the same
// binary can round their last bit differently on two x86-64 machines. These use only IEEE
// +, -, *, / in double (the build forbids FMA contraction), so they give the same bits on every
// machine; their error is below 2 ulp of double, far under the float precision they feed.
#pragma once

#include <cstdint>

namespace ntn::det {

namespace detail {
// Double-double arithmetic without FMA (Dekker): a value is hi + lo with |lo| <= ulp(hi) / 2.
struct DD {
  double hi, lo;
};
inline void split(double a, double* h, double* l) {
  const double c = 134217729.0 * a;  // 2^27 + 1
  *h = c - (c - a);
  *l = a - *h;
}
inline DD mul(DD x, DD y) {
  const double p = x.hi * y.hi;
  double xh, xl, yh, yl;
  split(x.hi, &xh, &xl);
  split(y.hi, &yh, &yl);
  double e = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl;  // x.hi * y.hi - p, exactly
  e += x.hi * y.lo + x.lo * y.hi;
  const double s = p + e;
  return {s, e - (s - p)};
}

// Double-double product when both factors are in a safe range, else the plain product (the
// result is then 0, inf or tiny anyway).
inline DD mul_safe(DD x, DD y) {
  const double ax = x.hi < 0 ? -x.hi : x.hi, ay = y.hi < 0 ? -y.hi : y.hi;
  if (ax > 1e-150 && ax < 1e150 && ay > 1e-150 && ay < 1e150) return mul(x, y);
  return {x.hi * y.hi, 0.0};
}
}  // namespace detail

// base^n by binary exponentiation in double-double (n = 0 gives 1): within one ulp of double
// for every n (plain repeated squaring would lose about log2(n) bits).
inline double pow_int(double base, std::uint64_t n) {
  detail::DD r{1.0, 0.0}, b{base, 0.0};
  for (;;) {
    if (n & 1) r = detail::mul_safe(r, b);
    n >>= 1;
    if (!n) break;
    b = detail::mul_safe(b, b);
  }
  return r.hi + r.lo;
}

// sin(2 pi u) and cos(2 pi u) for |u| < 2^52: u is reduced exactly to its fraction f in (-1, 1)
// (u - trunc(u)), then to the nearest quarter turn q/4 (f - q/4 is exact by Sterbenz), so the
// remaining angle a = 2 pi (f - q/4) lies in [-pi/4, pi/4], where Taylor series of degree
// 19 / 18 are exact to double rounding (|a|^21 / 21! < 2e-22).
inline void sincos_turns(double u, double* s, double* c) {
  const double f = u - double(std::int64_t(u));
  const double t = f * 4.0 + 0.5;
  std::int64_t q = std::int64_t(t);  // nearest quarter, -4 .. 4 (floor of t)
  if (double(q) > t) --q;
  const double a = (f - double(q) * 0.25) * 6.283185307179586476925;
  const double a2 = a * a;
  double ps = 1.0 / 121645100408832000.0;  // 1/19!
  ps = -1.0 / 355687428096000.0 + a2 * ps;
  ps = 1.0 / 1307674368000.0 + a2 * ps;
  ps = -1.0 / 6227020800.0 + a2 * ps;
  ps = 1.0 / 39916800.0 + a2 * ps;
  ps = -1.0 / 362880.0 + a2 * ps;
  ps = 1.0 / 5040.0 + a2 * ps;
  ps = -1.0 / 120.0 + a2 * ps;
  ps = 1.0 / 6.0 + a2 * ps;
  const double sa = a - a * a2 * ps;
  double pc = 1.0 / 6402373705728000.0;  // 1/18!
  pc = -1.0 / 20922789888000.0 + a2 * pc;
  pc = 1.0 / 87178291200.0 + a2 * pc;
  pc = -1.0 / 479001600.0 + a2 * pc;
  pc = 1.0 / 3628800.0 + a2 * pc;
  pc = -1.0 / 40320.0 + a2 * pc;
  pc = 1.0 / 720.0 + a2 * pc;
  pc = -1.0 / 24.0 + a2 * pc;
  pc = 0.5 + a2 * pc;
  const double ca = 1.0 - a2 * pc;
  switch (((q % 4) + 4) % 4) {
    case 0: *s = sa, *c = ca; break;
    case 1: *s = ca, *c = -sa; break;
    case 2: *s = -sa, *c = -ca; break;
    default: *s = -ca, *c = sa; break;
  }
}

}  // namespace ntn::det
