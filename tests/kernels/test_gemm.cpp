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
          expect_all_close(C, Cr, 1e-5f, 1e-5f,
                           "sgemm M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                               " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
        }
}

TEST(Gemm, BetaZeroIgnoresNanInC) {
  std::vector<float> A = {1, 2}, B = {3, 4}, C = {std::numeric_limits<float>::quiet_NaN()};
  sgemm(false, false, 1, 1, 2, 1.0f, A.data(), 2, B.data(), 1, 0.0f, C.data(), 1);
  EXPECT_EQ(C[0], 11.0f);
}

using GemvTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(GemvTest);

TEST_P(GemvTest, PackedMatchesReferenceAndBlas) {
  const std::size_t dims[] = {1, 7, 8, 9, 15, 16, 17, 33, 64, 65, 100, 129};
  for (std::size_t M : dims)
    for (std::size_t K : dims) {
      const auto W = rand_vec(M * K, 53), x = rand_vec(K, 54), bias = rand_vec(M, 55);
      AlignedBuffer packed(gemv_packed_size(M, K) * sizeof(float));
      f32_gemv_pack(W.data(), M, K, packed.as<float>());
      std::vector<float> y(M), yr(M), yb(M);
      k().f32_gemv_packed(packed.as<float>(), M, K, x.data(), bias.data(), y.data());
      ref().f32_gemv_packed(packed.as<float>(), M, K, x.data(), bias.data(), yr.data());
      expect_all_close(y, yr, 1e-5f, 1e-5f, "gemv M=" + std::to_string(M) + " K=" + std::to_string(K));
      yb = bias;
      sgemv_blas(M, K, W.data(), x.data(), 1.0f, yb.data());
      expect_all_close(y, yb, 1e-5f, 1e-5f, "gemv vs blas M=" + std::to_string(M) + " K=" + std::to_string(K));
      k().f32_gemv_packed(packed.as<float>(), M, K, x.data(), nullptr, y.data());
      sgemv_blas(M, K, W.data(), x.data(), 0.0f, yb.data());
      expect_all_close(y, yb, 1e-5f, 1e-5f, "gemv without bias");
    }
}

TEST_P(GemvTest, DoesNotWritePastM) {
  const std::size_t M = 5, K = 3;
  const auto W = rand_vec(M * K, 56), x = rand_vec(K, 57);
  AlignedBuffer packed(gemv_packed_size(M, K) * sizeof(float));
  f32_gemv_pack(W.data(), M, K, packed.as<float>());
  std::vector<float> y(M + 16, 42.0f);
  k().f32_gemv_packed(packed.as<float>(), M, K, x.data(), nullptr, y.data());
  for (std::size_t i = M; i < y.size(); ++i) EXPECT_EQ(y[i], 42.0f) << i;
}

TEST(Gemm, ThreadCountDoesNotChangeSgemm) {
  const std::size_t n = 96;
  const auto A = rand_vec(n * n, 58), B = rand_vec(n * n, 59);
  std::vector<float> c1(n * n), c2(n * n);
  set_num_threads(1);
  sgemm(false, false, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, c1.data(), n);
  set_num_threads(2);
  sgemm(false, false, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, c2.data(), n);
  expect_all_close(c2, c1, 1e-5f, 1e-5f, "sgemm 1 vs 2 threads");
  set_num_threads(0);
}

}  // namespace
}  // namespace ntn::test
