#include "ntn/timing.h"

#include <algorithm>
#include <vector>

namespace ntn {

Timing measure(FunctionRef<void()> fn, int reps, double min_batch_s) {
  fn();  // warm-up: caches, page faults, lazy initialisation
  long calls = 1;
  for (;;) {
    const double t0 = now_s();
    for (long i = 0; i < calls; ++i) fn();
    const double dt = now_s() - t0;
    if (dt >= min_batch_s || calls >= (1l << 30)) break;
    calls = dt <= 0 ? calls * 10 : std::max(calls * 2, long(double(calls) * min_batch_s * 1.2 / dt));
  }
  std::vector<double> per_call(std::size_t(std::max(reps, 1)));
  for (double& v : per_call) {
    const double t0 = now_s();
    for (long i = 0; i < calls; ++i) fn();
    v = (now_s() - t0) / double(calls);
  }
  std::sort(per_call.begin(), per_call.end());
  Timing t;
  t.median_s = per_call[per_call.size() / 2];
  t.min_s = per_call.front();
  t.max_s = per_call.back();
  t.reps = int(per_call.size());
  t.calls_per_rep = calls;
  return t;
}

}  // namespace ntn
