// AVX2 + FMA vector types for the shared kernel bodies (kernels_impl.inl). Included inside
// namespace ntn::kern_avx2 by isa_avx2.cpp only, after <immintrin.h>.
// Operand order matters for NaN: x86 max/min return the SECOND operand when either is NaN.

struct F32 {
  using V = __m256;
  using M = __m256;  // lane mask: all ones / all zeros
  static constexpr int W = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_mask(std::size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Lanes >= n read as `fill` (never touched in memory).
  static V load_n(const float* p, std::size_t n, float fill) {
    const __m256i m = tail_mask(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store_n(float* p, V v, std::size_t n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  static V load_f16(const std::uint16_t* p) {  // 8 binary16 -> 8 floats (exact, F16C)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static void load_bf16_pair(const std::uint16_t* p, V* lo, V* hi) {  // see the AVX-512 twin
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    *lo = _mm256_castsi256_ps(_mm256_slli_epi32(d, 16));
    *hi = _mm256_castsi256_ps(_mm256_and_si256(d, _mm256_set1_epi32(int(0xFFFF0000u))));
  }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a*b + c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a*b
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V neg(V a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }  // sign flip (also of 0 and NaN)
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V copysign(V mag, V sgn) {
    const V s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sgn));
  }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return _mm256_or_ps(a, b); }
  static M mask_none() { return _mm256_setzero_ps(); }
  static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }  // m ? a : b
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmin(V v) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // 2^n for integer-valued n in [-126, 127].
  static V pow2i(V n) {
    const __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
  }
  // For normal x > 0: returns m in [0.5, 1) and sets e with x = m * 2^e.
  static V frexp(V x, V* e) {
    const __m256i b = _mm256_castps_si256(x);
    *e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(126)));
    const __m256i m = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x807fffff)),
                                      _mm256_set1_epi32(0x3f000000));
    return _mm256_castsi256_ps(m);
  }
};

struct F64 {
  using V = __m256d;
  using M = __m256d;
  static constexpr int W = 4;
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static __m256i tail_mask(std::size_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(std::int64_t(n)), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load_n(const double* p, std::size_t n, double fill) {
    const __m256i m = tail_mask(n);
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
  }
  static void store_n(double* p, V v, std::size_t n) { _mm256_maskstore_pd(p, tail_mask(n), v); }
  static V set1(double a) { return _mm256_set1_pd(a); }
  static V zero() { return _mm256_setzero_pd(); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V max(V a, V b) { return _mm256_max_pd(a, b); }
  static V min(V a, V b) { return _mm256_min_pd(a, b); }
  static M unord(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return _mm256_or_pd(a, b); }
  static M mask_none() { return _mm256_setzero_pd(); }
  static bool any(M m) { return _mm256_movemask_pd(m) != 0; }
  static double hsum(V v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static double hmax(V v) {
    __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static double hmin(V v) {
    __m128d s = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_min_sd(s, _mm_unpackhi_pd(s, s)));
  }
};

constexpr Isa kIsa = Isa::avx2;

// Dense-kernel tiles (kernels_impl.inl): batch 1 keeps 8 FMA chains in flight (4 panels); larger
// batches use 6 rows x 1 panel = 12 accumulators + 2 weight vectors + 1 broadcast of 16 ymm.
constexpr std::size_t kGemvNV = 8, kRows = 6, kTileNV = 2;
// GEMM tile (f32_gemm): 6 rows x 2 vectors = 12 accumulators + 2 B vectors + 1 broadcast.
constexpr std::size_t kGemmRows = 6, kGemmNV = 2;

// int8 dot products of 8 outputs x 4 k per vector, with vpmaddubsw (u8 x s8 -> s16 pairs). To
// keep its 16-bit pair sums from saturating, the unsigned operand is |x| and the sign of x is
// moved onto the weight (vpsignb): each pair is |x0 w0| + |x1 w1| <= 2 * 127 * 127 = 32258.
struct I8 {
  using V = __m256i;
  struct X {
    __m256i x, ax;  // 4 bytes of x broadcast, and their absolute values
  };
  static V zero() { return _mm256_setzero_si256(); }
  static V load(const std::int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static X bcast4(const std::int8_t* p) {
    int v;
    __builtin_memcpy(&v, p, 4);
    const __m256i b = _mm256_set1_epi32(v);
    return {b, _mm256_abs_epi8(b)};
  }
  static V dot4(V acc, V w, const X& x) {
    const __m256i p16 = _mm256_maddubs_epi16(x.ax, _mm256_sign_epi8(w, x.x));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
  }
  static V finish(V acc, const std::int32_t*) { return acc; }
  static __m256 to_f32(V a) { return _mm256_cvtepi32_ps(a); }
  // n <= 8 values (already multiplied by 127 / amax) rounded half-even, clamped, stored as int8.
  static void store_q(std::int8_t* q, __m256 v, std::size_t n) {
    __m256i i = _mm256_cvtps_epi32(v);
    i = _mm256_min_epi32(_mm256_max_epi32(i, _mm256_set1_epi32(-127)), _mm256_set1_epi32(127));
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    const __m128i b8 = _mm_packs_epi16(w16, w16);
    if (n == 8) return _mm_storel_epi64(reinterpret_cast<__m128i*>(q), b8);
    alignas(16) std::int8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), b8);
    for (std::size_t k = 0; k < n; ++k) q[k] = tmp[k];
  }
};

// Unsigned 32-bit lanes: Philox's multiply-high / multiply-low and bitwise ops (dropout masks).
struct U32 {
  using V = __m256i;
  static constexpr int W = 8;
  static V set1(std::uint32_t a) { return _mm256_set1_epi32(int(a)); }
  static V iota(std::uint32_t a) { return _mm256_add_epi32(set1(a), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static V bxor(V a, V b) { return _mm256_xor_si256(a, b); }
  static void store(std::uint32_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  // hi:lo = m * a per lane (vpmuludq on the even lanes, then the odd ones)
  static void mulhilo(std::uint32_t m, V a, V& hi, V& lo) {
    const __m256i mm = set1(m);
    const __m256i pe = _mm256_mul_epu32(a, mm);
    const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), mm);
    lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  }
  // Dropout of 4W elements from the words c[k] of W Philox blocks (lane j: block j; element
  // 4j + k reads c[k] lane j): a 4 x 8 transpose into element order, then
  // y = word >= threshold ? x * scale : 0 (unsigned compare: max(word, threshold) == word).
  static void keep4(const V c[4], std::uint32_t threshold, float scale, const float* x, float* y) {
    const __m256i t0 = _mm256_unpacklo_epi32(c[0], c[1]), t1 = _mm256_unpackhi_epi32(c[0], c[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(c[2], c[3]), t3 = _mm256_unpackhi_epi32(c[2], c[3]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);  // blocks 0 4, 1 5
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);  // blocks 2 6, 3 7
    const __m256i e[4] = {_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u2, u3, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31), _mm256_permute2x128_si256(u2, u3, 0x31)};
    const __m256i th = set1(threshold);
    const __m256 sc = _mm256_set1_ps(scale);
    for (int q = 0; q < 4; ++q) {
      const __m256i keep = _mm256_cmpeq_epi32(_mm256_max_epu32(e[q], th), e[q]);
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * q), sc);
      _mm256_storeu_ps(y + 8 * q, _mm256_and_ps(_mm256_castsi256_ps(keep), v));
    }
  }
};
