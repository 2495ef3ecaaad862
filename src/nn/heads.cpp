#include "ntn/heads.h"

#include <algorithm>
#include <cmath>

#include "ntn/error.h"
#include "ntn/fields.h"

namespace ntn {

using nlohmann::json;

const char* output_kind_name(OutputKind k) {
  switch (k) {
    case OutputKind::point: return "point";
    case OutputKind::quantiles: return "quantiles";
    case OutputKind::distribution: return "distribution";
  }
  return "?";
}

const char* dist_name(DistKind d) {
  switch (d) {
    case DistKind::gaussian: return "gaussian";
    case DistKind::student_t: return "student_t";
    case DistKind::negative_binomial: return "negative_binomial";
  }
  return "?";
}

DistKind parse_dist(const std::string& name) {
  if (name == "gaussian" || name == "normal") return DistKind::gaussian;
  if (name == "student_t" || name == "studentt") return DistKind::student_t;
  if (name == "negative_binomial" || name == "negbin") return DistKind::negative_binomial;
  throw Error(cat("unknown distribution '", name, "': expected gaussian, student_t or negative_binomial"));
}

std::size_t dist_params(DistKind d) { return d == DistKind::student_t ? 3 : 2; }

OutputSpec OutputSpec::quantiles(std::vector<float> levels) {
  NTN_CHECK(!levels.empty() && levels.size() <= limits::kOutputs.hi, "quantile levels: 1..", limits::kOutputs.hi,
            " levels (got ", levels.size(), ")");
  for (std::size_t i = 0; i < levels.size(); ++i)
    NTN_CHECK(levels[i] > 0.0f && levels[i] < 1.0f && (i == 0 || levels[i] > levels[i - 1]),
              "quantile levels must increase inside (0, 1) (level ", i, " is ", levels[i], ")");
  OutputSpec s;
  s.kind = OutputKind::quantiles;
  s.levels = std::move(levels);
  return s;
}

OutputSpec OutputSpec::distribution(DistKind d) {
  OutputSpec s;
  s.kind = OutputKind::distribution;
  s.dist = d;
  return s;
}

std::size_t OutputSpec::outputs() const {
  switch (kind) {
    case OutputKind::point: return 1;
    case OutputKind::quantiles: return levels.size();
    case OutputKind::distribution: return dist_params(dist);
  }
  return 1;
}

std::size_t OutputSpec::point_index() const {
  if (kind != OutputKind::quantiles) return 0;
  for (std::size_t i = 0; i < levels.size(); ++i)
    if (std::fabs(levels[i] - 0.5f) < 1e-6f) return i;
  return levels.size() / 2;
}

json OutputSpec::to_json() const {
  json j = {{"kind", output_kind_name(kind)}};
  if (kind == OutputKind::quantiles) j["levels"] = levels;
  if (kind == OutputKind::distribution) j["distribution"] = dist_name(dist);
  return j;
}

OutputSpec OutputSpec::from_json(const json& j, const std::string& ctx) {
  const std::string where = cat(ctx, ": output");
  NTN_CHECK(j.is_object(), where, " must be a JSON object");
  json_known_fields(j, where, {"kind", "levels", "distribution"});
  const std::string kind = json_string(j, where, "kind", "point");
  try {
    if (kind == "point") return point();
    if (kind == "quantiles") {
      std::vector<float> levels;
      for (double v : json_real_list(j, where, "levels", {}, limits::kQuantile)) levels.push_back(float(v));
      return quantiles(std::move(levels));
    }
    if (kind == "distribution") return distribution(parse_dist(json_string(j, where, "distribution", "")));
  } catch (const Error& e) {
    throw Error(cat(where, ": ", e.what()));
  }
  throw Error(cat(where, ": unknown kind '", kind, "' (expected point, quantiles or distribution)"));
}

template <class T>
void order_outputs(const OutputSpec& spec, T* y, std::size_t H) {
  if (spec.kind != OutputKind::quantiles) return;
  const std::size_t Q = spec.levels.size();
  for (std::size_t h = 0; h < H; ++h) std::sort(y + h * Q, y + (h + 1) * Q);
}

template <class T>
void unscale_outputs(const OutputSpec& spec, const NormStats& st, T* y, std::size_t H) {
  order_outputs(spec, y, H);
  const std::size_t Q = spec.outputs();
  if (spec.kind != OutputKind::distribution) {
    for (std::size_t i = 0; i < H * Q; ++i) y[i] = T(st.invert(double(y[i])));
    return;
  }
  if (spec.dist == DistKind::negative_binomial) {  // counts: the mean scales, alpha is a shape
    NTN_CHECK(st.center == 0.0, "negative_binomial: a count distribution cannot be shifted (the scaler has center ",
              st.center, "); train it without a scaler or with one that only scales");
    for (std::size_t h = 0; h < H; ++h) y[h * Q] = T(double(y[h * Q]) * st.scale);
    return;
  }
  for (std::size_t h = 0; h < H; ++h) {
    T* p = y + h * Q;
    p[0] = T(st.invert(double(p[0])));  // location
    p[1] = T(double(p[1]) * st.scale);  // scale: never shifted
  }                                     // shape (nu): unchanged
}

template <class T>
void unscale_outputs(const OutputSpec& spec, const NormStats* st, T* y, std::size_t B, std::size_t H) {
  const std::size_t HQ = H * spec.outputs();
  for (std::size_t b = 0; b < B; ++b) unscale_outputs(spec, st[b], y + b * HQ, H);
}

template void order_outputs<float>(const OutputSpec&, float*, std::size_t);
template void order_outputs<double>(const OutputSpec&, double*, std::size_t);
template void unscale_outputs<float>(const OutputSpec&, const NormStats&, float*, std::size_t);
template void unscale_outputs<double>(const OutputSpec&, const NormStats&, double*, std::size_t);
template void unscale_outputs<float>(const OutputSpec&, const NormStats*, float*, std::size_t, std::size_t);
template void unscale_outputs<double>(const OutputSpec&, const NormStats*, double*, std::size_t, std::size_t);

// ---- distributions ----------------------------------------------------------------------------
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrt2 = 1.41421356237309504880;

void check_par(DistKind d, const double* p) {
  if (d == DistKind::negative_binomial) {
    NTN_CHECK(std::isfinite(p[0]) && p[0] > 0 && std::isfinite(p[1]) && p[1] > 0, "negative_binomial: parameters (mu ",
              p[0], ", alpha ", p[1], ") need a finite mean mu > 0 and dispersion alpha > 0");
    return;
  }
  NTN_CHECK(std::isfinite(p[0]) && std::isfinite(p[1]) && p[1] > 0, dist_name(d), ": parameters (mu ", p[0],
            ", sigma ", p[1], ") need a finite mu and sigma > 0");
  if (d == DistKind::student_t)
    NTN_CHECK(std::isfinite(p[2]) && p[2] > 0, "student_t: degrees of freedom ", p[2], " must be finite and > 0");
}

void check_p(double p) {
  NTN_CHECK(p > 0 && p < 1, "quantile probability ", p, " is outside (0, 1)");
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9),
// refined by one Halley step on erfc.
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425, hi = 1 - lo;
  double x;
  if (p < lo) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= hi) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2 * kPi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// Continued fraction of the incomplete beta (modified Lentz).
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-16) break;
  }
  return h;
}

// Regularized incomplete beta I_x(a, b).
double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double lbt = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(lbt) * beta_cf(a, b, x) / a;
  return 1 - std::exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

double t_cdf(double t, double nu) {
  const double tail = 0.5 * inc_beta(nu / 2, 0.5, nu / (nu + t * t));
  return t > 0 ? 1 - tail : tail;
}

double t_log_pdf(double t, double nu) {
  return std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2) - 0.5 * std::log(nu * kPi) -
         (nu + 1) / 2 * std::log1p(t * t / nu);
}

// Standard Student-t quantile: bracket, then Newton steps kept inside the bracket (bisection
// when a step would leave it).
double t_quantile(double p, double nu) {
  if (p == 0.5) return 0;
  double lo = -1, hi = 1;
  while (t_cdf(lo, nu) > p) lo *= 2;
  while (t_cdf(hi, nu) < p) hi *= 2;
  double x = std::clamp(normal_quantile(p), lo, hi);
  for (int i = 0; i < 300; ++i) {
    const double f = t_cdf(x, nu) - p;
    if (f == 0) return x;
    (f < 0 ? lo : hi) = x;
    const double step = f / std::exp(t_log_pdf(x, nu));
    double nx = x - step;
    if (!(nx > lo && nx < hi)) nx = 0.5 * (lo + hi);
    if (std::fabs(nx - x) <= 1e-15 * std::max(1.0, std::fabs(x))) return nx;
    x = nx;
  }
  return x;
}

// Uniform in (0, 1] with 53 random bits.
double unit(Rng& rng) { return (double(rng.next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0); }

double std_normal(Rng& rng) {
  const double u1 = unit(rng), u2 = unit(rng);
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
}

// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) U^(1/shape).
double std_gamma(double shape, Rng& rng) {
  if (shape < 1) return std_gamma(shape + 1, rng) * std::pow(unit(rng), 1 / shape);
  const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    double x, v;
    do {
      x = std_normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    if (std::log(unit(rng)) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

// Negative binomial with mean mu and dispersion alpha as NB(r = 1/alpha, p = r / (r + mu)):
// P(k) = Gamma(k + r) / (Gamma(r) k!) p^r (1 - p)^k.
double nb_log_pmf(double k, double mu, double alpha) {
  const double r = 1 / alpha;
  return std::lgamma(k + r) - std::lgamma(r) - std::lgamma(k + 1) + r * std::log(r / (r + mu)) +
         k * std::log(mu / (r + mu));
}

double nb_cdf(double y, double mu, double alpha) {
  if (y < 0) return 0;
  const double r = 1 / alpha, k = std::floor(y);
  return inc_beta(r, k + 1, r / (r + mu));
}

// The smallest count k with cdf(k) >= prob: a doubling bracket, then bisection on integers.
double nb_quantile(double prob, double mu, double alpha) {
  if (nb_cdf(0, mu, alpha) >= prob) return 0;
  double lo = 0, hi = std::max(1.0, std::ceil(mu));  // cdf(lo) < prob
  while (nb_cdf(hi, mu, alpha) < prob) {
    lo = hi;
    hi *= 2;
    NTN_CHECK(hi < 1e300, "negative_binomial: quantile ", prob, " out of reach (mu ", mu, ", alpha ", alpha, ")");
  }
  while (hi - lo > 1) {
    const double mid = std::floor(lo + (hi - lo) / 2);
    (nb_cdf(mid, mu, alpha) >= prob ? hi : lo) = mid;
  }
  return hi;
}

// Poisson(lambda): the product of uniforms below lambda 10, Hormann's transformed rejection with
// squeeze (PTRS, 1993) above - as NumPy's generator does.
double poisson(double lam, Rng& rng) {
  if (lam <= 0) return 0;
  if (lam < 10) {
    const double limit = std::exp(-lam);
    double prod = unit(rng), k = 0;
    while (prod > limit) {
      prod *= unit(rng);
      ++k;
    }
    return k;
  }
  const double slam = std::sqrt(lam), loglam = std::log(lam);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double U = unit(rng) - 0.5, V = unit(rng);
    const double us = 0.5 - std::fabs(U);
    const double k = std::floor((2 * a / us + b) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (std::log(V) + std::log(invalpha) - std::log(a / (us * us) + b) <= -lam + k * loglam - std::lgamma(k + 1))
      return k;
  }
}

// Digamma psi(x), x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6, then the
// asymptotic series (|error| < 1e-13 there).
double digamma(double x) {
  double r = 0;
  while (x < 6) {
    r -= 1 / x;
    x += 1;
  }
  const double f = 1 / (x * x);
  return r + std::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

}  // namespace

double dist_nll(DistKind d, const double* p, double y) {
  check_par(d, p);
  NTN_CHECK(std::isfinite(y), dist_name(d), ": observation ", y, " is not finite");
  if (d == DistKind::negative_binomial) {
    NTN_CHECK(y >= 0, "negative_binomial: observation ", y, " is negative (a count)");
    return -nb_log_pmf(y, p[0], p[1]);
  }
  const double z = (y - p[0]) / p[1];
  if (d == DistKind::gaussian) return std::log(p[1]) + 0.5 * z * z + 0.5 * std::log(2 * kPi);
  return std::log(p[1]) - t_log_pdf(z, p[2]);
}

double dist_nll_grad(DistKind d, const double* p, double y, double* g) {
  const double nll = dist_nll(d, p, y);  // validates the parameters and y
  if (d == DistKind::negative_binomial) {
    const double mu = p[0], r = 1 / p[1];
    g[0] = (r + y) / (r + mu) - y / mu;
    const double dll_dr = digamma(y + r) - digamma(r) + std::log(r / (r + mu)) + (mu - y) / (r + mu);
    g[1] = r * r * dll_dr;  // dr / dalpha = -r^2
    return nll;
  }
  const double s = p[1], z = (y - p[0]) / s;
  if (d == DistKind::gaussian) {
    g[0] = -z / s;
    g[1] = (1 - z * z) / s;
    return nll;
  }
  const double nu = p[2], w = (nu + 1) / (nu + z * z);
  g[0] = -w * z / s;
  g[1] = (1 - w * z * z) / s;
  g[2] = 0.5 * (digamma(nu / 2) - digamma((nu + 1) / 2) + 1 / nu + std::log1p(z * z / nu)) -
         (nu + 1) * z * z / (2 * nu * (nu + z * z));
  return nll;
}

double dist_cdf(DistKind d, const double* p, double y) {
  check_par(d, p);
  if (d == DistKind::negative_binomial) return nb_cdf(y, p[0], p[1]);
  const double z = (y - p[0]) / p[1];
  return d == DistKind::gaussian ? normal_cdf(z) : t_cdf(z, p[2]);
}

double dist_quantile(DistKind d, const double* p, double prob) {
  check_par(d, p);
  check_p(prob);
  if (d == DistKind::negative_binomial) return nb_quantile(prob, p[0], p[1]);
  const double z = d == DistKind::gaussian ? normal_quantile(prob) : t_quantile(prob, p[2]);
  return p[0] + p[1] * z;
}

double dist_mean(DistKind d, const double* p) {
  check_par(d, p);
  NTN_CHECK(d != DistKind::student_t || p[2] > 1, "student_t with ", p[2], " degrees of freedom has no mean");
  return p[0];
}

double dist_sample(DistKind d, const double* p, Rng& rng) {
  check_par(d, p);
  if (d == DistKind::negative_binomial) return poisson(std_gamma(1 / p[1], rng) * p[1] * p[0], rng);
  const double z = std_normal(rng);
  if (d == DistKind::gaussian) return p[0] + p[1] * z;
  const double g = 2 * std_gamma(p[2] / 2, rng);  // chi-square(nu)
  return p[0] + p[1] * z / std::sqrt(g / p[2]);
}

}  // namespace ntn
