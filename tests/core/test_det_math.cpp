// The portable elementary functions (core/det_math.h): accurate to about one ulp of double
// against the C library, exact where the answer is exact.
#include <gtest/gtest.h>

#include <cmath>

#include "core/det_math.h"

namespace ntn::test {
namespace {

TEST(DetMath, PowIntMatchesLibraryAndExactCases) {
  EXPECT_EQ(det::pow_int(0.9, 0), 1.0);
  EXPECT_EQ(det::pow_int(0.5, 10), 1.0 / 1024.0);
  EXPECT_EQ(det::pow_int(3.0, 5), 243.0);
  EXPECT_EQ(det::pow_int(0.0, 3), 0.0);
  for (double b : {0.9, 0.999, 0.5, 1.7, 0.123})
    for (std::uint64_t n : {1ull, 2ull, 7ull, 100ull, 1000ull, 12345ull, 1000000ull}) {
      const double want = std::pow(b, double(n));
      if (std::isinf(want) || want < 1e-290) continue;
      EXPECT_NEAR(det::pow_int(b, n), want, 3e-16 * want) << b << "^" << n;
    }
  EXPECT_TRUE(std::isinf(det::pow_int(1.7, 12345)));
  EXPECT_EQ(det::pow_int(0.5, 5000), 0.0);
}

// Reference in long double from the exact fraction of u (2 pi u in double would lose more than
// the function under test).
long double turns_rad(double u) {
  const double f = u - std::trunc(u);
  return 6.283185307179586476925286766559L * (long double)f;
}

TEST(DetMath, SinCosTurnsMatchLibrary) {
  double s, c;
  det::sincos_turns(0.0, &s, &c);
  EXPECT_EQ(s, 0.0);
  EXPECT_EQ(c, 1.0);
  det::sincos_turns(0.25, &s, &c);  // quarter turn: exactly (1, 0)
  EXPECT_EQ(s, 1.0);
  EXPECT_EQ(c, 0.0);
  det::sincos_turns(0.5, &s, &c);
  EXPECT_EQ(c, -1.0);
  // Every quadrant, both signs, the quadrant boundaries (1/8 + k/4), values past one turn.
  for (int i = -4000; i <= 4000; ++i) {
    const double u = double(i) / 997.0;
    det::sincos_turns(u, &s, &c);
    const long double a = turns_rad(u);
    EXPECT_NEAR(s, double(std::sin(a)), 2.3e-16) << u;
    EXPECT_NEAR(c, double(std::cos(a)), 2.3e-16) << u;
  }
  for (double u : {0.125, 0.375, 0.625, 0.875, -0.125, 1.125, 0.12499999999999999, 123.875}) {
    det::sincos_turns(u, &s, &c);
    EXPECT_NEAR(s, double(std::sin(turns_rad(u))), 2.3e-16) << u;
    EXPECT_NEAR(c, double(std::cos(turns_rad(u))), 2.3e-16) << u;
    EXPECT_NEAR(s * s + c * c, 1.0, 4e-16) << u;
  }
}

}  // namespace
}  // namespace ntn::test
