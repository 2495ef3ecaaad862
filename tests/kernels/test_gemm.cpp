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

}  // namespace
}  // namespace ntn::test
