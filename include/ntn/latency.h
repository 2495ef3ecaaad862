// Latency statistics for serving: count, mean, p50 / p95 / p99, max and violations of a target.
// Lock-free and allocation-free after construction, so predict() can record into it from many
// threads at once. Percentiles come from a log-linear histogram: 32 buckets per power of two of
// nanoseconds, so a reported percentile is within 3.2% of the true one (it reports the upper
// edge of its bucket, never less than the true value); max and mean are exact.
//
// Intended usage:
//   ntn::LatencyStats lat(/*target_us=*/100);
//   lat.record(ns);                         // per call
//   ntn::LatencySummary s = lat.summary();  // s.p99_us, s.violations
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ntn {

struct LatencySummary {
  std::uint64_t count = 0;
  double mean_us = 0, p50_us = 0, p95_us = 0, p99_us = 0, max_us = 0;
  double target_us = 0;          // 0: no target
  std::uint64_t violations = 0;  // calls slower than target_us
};

class LatencyStats {
 public:
  explicit LatencyStats(double target_us = 0) { set_target_us(target_us); }
  void set_target_us(double us) { target_ns_.store(std::uint64_t(us * 1e3), std::memory_order_relaxed); }
  void record(std::uint64_t ns);
  LatencySummary summary() const;
  void reset();

 private:
  static constexpr int kSub = 32;             // buckets per power of two
  static constexpr int kBuckets = 64 * kSub;  // covers every uint64 value
  static int bucket(std::uint64_t ns);
  static std::uint64_t bucket_upper(int b);
  std::array<std::atomic<std::uint64_t>, kBuckets> hist_{};
  std::atomic<std::uint64_t> count_{0}, sum_ns_{0}, max_ns_{0}, violations_{0}, target_ns_{0};
};

}  // namespace ntn
