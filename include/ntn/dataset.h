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
class SeriesStore {
 public:
  void add(std::string name, const float* values, std::size_t n);
  void add(std::string name, const double* values, std::size_t n);
  std::size_t size() const { return names_.size(); }
  const std::string& name(std::size_t s) const { return names_[s]; }
  const float* data(std::size_t s) const { return values_.data() + offset_[s]; }
  float* mutable_data(std::size_t s) { return values_.data() + offset_[s]; }
  std::size_t length(std::size_t s) const { return offset_[s + 1] - offset_[s]; }

 private:
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
  void assemble(const WindowRef* w, std::size_t B, float* x, float* y, NormStats* stats) const;

 private:
  const SeriesStore& store_;
  WindowShape shape_;
  WindowScaling scaling_;
};

}  // namespace ntn
