// Helpers for tests of length-preserving series functions (NaN marks warm-up positions).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace ntn::test {

using Seq = std::vector<double>;
inline const double kNaNSeq = std::numeric_limits<double>::quiet_NaN();

// Element-wise: NaN where want is NaN, else within tol relative (+ tol absolute).
inline void expect_seq(const Seq& got, const Seq& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "index " << i << " should be NaN (warm-up), got " << got[i];
    } else {
      EXPECT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "index " << i;
    }
  }
}

}  // namespace ntn::test
