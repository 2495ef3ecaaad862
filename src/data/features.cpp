#include "ntn/features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "check_finite.h"
#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {

void detail::check_series_finite(const char* fn, const char* what, const double* x, std::size_t n) {
  if (n == 0 || std::isfinite(kernels().f64_sum(x, n))) return;
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(std::isfinite(x[i]), fn, ": ", what, "[", i, "] = ", x[i],
              " is not finite; repair missing values first (preprocess.h fill_forward / fill_linear)");
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_window(const char* fn, std::size_t w) { NTN_CHECK(w >= 1, fn, ": the window must be at least 1"); }

void fill_nan(double* out, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) out[i] = kNaN;
}

// Sliding Welford: mean and M2 of the last w values, O(1) per step. Every kRecompute * w steps
// the window is summed again exactly so rounding cannot drift over millions of points.
template <class Emit>
void sliding_moments(const double* x, std::size_t n, std::size_t w, Emit emit) {
  double mean = 0, m2 = 0;
  const std::size_t first = std::min(w, n);
  for (std::size_t i = 0; i < first; ++i) {
    const double d = x[i] - mean;
    mean += d / double(i + 1);
    m2 += d * (x[i] - mean);
  }
  if (n < w) return;
  emit(w - 1, mean, m2);
  const double inv_w = 1.0 / double(w);
  const std::size_t period = 16 * std::max<std::size_t>(w, 256);
  std::size_t next_exact = w - 1 + period;
  for (std::size_t i = w; i < n; ++i) {
    if (i == next_exact) {  // exact two-pass statistics of x[i-w+1 .. i]
      double s = 0;
      for (std::size_t j = i + 1 - w; j <= i; ++j) s += x[j];
      mean = s * inv_w;
      double q = 0;
      for (std::size_t j = i + 1 - w; j <= i; ++j) q += (x[j] - mean) * (x[j] - mean);
      m2 = q;
      next_exact += period;
    } else {
      const double xo = x[i - w], xn = x[i], d = xn - xo;
      const double mean_new = mean + d * inv_w;
      m2 += d * ((xn - mean_new) + (xo - mean));
      mean = mean_new;
    }
    emit(i, mean, m2);
  }
}

// Monotonic deque over indices (a ring of w + 1 slots): front = index of the window's extreme.
template <class Better>
void rolling_extreme(const char* fn, const double* x, std::size_t n, std::size_t w, double* out, Better better) {
  check_window(fn, w);
  detail::check_series_finite(fn, "x", x, n);
  fill_nan(out, 0, std::min(n, w - 1));
  if (n == 0) return;
  const std::size_t cap = w + 1;
  std::vector<std::size_t> ring(cap);
  std::size_t head = 0, size = 0;
  for (std::size_t i = 0; i < n; ++i) {
    while (size > 0 && !better(x[ring[(head + size - 1) % cap]], x[i])) --size;  // drop dominated tail
    ring[(head + size) % cap] = i;
    ++size;
    if (ring[head] + w <= i) {  // front left the window
      head = (head + 1) % cap;
      --size;
    }
    if (i + 1 >= w) out[i] = x[ring[head]];
  }
}

// EMA of x[from..n) seeded with the simple mean of x[from..from+p): out[from+p-1] onwards.
void ema_from(const double* x, std::size_t n, std::size_t from, std::size_t p, double* out) {
  fill_nan(out, from, std::min(n, from + p - 1));
  if (n < from + p) return;
  double s = 0;
  for (std::size_t i = from; i < from + p; ++i) s += x[i];
  double e = s / double(p);
  out[from + p - 1] = e;
  const double a = 2.0 / (double(p) + 1.0);
  for (std::size_t i = from + p; i < n; ++i) out[i] = e = e + a * (x[i] - e);
}

}  // namespace

void rolling_sum(const double* x, std::size_t n, std::size_t w, double* out) {
  check_window("rolling_sum", w);
  detail::check_series_finite("rolling_sum", "x", x, n);
  fill_nan(out, 0, std::min(n, w - 1));
  sliding_moments(x, n, w, [&](std::size_t i, double mean, double) { out[i] = mean * double(w); });
}

void rolling_mean(const double* x, std::size_t n, std::size_t w, double* out) {
  check_window("rolling_mean", w);
  detail::check_series_finite("rolling_mean", "x", x, n);
  fill_nan(out, 0, std::min(n, w - 1));
  sliding_moments(x, n, w, [&](std::size_t i, double mean, double) { out[i] = mean; });
}

namespace {
// Rolling variance (take_sqrt: standard deviation) with ddof; one sliding pass.
void rolling_second_moment(const char* fn, const double* x, std::size_t n, std::size_t w, double* out, int ddof,
                           bool take_sqrt) {
  check_window(fn, w);
  NTN_CHECK(ddof >= 0 && std::size_t(ddof) < w, fn, ": ddof ", ddof, " needs a window above it (w = ", w, ")");
  detail::check_series_finite(fn, "x", x, n);
  fill_nan(out, 0, std::min(n, w - 1));
  const double inv = 1.0 / double(w - std::size_t(ddof));
  if (take_sqrt)
    sliding_moments(x, n, w, [&](std::size_t i, double, double m2) { out[i] = std::sqrt(std::max(m2, 0.0) * inv); });
  else
    sliding_moments(x, n, w, [&](std::size_t i, double, double m2) { out[i] = std::max(m2, 0.0) * inv; });
}
}  // namespace

void rolling_var(const double* x, std::size_t n, std::size_t w, double* out, int ddof) {
  rolling_second_moment("rolling_var", x, n, w, out, ddof, false);
}

void rolling_std(const double* x, std::size_t n, std::size_t w, double* out, int ddof) {
  rolling_second_moment("rolling_std", x, n, w, out, ddof, true);
}

void rolling_min(const double* x, std::size_t n, std::size_t w, double* out) {
  rolling_extreme("rolling_min", x, n, w, out, [](double kept, double v) { return kept < v; });
}

void rolling_max(const double* x, std::size_t n, std::size_t w, double* out) {
  rolling_extreme("rolling_max", x, n, w, out, [](double kept, double v) { return kept > v; });
}

void ema(const double* x, std::size_t n, std::size_t p, double* out) {
  check_window("ema", p);
  detail::check_series_finite("ema", "x", x, n);
  ema_from(x, n, 0, p, out);
}

void roc(const double* x, std::size_t n, std::size_t p, double* out) {
  check_window("roc", p);
  detail::check_series_finite("roc", "x", x, n);
  fill_nan(out, 0, std::min(n, p));
  for (std::size_t i = p; i < n; ++i) {
    NTN_CHECK(x[i - p] != 0.0, "roc: x[", i - p, "] = 0, the rate of change from it is undefined");
    out[i] = 100.0 * (x[i] - x[i - p]) / x[i - p];
  }
}

void rsi(const double* x, std::size_t n, std::size_t p, double* out) {
  check_window("rsi", p);
  detail::check_series_finite("rsi", "x", x, n);
  fill_nan(out, 0, std::min(n, p));
  if (n <= p) return;
  double gain = 0, loss = 0;
  for (std::size_t i = 1; i <= p; ++i) {
    const double d = x[i] - x[i - 1];
    gain += d > 0 ? d : 0.0;
    loss += d < 0 ? -d : 0.0;
  }
  gain /= double(p);
  loss /= double(p);
  auto value = [](double g, double l) { return l == 0.0 ? (g == 0.0 ? 50.0 : 100.0) : 100.0 - 100.0 / (1.0 + g / l); };
  out[p] = value(gain, loss);
  const double keep = double(p - 1), inv = 1.0 / double(p);
  for (std::size_t i = p + 1; i < n; ++i) {
    const double d = x[i] - x[i - 1];
    gain = (gain * keep + (d > 0 ? d : 0.0)) * inv;
    loss = (loss * keep + (d < 0 ? -d : 0.0)) * inv;
    out[i] = value(gain, loss);
  }
}

// One fused pass (three EMA states, no temporary series): the same arithmetic as ema() of the
// fast and slow periods and ema() of the line from its first defined value.
void macd(const double* x, std::size_t n, std::size_t fast, std::size_t slow, std::size_t signal, double* line,
          double* signal_out, double* hist) {
  check_window("macd", fast);
  check_window("macd", signal);
  NTN_CHECK(fast < slow, "macd: the fast period (", fast, ") must be shorter than the slow one (", slow, ")");
  detail::check_series_finite("macd", "x", x, n);
  const double af = 2.0 / (double(fast) + 1.0), as = 2.0 / (double(slow) + 1.0), ag = 2.0 / (double(signal) + 1.0);
  double sf = 0, ss = 0, sg = 0, ef = 0, es = 0, eg = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i < fast) {
      sf += x[i];
      if (i + 1 == fast) ef = sf / double(fast);
    } else {
      ef = ef + af * (x[i] - ef);
    }
    if (i < slow) {
      ss += x[i];
      if (i + 1 == slow) es = ss / double(slow);
    }
    if (i + 1 < slow) {
      line[i] = signal_out[i] = hist[i] = kNaN;
      continue;
    }
    if (i >= slow) es = es + as * (x[i] - es);
    const double l = ef - es;
    line[i] = l;
    const std::size_t j = i + 1 - slow;  // position in the line series
    if (j < signal) {
      sg += l;
      if (j + 1 < signal) {
        signal_out[i] = hist[i] = kNaN;
        continue;
      }
      eg = sg / double(signal);
    } else {
      eg = eg + ag * (l - eg);
    }
    signal_out[i] = eg;
    hist[i] = l - eg;
  }
}

void bollinger(const double* x, std::size_t n, std::size_t w, double k, double* middle, double* upper,
               double* lower) {
  check_window("bollinger", w);
  NTN_CHECK(std::isfinite(k) && k >= 0, "bollinger: k must be finite and >= 0 (got ", k, ")");
  detail::check_series_finite("bollinger", "x", x, n);
  for (double* o : {middle, upper, lower}) fill_nan(o, 0, std::min(n, w - 1));
  const double inv = 1.0 / double(w);
  sliding_moments(x, n, w, [&](std::size_t i, double mean, double m2) {
    const double band = k * std::sqrt(std::max(m2, 0.0) * inv);
    middle[i] = mean;
    upper[i] = mean + band;
    lower[i] = mean - band;
  });
}

void atr(const double* high, const double* low, const double* close, std::size_t n, std::size_t p, double* out) {
  check_window("atr", p);
  detail::check_series_finite("atr", "high", high, n);
  detail::check_series_finite("atr", "low", low, n);
  detail::check_series_finite("atr", "close", close, n);
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(high[i] >= low[i], "atr: high[", i, "] = ", high[i], " is below low[", i, "] = ", low[i]);
  fill_nan(out, 0, std::min(n, p - 1));
  if (n < p) return;
  auto tr = [&](std::size_t i) {
    if (i == 0) return high[0] - low[0];
    return std::max({high[i] - low[i], std::fabs(high[i] - close[i - 1]), std::fabs(low[i] - close[i - 1])});
  };
  double a = 0;
  for (std::size_t i = 0; i < p; ++i) a += tr(i);
  out[p - 1] = a /= double(p);
  for (std::size_t i = p; i < n; ++i) out[i] = a = (a * double(p - 1) + tr(i)) / double(p);
}

void obv(const double* close, const double* volume, std::size_t n, double* out) {
  detail::check_series_finite("obv", "close", close, n);
  detail::check_series_finite("obv", "volume", volume, n);
  if (n == 0) return;
  double v = 0;
  out[0] = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (close[i] > close[i - 1]) v += volume[i];
    if (close[i] < close[i - 1]) v -= volume[i];
    out[i] = v;
  }
}

void vwap(const double* high, const double* low, const double* close, const double* volume, std::size_t n,
          std::size_t w, double* out) {
  detail::check_series_finite("vwap", "high", high, n);
  detail::check_series_finite("vwap", "low", low, n);
  detail::check_series_finite("vwap", "close", close, n);
  detail::check_series_finite("vwap", "volume", volume, n);
  for (std::size_t i = 0; i < n; ++i) NTN_CHECK(volume[i] >= 0, "vwap: volume[", i, "] = ", volume[i], " is negative");
  double pv = 0, vol = 0;
  for (std::size_t i = 0; i < n; ++i) {
    pv += (high[i] + low[i] + close[i]) / 3.0 * volume[i];
    vol += volume[i];
    if (w > 0 && i >= w) {
      pv -= (high[i - w] + low[i - w] + close[i - w]) / 3.0 * volume[i - w];
      vol -= volume[i - w];
    }
    out[i] = (w > 0 && i + 1 < w) || vol <= 0 ? kNaN : pv / vol;
  }
}

void lag(const double* x, std::size_t n, std::size_t k, double* out) {
  detail::check_series_finite("lag", "x", x, n);
  fill_nan(out, 0, std::min(n, k));
  for (std::size_t i = k; i < n; ++i) out[i] = x[i - k];
}

void fourier(std::size_t n, double period, std::size_t K, double* out, double t0) {
  NTN_CHECK(std::isfinite(period) && period > 0, "fourier: the period must be positive (got ", period, ")");
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 1; k <= K; ++k) {
      const double a = 2.0 * M_PI * double(k) * (t0 + double(i)) / period;
      out[i * 2 * K + 2 * (k - 1)] = std::sin(a);
      out[i * 2 * K + 2 * (k - 1) + 1] = std::cos(a);
    }
}

// Civil-from-days (Howard Hinnant's algorithm, public domain): exact for any Unix day.
CalendarFeatures calendar(std::int64_t s) {
  const std::int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  const std::int64_t secs = s - days * 86400;
  CalendarFeatures c{};
  c.hour = int(secs / 3600);
  c.day_of_week = int(((days % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday (Mon = 0 -> 3)
  const std::int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // from March 1
  const std::int64_t mp = (5 * doy + 2) / 153;
  c.day_of_month = int(doy - (153 * mp + 2) / 5 + 1);
  c.month = int(mp < 10 ? mp + 3 : mp - 9);
  const std::int64_t y = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  c.day_of_year = before[c.month - 1] + c.day_of_month + (leap && c.month > 2 ? 1 : 0);
  return c;
}

const std::vector<std::string>& calendar_feature_names() {
  static const std::vector<std::string> names = {"hour", "dow", "dom", "doy", "month", "epoch_day", "day_fraction"};
  return names;
}

double calendar_feature(const std::string& name, double t) {
  NTN_CHECK(std::isfinite(t) && std::fabs(t) < 1e14, "calendar feature '", name, "': timestamp ", t,
            " is not a date (seconds since 1970)");
  const CalendarFeatures c = calendar(std::int64_t(std::floor(t)));
  if (name == "hour") return c.hour / 23.0 - 0.5;
  if (name == "dow") return c.day_of_week / 6.0 - 0.5;
  if (name == "dom") return (c.day_of_month - 1) / 30.0 - 0.5;
  if (name == "doy") return (c.day_of_year - 1) / 365.0 - 0.5;
  if (name == "month") return (c.month - 1) / 11.0 - 0.5;
  // The time itself in two float32-exact parts: whole days since 1970 (exact below 2^24 days) and
  // the fraction of the day (to 2^-24 of a day, 5 ms); epoch_day + day_fraction is the time in days.
  const double day = std::floor(t / 86400.0);
  if (name == "epoch_day") return day;
  if (name == "day_fraction") return (t - day * 86400.0) / 86400.0;
  throw Error(cat("unknown calendar feature '", name, "': expected one of ", join(calendar_feature_names())));
}

std::vector<double> future_times(const std::vector<double>& time, std::size_t h) {
  const std::size_t n = time.size();
  NTN_CHECK(n >= 2, "future timestamps need at least 2 past timestamps (got ", n, ")");
  const std::size_t k = std::min<std::size_t>(n - 1, 64);
  std::vector<double> d(k);
  for (std::size_t i = 0; i < k; ++i) d[i] = time[n - k + i] - time[n - k + i - 1];
  std::nth_element(d.begin(), d.begin() + std::ptrdiff_t(k / 2), d.end());
  const double step = d[k / 2];
  NTN_CHECK(std::isfinite(step) && step > 0, "future timestamps: the spacing of the last timestamps is ", step);
  bool weekend = false;
  for (std::size_t i = n - k - 1; i < n && !weekend; ++i) weekend = calendar(std::int64_t(time[i])).day_of_week >= 5;
  const bool business = step == 86400.0 && !weekend;
  std::vector<double> out;
  double t = time.back();
  while (out.size() < h) {
    t += step;
    if (business && calendar(std::int64_t(t)).day_of_week >= 5) continue;
    out.push_back(t);
  }
  return out;
}

}  // namespace ntn

// ---- series signature -------------------------------------------------------------------------
namespace ntn {
namespace {

double mean_of(const double* v, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += v[i];
  return s / double(n);
}

// Population variance, two passes (the mean first: no cancellation for a large level).
double var_of(const double* v, std::size_t n) {
  const double mu = mean_of(v, n);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (v[i] - mu) * (v[i] - mu);
  return s / double(n);
}

double acf_at(const double* v, std::size_t n, std::size_t k) {
  if (k == 0 || k >= n) return 0;
  const double mu = mean_of(v, n);
  double num = 0, den = 0;
  for (std::size_t t = 0; t < n; ++t) den += (v[t] - mu) * (v[t] - mu);
  if (!(den > 0)) return 0;
  for (std::size_t t = k; t < n; ++t) num += (v[t] - mu) * (v[t - k] - mu);
  return num / den;
}

// 1 - var(a) / var(b), floored at 0 (0 when b does not vary).
double strength(const std::vector<double>& rem, const std::vector<double>& with) {
  const double vb = var_of(with.data(), with.size());
  if (!(vb > 0)) return 0;
  return std::max(0.0, 1 - var_of(rem.data(), rem.size()) / vb);
}

// Trend and seasonal strength of the classical additive decomposition (see features.h).
std::pair<double, double> decomposition_strengths(const double* x, std::size_t n, std::size_t m) {
  std::vector<double> pre(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) pre[i + 1] = pre[i] + x[i];
  std::size_t a, b;  // T exists on [a, b)
  std::vector<double> T(n, 0);
  const bool seasonal = m >= 2;
  if (seasonal && m % 2 == 0) {  // 2 x m: half weights on the two ends
    const std::size_t h = m / 2;
    a = h, b = n - h;
    for (std::size_t t = a; t < b; ++t)
      T[t] = (0.5 * x[t - h] + (pre[t + h] - pre[t - h + 1]) + 0.5 * x[t + h]) / double(m);
  } else {
    std::size_t w = seasonal ? m : std::max<std::size_t>(3, n / 10);
    if (w % 2 == 0) ++w;
    const std::size_t h = w / 2;
    a = h, b = n - h;
    for (std::size_t t = a; t < b; ++t) T[t] = (pre[t + h + 1] - pre[t - h]) / double(w);
  }
  std::vector<double> S(seasonal ? m : 1, 0), cnt(S.size(), 0);
  if (seasonal) {
    for (std::size_t t = a; t < b; ++t) S[t % m] += x[t] - T[t], cnt[t % m] += 1;
    for (std::size_t j = 0; j < m; ++j) S[j] = cnt[j] > 0 ? S[j] / cnt[j] : 0;
    const double c = mean_of(S.data(), m);
    for (double& s : S) s -= c;
  }
  std::vector<double> R, TR, SR;
  for (std::size_t t = a; t < b; ++t) {
    const double s = seasonal ? S[t % m] : 0;
    R.push_back(x[t] - T[t] - s);
    TR.push_back(x[t] - s);
    SR.push_back(x[t] - T[t]);
  }
  return {strength(R, TR), seasonal ? strength(R, SR) : 0.0};
}

// Welch power spectrum of v (Hann, half-overlapping segments, each minus its mean), DC left out,
// and its normalised Shannon entropy.
double spectral_entropy(const double* v, std::size_t n) {
  std::size_t L = 1;
  while (L * 2 <= n && L < 256) L *= 2;
  if (L < 4) return 0;
  const double two_pi = 6.283185307179586476925286766559;
  std::vector<double> win(L), c(L), s(L), seg(L), P(L / 2, 0);
  for (std::size_t j = 0; j < L; ++j) {
    win[j] = 0.5 - 0.5 * std::cos(two_pi * double(j) / double(L));
    c[j] = std::cos(two_pi * double(j) / double(L));
    s[j] = std::sin(two_pi * double(j) / double(L));
  }
  for (std::size_t at = 0; at + L <= n; at += L / 2) {
    const double mu = mean_of(v + at, L);
    for (std::size_t j = 0; j < L; ++j) seg[j] = (v[at + j] - mu) * win[j];
    for (std::size_t k = 1; k <= L / 2; ++k) {
      double re = 0, im = 0;
      for (std::size_t j = 0, idx = 0; j < L; ++j, idx = (idx + k) % L) re += seg[j] * c[idx], im -= seg[j] * s[idx];
      P[k - 1] += re * re + im * im;
    }
  }
  double total = 0;
  for (double p : P) total += p;
  if (!(total > 0)) return 0;
  double h = 0;
  for (double p : P)
    if (p > 0) h -= (p / total) * std::log(p / total);
  return std::clamp(h / std::log(double(P.size())), 0.0, 1.0);
}

}  // namespace

const std::vector<std::string>& series_signature_names() {
  static const std::vector<std::string> names = {
      "acf1",           "diff_acf1",     "season_acf",    "diff_season_acf", "trend_strength",
      "seasonal_strength", "spectral_entropy", "diff_skewness", "diff_kurtosis", "arch_acf1",
      "stability",      "lumpiness",     "rel_volatility"};
  return names;
}

std::vector<double> series_signature(const double* x, std::size_t n, std::size_t season) {
  const std::size_t m = season >= 2 ? season : 0;
  NTN_CHECK(season <= (std::size_t(1) << 40), "series signature: season ", season, " is not a period");
  const std::size_t need = std::max<std::size_t>(2 * m + 1, 16);
  NTN_CHECK(n >= need, "series signature: a series of ", n, " values is too short (needs at least ", need,
            m ? " for season " : "", m ? std::to_string(m) : std::string(), ")");
  detail::check_series_finite("series signature", "x", x, n);
  std::vector<double> d(n - 1), d2(n - 1);
  for (std::size_t t = 1; t < n; ++t) d[t - 1] = x[t] - x[t - 1];
  const double dmu = mean_of(d.data(), d.size());
  double m2 = 0, m3 = 0, m4 = 0;
  for (std::size_t t = 0; t < d.size(); ++t) {
    const double e = d[t] - dmu, e2 = e * e;
    m2 += e2, m3 += e2 * e, m4 += e2 * e2;
    d2[t] = d[t] * d[t];
  }
  m2 /= double(d.size()), m3 /= double(d.size()), m4 /= double(d.size());
  const double skew = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0, kurt = m2 > 0 ? m4 / (m2 * m2) - 3 : 0;
  const auto [trend, seas] = decomposition_strengths(x, n, m);

  const std::size_t tile = std::max<std::size_t>(m, 10), tiles = n / tile;
  const double vx = var_of(x, n);
  double stability = 0, lumpiness = 0;
  if (tiles >= 2 && vx > 0) {
    std::vector<double> means(tiles), vars(tiles);
    for (std::size_t i = 0; i < tiles; ++i) {
      means[i] = mean_of(x + i * tile, tile);
      vars[i] = var_of(x + i * tile, tile);
    }
    stability = std::min(1.0, var_of(means.data(), tiles) / vx);
    const double l = var_of(vars.data(), tiles) / (vx * vx);
    lumpiness = l / (1 + l);
  }
  double abs_mean = 0;
  for (std::size_t t = 0; t < n; ++t) abs_mean += std::fabs(x[t]);
  abs_mean /= double(n);
  const double rv = abs_mean > 0 ? std::sqrt(m2) / abs_mean : 0;
  const double rel_vol = rv > 0 ? std::clamp((std::log10(rv) + 4) / 4, 0.0, 1.0) : 0.0;

  return {acf_at(x, n, 1),
          acf_at(d.data(), d.size(), 1),
          m ? acf_at(x, n, m) : 0.0,
          m ? acf_at(d.data(), d.size(), m) : 0.0,
          trend,
          seas,
          spectral_entropy(d.data(), d.size()),
          skew / (1 + std::fabs(skew)),
          kurt / (3 + std::fabs(kurt)),
          acf_at(d2.data(), d2.size(), 1),
          stability,
          lumpiness,
          rel_vol};
}

}  // namespace ntn
