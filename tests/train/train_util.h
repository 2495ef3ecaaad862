// Helpers shared by the training tests.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ntn/dataset.h"
#include "ntn/rng.h"

namespace ntn::test {

// Two noisy waves of n steps (a fast and a slow sine, N(0, 0.05) noise); with level > 0 series k
// sits at level + k (a level that a window scaler removes), else both are centred.
inline SeriesStore sine_store(std::size_t n = 600, double level = 0) {
  SeriesStore s;
  for (int k = 0; k < 2; ++k) {
    std::vector<float> v(n), noise(n);
    fill_normal(noise.data(), n, 0.0f, 0.05f, 3, std::uint64_t(k));
    const double base = level > 0 ? level + k : 0.0;
    for (std::size_t i = 0; i < n; ++i)
      v[i] = float(base + std::sin(0.26 * double(i) + k) + 0.3 * std::sin(0.05 * double(i))) + noise[i];
    s.add("s" + std::to_string(k), v.data(), n);
  }
  return s;
}

}  // namespace ntn::test
