// Portable one-lane "vector" types: the scalar table runs the SAME kernel bodies
// (kernels_impl.inl) as AVX2 and AVX-512, lane by lane, so every kernel gives bitwise the same
// result on every ISA. Each op reproduces its x86 instruction exactly:
//   fmadd / fnmadd: one rounding (std::fma; glibc selects the hardware FMA where the CPU has one
//                   and a correctly rounded software version elsewhere: same bits);
//   max(a, b) / min(a, b): a > b ? a : b / a < b ? a : b (the SECOND operand on NaN or a tie of
//                   +0 / -0, as maxps / minps);
//   round: to nearest even (the default rounding mode, as roundps with NEAREST_INT);
//   comparisons: ordered and quiet (false on NaN), unord true on NaN.
// Included inside namespace ntn::kern_scalar by isa_scalar.cpp only, after <cmath>.

struct F32 {
  using V = float;
  using M = bool;
  static constexpr int W = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V load_n(const float* p, std::size_t n, float fill) { return n ? *p : fill; }
  static void store_n(float* p, V v, std::size_t n) {
    if (n) *p = v;
  }
  static V load_f16(const std::uint16_t* p) { return f16_to_f32(*p); }
  static void load_bf16_pair(const std::uint16_t* p, V* lo, V* hi) {
    *lo = bf16_to_f32(p[0]);
    *hi = bf16_to_f32(p[1]);
  }
  static V set1(float a) { return a; }
  static V zero() { return 0.0f; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V fmadd(V a, V b, V c) { return std::fma(a, b, c); }
  static V fnmadd(V a, V b, V c) { return std::fma(-a, b, c); }
  static V max(V a, V b) { return a > b ? a : b; }
  static V min(V a, V b) { return a < b ? a : b; }
  static V abs(V a) { return std::fabs(a); }
  static V neg(V a) { return -a; }
  static V sqrt(V a) { return std::sqrt(a); }
  static V round(V a) { return std::nearbyint(a); }
  static V copysign(V mag, V sgn) { return std::copysign(mag, sgn); }
  static M lt(V a, V b) { return a < b; }
  static M le(V a, V b) { return a <= b; }
  static M gt(V a, V b) { return a > b; }
  static M eq(V a, V b) { return a == b; }
  static M unord(V a, V b) { return std::isnan(a) || std::isnan(b); }
  static M mask_or(M a, M b) { return a || b; }
  static M mask_none() { return false; }
  static bool any(M m) { return m; }
  static V select(M m, V a, V b) { return m ? a : b; }
  static float hsum(V v) { return v; }
  static float hmax(V v) { return v; }
  static float hmin(V v) { return v; }
  // 2^n for integer-valued n in [-126, 127] (exponent bits, as the SIMD versions).
  static V pow2i(V n) {
    const std::uint32_t b = std::uint32_t(int(n) + 127) << 23;
    float r;
    std::memcpy(&r, &b, 4);
    return r;
  }
  // For normal x > 0: m in [0.5, 1) with x = m * 2^e (bit manipulation, as the SIMD versions).
  static V frexp(V x, V* e) {
    std::uint32_t b;
    std::memcpy(&b, &x, 4);
    *e = float(int(b >> 23) - 126);
    b = (b & 0x807fffffu) | 0x3f000000u;
    float m;
    std::memcpy(&m, &b, 4);
    return m;
  }
};

struct F64 {
  using V = double;
  using M = bool;
  static constexpr int W = 1;
  static V load(const double* p) { return *p; }
  static void store(double* p, V v) { *p = v; }
  static V load_n(const double* p, std::size_t n, double fill) { return n ? *p : fill; }
  static void store_n(double* p, V v, std::size_t n) {
    if (n) *p = v;
  }
  static V set1(double a) { return a; }
  static V zero() { return 0.0; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V fmadd(V a, V b, V c) { return std::fma(a, b, c); }
  static V max(V a, V b) { return a > b ? a : b; }
  static V min(V a, V b) { return a < b ? a : b; }
  static M unord(V a, V b) { return std::isnan(a) || std::isnan(b); }
  static M mask_or(M a, M b) { return a || b; }
  static M mask_none() { return false; }
  static bool any(M m) { return m; }
  static double hsum(V v) { return v; }
  static double hmax(V v) { return v; }
  static double hmin(V v) { return v; }
};

constexpr Isa kIsa = Isa::scalar;

// Dense-kernel tiles: one lane, so a "panel" of 16 outputs is 16 chains (16 registers).
constexpr std::size_t kGemvNV = 16, kRows = 1, kTileNV = 16;
// GEMM tile: 1 row x 16 columns (16 chains).
constexpr std::size_t kGemmRows = 1, kGemmNV = 16;

// int8: one "vector" is one output x 4 consecutive k (4 weight bytes); exact int32 sums.
struct I8 {
  using V = std::int32_t;
  struct X {
    std::int8_t v[4];
  };
  static V zero() { return 0; }
  static V load(const std::int8_t* p) {
    V w;
    std::memcpy(&w, p, 4);
    return w;
  }
  static X bcast4(const std::int8_t* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static V dot4(V acc, V w, const X& x) {
    std::int8_t wb[4];
    std::memcpy(wb, &w, 4);
    for (int t = 0; t < 4; ++t) acc += std::int32_t(wb[t]) * std::int32_t(x.v[t]);
    return acc;
  }
  static V finish(V acc, const std::int32_t*) { return acc; }
  static float to_f32(V a) { return float(a); }
  static void store_q(std::int8_t* q, float v, std::size_t n) {
    if (n) q[0] = std::int8_t(std::clamp(std::nearbyint(v), -127.0f, 127.0f));
  }
};

// One unsigned 32-bit lane (Philox for dropout masks).
struct U32 {
  using V = std::uint32_t;
  static constexpr int W = 1;
  static V set1(std::uint32_t a) { return a; }
  static V iota(std::uint32_t a) { return a; }
  static V bxor(V a, V b) { return a ^ b; }
  static void store(std::uint32_t* p, V v) { *p = v; }
  static void mulhilo(std::uint32_t m, V a, V& hi, V& lo) {
    const std::uint64_t p = std::uint64_t(m) * a;
    hi = std::uint32_t(p >> 32);
    lo = std::uint32_t(p);
  }
  static void keep4(const V c[4], std::uint32_t threshold, float scale, const float* x, float* y) {
    for (int k = 0; k < 4; ++k) y[k] = c[k] >= threshold ? x[k] * scale : 0.0f;
  }
};
