// bf16_gemm (kernels.h): bfloat16 operands, fp32 chains over the k pairs. On a CPU without
// AVX512_BF16 the only promise is the clear error, and that is what runs there.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernel_test_util.h"
#include "ntn/error.h"

namespace ntn::test {
namespace {

struct Case {
  std::size_t M, N, K;
  bool ta, tb, tc;  // A stored (K, M), B stored (N, K), C stored (N, M)
  std::size_t pad;  // extra elements per stored row
  bool accumulate, neg;
  int bias;  // 0 none, 1 per row, 2 per column
};

GemmArgs args_of(const Case& c, const float* A, const float* B, float* C, const float* bias) {
  const std::size_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad,
                    ldc = (c.tc ? c.M : c.N) + c.pad;
  GemmArgs g;
  g.M = c.M, g.N = c.N, g.K = c.K;
  g.A = A, g.a_rs = c.ta ? 1 : lda, g.a_cs = c.ta ? lda : 1;
  g.B = B, g.b_rs = c.tb ? 1 : ldb, g.b_cs = c.tb ? ldb : 1;
  g.C = C, g.c_rs = c.tc ? 1 : ldc, g.c_cs = c.tc ? ldc : 1;
  g.bias = c.bias ? bias : nullptr, g.bias_per_row = c.bias == 1;
  g.neg = c.neg, g.accumulate = c.accumulate;
  return g;
}

std::string name(const Case& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) + " tc=" + std::to_string(c.tc) +
         " pad=" + std::to_string(c.pad) + " acc=" + std::to_string(c.accumulate) + " neg=" + std::to_string(c.neg) +
         " bias=" + std::to_string(c.bias);
}

float bf(float x) { return bf16_to_f32(f32_to_bf16(x)); }

const Case kCases[] = {
    // The three products of a Linear layer (kernels.h): forward (C stored by columns), weight
    // gradient (A transposed, accumulated), input gradient.
    {96, 40, 72, false, true, true, 0, false, false, 1},
    {72, 65, 40, true, false, false, 0, true, false, 0},
    {40, 65, 96, false, false, false, 0, false, false, 0},
    // Edges: odd K, K = 1, single rows / columns, tails of every tile, padding, neg, bias per column.
    {1, 1, 1, false, false, false, 0, false, false, 0},
    {7, 33, 5, false, false, false, 3, false, true, 2},
    {9, 17, 33, true, true, false, 2, true, false, 1},
    {17, 31, 64, false, true, true, 1, true, true, 2},
    {33, 1, 127, true, false, true, 0, false, false, 1},
    {8, 64, 2, true, true, true, 5, false, false, 0},
};

TEST(Bf16Gemm, UnavailableIsAClearErrorNeverAnFp32Fallback) {
  if (bf16_gemm_available()) GTEST_SKIP() << "this CPU has AVX512_BF16: the products run (tests below)";
  std::vector<float> A(4, 1.0f), B(4, 1.0f), C(4, 0.0f);
  const Case c{2, 2, 2, false, false, false, 0, false, false, 0};
  try {
    bf16_gemm(args_of(c, A.data(), B.data(), C.data(), nullptr));
    FAIL() << "bf16_gemm ran on a CPU without AVX512_BF16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("AVX512_BF16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(C, std::vector<float>(4, 0.0f)) << "C written before the error";
}

// Every element against the exact sum of the bf16-rounded products (double), within the error of
// K fp32 additions; and the rounding is real: against the unrounded fp32 products some element
// is further off than that bound (an fp32 kernel in disguise would fail here).
TEST(Bf16Gemm, MatchesTheRoundedOperandsProductAndNothingOutsideCIsWritten) {
  if (!bf16_gemm_available()) GTEST_SKIP() << "no AVX512_BF16 here (the error is tested above)";
  std::uint64_t seed = 700;
  for (const Case& c : kCases) {
    const std::size_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad,
                      ldc = (c.tc ? c.M : c.N) + c.pad;
    const auto A = rand_vec((c.ta ? c.K : c.M) * lda, seed++), B = rand_vec((c.tb ? c.N : c.K) * ldb, seed++);
    const auto bias = rand_vec(std::max(c.M, c.N), seed++);
    auto C = rand_vec((c.tc ? c.N : c.M) * ldc, seed++);
    const std::vector<float> C0 = C;
    const GemmArgs g = args_of(c, A.data(), B.data(), C.data(), bias.data());
    bf16_gemm(g);
    std::vector<bool> logical(C.size(), false);
    bool rounding_seen = false;
    for (std::size_t i = 0; i < c.M; ++i)
      for (std::size_t j = 0; j < c.N; ++j) {
        const std::size_t at = i * g.c_rs + j * g.c_cs;
        logical[at] = true;
        double exact = 0, unrounded = 0, mag = 0;
        for (std::size_t k = 0; k < c.K; ++k) {
          const float a = A[i * g.a_rs + k * g.a_cs], b = B[k * g.b_rs + j * g.b_cs];
          exact += double(bf(a)) * double(bf(b));
          unrounded += double(a) * double(b);
          mag += std::fabs(double(a) * double(b));
        }
        const double start = c.accumulate ? double(C0[at]) : 0.0;
        const double sign = c.neg ? -1.0 : 1.0;
        const double b = c.bias == 1 ? bias[i] : c.bias == 2 ? bias[j] : 0.0;
        const double want = sign * (start + exact) + b;
        const double bound = (double(c.K) + 2) * 0x1p-23 * (mag + std::fabs(start) + std::fabs(b)) + 1e-30;
        ASSERT_LE(std::fabs(double(C[at]) - want), bound) << name(c) << " at (" << i << ", " << j << ")";
        if (std::fabs(double(C[at]) - (sign * (start + unrounded) + b)) > bound) rounding_seen = true;
      }
    EXPECT_TRUE(rounding_seen) << name(c) << ": no element shows bf16 rounding of the operands";
    for (std::size_t at = 0; at < C.size(); ++at)
      if (!logical[at]) {
        ASSERT_EQ(C[at], C0[at]) << name(c) << ": wrote padding at " << at;
      }
  }
}

// An element is one chain over its k pairs: computing rows or columns of C in separate calls
// (as threads split a product) gives the same bits, and so does a second run.
TEST(Bf16Gemm, RowAndColumnSplitsAndRepeatsGiveTheSameBits) {
  if (!bf16_gemm_available()) GTEST_SKIP() << "no AVX512_BF16 here (the error is tested above)";
  std::uint64_t seed = 900;
  for (const Case& c : kCases) {
    const std::size_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad,
                      ldc = (c.tc ? c.M : c.N) + c.pad;
    const auto A = rand_vec((c.ta ? c.K : c.M) * lda, seed++), B = rand_vec((c.tb ? c.N : c.K) * ldb, seed++);
    const auto bias = rand_vec(std::max(c.M, c.N), seed++);
    const auto C0 = rand_vec((c.tc ? c.N : c.M) * ldc, seed++);
    auto whole = C0, again = C0, rows = C0, colsplit = C0;
    const GemmArgs g = args_of(c, A.data(), B.data(), whole.data(), bias.data());
    bf16_gemm(g);
    GemmArgs r = g;
    r.C = again.data();
    bf16_gemm(r);
    for (std::size_t lo = 0, step = 5; lo < c.M; lo += step) {  // rows in slices of 5
      GemmArgs s = g;
      s.M = std::min(step, c.M - lo);
      s.A = g.A + lo * g.a_rs;
      s.C = rows.data() + lo * g.c_rs;
      if (g.bias && g.bias_per_row) s.bias = g.bias + lo;
      bf16_gemm(s);
    }
    for (std::size_t lo = 0, step = 19; lo < c.N; lo += step) {  // columns in slices of 19
      GemmArgs s = g;
      s.N = std::min(step, c.N - lo);
      s.B = g.B + lo * g.b_cs;
      s.C = colsplit.data() + lo * g.c_cs;
      if (g.bias && !g.bias_per_row) s.bias = g.bias + lo;
      bf16_gemm(s);
    }
    EXPECT_EQ(std::memcmp(whole.data(), again.data(), whole.size() * 4), 0) << name(c);
    EXPECT_EQ(std::memcmp(whole.data(), rows.data(), whole.size() * 4), 0) << name(c) << " (row slices)";
    EXPECT_EQ(std::memcmp(whole.data(), colsplit.data(), whole.size() * 4), 0) << name(c) << " (column slices)";
  }
}

// Values exact in bf16 whose pair sums are exact in fp32: the result is the exact product.
TEST(Bf16Gemm, ExactOnSmallIntegers) {
  if (!bf16_gemm_available()) GTEST_SKIP() << "no AVX512_BF16 here (the error is tested above)";
  const std::size_t M = 13, N = 37, K = 21;
  std::vector<float> A(M * K), B(K * N), C(M * N);
  for (std::size_t i = 0; i < A.size(); ++i) A[i] = float(int(i * 7 % 11) - 5);
  for (std::size_t i = 0; i < B.size(); ++i) B[i] = float(int(i * 5 % 13) - 6);
  const Case c{M, N, K, false, false, false, 0, false, false, 0};
  bf16_gemm(args_of(c, A.data(), B.data(), C.data(), nullptr));
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      float want = 0;
      for (std::size_t k = 0; k < K; ++k) want += A[i * K + k] * B[k * N + j];
      ASSERT_EQ(C[i * N + j], want) << i << ", " << j;
    }
}

}  // namespace
}  // namespace ntn::test
