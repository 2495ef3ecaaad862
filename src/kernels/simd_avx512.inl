// AVX-512 (F, DQ, BW, VL) vector types for the shared kernel bodies (kernels_impl.inl).
// Included inside namespace ntn::kern_avx512 by isa_avx512.cpp only, after <immintrin.h>.
// Operand order matters for NaN: x86 max/min return the SECOND operand when either is NaN.

struct F32 {
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static __mmask16 tail_mask(std::size_t n) { return __mmask16((1u << n) - 1u); }
  static V load_n(const float* p, std::size_t n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p);
  }
  static void store_n(float* p, V v, std::size_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  static V load_f16(const std::uint16_t* p) {  // 16 binary16 -> 16 floats (exact)
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // 16 (k, k + 1) word pairs (bf16_dense_pack) -> the 16 floats of k (shifted up) and of k + 1 (masked).
  static void load_bf16_pair(const std::uint16_t* p, V* lo, V* hi) {
    const __m512i d = _mm512_loadu_si512(p);
    *lo = _mm512_castsi512_ps(_mm512_slli_epi32(d, 16));
    *hi = _mm512_castsi512_ps(_mm512_and_si512(d, _mm512_set1_epi32(int(0xFFFF0000u))));
  }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V neg(V a) {  // sign flip (also of 0 and NaN)
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(int(0x80000000u))));
  }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V copysign(V mag, V sgn) {
    // bitwise: s ? sgn : mag  (ternary-logic truth table 0xAC over (s, mag, sgn))
    const __m512i s = _mm512_set1_epi32(int(0x80000000u));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(s, _mm512_castps_si512(mag),
                                                         _mm512_castps_si512(sgn), 0xAC));
  }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return M(a | b); }
  static M mask_none() { return 0; }
  static bool any(M m) { return m != 0; }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }  // m ? a : b
  // Horizontal folds in halves, lane j with lane j + h (h = 8, 4, 2, 1), the low half as the
  // first operand: the canonical order of kernels_impl.inl (AVX2 and scalar fold the same way).
  template <class Op256, class Op128, class OpSs>
  static float hfold(V v, Op256 op256, Op128 op128, OpSs opss) {
    const __m256 lo = _mm256_castpd_ps(_mm512_castpd512_pd256(_mm512_castps_pd(v)));
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 s8 = op256(lo, hi);
    __m128 s = op128(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = op128(s, _mm_movehl_ps(s, s));
    s = opss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hsum(V v) {
    return hfold(v, [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); }, [](__m128 a, __m128 b) { return _mm_add_ps(a, b); },
                 [](__m128 a, __m128 b) { return _mm_add_ss(a, b); });
  }
  static float hmax(V v) {
    return hfold(v, [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); }, [](__m128 a, __m128 b) { return _mm_max_ps(a, b); },
                 [](__m128 a, __m128 b) { return _mm_max_ss(a, b); });
  }
  static float hmin(V v) {
    return hfold(v, [](__m256 a, __m256 b) { return _mm256_min_ps(a, b); }, [](__m128 a, __m128 b) { return _mm_min_ps(a, b); },
                 [](__m128 a, __m128 b) { return _mm_min_ss(a, b); });
  }
  static V pow2i(V n) {
    const __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
  }
  static V frexp(V x, V* e) {
    const __m512i b = _mm512_castps_si512(x);
    *e = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(b, 23), _mm512_set1_epi32(126)));
    const __m512i m = _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi32(0x807fffff)),
                                      _mm512_set1_epi32(0x3f000000));
    return _mm512_castsi512_ps(m);
  }
};

struct F64 {
  using V = __m512d;
  using M = __mmask8;
  static constexpr int W = 8;
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static __mmask8 tail_mask(std::size_t n) { return __mmask8((1u << n) - 1u); }
  static V load_n(const double* p, std::size_t n, double fill) {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), tail_mask(n), p);
  }
  static void store_n(double* p, V v, std::size_t n) { _mm512_mask_storeu_pd(p, tail_mask(n), v); }
  static V set1(double a) { return _mm512_set1_pd(a); }
  static V zero() { return _mm512_setzero_pd(); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
  static V min(V a, V b) { return _mm512_min_pd(a, b); }
  static M unord(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return M(a | b); }
  static M mask_none() { return 0; }
  static bool any(M m) { return m != 0; }
  // Folds in halves (lane j with j + 4, 2, 1), low half first, as F32::hfold.
  template <class Op256, class Op128, class OpSd>
  static double hfold(V v, Op256 op256, Op128 op128, OpSd opsd) {
    const __m256d s4 = op256(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d s = op128(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(opsd(s, _mm_unpackhi_pd(s, s)));
  }
  static double hsum(V v) {
    return hfold(v, [](__m256d a, __m256d b) { return _mm256_add_pd(a, b); },
                 [](__m128d a, __m128d b) { return _mm_add_pd(a, b); }, [](__m128d a, __m128d b) { return _mm_add_sd(a, b); });
  }
  static double hmax(V v) {
    return hfold(v, [](__m256d a, __m256d b) { return _mm256_max_pd(a, b); },
                 [](__m128d a, __m128d b) { return _mm_max_pd(a, b); }, [](__m128d a, __m128d b) { return _mm_max_sd(a, b); });
  }
  static double hmin(V v) {
    return hfold(v, [](__m256d a, __m256d b) { return _mm256_min_pd(a, b); },
                 [](__m128d a, __m128d b) { return _mm_min_pd(a, b); }, [](__m128d a, __m128d b) { return _mm_min_sd(a, b); });
  }
};

constexpr Isa kIsa = Isa::avx512;

// Dense-kernel tiles (kernels_impl.inl): batch 1 keeps 4 FMA chains in flight (4 panels: 8 streams
// measured slower for every precision, 55 vs 52 us fp32, 35 vs 32 us 16-bit on NHITS-default); larger
// batches use 6 rows x 4 panels = 24 accumulators.
constexpr std::size_t kGemvNV = 4, kRows = 6, kTileNV = 4;
// GEMM tile (f32_gemm): 6 rows x 2 vectors = 12 accumulators + 2 B vectors + 1 broadcast.
constexpr std::size_t kGemmRows = 6, kGemmNV = 2;

// int8 dot products of 16 outputs x 4 k per vector with AVX-512 VNNI vpdpbusd (u8 x s8, summed
// into int32 without intermediate saturation). x is made unsigned by adding 128 (xor 0x80);
// finish() removes the 128 * sum_k w[o, k] this adds.
struct I8 {
  using V = __m512i;
  using X = __m512i;
  static V zero() { return _mm512_setzero_si512(); }
  static V load(const std::int8_t* p) { return _mm512_loadu_si512(p); }
  static X bcast4(const std::int8_t* p) {
    int v;
    __builtin_memcpy(&v, p, 4);
    return _mm512_xor_si512(_mm512_set1_epi32(v), _mm512_set1_epi8(char(0x80)));
  }
  static V dot4(V acc, V w, X x) { return _mm512_dpbusd_epi32(acc, x, w); }
  static V finish(V acc, const std::int32_t* wsum) {
    return _mm512_sub_epi32(acc, _mm512_slli_epi32(_mm512_loadu_si512(wsum), 7));
  }
  static __m512 to_f32(V a) { return _mm512_cvtepi32_ps(a); }
  static void store_q(std::int8_t* q, __m512 v, std::size_t n) {
    __m512i i = _mm512_cvtps_epi32(v);
    i = _mm512_min_epi32(_mm512_max_epi32(i, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
    if (n == 16)  // a register narrowing and a plain store: the masked narrowing store is slow
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i));
    else
      _mm512_mask_cvtepi32_storeu_epi8(q, __mmask16((1u << n) - 1u), i);
  }
};

// Unsigned 32-bit lanes: Philox's multiply-high / multiply-low and bitwise ops (dropout masks).
struct U32 {
  using V = __m512i;
  static constexpr int W = 16;
  static V set1(std::uint32_t a) { return _mm512_set1_epi32(int(a)); }
  static V iota(std::uint32_t a) {
    return _mm512_add_epi32(set1(a), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  }
  static V bxor(V a, V b) { return _mm512_xor_si512(a, b); }
  static void store(std::uint32_t* p, V v) { _mm512_storeu_si512(p, v); }
  static void mulhilo(std::uint32_t m, V a, V& hi, V& lo) {
    const __m512i mm = set1(m);
    const __m512i pe = _mm512_mul_epu32(a, mm);
    const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), mm);
    lo = _mm512_mask_blend_epi32(__mmask16(0xAAAA), pe, _mm512_slli_epi64(po, 32));
    hi = _mm512_mask_blend_epi32(__mmask16(0xAAAA), _mm512_srli_epi64(pe, 32), po);
  }
  // Dropout of 4W elements (element 4j + k reads c[k] lane j), through memory.
  static void keep4(const V c[4], std::uint32_t threshold, float scale, const float* x, float* y) {
    alignas(64) std::uint32_t w[4][16];
    for (int k = 0; k < 4; ++k) _mm512_store_si512(w[k], c[k]);
    for (int j = 0; j < 16; ++j)
      for (int k = 0; k < 4; ++k) y[4 * j + k] = w[k][j] >= threshold ? x[4 * j + k] * scale : 0.0f;
  }
};
