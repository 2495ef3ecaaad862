#include <gtest/gtest.h>

#include <cstdint>

#include "ntn/aligned.h"
#include "ntn/error.h"
#include "ntn/tensor.h"

namespace ntn {
namespace {

TEST(Aligned, BuffersAre64ByteAligned) {
  for (std::size_t bytes : {std::size_t(0), std::size_t(1), std::size_t(63), std::size_t(64), std::size_t(1000)}) {
    AlignedBuffer b(bytes);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 64, 0u);
    EXPECT_GE(b.bytes(), bytes);
    EXPECT_EQ(b.bytes() % 64, 0u);
  }
  AlignedBuffer a(128);
  void* p = a.data();
  AlignedBuffer moved = std::move(a);
  EXPECT_EQ(moved.data(), p);
  EXPECT_TRUE(a.empty());  // NOLINT: moved-from state is defined
}

TEST(Aligned, ArenaBumpsMarksAndRefusesOverflow) {
  Arena arena(1024);
  float* a = arena.alloc<float>(3);  // 12 bytes -> one 64-byte slot
  float* b = arena.alloc<float>(16);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<char*>(b) - reinterpret_cast<char*>(a), 64);
  const std::size_t m = arena.mark();
  arena.alloc<float>(100);
  arena.reset(m);
  EXPECT_EQ(arena.used(), m);
  EXPECT_EQ(arena.high_water(), 128u + 448u);
  try {
    arena.alloc_bytes(2048);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arena exhausted"), std::string::npos);
  }
  EXPECT_THROW(arena.reset(4096), Error);
}

TEST(Tensor, ContiguousViewsSelectNarrowTranspose) {
  std::vector<float> data(2 * 3 * 4);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = float(i);
  Tensor t = Tensor::contiguous(data.data(), {2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.stride(2), 1);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.at<float>({1, 2, 3}), 23.0f);
  Tensor s = t.select(0, 1);  // (3, 4)
  EXPECT_EQ(s.shape(), (Shape{3, 4}));
  EXPECT_EQ(s.at<float>({0, 0}), 12.0f);
  Tensor nr = t.narrow(2, 1, 2);  // (2, 3, 2)
  EXPECT_FALSE(nr.is_contiguous());
  EXPECT_EQ(nr.at<float>({1, 1, 1}), 18.0f);
  Tensor tr = t.transpose(1, 2);  // (2, 4, 3)
  EXPECT_EQ(tr.at<float>({0, 3, 1}), t.at<float>({0, 1, 3}));
  EXPECT_EQ(t.reshape({6, 4}).at<float>({5, 3}), 23.0f);
  EXPECT_THROW(nr.reshape({12}), Error);
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(t.select(3, 0), Error);
  EXPECT_THROW(t.select(0, 2), Error);
  EXPECT_THROW(t.narrow(1, 2, 2), Error);
  EXPECT_THROW(t.at<float>({2, 0, 0}), Error);
  EXPECT_THROW((Shape{1, -1}), Error);
  EXPECT_EQ((Shape{32, 168}).str(), "(32, 168)");
}

TEST(Tensor, DtypesAreChecked) {
  std::int8_t q[8];
  Tensor t = Tensor::contiguous(q, {8}, DType::i8);
  EXPECT_EQ(t.bytes(), 8u);
  EXPECT_THROW(t.f32(), Error);
  EXPECT_EQ(dtype_size(DType::f16), 2u);
  EXPECT_STREQ(dtype_name(DType::i8), "i8");
}

}  // namespace
}  // namespace ntn
