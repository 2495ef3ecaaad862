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
  carried_ = p.carries_state();
  if (carried_) st_ = p.make_stream_state();
  last_.resize(p.output_size());
}

void StreamingPredictor::reset() {
  pos_ = n_ = since_exact_ = 0;
  ticks_ = 0;
  mean_ = m2_ = 0;
  sorted_.clear();
  if (carried_) std::fill(st_.model->values(), st_.model->values() + st_.model->size(), 0.0f);
  if (aci_) enable_adaptive(aci_->level(), aci_->gamma());
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


bool StreamingPredictor::append(float value) {
  NTN_CHECK(std::isfinite(value), "stream value ", value, " (observation ", ticks_, ") is not finite");
  if (aci_) aci_->observe(value);  // scores the pending forecasts that aimed at this value
  if (carried_) p_.step(st_, value, last_.data(), series_);  // the state sees every tick
  ++ticks_;
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
  if (carried_) {
    std::memcpy(y, last_.data(), last_.size() * sizeof(float));
    if (aci_) adaptive_interval(y);
    return;
  }
  NormStats ws;  // window statistics on the series-scaled values: affine image of the raw ones
  if (scaling_ == WindowScaling::standard) {
    ws = f32_stats_from((mean_ - ss_.center) / ss_.scale, std::sqrt(std::max(0.0, m2_ / double(L_))) / ss_.scale);
  } else if (scaling_ == WindowScaling::robust) {
    const double med = sorted_quantile(sorted_.data(), L_, 0.5);
    const double iqr = sorted_quantile(sorted_.data(), L_, 0.75) - sorted_quantile(sorted_.data(), L_, 0.25);
    ws = f32_stats_from((med - ss_.center) / ss_.scale, iqr / ss_.scale);
  }
  p_.predict(window(), y, series_, ws);
  if (aci_) adaptive_interval(y);
}

void StreamingPredictor::enable_adaptive(double level, double gamma) {
  const Artifact& a = p_.artifact();
  NTN_CHECK(!a.conformal.empty(), "adaptive intervals: the model has no conformal calibration (train it with "
            "--conformal, the default)");
  aci_.emplace(a.conformal, level, gamma);
  f_.assign(p_.horizon(), 0.0);
  lo_.clear();
  hi_.clear();
}

void StreamingPredictor::adaptive_interval(const float* y) {
  const Artifact& a = p_.artifact();
  const std::size_t H = p_.horizon(), Q = p_.outputs();
  row_.assign(y, y + H * Q);
  slo_.resize(H), shi_.resize(H), lo_.resize(H), hi_.resize(H);
  conformal_scales(a.conformal, a.output, ss_, window(), L_, row_.data(), f_.data(), slo_.data(), shi_.data());
  aci_->interval(f_.data(), slo_.data(), shi_.data(), lo_.data(), hi_.data());
}

// ---- snapshot / restore ----------------------------------------------------------------------
namespace {
constexpr char kSnapMagic[8] = {'N', 'T', 'N', 'S', 'T', 'R', 'M', '1'};

std::uint64_t fnv1a_bytes(const char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  return h;
}

struct Writer {
  std::string out;
  template <class T>
  void pod(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  template <class T>
  void vec(const T* v, std::size_t n) {
    pod(std::uint64_t(n));
    out.append(reinterpret_cast<const char*>(v), n * sizeof(T));
  }
};

struct Reader {
  const std::string& in;
  std::size_t at = 0;
  template <class T>
  T pod(const char* what) {
    NTN_CHECK(in.size() - at >= sizeof(T), "stream snapshot: truncated at ", what);
    T v;
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  template <class T>
  std::vector<T> vec(const char* what, std::size_t expect) {
    const std::uint64_t n = pod<std::uint64_t>(what);
    NTN_CHECK(n == expect, "stream snapshot: ", what, " has ", n, " values, this stream has ", expect);
    NTN_CHECK((in.size() - at) / sizeof(T) >= n, "stream snapshot: truncated in ", what);
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), in.data() + at, n * sizeof(T));
    at += n * sizeof(T);
    return v;
  }
};
}  // namespace

std::string StreamingPredictor::snapshot() const {
  Writer w;
  w.out.append(kSnapMagic, sizeof kSnapMagic);
  const std::string& uuid = p_.artifact().uuid;
  w.vec(uuid.data(), uuid.size());
  w.pod(std::uint32_t(p_.precision()));
  w.pod(std::uint64_t(series_));
  w.pod(std::uint64_t(L_));
  w.pod(std::uint8_t(carried_));
  w.pod(std::uint64_t(pos_));
  w.pod(std::uint64_t(n_));
  w.pod(std::uint64_t(since_exact_));
  w.pod(ticks_);
  w.pod(mean_);
  w.pod(m2_);
  w.vec(buf_.data(), buf_.size());
  w.vec(sorted_.data(), sorted_.size());
  w.vec(last_.data(), last_.size());
  if (carried_) w.vec(st_.model->values(), st_.model->size());
  // The adaptive intervals' state (JSON), when the stream has them.
  w.pod(std::uint8_t(aci_ ? 1 : 0));
  if (aci_) {
    const std::string s = aci_->state().dump();
    w.vec(s.data(), s.size());
  }
  w.pod(fnv1a_bytes(w.out.data(), w.out.size()));
  return std::move(w.out);
}

void StreamingPredictor::restore(const std::string& bytes) {
  NTN_CHECK(bytes.size() >= sizeof kSnapMagic + 8 && std::memcmp(bytes.data(), kSnapMagic, sizeof kSnapMagic) == 0,
            "stream snapshot: not a stream snapshot (no NTNSTRM1 header)");
  std::uint64_t sum;
  std::memcpy(&sum, bytes.data() + bytes.size() - 8, 8);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // the fuzzer explores what lies behind the checksum
  NTN_CHECK(sum == fnv1a_bytes(bytes.data(), bytes.size() - 8), "stream snapshot: checksum mismatch (damaged)");
#else
  (void)sum;
#endif
  const std::string body = bytes.substr(0, bytes.size() - 8);
  Reader r{body, sizeof kSnapMagic};
  const std::string& uuid = p_.artifact().uuid;
  const auto u = r.vec<char>("model uuid", uuid.size());
  NTN_CHECK(std::string(u.begin(), u.end()) == uuid, "stream snapshot: taken from another model (uuid ",
            std::string(u.begin(), u.end()), ", this one ", uuid, ")");
  const auto prec = r.pod<std::uint32_t>("precision");
  NTN_CHECK(prec == std::uint32_t(p_.precision()), "stream snapshot: taken at another precision");
  const auto series = r.pod<std::uint64_t>("series");
  NTN_CHECK(series == std::uint64_t(series_), "stream snapshot: taken for series ", series, ", this stream is for ",
            series_);
  NTN_CHECK(r.pod<std::uint64_t>("window size") == L_, "stream snapshot: another window size");
  NTN_CHECK(r.pod<std::uint8_t>("carried") == std::uint8_t(carried_), "stream snapshot: another kind of stream");
  const auto pos = r.pod<std::uint64_t>("position"), n = r.pod<std::uint64_t>("fill");
  const auto since = r.pod<std::uint64_t>("statistics age"), ticks = r.pod<std::uint64_t>("ticks");
  const double mean = r.pod<double>("mean"), m2 = r.pod<double>("m2");
  NTN_CHECK(n <= L_ && pos < std::max<std::size_t>(L_, 1) && (n == L_ || pos == 0) && since <= L_ && ticks >= n,
            "stream snapshot: inconsistent window position");
  auto buf = r.vec<float>("window", buf_.size());
  const std::uint64_t nsorted = scaling_ == WindowScaling::robust ? n : 0;
  auto sorted = r.vec<float>("sorted window", nsorted);
  auto last = r.vec<float>("last forecast", last_.size());
  std::vector<float> state;
  if (carried_) state = r.vec<float>("model state", st_.model->size());
  // The adaptive section (absent from snapshots of earlier builds: the ACI state then starts afresh).
  std::optional<AdaptiveConformal> aci = aci_;
  if (aci) aci.emplace(p_.artifact().conformal, aci_->level(), aci_->gamma());
  if (r.at < body.size() && r.pod<std::uint8_t>("adaptive flag")) {
    NTN_CHECK(aci_.has_value(), "stream snapshot: it holds adaptive intervals (predict --stream --aci); this stream "
              "has none");
    const std::uint64_t len = r.pod<std::uint64_t>("adaptive state size");
    NTN_CHECK(len <= body.size() - r.at, "stream snapshot: truncated in the adaptive state");
    nlohmann::json js = nlohmann::json::parse(body.substr(r.at, len), nullptr, /*allow_exceptions=*/false);
    r.at += len;
    NTN_CHECK(!js.is_discarded(), "stream snapshot: the adaptive state is not JSON (damaged)");
    try {
      aci->restore(js);
    } catch (const Error& e) {
      throw Error(cat("stream snapshot: ", e.what()));
    }
  }
  NTN_CHECK(r.at == body.size(), "stream snapshot: ", body.size() - r.at, " unexpected trailing bytes");
  for (float v : buf) NTN_CHECK(std::isfinite(v), "stream snapshot: a window value is not finite");
  for (float v : state) NTN_CHECK(std::isfinite(v), "stream snapshot: a state value is not finite");
  NTN_CHECK(std::isfinite(mean) && std::isfinite(m2) && m2 >= 0, "stream snapshot: invalid window statistics");
  // Everything checked: take it.
  pos_ = pos, n_ = n, since_exact_ = since, ticks_ = ticks, mean_ = mean, m2_ = m2;
  buf_ = std::move(buf);
  sorted_ = std::move(sorted);
  sorted_.reserve(L_);
  last_ = std::move(last);
  if (carried_) std::copy(state.begin(), state.end(), st_.model->values());
  aci_ = std::move(aci);
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
