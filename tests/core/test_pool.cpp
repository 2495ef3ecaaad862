#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "ntn/pool.h"

namespace ntn {
namespace {

TEST(Pool, ReusesOnlyTheExactShape) {
  TensorPool pool;
  void* first;
  {
    PooledTensor a = pool.acquire({4, 8});
    first = a.tensor().data();
  }
  // Same byte size, different shape: must NOT get the (4, 8) buffer back.
  PooledTensor b = pool.acquire({8, 4});
  EXPECT_EQ(b.tensor().shape(), (Shape{8, 4}));
  EXPECT_NE(b.tensor().data(), first);
  EXPECT_EQ(pool.metrics().hits, 0u);
  // Same shape, different dtype: a different list too.
  PooledTensor c = pool.acquire({4, 8}, DType::f16);
  EXPECT_EQ(c.tensor().dtype(), DType::f16);
  EXPECT_NE(c.tensor().data(), first);
  PooledTensor d = pool.acquire({4, 8});
  EXPECT_EQ(d.tensor().data(), first);
  EXPECT_EQ(d.tensor().shape(), (Shape{4, 8}));
  EXPECT_TRUE(d.tensor().is_contiguous());
  EXPECT_EQ(pool.metrics().hits, 1u);
  EXPECT_EQ(pool.metrics().misses, 3u);
}

TEST(Pool, SteadyStateOverFiveShapesHitsAlways) {
  TensorPool pool;
  const Shape shapes[5] = {{32, 512}, {32, 24}, {64, 168}, {1, 512}, {128, 128}};
  for (int i = 0; i < 1000; ++i) {
    PooledTensor a = pool.acquire(shapes[i % 5]);
    PooledTensor b = pool.acquire(shapes[(i + 1) % 5]);
    ASSERT_EQ(a.tensor().shape(), shapes[i % 5]);
    ASSERT_EQ(b.tensor().shape(), shapes[(i + 1) % 5]);
  }
  const auto m = pool.metrics();
  EXPECT_EQ(m.hits + m.misses, 2000u);
  EXPECT_LE(m.misses, 10u);  // only while the lists fill
  EXPECT_GE(m.hit_rate(), 0.99);
}

TEST(Pool, PerShapeCapEvicts) {
  TensorPool pool(TensorPool::Config{2, 1 << 20});
  {
    std::vector<PooledTensor> held;
    for (int i = 0; i < 5; ++i) held.push_back(pool.acquire({16}));
  }
  const auto m = pool.metrics();
  EXPECT_EQ(m.buffers_held, 2u);
  EXPECT_EQ(m.evictions, 3u);
  EXPECT_EQ(m.bytes_held, 2u * 64u);
}

TEST(Pool, ByteCapEvictsLeastRecentlyReleased) {
  TensorPool pool(TensorPool::Config{100, 3 * 256});  // room for three 256-byte buffers
  PooledTensor a = pool.acquire({64}), b = pool.acquire({64}), c = pool.acquire({32, 2}), d = pool.acquire({2, 32});
  void* pa = a.tensor().data();
  void* pd = d.tensor().data();
  a.release();  // oldest
  b.release();
  c.release();
  d.release();  // over the cap: a (the least recently released) goes
  auto m = pool.metrics();
  EXPECT_EQ(m.evictions, 1u);
  EXPECT_EQ(m.bytes_held, 3u * 256u);
  PooledTensor d2 = pool.acquire({2, 32});
  EXPECT_EQ(d2.tensor().data(), pd);
  PooledTensor b2 = pool.acquire({64});  // b survived, a did not
  EXPECT_NE(b2.tensor().data(), pa);
  EXPECT_EQ(pool.metrics().hits, 2u);
  // A buffer larger than the whole cap is never kept.
  { PooledTensor big = pool.acquire({4096}); }
  EXPECT_EQ(pool.metrics().evictions, 2u);
}

TEST(Pool, ClearKeepsLiveHandlesValid) {
  TensorPool pool;
  PooledTensor a = pool.acquire({8});
  { PooledTensor b = pool.acquire({8}); }
  pool.clear();
  EXPECT_EQ(pool.metrics().buffers_held, 0u);
  a.release();  // returns to its (emptied) list: no dangling pointer
  EXPECT_EQ(pool.metrics().buffers_held, 1u);
}

TEST(Pool, ConcurrentAcquireReleaseKeepsCountsConsistent) {
  TensorPool pool;
  const int kThreads = 4, kIters = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < kIters; ++i) {
        PooledTensor a = pool.acquire({int64_t(1 + (i + t) % 3), 16});
        a.tensor().f32()[0] = float(i);
      }
    });
  for (auto& th : threads) th.join();
  const auto m = pool.metrics();
  EXPECT_EQ(m.hits + m.misses, std::uint64_t(kThreads * kIters));
  EXPECT_LE(m.buffers_held, std::size_t(3 * kThreads));
}

}  // namespace
}  // namespace ntn
