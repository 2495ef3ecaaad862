#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ntn/parallel.h"
#include "ntn/rng.h"

namespace ntn {
namespace {

TEST(Rng, PhiloxKnownAnswer) {
  // Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds).
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
  r = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(r[0], 0x408f276du);
  EXPECT_EQ(r[1], 0x41c83b0eu);
  EXPECT_EQ(r[2], 0xa20bc7c6u);
  EXPECT_EQ(r[3], 0x6d5451fdu);
}

TEST(Rng, ValuesArePureFunctionsOfSeedStreamIndex) {
  std::vector<float> a(1000), b(1000), c(1000);
  fill_uniform(a.data(), 1000, -1, 1, 7, 3);
  fill_uniform(b.data(), 500, -1, 1, 7, 3);
  fill_uniform(b.data() + 500, 500, -1, 1, 7, 3, 500);  // second half from its offset
  EXPECT_EQ(a, b);
  // Pieces starting inside a 4-word block, and shorter than one, give the same words.
  for (std::size_t cut : {1, 2, 3, 5, 6, 7, 499, 997, 999}) {
    std::vector<float> d(1000);
    fill_uniform(d.data(), 1, -1, 1, 7, 3);
    fill_uniform(d.data() + 1, cut - 1, -1, 1, 7, 3, 1);
    fill_uniform(d.data() + cut, 1000 - cut, -1, 1, 7, 3, cut);
    EXPECT_EQ(a, d) << "cut " << cut;
  }
  fill_uniform(c.data(), 1000, -1, 1, 7, 4);  // another stream differs
  EXPECT_NE(a, c);
  // Sequential Rng draws the same words as the indexed fill.
  Rng rng(7, 3);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(-1.0f + 2.0f * rng.uniform(), a[std::size_t(i)]);
}

TEST(Rng, FillIsIndependentOfThreadCount) {
  const std::size_t n = 10000;
  std::vector<float> one(n), two(n);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    auto& out = threads == 1 ? one : two;
    parallel_for(n, 100, [&](std::size_t lo, std::size_t hi) {
      fill_normal(out.data() + lo, hi - lo, 0.0f, 1.0f, 11, stream_id("w"), lo);
    });
  }
  set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(Rng, MomentsAreRight) {
  const std::size_t n = 200000;
  std::vector<float> u(n), z(n);
  fill_uniform(u.data(), n, 0, 1, 5, 1);
  fill_normal(z.data(), n, 2.0f, 3.0f, 5, 2);
  double su = 0, sz = 0, qz = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_GE(u[i], 0.0f);
    ASSERT_LT(u[i], 1.0f);
    su += u[i];
    sz += z[i];
    qz += double(z[i]) * z[i];
  }
  EXPECT_NEAR(su / n, 0.5, 0.005);
  const double mz = sz / n;
  EXPECT_NEAR(mz, 2.0, 0.03);
  EXPECT_NEAR(std::sqrt(qz / n - mz * mz), 3.0, 0.03);
  Rng r(1);
  for (int i = 0; i < 1000; ++i) ASSERT_LT(r.below(7), 7u);
  EXPECT_NE(stream_id("a"), stream_id("b"));
}

}  // namespace
}  // namespace ntn
