#include "ntn/dataset.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn {

void SeriesStore::add(std::string name, const float* values, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(std::isfinite(values[i]), "series '", name, "': value ", i, " is not finite (", values[i], ")");
  values_.insert(values_.end(), values, values + n);
  offset_.push_back(values_.size());
  names_.push_back(std::move(name));
}

void SeriesStore::add(std::string name, const double* values, std::size_t n) {
  // The model computes in float32: a value that is finite in double but not in float (|x| >
  // 3.4e38) would train on inf. Callers that know the file name the line (pipeline.cpp).
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(fits_f32(values[i]), "series '", name, "': value ", i, " (", values[i],
              ") is not finite in float32 (|x| <= 3.4e38)");
  values_.reserve(values_.size() + n);
  for (std::size_t i = 0; i < n; ++i) values_.push_back(float(values[i]));
  offset_.push_back(values_.size());
  names_.push_back(std::move(name));
}

void SeriesStore::set_covariates(Covariates c) {
  NTN_CHECK(names_.empty(), "series store: covariates must be declared before the first series");
  cov_ = c;
}

void SeriesStore::set_series_covariates(std::size_t s, const float* hist, const float* futr, std::size_t futr_len,
                                        const float* stat) {
  NTN_CHECK(s < size(), "series store: no series ", s);
  const std::size_t n = length(s);
  NTN_CHECK(futr_len >= n || cov_.futr == 0, "series '", names_[s], "': ", futr_len,
            " future-known covariate steps for ", n, " values");
  hist_.resize(size());
  futr_.resize(size());
  stat_.resize(size());
  auto take = [&](std::vector<float>& dst, const float* src, std::size_t count, const char* kind) {
    for (std::size_t i = 0; i < count; ++i)
      NTN_CHECK(std::isfinite(src[i]), "series '", names_[s], "': ", kind, " covariate element ", i,
                " is not finite (", src[i], ")");
    dst.assign(src, src + count);
  };
  take(hist_[s], hist, n * cov_.hist, "historic");
  take(futr_[s], futr, futr_len * cov_.futr, "future-known");
  take(stat_[s], stat, cov_.stat, "static");
}

namespace {
std::int64_t resolve(std::int64_t pos, std::int64_t len, bool zero_is_end) {
  if (pos == 0 && zero_is_end) return len;
  return pos < 0 ? len + pos : pos;
}
}  // namespace

std::vector<WindowRef> make_windows(const SeriesStore& store, WindowShape shape, Split split, std::size_t stride,
                                    bool allow_empty_series) {
  NTN_CHECK(shape.input > 0 && shape.horizon > 0, "window input size and horizon must be positive (got ",
            shape.input, " and ", shape.horizon, ")");
  NTN_CHECK(stride > 0, "window stride must be positive");
  const auto L = std::int64_t(shape.input), H = std::int64_t(shape.horizon);
  std::vector<WindowRef> out;
  for (std::size_t s = 0; s < store.size(); ++s) {
    const auto len = std::int64_t(store.length(s));
    const std::int64_t floor = std::max<std::int64_t>(0, resolve(split.input_floor, len, false));
    const std::int64_t tb = resolve(split.target_begin, len, false);
    const std::int64_t te = std::min(len, resolve(split.target_end, len, true));
    // start >= floor, start + L >= tb, start + L + H <= te
    const std::int64_t first = std::max(floor, tb - L), last = te - L - H;
    const std::size_t before = out.size();
    for (std::int64_t st = first; st <= last; st += std::int64_t(stride))
      out.push_back({std::uint32_t(s), std::uint32_t(st)});
    NTN_CHECK(allow_empty_series || out.size() > before, "series '", store.name(s), "' (length ", len,
              ") has no window of input ", L, " + horizon ", H, " in its split [", tb, ", ", te,
              "): it is too short; use a smaller --input-size or --horizon");
  }
  return out;
}

void shuffle_windows(std::vector<WindowRef>& w, std::uint64_t seed, std::uint64_t epoch) {
  Rng rng(seed, stream_id("shuffle") ^ epoch);
  for (std::size_t i = w.size(); i > 1; --i) std::swap(w[i - 1], w[rng.below(std::uint32_t(i))]);
}

WindowScaling parse_window_scaling(const std::string& name) {
  if (name == "none" || name.empty()) return WindowScaling::none;
  if (name == "standard") return WindowScaling::standard;
  if (name == "robust") return WindowScaling::robust;
  throw Error(cat("unknown window scaler '", name, "': expected none, standard or robust"));
}

const char* window_scaling_name(WindowScaling s) {
  switch (s) {
    case WindowScaling::none: return "none";
    case WindowScaling::standard: return "standard";
    case WindowScaling::robust: return "robust";
  }
  return "?";
}

BatchAssembler::BatchAssembler(const SeriesStore& store, WindowShape shape, WindowScaling scaling)
    : store_(store), shape_(shape), scaling_(scaling) {}

void BatchAssembler::assemble(const WindowRef* w, std::size_t B, float* x, float* y, NormStats* stats, float* hist,
                              float* futr, float* stat) const {
  const KernelTable& k = kernels();
  const std::size_t L = shape_.input, H = shape_.horizon;
  const Covariates c = store_.covariates();
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t s = w[b].series, t0 = w[b].start;
    if (hist && c.hist) std::copy_n(store_.hist(s) + t0 * c.hist, L * c.hist, hist + b * L * c.hist);
    if (futr && c.futr) {
      NTN_DASSERT(t0 + L + H <= store_.futr_length(s));
      std::copy_n(store_.futr(s) + t0 * c.futr, (L + H) * c.futr, futr + b * (L + H) * c.futr);
    }
    if (stat && c.stat) std::copy_n(store_.stat(s), c.stat, stat + b * c.stat);
  }
  for (std::size_t b = 0; b < B; ++b) {
    NTN_DASSERT(w[b].series < store_.size() && w[b].start + L + (y ? H : 0) <= store_.length(w[b].series));
    const float* src = store_.data(w[b].series) + w[b].start;
    NormStats st;  // identity
    if (scaling_ == WindowScaling::standard) {
      st = norm_stats(NormKind::zscore, src, L, k);
    } else if (scaling_ == WindowScaling::robust && !cached_.empty()) {
      st = cached_[cached_at_[w[b].series] + w[b].start];
    } else if (scaling_ == WindowScaling::robust) {
      thread_local std::vector<double> scratch;  // grows once per thread: no allocation per window
      if (scratch.size() < L) scratch.resize(L);
      st = norm_stats(NormKind::robust, src, L, scratch.data(), k);
    }
    k.f32_normalize(src, x + b * L, L, float(st.center), float(st.scale));
    if (y) k.f32_normalize(src + L, y + b * H, H, float(st.center), float(st.scale));
    if (stats) stats[b] = st;
  }
}

void BatchAssembler::cache_window_stats() {
  if (scaling_ != WindowScaling::robust || !cached_.empty()) return;
  const std::size_t L = shape_.input;
  std::vector<std::size_t> at(store_.size() + 1, 0);
  for (std::size_t s = 0; s < store_.size(); ++s) {
    const std::size_t n = store_.length(s);
    at[s + 1] = at[s] + (n >= L ? n - L + 1 : 0);
    if (at[s + 1] > kMaxCachedWindows) return;
  }
  cached_.resize(at.back());
  for (std::size_t s = 0; s < store_.size(); ++s)
    if (at[s + 1] > at[s]) robust_stats_sliding(store_.data(s), store_.length(s), L, cached_.data() + at[s]);
  cached_at_ = std::move(at);
}

void WindowBatch::fill(const BatchAssembler& a, const WindowRef* w, std::size_t n, bool with_target) {
  const std::size_t L = a.shape().input, H = a.shape().horizon;
  const Covariates c = a.store().covariates();
  B = n;
  // resize, never shrink-to-fit: a steady loop allocates nothing after its first batch.
  if (x.size() < n * L) x.resize(n * L);
  if (with_target && y.size() < n * H) y.resize(n * H);
  if (hist.size() < n * L * c.hist) hist.resize(n * L * c.hist);
  if (futr.size() < n * (L + H) * c.futr) futr.resize(n * (L + H) * c.futr);
  if (stat.size() < n * c.stat) stat.resize(n * c.stat);
  if (stats.size() < n) stats.resize(n);
  a.assemble(w, n, x.data(), with_target ? y.data() : nullptr, stats.data(), hist.data(), futr.data(), stat.data());
}

Batch<float> WindowBatch::view() const {
  Batch<float> b;
  b.B = B;
  b.y = x.data();
  b.hist = hist.empty() ? nullptr : hist.data();
  b.futr = futr.empty() ? nullptr : futr.data();
  b.stat = stat.empty() ? nullptr : stat.data();
  return b;
}

}  // namespace ntn
