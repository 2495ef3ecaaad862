#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "ntn/parallel.h"

namespace ntn {
namespace {

TEST(Parallel, ForCoversTheRangeOnceWithTheDocumentedPartition) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(1000)}) {
      std::vector<std::atomic<int>> hits(n);
      std::vector<std::pair<std::size_t, std::size_t>> chunks(8, {0, 0});
      std::atomic<int> nchunks{0};
      parallel_for(n, 10, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t i = lo; i < hi; ++i) hits[i]++;
        chunks[std::size_t(nchunks++)] = {lo, hi};
      });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
      const std::size_t c = n == 0 ? 0 : std::min<std::size_t>(std::size_t(threads), (n + 9) / 10);
      EXPECT_EQ(std::size_t(nchunks.load()), c);
      for (int k = 0; k < nchunks; ++k) {  // every chunk is [i*n/c, (i+1)*n/c) for some i
        bool found = false;
        for (std::size_t i = 0; i < c; ++i)
          found |= chunks[std::size_t(k)] == std::pair{i * n / c, (i + 1) * n / c};
        EXPECT_TRUE(found);
      }
    }
  }
  set_num_threads(0);
}

TEST(Parallel, ChunksRunEachIndexOnce) {
  set_num_threads(2);
  std::vector<std::atomic<int>> hits(37);
  parallel_chunks(37, [&](std::size_t k) { hits[k]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  // Nested use runs inline instead of oversubscribing.
  std::atomic<int> inner{0};
  parallel_chunks(2, [&](std::size_t) { parallel_for(100, 1, [&](std::size_t lo, std::size_t hi) { inner += int(hi - lo); }); });
  EXPECT_EQ(inner.load(), 200);
  set_num_threads(0);
}

}  // namespace
}  // namespace ntn
