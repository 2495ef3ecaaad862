// Timing for benchmarks: repeated batches, per-call median and spread.
//
// Intended usage:
//   ntn::Timing t = ntn::measure([&] { k.f32_add(a, b, c, n); });
//   double ns = t.median_s * 1e9;   // per call
#pragma once

#include <chrono>

#include "ntn/parallel.h"

namespace ntn {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  double median_s = 0;  // per call
  double min_s = 0;
  double max_s = 0;
  int reps = 0;          // batches measured
  long calls_per_rep = 0;
};

// Calls fn once to warm up, sizes a batch to last >= min_batch_s, then times `reps` batches.
Timing measure(FunctionRef<void()> fn, int reps = 15, double min_batch_s = 2e-3);

}  // namespace ntn
