#include <limits>

#include "kernel_test_util.h"

namespace ntn::test {
namespace {

using ElementwiseTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(ElementwiseTest);

TEST_P(ElementwiseTest, BinaryOpsMatchReferenceExactly) {
  using Fn = void (*)(const float*, const float*, float*, std::size_t);
  struct Op { const char* name; Fn KernelTable::*fn; };
  const Op ops[] = {{"add", &KernelTable::f32_add}, {"sub", &KernelTable::f32_sub}, {"mul", &KernelTable::f32_mul}};
  for (const Op& op : ops)
    for (std::size_t n : sizes()) {
      const auto a = rand_vec(n, 1), b = rand_vec(n, 2);
      std::vector<float> got(n), want(n);
      (k().*op.fn)(a.data(), b.data(), got.data(), n);
      (ref().*op.fn)(a.data(), b.data(), want.data(), n);
      expect_all_close(got, want, 0, 0, op.name);  // one IEEE operation: bitwise equal
      std::vector<float> inplace = a;              // out aliases the first input
      (k().*op.fn)(inplace.data(), b.data(), inplace.data(), n);
      expect_all_close(inplace, want, 0, 0, std::string(op.name) + " in place");
    }
}

TEST_P(ElementwiseTest, AxpyScaleFma) {
  for (std::size_t n : sizes()) {
    const auto x = rand_vec(n, 3), y0 = rand_vec(n, 4), c = rand_vec(n, 5);
    std::vector<float> got = y0, want = y0;
    k().f32_axpy(0.37f, x.data(), got.data(), n);
    ref().f32_axpy(0.37f, x.data(), want.data(), n);
    expect_all_close(got, want, 1e-6f, 1e-6f, "axpy");  // SIMD fuses the multiply-add

    k().f32_scale(-2.5f, x.data(), got.data(), n);
    ref().f32_scale(-2.5f, x.data(), want.data(), n);
    expect_all_close(got, want, 0, 0, "scale");
    got = x;
    k().f32_scale(-2.5f, got.data(), got.data(), n);
    expect_all_close(got, want, 0, 0, "scale in place");

    k().f32_fma(x.data(), y0.data(), c.data(), got.data(), n);
    ref().f32_fma(x.data(), y0.data(), c.data(), want.data(), n);
    expect_all_close(got, want, 1e-6f, 1e-6f, "fma");
    got = c;
    k().f32_fma(x.data(), y0.data(), got.data(), got.data(), n);
    expect_all_close(got, want, 1e-6f, 1e-6f, "fma in place");
  }
}

TEST_P(ElementwiseTest, HandComputedValues) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  std::vector<float> out(9);
  k().f32_add(a.data(), b.data(), out.data(), 9);
  for (float v : out) EXPECT_EQ(v, 10.0f);
  k().f32_fma(a.data(), b.data(), a.data(), out.data(), 9);  // a*b + a
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[8], 18.0f);
  std::vector<float> y = b;
  k().f32_axpy(2.0f, a.data(), y.data(), 9);  // y = 2a + b
  EXPECT_EQ(y[0], 11.0f);
  EXPECT_EQ(y[8], 19.0f);
}

TEST_P(ElementwiseTest, NanAndInfFollowIeee) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {nan, inf, -inf, inf, 1.0f, 0.0f, nan, 2.0f, inf};
  const std::vector<float> b = {1.0f, 1.0f, 1.0f, -inf, nan, inf, 0.0f, -inf, 0.0f};
  std::vector<float> got(a.size()), want(a.size());
  for (auto fn : {&KernelTable::f32_add, &KernelTable::f32_sub, &KernelTable::f32_mul}) {
    (k().*fn)(a.data(), b.data(), got.data(), a.size());
    (ref().*fn)(a.data(), b.data(), want.data(), a.size());
    expect_all_close(got, want, 0, 0, "non-finite operands");
  }
  k().f32_add(a.data(), b.data(), got.data(), a.size());
  EXPECT_TRUE(std::isnan(got[0]));  // NaN + 1
  EXPECT_TRUE(std::isnan(got[3]));  // inf + -inf
  EXPECT_EQ(got[1], inf);
}

}  // namespace
}  // namespace ntn::test
