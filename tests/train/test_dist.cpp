// The one-rank side of ntn/dist.h (the ranks themselves run in tests/dist/test_mpi.sh under mpirun):
// one process owns every part, and the ordered sum is the trainer's order, in place or not.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/kernels.h"
#include "ntn/rng.h"

using namespace ntn;

TEST(Dist, OneProcessIsOneRankOwningEveryPart) {
  const dist::Comm& w = dist::world();
  ASSERT_FALSE(dist::launched_by_mpi());  // ctest runs the unit tests as one process
  EXPECT_EQ(w.size(), 1);
  EXPECT_TRUE(w.root());
  for (std::size_t parts : {1, 2, 3, 6, 7, 256}) {
    EXPECT_EQ(w.owned(parts), std::make_pair(std::size_t(0), parts));
  }
}

TEST(Dist, OneRankOrderedSumIsPartOrder) {
  dist::Comm& w = dist::world();
  const std::size_t n = 1003, C = 5;
  std::vector<std::vector<float>> parts(C, std::vector<float>(n));
  for (std::size_t c = 0; c < C; ++c) fill_normal(parts[c].data(), n, 0.0f, float(1 + 10 * c), 7, c);
  std::vector<const float*> local;
  for (auto& p : parts) local.push_back(p.data());
  std::vector<float> got(n), want(n);
  w.ordered_sum(C, local.data(), n, got.data());
  for (std::size_t i = 0; i < n; ++i) {
    float acc = parts[0][i];
    for (std::size_t c = 1; c < C; ++c) acc = acc + parts[c][i];
    want[i] = acc;
  }
  EXPECT_EQ(std::memcmp(got.data(), want.data(), n * sizeof(float)), 0);
  // In place on part 0 (the trainer's main gradient slab is micro-batch 0's).
  w.ordered_sum(C, local.data(), n, parts[0].data());
  EXPECT_EQ(std::memcmp(parts[0].data(), want.data(), n * sizeof(float)), 0);
  std::vector<double> loss{1.5, 2.5, 3.5}, all(3);
  w.gather_parts(3, loss.data(), all.data());
  EXPECT_EQ(all, loss);
  EXPECT_THROW(w.set_timeout(0), Error);
  EXPECT_THROW(w.set_timeout(-5), Error);
  w.set_timeout(300);
}
