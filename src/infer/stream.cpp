#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/predictor.h"

namespace ntn {

StreamingPredictor::StreamingPredictor(Predictor& p, std::size_t series)
    : p_(p),
      series_(series),
      L_(p.input_size()),
      ss_(p.series_stats(series)),
      scaling_(p.artifact().window_scaling),
      buf_(2 * L_) {
  const Covariates c = p.covariates();
  NTN_CHECK(!c.any(), "streaming: this model takes covariates (", c.hist, " historic, ", c.futr, " future-known, ",
            c.stat, " static) but a stream carries the target's values only; forecast it with predict --data");
  sorted_.reserve(L_);
}

void StreamingPredictor::reset() {
  pos_ = n_ = since_exact_ = 0;
  mean_ = m2_ = 0;
  sorted_.clear();
}

// Exact two-pass statistics of the current (full) window.
void StreamingPredictor::recompute() {
  const float* w = window();
  double s = 0;
  for (std::size_t i = 0; i < L_; ++i) s += w[i];
  mean_ = s / double(L_);
  double m2 = 0;
  for (std::size_t i = 0; i < L_; ++i) m2 += (w[i] - mean_) * (w[i] - mean_);
  m2_ = m2;
  since_exact_ = 0;
}

namespace {
double sorted_quantile(const std::vector<float>& v, double q) {  // linear interpolation (numpy)
  const double pos = q * double(v.size() - 1);
  const std::size_t lo = std::size_t(std::floor(pos));
  const double frac = pos - double(lo);
  if (frac == 0.0 || lo + 1 >= v.size()) return v[lo];
  return double(v[lo]) + frac * (double(v[lo + 1]) - double(v[lo]));
}
}  // namespace

bool StreamingPredictor::append(float value) {
  NTN_CHECK(std::isfinite(value), "stream value ", value, " (observation ", n_, ") is not finite");
  const bool full = n_ == L_;
  const float old = full ? buf_[pos_] : 0.0f;
  // Ring write: the window is buf_[pos_, pos_ + L) once full (buf_[0, n_) while filling).
  const std::size_t at = full ? pos_ : n_;
  buf_[at] = value;
  buf_[at + L_] = value;
  if (full) {
    pos_ = pos_ + 1 == L_ ? 0 : pos_ + 1;
  } else {
    ++n_;
  }
  if (scaling_ == WindowScaling::standard) {
    if (!full) {  // Welford add
      const double d = double(value) - mean_;
      mean_ += d / double(n_);
      m2_ += d * (double(value) - mean_);
    } else if (++since_exact_ >= L_) {
      recompute();
    } else {  // sliding replace: O(1)
      const double d = double(value) - double(old), mean_new = mean_ + d / double(L_);
      m2_ += d * ((double(value) - mean_new) + (double(old) - mean_));
      mean_ = mean_new;
    }
  } else if (scaling_ == WindowScaling::robust) {
    if (full) sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), old));
    sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), value), value);
  }
  return n_ == L_;
}

void StreamingPredictor::forecast(float* y) {
  NTN_CHECK(n_ == L_, "streaming forecast before the window is full (", n_, " of ", L_, " values)");
  NormStats ws;  // window statistics on the series-scaled values: affine image of the raw ones
  if (scaling_ == WindowScaling::standard) {
    ws = f32_stats_from((mean_ - ss_.center) / ss_.scale, std::sqrt(std::max(0.0, m2_ / double(L_))) / ss_.scale);
  } else if (scaling_ == WindowScaling::robust) {
    const double med = sorted_quantile(sorted_, 0.5);
    const double iqr = sorted_quantile(sorted_, 0.75) - sorted_quantile(sorted_, 0.25);
    ws = f32_stats_from((med - ss_.center) / ss_.scale, iqr / ss_.scale);
  }
  p_.predict(window(), y, series_, ws);
}

void StreamLineParser::feed(const char* data, std::size_t n) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (data[i] != '\n') continue;
    const std::size_t len = pending_.size() + (i - start);
    NTN_CHECK(len <= kMaxLine, "stdin:", line_ + 1, ": line is longer than ", kMaxLine,
              " bytes (one value per line)");
    if (pending_.empty()) {
      parse_line(std::string_view(data + start, i - start));
    } else {
      pending_.append(data + start, i - start);
      parse_line(pending_);
      pending_.clear();
    }
    start = i + 1;
  }
  pending_.append(data + start, n - start);
  NTN_CHECK(pending_.size() <= kMaxLine, "stdin:", line_ + 1, ": line is longer than ", kMaxLine,
            " bytes (one value per line)");
}

void StreamLineParser::finish() {
  if (!pending_.empty()) parse_line(pending_);
  pending_.clear();
}

void StreamLineParser::parse_line(std::string_view v) {
  ++line_;
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  if (v.empty()) return;
  std::string shown(v.substr(0, 40));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';  // one printable line
  double x = 0;
  NTN_CHECK(strict_double(v, &x) == NumberText::ok, "stdin:", line_, ": '", shown, v.size() > 40 ? "..." : "",
            "' is not a number (one decimal value per line)");
  NTN_CHECK(fits_f32(x), "stdin:", line_, ": value ", shown, " is beyond float32 (|x| <= 3.4e38)");
  on_value_(float(x), line_);
}

}  // namespace ntn
