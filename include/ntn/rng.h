// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11). A value is a pure
// function of (seed, stream, counter): there is no hidden sequential state, so any thread can
// produce element i of a stream, and results never depend on the thread count or schedule.
//
// Intended usage:
//   ntn::Rng rng(/*seed=*/42, /*stream=*/ntn::stream_id("init.stack.0"));
//   float u = rng.uniform();            // sequential convenience, [0, 1)
//   float z = rng.normal();             // N(0, 1)
//   ntn::fill_uniform(w, n, -a, a, 42, 7, /*offset=*/0);   // element i uses counter offset+i
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ntn {

// One Philox4x32-10 block: 4 random 32-bit words for a 128-bit counter under a 64-bit key.
inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> ctr,
                                               std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t(kM0) * ctr[0];
    const std::uint64_t p1 = std::uint64_t(kM1) * ctr[2];
    ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], std::uint32_t(p1),
           std::uint32_t(p0 >> 32) ^ ctr[3] ^ key[1], std::uint32_t(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

// A stable 64-bit id for a named stream (FNV-1a), e.g. one per parameter tensor.
constexpr std::uint64_t stream_id(std::string_view name) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : name) {
    h ^= std::uint8_t(c);
    h *= 1099511628211ull;
  }
  return h;
}

// 24 random bits -> float in [0, 1).
inline float u32_to_unit_float(std::uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream = 0, std::uint64_t counter = 0)
      : key_{std::uint32_t(seed), std::uint32_t(seed >> 32)}, stream_(stream), counter_(counter) {}

  // The 4 words of block `counter` of this stream (no state change).
  std::array<std::uint32_t, 4> block(std::uint64_t counter) const {
    return philox4x32({std::uint32_t(counter), std::uint32_t(counter >> 32), std::uint32_t(stream_),
                       std::uint32_t(stream_ >> 32)},
                      key_);
  }

  std::uint32_t next_u32() {
    if (used_ == 4) {
      buf_ = block(counter_++);
      used_ = 0;
    }
    return buf_[used_++];
  }
  std::uint64_t next_u64() { return (std::uint64_t(next_u32()) << 32) | next_u32(); }
  float uniform() { return u32_to_unit_float(next_u32()); }
  // Box-Muller; uses two words per value (the sine half is dropped for simplicity).
  float normal() {
    const float u1 = (float(next_u32() >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
    const float u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
  }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < n / 2^32).
  std::uint32_t below(std::uint32_t n) { return std::uint32_t((std::uint64_t(next_u32()) * n) >> 32); }
  std::uint64_t counter() const { return counter_; }

 private:
  std::array<std::uint32_t, 2> key_;
  std::uint64_t stream_;
  std::uint64_t counter_;
  std::array<std::uint32_t, 4> buf_{};
  int used_ = 4;
};

// out[i] ~ U[lo, hi) from word (offset + i) of the stream: a pure function of the index.
void fill_uniform(float* out, std::size_t n, float lo, float hi, std::uint64_t seed,
                  std::uint64_t stream, std::uint64_t offset = 0);
// out[i] ~ N(mean, std^2), also a pure function of (seed, stream, offset + i).
void fill_normal(float* out, std::size_t n, float mean, float std, std::uint64_t seed,
                 std::uint64_t stream, std::uint64_t offset = 0);

}  // namespace ntn
