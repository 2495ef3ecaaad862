// Features and technical indicators over one series (double precision), length-preserving.
//
// Conventions, the same for every function:
//   * out has the input's length n; out may not alias the input.
//   * Warm-up: positions where the definition needs more history than exists are NaN - "not
//     yet defined" - and every function documents how many (e.g. a window w leaves w - 1).
//     valid_from(...) helpers are not needed: the count is in the comment, and tests pin it.
//   * Empty input gives empty output. NaN / inf input is an ntn::Error naming the function
//     and the index (repair with preprocess.h first): a NaN never leaks silently into a window.
//   * Cost is O(n) whatever the window: rolling statistics use sliding (Welford) updates and
//     monotonic deques, recursive indicators one pass.
//
// Textbook definitions (checked by tests on hand-computed values):
//   rolling_mean/sum/min/max/std/var(w)  over x[t-w+1..t]; std/var with ddof (1 = sample, as pandas)
//   ema(p)        alpha = 2 / (p + 1), seeded with the simple mean of the first p values at
//                 index p-1 (TA-Lib / textbook); warm-up p - 1
//   roc(p)        100 (x_t - x_{t-p}) / x_{t-p}; warm-up p; x_{t-p} == 0 is an error
//   rsi(p)        Wilder: changes d_t = x_t - x_{t-1}; first average gain / loss = mean of the
//                 first p gains / losses (t = 1..p), then avg = (avg (p-1) + g) / p;
//                 RSI = 100 - 100 / (1 + avg_gain / avg_loss), 100 if avg_loss = 0 (50 if both
//                 are 0: no movement); warm-up p
//   macd(f,s,g)   line = ema(f) - ema(s) (warm-up s-1), signal = ema(g) of the line started at
//                 its first defined value (warm-up s+g-2), histogram = line - signal
//   bollinger(w,k) middle = rolling mean, upper/lower = middle +- k * population std; warm-up w-1
//   atr(p)        true range TR_t = max(h-l, |h - c_{t-1}|, |l - c_{t-1}|), TR_0 = h_0 - l_0;
//                 Wilder average: mean of TR_0..TR_{p-1} at p-1, then (atr (p-1) + TR) / p
//   obv           0 at t = 0, then +volume on an up close, -volume on a down close, 0 unchanged
//   vwap(w)       sum(typical * volume) / sum(volume), typical = (h + l + c) / 3, cumulative
//                 (w = 0) or over the last w bars; NaN while the volume summed is 0
//   lag(k)        x_{t-k}; warm-up k
//   fourier(P,K)  sin / cos(2 pi k t / P) for k = 1..K, column pairs (n, 2K)
//   calendar      from Unix seconds (UTC): hour, day of week (Mon = 0), day of month, month,
//                 day of year
//
// Intended usage:
//   std::vector<double> r(n);
//   ntn::rsi(close.data(), n, 14, r.data());
//   ntn::macd(close.data(), n, 12, 26, 9, line.data(), signal.data(), hist.data());
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ntn {

void rolling_sum(const double* x, std::size_t n, std::size_t w, double* out);
void rolling_mean(const double* x, std::size_t n, std::size_t w, double* out);
void rolling_var(const double* x, std::size_t n, std::size_t w, double* out, int ddof = 1);
void rolling_std(const double* x, std::size_t n, std::size_t w, double* out, int ddof = 1);
void rolling_min(const double* x, std::size_t n, std::size_t w, double* out);
void rolling_max(const double* x, std::size_t n, std::size_t w, double* out);

void ema(const double* x, std::size_t n, std::size_t p, double* out);
void roc(const double* x, std::size_t n, std::size_t p, double* out);
void rsi(const double* x, std::size_t n, std::size_t p, double* out);
void macd(const double* x, std::size_t n, std::size_t fast, std::size_t slow, std::size_t signal, double* line,
          double* signal_out, double* hist);
void bollinger(const double* x, std::size_t n, std::size_t w, double k, double* middle, double* upper,
               double* lower);
void atr(const double* high, const double* low, const double* close, std::size_t n, std::size_t p, double* out);
void obv(const double* close, const double* volume, std::size_t n, double* out);
void vwap(const double* high, const double* low, const double* close, const double* volume, std::size_t n,
          std::size_t w, double* out);
void lag(const double* x, std::size_t n, std::size_t k, double* out);
// out (n, 2K) row-major: [sin(2 pi 1 t / P), cos(2 pi 1 t / P), ..., sin(2 pi K t / P), cos(...)],
// t = t0 + i (a position index, e.g. hours).
void fourier(std::size_t n, double period, std::size_t K, double* out, double t0 = 0);

struct CalendarFeatures {
  int hour, day_of_week, day_of_month, month, day_of_year;  // Mon = 0; months 1..12; days 1..
};
CalendarFeatures calendar(std::int64_t unix_seconds);

// Calendar covariates (future-known: computed from the timestamps of the history and of the
// steps ahead). Informer's time features, each in [-0.5, 0.5]: hour h/23, dow d/6 (Monday 0),
// dom (day-1)/30, doy (day-1)/365, month (m-1)/11, each minus 0.5. And the time itself for the
// models that read it (prophet): epoch_day (whole days since 1970) and day_fraction (of the day).
const std::vector<std::string>& calendar_feature_names();  // hour, dow, dom, doy, month, epoch_day, day_fraction
// Throws naming the known features for an unknown name.
double calendar_feature(const std::string& name, double unix_seconds);
// The h timestamps after time.back(): steps of the median spacing of the last (up to) 64 steps,
// except daily data without Saturdays or Sundays (business days, e.g. daily bars), which skips
// weekends. Needs at least 2 timestamps.
std::vector<double> future_times(const std::vector<double>& time, std::size_t h);

// A scale-free signature of a whole series: what it is like, not where it lies - for finding the
// models trained on the most similar series (the registry's `search --like`). Every entry lies
// in [-1, 1] (most in [0, 1]), so cosine, euclidean and dot distances weigh them alike. The same
// series times any positive factor gives the same signature (up to rounding), and every entry
// but rel_volatility is unchanged by an added constant too.
// d = x_t - x_{t-1}; m = season (m < 2: none); acf(v, k) = sample autocorrelation at lag k (0 for a
// constant v); tiles = consecutive blocks of max(m, 10) points (the last, shorter one dropped).
//   acf1               acf(x, 1)
//   diff_acf1          acf(d, 1)
//   season_acf         acf(x, m)  (0 without a season)
//   diff_season_acf    acf(d, m)  (0 without a season)
//   trend_strength     max(0, 1 - var(R) / var(T + R)), classical additive decomposition: T the
//                      centred moving average of length m (2 x m for even m; without a season,
//                      of length n / 10 rounded up to odd, at least 3), S the per-phase mean of
//                      x - T centred to sum 0, R = x - T - S, over the points where T exists
//   seasonal_strength  max(0, 1 - var(R) / var(S + R))  (0 without a season)
//   spectral_entropy   Shannon entropy of d's normalised power spectrum (Welch: Hann segments of
//                      min(256, the largest power of two <= n - 1) points, half overlapping, DC
//                      left out) / log(number of frequencies): 1 = white noise, 0 = one sine
//   diff_skewness      s / (1 + |s|), s = skewness of d
//   diff_kurtosis      k / (3 + |k|), k = excess kurtosis of d
//   arch_acf1          acf(d^2, 1): volatility clustering
//   stability          var(tile means) / var(x)
//   lumpiness          l / (1 + l), l = var(tile variances) / var(x)^2
//   rel_volatility     clamp((log10(std(d) / mean|x|) + 4) / 4, 0, 1)  (0 when mean|x| = 0)
// Needs n >= max(2 m + 1, 16) finite values (an error names the length or the index).
const std::vector<std::string>& series_signature_names();
std::vector<double> series_signature(const double* x, std::size_t n, std::size_t season);

}  // namespace ntn
