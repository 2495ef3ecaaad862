#include "ntn/latency.h"

#include <bit>

namespace ntn {

// Values below 2 * kSub ns get one bucket each; above, bucket = (exponent, top 5 mantissa bits).
int LatencyStats::bucket(std::uint64_t ns) {
  if (ns < 2 * kSub) return int(ns);
  const int e = 63 - std::countl_zero(ns);       // ns in [2^e, 2^(e+1)), e >= 6
  const int sub = int((ns >> (e - 5)) & (kSub - 1));
  return (e - 4) * kSub + sub;                    // e = 6 starts right after the linear range
}

std::uint64_t LatencyStats::bucket_upper(int b) {
  if (b < 2 * kSub) return std::uint64_t(b);
  const int e = b / kSub + 4, sub = b % kSub;
  const std::uint64_t lo = (std::uint64_t(kSub + sub)) << (e - 5);
  return lo + ((std::uint64_t(1) << (e - 5)) - 1);
}

void LatencyStats::record(std::uint64_t ns) {
  hist_[std::size_t(bucket(ns))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  std::uint64_t m = max_ns_.load(std::memory_order_relaxed);
  while (ns > m && !max_ns_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
  }
  const std::uint64_t t = target_ns_.load(std::memory_order_relaxed);
  if (t && ns > t) violations_.fetch_add(1, std::memory_order_relaxed);
}

LatencySummary LatencyStats::summary() const {
  LatencySummary s;
  s.count = count_.load(std::memory_order_relaxed);
  s.target_us = double(target_ns_.load(std::memory_order_relaxed)) / 1e3;
  s.violations = violations_.load(std::memory_order_relaxed);
  if (s.count == 0) return s;
  s.mean_us = double(sum_ns_.load(std::memory_order_relaxed)) / double(s.count) / 1e3;
  s.max_us = double(max_ns_.load(std::memory_order_relaxed)) / 1e3;
  // Percentile p: the smallest bucket whose cumulative count reaches ceil(p * count).
  std::uint64_t total = 0;
  for (const auto& h : hist_) total += h.load(std::memory_order_relaxed);
  const double ps[3] = {0.50, 0.95, 0.99};
  double* out[3] = {&s.p50_us, &s.p95_us, &s.p99_us};
  std::uint64_t cum = 0;
  int j = 0;
  for (int b = 0; b < kBuckets && j < 3; ++b) {
    cum += hist_[std::size_t(b)].load(std::memory_order_relaxed);
    while (j < 3 && double(cum) >= ps[j] * double(total) && cum > 0) {
      *out[j] = double(bucket_upper(b)) / 1e3;
      if (*out[j] > s.max_us) *out[j] = s.max_us;  // never report more than the slowest call
      ++j;
    }
  }
  return s;
}

void LatencyStats::reset() {
  for (auto& h : hist_) h.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_ns_.store(0, std::memory_order_relaxed);
  max_ns_.store(0, std::memory_order_relaxed);
  violations_.store(0, std::memory_order_relaxed);
}

}  // namespace ntn
