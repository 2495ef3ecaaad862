#include "ntn/rng.h"

namespace ntn {

void fill_uniform(float* out, std::size_t n, float lo, float hi, std::uint64_t seed,
                  std::uint64_t stream, std::uint64_t offset) {
  const Rng rng(seed, stream);
  const float span = hi - lo;
  // Word w lives in block w/4, lane w%4: each block is computed once for its (up to) 4 words.
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t w = offset + i;
    const auto b = rng.block(w >> 2);
    for (std::size_t lane = w & 3; lane < 4 && i < n; ++lane, ++i) out[i] = lo + span * u32_to_unit_float(b[lane]);
  }
}

void fill_normal(float* out, std::size_t n, float mean, float std, std::uint64_t seed,
                 std::uint64_t stream, std::uint64_t offset) {
  const Rng rng(seed, stream);
  for (std::size_t i = 0; i < n; ++i) {
    // Element i uses the two first words of block (offset + i): independent of neighbours.
    const auto b = rng.block(offset + i);
    const float u1 = (float(b[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
    const float u2 = u32_to_unit_float(b[1]);
    out[i] = mean + std * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
  }
}

}  // namespace ntn
