// GEMM through OpenBLAS (row-major CBLAS) and its naive reference. OpenBLAS serves what promises
// no bits: the double-precision models of the finite-difference checks (dgemm, nn::matmul) and
// the peer figures of the kernel benchmarks. Float training and serving use f32_gemm / the
// packed dense kernels (their results must not depend on the kernel OpenBLAS picks).
#include <cblas.h>

#include "ntn/kernels.h"

namespace ntn {

void sgemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
           const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
           std::size_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda), B, blasint(ldb), beta, C,
              blasint(ldc));
}

void sgemm_ref(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
               const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
               std::size_t ldc) {
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += double(a) * double(b);
      }
      // BLAS convention: beta == 0 overwrites C (even NaN in C is not read).
      const float c = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      C[i * ldc + j] = float(alpha * s) + c;
    }
}

void sgemv_blas(std::size_t M, std::size_t K, const float* W, const float* x, float beta, float* y) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(M), blasint(K), 1.0f, W, blasint(K), x, 1, beta, y, 1);
}

const char* blas_info() { return openblas_get_config(); }
const char* blas_core() { return openblas_get_corename(); }

}  // namespace ntn
