// bf16 GEMM for mixed-precision training (kernels.h, bf16_gemm): operands rounded to bfloat16
// (vcvtne2ps2bf16 / vcvtneps2bf16: round to nearest even), products accumulated in fp32 by
// vdpbf16ps, one chain per element over the k pairs in order. This file alone is compiled with
// AVX512_BF16 and is only entered after bf16_gemm_available() said the CPU has it.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {

bool bf16_gemm_available() { return cpu_features().avx512bf16 && active_isa() == Isa::avx512; }

namespace {
constexpr std::size_t kRows = 8;   // rows of C per strip: 8 x 2 vectors = 16 accumulators
constexpr std::size_t kCols = 32;  // columns of C per tile (two vectors of 16 fp32)

__mmask16 lanes(std::size_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }

// 16 pair words from two runs of n <= 16 floats (the k = 2p and k = 2p + 1 rows, r1 may be
// null for the zero half of an odd K): word q = bf16(r1[q]) << 16 | bf16(r0[q]).
__m512i pair_words(const float* r0, const float* r1, std::size_t n) {
  const __mmask16 m = lanes(n);
  const __m256i lo = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r0));
  const __m256i hi = r1 ? (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r1)) : _mm256_setzero_si256();
  return _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
}

// K contiguous floats -> (K + 1) / 2 pair words (the odd K's last word has a zero high half).
void run_words(const float* src, std::size_t K, std::uint32_t* dst) {
  for (std::size_t k = 0; k < K; k += 32) {
    const std::size_t n = std::min<std::size_t>(32, K - k);
    const __m512 lo = _mm512_maskz_loadu_ps(lanes(n), src + k);
    const __m512 hi = _mm512_maskz_loadu_ps(lanes(n > 16 ? n - 16 : 0), src + k + 16);
    const __m512i w = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    _mm512_mask_storeu_epi32(dst + k / 2, lanes((n + 1) / 2), w);
  }
}

// Operand x(k, c) = x[k * s_k + c] with the n values of each k contiguous: the pair words of
// (k = 2p, 2p + 1) for every c at dst[p * ld + c] (the odd K's last word: a zero high half).
void interleave_pairs(const float* x, std::size_t s_k, std::size_t K, std::size_t n, std::uint32_t* dst,
                      std::size_t ld) {
  for (std::size_t p = 0; p < (K + 1) / 2; ++p) {
    const float* r0 = x + 2 * p * s_k;
    const float* r1 = 2 * p + 1 < K ? r0 + s_k : nullptr;
    for (std::size_t c = 0; c < n; c += 16) {
      const std::size_t m = std::min<std::size_t>(16, n - c);
      _mm512_mask_storeu_epi32(dst + p * ld + c, lanes(m), pair_words(r0 + c, r1 ? r1 + c : nullptr, m));
    }
  }
}

// Operand A(i, k) -> pair words at out[i * rs + p * cs] (returned strides), i < M, p < Kp.
struct Words {
  const std::uint32_t* w;
  std::size_t rs, cs;
};

// A(i, k) = a[i * s_i + k * s_k] (i < M, k < K): pair words of each i over k, laid out [p][i]
// (stride 1 in i) when the i are contiguous, else [i][p].
Words pack_a(const float* a, std::size_t s_i, std::size_t s_k, std::size_t M, std::size_t K,
             std::vector<std::uint32_t>& buf, std::vector<float>& tmp) {
  const std::size_t Kp = (K + 1) / 2;
  if (s_i == 1 && s_k != 1) {
    const std::size_t Mp = (M + 15) / 16 * 16;
    buf.resize(Kp * Mp);
    interleave_pairs(a, s_k, K, M, buf.data(), Mp);
    return {buf.data(), 1, Mp};
  }
  buf.resize(M * Kp);
  if (s_k != 1) tmp.resize(K);
  for (std::size_t i = 0; i < M; ++i) {
    const float* row = a + i * s_i;
    if (s_k != 1) {
      for (std::size_t k = 0; k < K; ++k) tmp[k] = row[k * s_k];
      row = tmp.data();
    }
    run_words(row, K, buf.data() + i * Kp);
  }
  return {buf.data(), Kp, 1};
}

// B(k, j) = b[k * s_k + j * s_j] -> words [p][j], NP = N rounded up to kCols, padding zero.
void pack_b(const float* b, std::size_t s_k, std::size_t s_j, std::size_t K, std::size_t N, std::size_t NP,
            std::vector<std::uint32_t>& buf, std::vector<float>& tmp, std::vector<std::uint32_t>& col) {
  const std::size_t Kp = (K + 1) / 2;
  buf.assign(Kp * NP, 0u);
  if (s_j == 1) {
    interleave_pairs(b, s_k, K, N, buf.data(), NP);
    return;
  }
  // Columns contiguous in k (a Linear forward's operands): 16 columns at a time converted into
  // a [16][Kp] block, then transposed into 16 neighbouring words of each p (one cache line per
  // store run; a column at a time would touch Kp lines per column).
  col.resize(16 * Kp);
  if (s_k != 1) tmp.resize(K);
  for (std::size_t j0 = 0; j0 < N; j0 += 16) {
    const std::size_t n = std::min<std::size_t>(16, N - j0);
    for (std::size_t q = 0; q < n; ++q) {
      const float* c = b + (j0 + q) * s_j;
      if (s_k != 1) {
        for (std::size_t k = 0; k < K; ++k) tmp[k] = c[k * s_k];
        c = tmp.data();
      }
      run_words(c, K, col.data() + q * Kp);
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(Kp)));
    const __mmask16 m = lanes(n);
    for (std::size_t p = 0; p < Kp; ++p)
      _mm512_mask_storeu_epi32(buf.data() + p * NP + j0, m,
                               _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, col.data() + p, 4));
  }
}

// Rows [i0, i0 + R) x columns [j, j + cols) of C: one vdpbf16ps chain per element over p.
template <std::size_t R>
void tile(const GemmArgs& g, const Words& a, const std::uint32_t* bp, std::size_t NP, std::size_t Kp,
          std::size_t i0, std::size_t j, std::size_t cols) {
  __m512 acc[R][2];
  const __mmask16 m0 = lanes(cols), m1 = lanes(cols > 16 ? cols - 16 : 0);
  const bool direct = g.c_cs == 1;
  for (std::size_t r = 0; r < R; ++r) {
    if (!g.accumulate) {
      acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    } else if (direct) {
      const float* c = g.C + (i0 + r) * g.c_rs + j;
      acc[r][0] = _mm512_maskz_loadu_ps(m0, c);
      acc[r][1] = _mm512_maskz_loadu_ps(m1, c + 16);
    } else {
      alignas(64) float t[kCols] = {};
      for (std::size_t q = 0; q < cols; ++q) t[q] = g.C[(i0 + r) * g.c_rs + (j + q) * g.c_cs];
      acc[r][0] = _mm512_load_ps(t);
      acc[r][1] = _mm512_load_ps(t + 16);
    }
  }
  const std::uint32_t* arow = a.w + i0 * a.rs;
  const std::uint32_t* b = bp + j;
  for (std::size_t p = 0; p < Kp; ++p, b += NP, arow += a.cs) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
    for (std::size_t r = 0; r < R; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(arow[r * a.rs]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (std::size_t r = 0; r < R; ++r) {
    for (int v = 0; v < 2; ++v) {
      if (g.neg) acc[r][v] = _mm512_xor_ps(acc[r][v], sign);
      if (g.bias)
        acc[r][v] = _mm512_add_ps(acc[r][v], g.bias_per_row ? _mm512_set1_ps(g.bias[i0 + r])
                                                            : _mm512_maskz_loadu_ps(v ? m1 : m0, g.bias + j + 16 * v));
    }
    if (direct) {
      float* c = g.C + (i0 + r) * g.c_rs + j;
      _mm512_mask_storeu_ps(c, m0, acc[r][0]);
      _mm512_mask_storeu_ps(c + 16, m1, acc[r][1]);
    } else {
      alignas(64) float t[kCols];
      _mm512_store_ps(t, acc[r][0]);
      _mm512_store_ps(t + 16, acc[r][1]);
      for (std::size_t q = 0; q < cols; ++q) g.C[(i0 + r) * g.c_rs + (j + q) * g.c_cs] = t[q];
    }
  }
}

template <std::size_t R>
void tile_rows(std::size_t rows, const GemmArgs& g, const Words& a, const std::uint32_t* bp, std::size_t NP,
               std::size_t Kp, std::size_t i0, std::size_t j, std::size_t cols) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R>(g, a, bp, NP, Kp, i0, j, cols);
    tile_rows<R - 1>(rows, g, a, bp, NP, Kp, i0, j, cols);
  }
}

GemmArgs transposed(const GemmArgs& g) {
  GemmArgs t = g;
  t.M = g.N, t.N = g.M;
  t.A = g.B, t.a_rs = g.b_cs, t.a_cs = g.b_rs;
  t.B = g.A, t.b_rs = g.a_cs, t.b_cs = g.a_rs;
  t.c_rs = g.c_cs, t.c_cs = g.c_rs;
  t.bias_per_row = !g.bias_per_row;
  return t;
}
}  // namespace

void bf16_gemm(const GemmArgs& args) {
  NTN_CHECK(bf16_gemm_available(), "bf16 matrix products need a CPU with AVX512_BF16 (vdpbf16ps) and the avx512 "
            "kernels (NTN_ISA not capped below avx512)");
  if (args.M == 0 || args.N == 0) return;
  // C stored by columns (a Linear forward's y^T): compute C^T instead, stored by rows.
  const GemmArgs g = args.c_cs != 1 && args.c_rs == 1 ? transposed(args) : args;
  thread_local std::vector<std::uint32_t> abuf, bbuf, col;
  thread_local std::vector<float> tmp;
  const std::size_t Kp = (g.K + 1) / 2, NP = (g.N + kCols - 1) / kCols * kCols;
  const Words a = pack_a(g.A, g.a_rs, g.a_cs, g.M, g.K, abuf, tmp);
  pack_b(g.B, g.b_rs, g.b_cs, g.K, g.N, NP, bbuf, tmp, col);
  // Column tile outer: its Kp x 32 words of B (32 KB at K = 512) stay in L1 while every strip
  // of A streams past them.
  for (std::size_t j = 0; j < g.N; j += kCols) {
    const std::size_t cols = std::min(kCols, g.N - j);
    for (std::size_t i0 = 0; i0 < g.M; i0 += kRows)
      tile_rows<kRows>(std::min(kRows, g.M - i0), g, a, bbuf.data(), NP, Kp, i0, j, cols);
  }
}

}  // namespace ntn
