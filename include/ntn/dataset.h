// Training data as series + window references. A sample is a view (series, start): its input
// is series[start, start + L) and its target series[start + L, start + L + H). Nothing is copied
// until a batch is assembled for the model, and then only that batch.
//
// Splits are chronological ranges of TARGET positions: a window belongs to a split when its
// first target index is in [target_begin, target_end) and its last target index is before
// target_end; its input may reach back before target_begin (down to input_floor), as in the
// long-horizon protocol. Train / validation / test ranges that do not overlap give windows
// whose targets never overlap: no leakage.
//
// Intended usage:
//   ntn::SeriesStore store;
//   store.add("OT", ot.data(), ot.size());
//   auto train = ntn::make_windows(store, {168, 24}, ntn::Split{0, 0, 8640});
//   ntn::shuffle_windows(train, /*seed=*/1, /*epoch=*/0);
//   ntn::BatchAssembler asm_(store, {168, 24}, ntn::WindowScaling::none);
//   asm_.assemble(train.data(), 32, x, y, stats);     // x (32, 168), y (32, 24)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ntn/normalize.h"

namespace ntn {

// Series stored back to back in one f32 array.
// Covariate channels per window (a model's hist_exog / futr_exog / stat_exog).
struct Covariates {
  std::size_t hist = 0;  // Ch: historic, known up to the forecast origin
  std::size_t futr = 0;  // Cf: future-known, known for the L past and the H forecast steps
  std::size_t stat = 0;  // S: static, one value per series
  bool any() const { return hist + futr + stat > 0; }
  bool operator==(const Covariates&) const = default;
};

// One batch of B windows, row-major, already scaled. A pointer may be null when its size is 0.
template <class T>
struct Batch {
  std::size_t B = 0;
  const T* y = nullptr;       // (B, L) target history, oldest first
  const T* hist = nullptr;    // (B, L, Ch) historic covariates at the same L steps
  const T* futr = nullptr;    // (B, L + H, Cf) future-known covariates: the L past steps, then the H ahead
  const T* stat = nullptr;    // (B, S) static covariates
  const T* y_futr = nullptr;  // (B, H) target future, for teacher forcing in training (models that use it)

  // Rows [r0, r0 + n) of this batch (L, H, c: the model's shape).
  Batch rows(std::size_t r0, std::size_t n, std::size_t L, std::size_t H, const Covariates& c) const {
    Batch b;
    b.B = n;
    b.y = y + r0 * L;
    b.hist = hist ? hist + r0 * L * c.hist : nullptr;
    b.futr = futr ? futr + r0 * (L + H) * c.futr : nullptr;
    b.stat = stat ? stat + r0 * c.stat : nullptr;
    b.y_futr = y_futr ? y_futr + r0 * H : nullptr;
    return b;
  }
};

class SeriesStore {
 public:
  void add(std::string name, const float* values, std::size_t n);
  void add(std::string name, const double* values, std::size_t n);
  std::size_t size() const { return names_.size(); }
  const std::string& name(std::size_t s) const { return names_[s]; }
  const float* data(std::size_t s) const { return values_.data() + offset_[s]; }
  float* mutable_data(std::size_t s) { return values_.data() + offset_[s]; }
  std::size_t length(std::size_t s) const { return offset_[s + 1] - offset_[s]; }

  // Covariates (all scaled, finite float32). set_covariates before the first add; then, after
  // add() of series s, set_series_covariates(s, ...) with hist (length, Ch), futr (futr_len, Cf)
  // where futr_len >= length (the extra steps are the future-known values after the series,
  // for forecasting past its end) and stat (S).
  void set_covariates(Covariates c);
  Covariates covariates() const { return cov_; }
  void set_series_covariates(std::size_t s, const float* hist, const float* futr, std::size_t futr_len,
                             const float* stat);
  const float* hist(std::size_t s) const { return hist_[s].data(); }
  const float* futr(std::size_t s) const { return futr_[s].data(); }
  std::size_t futr_length(std::size_t s) const { return cov_.futr ? futr_[s].size() / cov_.futr : 0; }
  const float* stat(std::size_t s) const { return stat_[s].data(); }

 private:
  Covariates cov_;
  std::vector<std::vector<float>> hist_, futr_, stat_;  // per series
  std::vector<float> values_;
  std::vector<std::size_t> offset_ = {0};
  std::vector<std::string> names_;
};

struct WindowShape {
  std::size_t input;    // L, e.g. 168
  std::size_t horizon;  // H, e.g. 24
};

struct WindowRef {
  std::uint32_t series;
  std::uint32_t start;  // first input index
};

// Target range of a split, per series (the same for every series). target_end = 0 means the
// end of each series; negative values count from the end (e.g. -48 = length - 48).
struct Split {
  std::int64_t input_floor = 0;   // earliest index an input may read
  std::int64_t target_begin = 0;  // first target index allowed
  std::int64_t target_end = 0;    // one past the last target index allowed
};

// Every window (stride apart) of every series that fits the split, in (series, start) order.
// Throws ntn::Error naming the series if none of a series' windows fit (too short for L + H).
std::vector<WindowRef> make_windows(const SeriesStore& store, WindowShape shape, Split split,
                                    std::size_t stride = 1, bool allow_empty_series = false);

// Seeded Fisher-Yates shuffle; the permutation depends only on (seed, epoch, size).
void shuffle_windows(std::vector<WindowRef>& w, std::uint64_t seed, std::uint64_t epoch);

// Per-window scaling of the NHITS authors' library (`scaler_type`): statistics of each input
// window scale its input and its target, and are kept to invert the forecast.
enum class WindowScaling { none, standard, robust };
WindowScaling parse_window_scaling(const std::string& name);  // "none" | "standard" | "robust"
const char* window_scaling_name(WindowScaling s);

class BatchAssembler {
 public:
  BatchAssembler(const SeriesStore& store, WindowShape shape, WindowScaling scaling);
  // Copies windows w[0..B) into x (B, L) and y (B, H) (y may be null: inference), scaled per
  // window; stats (B) receives each window's (center, scale), identity when scaling is none.
  // With covariates in the store, hist (B, L, Ch), futr (B, L + H, Cf) and stat (B, S) receive
  // theirs (already series-scaled; window scaling applies to the target only).
  void assemble(const WindowRef* w, std::size_t B, float* x, float* y, NormStats* stats, float* hist = nullptr,
                float* futr = nullptr, float* stat = nullptr) const;
  const SeriesStore& store() const { return store_; }
  WindowShape shape() const { return shape_; }
  // Robust scaling: computes the statistics of every window of the store once (a sorted window
  // slid along each series), so assemble() looks them up instead of selecting three order
  // statistics per window and batch - the same values. Costs 16 bytes per window start; skipped
  // (assemble computes as before) above kMaxCachedWindows starts or for other scalings. Call it
  // before assembling from several threads: assemble() only reads the table.
  void cache_window_stats();
  static constexpr std::size_t kMaxCachedWindows = std::size_t(1) << 20;  // 16 MB

 private:
  const SeriesStore& store_;
  WindowShape shape_;
  WindowScaling scaling_;
  std::vector<NormStats> cached_;     // every window's statistics, series after series
  std::vector<std::size_t> cached_at_;  // series s's windows start at cached_[cached_at_[s]]
};

// The buffers of one assembled batch (reused across calls: they only grow).
struct WindowBatch {
  std::size_t B = 0;
  std::vector<float> x, y, hist, futr, stat;  // (B, L), (B, H), (B, L, Ch), (B, L + H, Cf), (B, S)
  std::vector<NormStats> stats;               // (B) window scaling, to invert forecasts
  // Assembles w[0..B) with a's store and shape; the target future y only when with_target.
  void fill(const BatchAssembler& a, const WindowRef* w, std::size_t B, bool with_target);
  // The model input (y_futr stays null: teacher forcing is the model's choice).
  Batch<float> view() const;
};

}  // namespace ntn
