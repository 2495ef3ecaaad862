#include <cstring>
#include <limits>

#include "kernel_test_util.h"
#include "ntn/aligned.h"
#include "ntn/parallel.h"

namespace ntn::test {
namespace {

TEST(Gemm, AllTransposesAlphaBetaMatchReference) {
  const std::size_t shapes[][3] = {{1, 1, 1}, {7, 9, 5}, {16, 16, 16}, {33, 17, 65}, {64, 1, 31}};
  for (auto [M, N, K] : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.0f}, std::pair{-2.0f, 0.25f}}) {
          // Leading dimensions larger than the logical width: strided rows.
          const std::size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
          const auto A = rand_vec((ta ? K : M) * lda, 50), B = rand_vec((tb ? N : K) * ldb, 51);
          auto C = rand_vec(M * ldc, 52), Cr = C;
          sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          sgemm_ref(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, Cr.data(), ldc);
          // Absolute tolerance from the size of the terms (K up to 65, |a|, |b| <= 3): OpenBLAS sums
          // in its own order, which differs between its kernel families (OPENBLAS_CORETYPE).
          expect_all_close(C, Cr, 2e-4f, 1e-5f,
                           "sgemm M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                               " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
        }
}

TEST(Gemm, BetaZeroIgnoresNanInC) {
  std::vector<float> A = {1, 2}, B = {3, 4}, C = {std::numeric_limits<float>::quiet_NaN()};
  sgemm(false, false, 1, 1, 2, 1.0f, A.data(), 2, B.data(), 1, 0.0f, C.data(), 1);
  EXPECT_EQ(C[0], 11.0f);
}

}  // namespace
}  // namespace ntn::test

namespace ntn::test {
namespace {

// ---- f32_gemm: the fixed-order GEMM of every kernel table ------------------------------------
using FixedGemmTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(FixedGemmTest);

struct Layout {
  bool ta, tb, tc;  // A stored (K, M), B stored (N, K), C stored (N, M)
  std::size_t pad;  // extra elements per stored row
};

// Runs the table's f32_gemm and the oracle (the contract written as a loop) on the same inputs
// and requires the same bits, and that nothing outside C's logical elements is written.
void check_gemm(const KernelTable& k, std::size_t M, std::size_t N, std::size_t K, const Layout& l, bool accumulate,
                bool neg, int bias_kind, std::uint64_t seed) {
  const std::size_t lda = (l.ta ? M : K) + l.pad, ldb = (l.tb ? K : N) + l.pad, ldc = (l.tc ? M : N) + l.pad;
  const auto A = rand_vec((l.ta ? K : M) * lda + 1, seed), B = rand_vec((l.tb ? N : K) * ldb + 1, seed + 1);
  const auto bias = rand_vec(std::max(M, N), seed + 2);
  auto C = rand_vec((l.tc ? N : M) * ldc + 1, seed + 3);
  // Sentinels in the padding of C: the kernel must never write there.
  std::vector<char> logical(C.size(), 0);
  GemmArgs g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = A.data();
  g.a_rs = l.ta ? 1 : lda;
  g.a_cs = l.ta ? lda : 1;
  g.B = B.data();
  g.b_rs = l.tb ? 1 : ldb;
  g.b_cs = l.tb ? ldb : 1;
  g.c_rs = l.tc ? 1 : ldc;
  g.c_cs = l.tc ? ldc : 1;
  g.accumulate = accumulate;
  g.neg = neg;
  g.bias = bias_kind ? bias.data() : nullptr;
  g.bias_per_row = bias_kind == 1;
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) logical[i * g.c_rs + j * g.c_cs] = 1;
  for (std::size_t e = 0; e < C.size(); ++e)
    if (!logical[e]) C[e] = 12345.0f;
  auto Cr = C;
  g.C = C.data();
  k.f32_gemm(g);
  g.C = Cr.data();
  oracle().f32_gemm(g);
  const std::string what = "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                           " ta=" + std::to_string(l.ta) + " tb=" + std::to_string(l.tb) + " tc=" +
                           std::to_string(l.tc) + " pad=" + std::to_string(l.pad) + " acc=" + std::to_string(accumulate) +
                           " neg=" + std::to_string(neg) + " bias=" + std::to_string(bias_kind);
  for (std::size_t e = 0; e < C.size(); ++e) {
    ASSERT_EQ(std::memcmp(&C[e], &Cr[e], 4), 0) << what << " at " << e << ": " << C[e] << " vs " << Cr[e];
    if (!logical[e]) {
      ASSERT_EQ(C[e], 12345.0f) << "wrote outside C, " << what;
    }
  }
}

TEST_P(FixedGemmTest, EveryLayoutAndFlagIsTheChainContractBitwise) {
  // Sizes around the tiles (6 rows; 16 / 32 columns), the column blocks (64 and more; 128 when
  // A is transposed) and the k blocks (chains parked in C between blocks of 512 or fewer).
  const std::size_t shapes[][3] = {{1, 1, 1},    {1, 7, 3},    {6, 16, 8},   {7, 17, 9},    {5, 33, 130},
                                   {25, 31, 64}, {24, 65, 33}, {13, 129, 5}, {30, 200, 32}, {2, 40, 600},
                                   {40, 3, 300}, {61, 70, 1100}, {50, 150, 700}};
  const Layout layouts[] = {{false, false, false, 0}, {false, true, true, 0}, {true, false, false, 3},
                            {true, true, false, 1},   {false, true, false, 2}, {true, false, true, 0}};
  std::uint64_t seed = 100;
  for (auto [M, N, K] : shapes)
    for (const Layout& l : layouts)
      for (int flags = 0; flags < 4; ++flags) {
        check_gemm(k(), M, N, K, l, flags & 1, flags & 2, flags % 3, seed += 4);
        if (HasFatalFailure()) return;
      }
}

TEST_P(FixedGemmTest, EdgeCases) {
  const Layout plain{false, false, false, 0};
  // K = 0: C = (accumulate ? C : 0), negated, + bias; and empty M or N touch nothing.
  for (bool acc : {false, true})
    for (int bias : {0, 1, 2}) check_gemm(k(), 5, 9, 0, plain, acc, true, bias, 7);
  std::vector<float> C = {1.0f};
  GemmArgs g;
  g.M = 0;
  g.N = 1;
  g.K = 3;
  g.C = C.data();
  k().f32_gemm(g);
  EXPECT_EQ(C[0], 1.0f);
  // Hand values: [1 2; 3 4] [5; 6] = [17; 39], then + bias [1; -1], negated first.
  const float A[] = {1, 2, 3, 4}, B[] = {5, 6}, bias[] = {1, -1};
  float y[2] = {};
  g = GemmArgs{};
  g.M = 2;
  g.N = 1;
  g.K = 2;
  g.A = A;
  g.a_rs = 2;
  g.B = B;
  g.b_rs = 1;
  g.C = y;
  g.c_rs = 1;
  g.bias = bias;
  g.bias_per_row = true;
  g.neg = true;
  k().f32_gemm(g);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[1], -40.0f);
  // NaN and inf propagate through the chains.
  const float An[] = {std::numeric_limits<float>::quiet_NaN(), 1, std::numeric_limits<float>::infinity(), 1};
  g.A = An;
  g.bias = nullptr;
  g.neg = false;
  k().f32_gemm(g);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], std::numeric_limits<float>::infinity());
}

// The promise behind "training forward == serving forward": with bias and without accumulate,
// the GEMM's element is the packed dense kernel's element, bitwise.
TEST_P(FixedGemmTest, EqualsPackedDenseKernel) {
  for (std::size_t M : {1, 17, 64, 200})
    for (std::size_t K : {1, 9, 168, 700})
      for (std::size_t B : {1, 5, 32}) {
        const auto W = rand_vec(M * K, 70), x = rand_vec(B * K, 71), bias = rand_vec(M, 72);
        std::vector<float> packed(dense_packed_size(M, K)), yd(B * M), yg(B * M);
        f32_dense_pack(W.data(), M, K, packed.data());
        k().f32_dense(packed.data(), M, K, x.data(), K, B, bias.data(), yd.data(), M);
        const GemmArgs g = linear_forward_gemm(W.data(), x.data(), bias.data(), yg.data(), B, K, M);
        k().f32_gemm(g);
        ASSERT_EQ(std::memcmp(yd.data(), yg.data(), yd.size() * 4), 0) << "M=" << M << " K=" << K << " B=" << B;
      }
}

}  // namespace
}  // namespace ntn::test
