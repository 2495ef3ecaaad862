// Packed dense kernels (fp32, fp16, int8): every SIMD table must reproduce the scalar reference
// BITWISE (the kernels' contract: one FMA chain per output in k order, exact integer sums),
// and the reference must agree with an independent computation (sgemm / exact integers).
#include <immintrin.h>

#include <cstring>
#include <limits>

#include "kernel_test_util.h"
#include "ntn/aligned.h"

namespace ntn::test {
namespace {

const std::size_t kDims[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64, 65, 100, 129};
const std::size_t kBatches[] = {1, 2, 5, 6, 7, 8, 12, 13};  // 7, 8, 13: remainders shared with a full tile

void expect_bitwise(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0) << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

using DenseTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(DenseTest);

TEST_P(DenseTest, F32MatchesReferenceBitwiseAndSgemm) {
  for (std::size_t M : kDims)
    for (std::size_t K : kDims) {
      const auto W = rand_vec(M * K, 53), bias = rand_vec(M, 55);
      std::vector<float> packed(dense_packed_size(M, K));
      f32_dense_pack(W.data(), M, K, packed.data());
      for (std::size_t B : kBatches) {
        const std::size_t ldx = K + 3, ldy = M + 2;  // strided rows
        const auto x = rand_vec(B * ldx, 54 + B);
        const std::string what = "M=" + std::to_string(M) + " K=" + std::to_string(K) + " B=" + std::to_string(B);
        std::vector<float> y(B * ldy, 7.0f), yr(B * ldy, 7.0f);  // 7: sentinel past M must survive
        k().f32_dense(packed.data(), M, K, x.data(), ldx, B, bias.data(), y.data(), ldy);
        ref().f32_dense(packed.data(), M, K, x.data(), ldx, B, bias.data(), yr.data(), ldy);
        expect_bitwise(y, yr, "f32_dense " + what);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t o = M; o < ldy; ++o) ASSERT_EQ(y[b * ldy + o], 7.0f) << "wrote past M, " << what;
        std::vector<float> yb(B * ldy, 7.0f);
        for (std::size_t b = 0; b < B; ++b) std::copy(bias.begin(), bias.end(), yb.begin() + std::ptrdiff_t(b * ldy));
        sgemm(false, true, B, M, K, 1.0f, x.data(), ldx, W.data(), K, 1.0f, yb.data(), ldy);
        expect_all_close(y, yb, 2e-5f, 2e-5f, "f32_dense vs sgemm " + what);
        // A row's result does not depend on the batch it is in.
        std::vector<float> y1(M);
        k().f32_dense(packed.data(), M, K, x.data() + (B - 1) * ldx, ldx, 1, bias.data(), y1.data(), M);
        expect_bitwise(y1, std::vector<float>(y.begin() + std::ptrdiff_t((B - 1) * ldy),
                                              y.begin() + std::ptrdiff_t((B - 1) * ldy + M)),
                       "last row alone vs in batch " + what);
      }
      std::vector<float> y(M), yr(M);  // no bias
      const auto x = rand_vec(K, 60);
      k().f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
      ref().f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, yr.data(), M);
      expect_bitwise(y, yr, "f32_dense without bias");
    }
}

// 16-bit weights (fp16, bf16): the kernel on the narrowed weights equals the reference and the fp32
// kernel on the same weights widened, bitwise.
TEST_P(DenseTest, SixteenBitEqualsF32OnWidenedWeights) {
  using Dense = void (*)(const std::uint16_t*, std::size_t, std::size_t, const float*, std::size_t, std::size_t,
                         const float*, float*, std::size_t);
  struct Format {
    const char* name;
    std::uint16_t (*narrow)(float);
    float (*widen)(std::uint16_t);
    void (*pack)(const std::uint16_t*, std::size_t, std::size_t, std::uint16_t*);
    std::size_t (*panel_k)(std::size_t);
    Dense KernelTable::*dense;
  };
  const auto same_k = [](std::size_t K) { return K; };
  for (const Format& fmt : {Format{"f16", f32_to_f16, f16_to_f32, f16_dense_pack, same_k, &KernelTable::f16_dense},
                            Format{"bf16", f32_to_bf16, bf16_to_f32, bf16_dense_pack, bf16_padded_k,
                                   &KernelTable::bf16_dense}})
    for (std::size_t M : {1, 16, 17, 64, 100})
      for (std::size_t K : {1, 8, 9, 33, 129}) {
        const auto W = rand_vec(M * K, 61), bias = rand_vec(M, 62);
        std::vector<std::uint16_t> h(M * K), hp(dense_packed_size(M, fmt.panel_k(K)));
        std::vector<float> widened(M * K), fp(dense_packed_size(M, K));
        for (std::size_t i = 0; i < M * K; ++i) {
          h[i] = fmt.narrow(W[i]);
          widened[i] = fmt.widen(h[i]);
        }
        fmt.pack(h.data(), M, K, hp.data());
        f32_dense_pack(widened.data(), M, K, fp.data());
        for (std::size_t B : kBatches) {
          const auto x = rand_vec(B * K, 63);
          std::vector<float> y(B * M), yr(B * M), yf(B * M);
          (k().*fmt.dense)(hp.data(), M, K, x.data(), K, B, bias.data(), y.data(), M);
          (ref().*fmt.dense)(hp.data(), M, K, x.data(), K, B, bias.data(), yr.data(), M);
          ref().f32_dense(fp.data(), M, K, x.data(), K, B, bias.data(), yf.data(), M);
          const std::string what = std::string(fmt.name) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                                   " B=" + std::to_string(B);
          expect_bitwise(y, yr, "16-bit dense " + what);
          expect_bitwise(yr, yf, "16-bit vs f32 on widened weights " + what);
        }
      }
}

TEST_P(DenseTest, ReadProbeReadsEveryValue) {
  for (std::size_t n : {1, 15, 16, 17, 191, 192, 193, 1000}) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = float(i % 7) * 0.25f;
    for (std::size_t at : {std::size_t(0), n / 2, n - 1}) {  // the largest anywhere is found
      std::vector<float> w = v;
      w[at] = 100.0f;
      EXPECT_EQ(k().read_probe(w.data(), n), 100.0f) << "n=" << n << " at " << at;
    }
  }
}

TEST_P(DenseTest, QuantizeRowMatchesReferenceAndHandValues) {
  for (std::size_t K : sizes()) {
    const auto x = rand_vec(K, 64);
    const std::size_t Kp = i8_padded_k(K) + 4;
    std::vector<std::int8_t> q(Kp, 99), qr(Kp, 99);
    const float s = k().f32_quantize_i8(x.data(), K, q.data(), Kp);
    const float sr = ref().f32_quantize_i8(x.data(), K, qr.data(), Kp);
    ASSERT_EQ(s, sr) << "K=" << K;
    ASSERT_EQ(q, qr) << "K=" << K;
    for (std::size_t i = K; i < Kp; ++i) ASSERT_EQ(q[i], 0) << "padding";
    for (std::size_t i = 0; i < K; ++i) ASSERT_NEAR(float(q[i]) * s, x[i], 0.5f * s + 1e-6f) << "K=" << K;
  }
  // amax = 2: 127 / 2 = 63.5; 1 -> 63.5 -> 64 (half to even), 0.5 -> 31.75 -> 32, -2 -> -127.
  const float x[] = {0.0f, 1.0f, -2.0f, 0.5f, 3.0f / 127.0f};
  std::int8_t q[8];
  const float s = k().f32_quantize_i8(x, 5, q, 8);
  EXPECT_FLOAT_EQ(s, 2.0f / 127.0f);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 64);
  EXPECT_EQ(q[2], -127);
  EXPECT_EQ(q[3], 32);
  EXPECT_EQ(q[4], 2);  // 3/127 * 63.5 = 1.5 -> 2 (half to even)
  const float zeros[5] = {};
  EXPECT_EQ(k().f32_quantize_i8(zeros, 5, q, 8), 0.0f);
  for (std::int8_t v : q) EXPECT_EQ(v, 0);
}

// Exact integer reference computed from the row-major quantised weights (not the packed ones).
std::vector<float> i8_exact(const std::vector<std::int8_t>& qw, const std::vector<float>& ws, std::size_t M,
                            std::size_t K, const std::vector<std::int8_t>& xq, std::size_t Kp,
                            const std::vector<float>& xs, std::size_t B, const std::vector<float>& bias) {
  std::vector<float> y(B * M);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t o = 0; o < M; ++o) {
      std::int64_t acc = 0;
      for (std::size_t k = 0; k < K; ++k) acc += std::int64_t(qw[o * K + k]) * xq[b * Kp + k];
      y[b * M + o] = float(acc) * (xs[b] * ws[o]) + bias[o];
    }
  return y;
}

TEST_P(DenseTest, Int8MatchesReferenceBitwiseAndExactIntegers) {
  for (std::size_t M : kDims)
    for (std::size_t K : kDims) {
      const auto W = rand_vec(M * K, 65), bias = rand_vec(M, 66);
      const std::size_t Kp = i8_padded_k(K);
      std::vector<std::int8_t> qw(M * K), packed(dense_packed_size(M, Kp));
      std::vector<float> ws(M);
      std::vector<std::int32_t> wsum(dense_panels(M) * kDensePanel);
      i8_quantize_rows(W.data(), M, K, qw.data(), ws.data());
      i8_dense_pack(qw.data(), M, K, packed.data(), wsum.data());
      for (std::size_t B : kBatches) {
        const auto x = rand_vec(B * K, 67 + B);
        std::vector<std::int8_t> xq(B * Kp);
        std::vector<float> xs(B);
        for (std::size_t b = 0; b < B; ++b) xs[b] = ref().f32_quantize_i8(x.data() + b * K, K, xq.data() + b * Kp, Kp);
        std::vector<float> y(B * M), yr(B * M);
        k().i8_dense(packed.data(), ws.data(), wsum.data(), M, Kp, xq.data(), Kp, xs.data(), B, bias.data(), y.data(), M);
        ref().i8_dense(packed.data(), ws.data(), wsum.data(), M, Kp, xq.data(), Kp, xs.data(), B, bias.data(), yr.data(),
                       M);
        const std::string what = "M=" + std::to_string(M) + " K=" + std::to_string(K) + " B=" + std::to_string(B);
        expect_bitwise(y, yr, "i8_dense " + what);
        expect_bitwise(yr, i8_exact(qw, ws, M, K, xq, Kp, xs, B, bias), "i8 reference vs exact " + what);
      }
    }
}

// The largest products (|x| = |w| = 127, signs arranged so every product is +16129) would
// saturate a plain vpmaddubsw on signed x; the sum must still be exact.
TEST_P(DenseTest, Int8ExtremeValuesDoNotSaturate) {
  const std::size_t M = 16, K = 64, Kp = K;
  std::vector<std::int8_t> qw(M * K), xq(Kp), packed(dense_packed_size(M, Kp));
  for (std::size_t i = 0; i < K; ++i) xq[i] = i % 2 ? 127 : -127;
  for (std::size_t o = 0; o < M; ++o)
    for (std::size_t i = 0; i < K; ++i) qw[o * K + i] = std::int8_t(o % 2 ? xq[i] : -xq[i]);
  std::vector<std::int32_t> wsum(M);
  i8_dense_pack(qw.data(), M, K, packed.data(), wsum.data());
  const std::vector<float> ws(M, 1.0f), xs(1, 1.0f);
  std::vector<float> y(M);
  k().i8_dense(packed.data(), ws.data(), wsum.data(), M, Kp, xq.data(), Kp, xs.data(), 1, nullptr, y.data(), M);
  for (std::size_t o = 0; o < M; ++o) EXPECT_EQ(y[o], (o % 2 ? 1.0f : -1.0f) * 64.0f * 16129.0f) << "output " << o;
}

TEST(Dense, QuantizeRowsZeroRowAndRange) {
  const std::vector<float> W = {0, 0, 0, 1, -2, 0.5f};
  std::vector<std::int8_t> q(6);
  std::vector<float> s(2);
  i8_quantize_rows(W.data(), 2, 3, q.data(), s.data());
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_EQ(q[0], 0);
  EXPECT_FLOAT_EQ(s[1], 2.0f / 127.0f);
  EXPECT_EQ(q[3], 64);  // 1 / (2/127) = 63.5 -> 64
  EXPECT_EQ(q[4], -127);
  EXPECT_EQ(q[5], 32);
}

__attribute__((target("f16c"))) std::uint16_t f16c_convert(float x) {
  return std::uint16_t(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT), 0));
}

TEST(Dense, HalfConversions) {
  for (std::uint32_t h = 0; h < 65536; ++h) {  // every half widens and narrows back to itself
    const float f = f16_to_f32(std::uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << h;
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "half " << h << " = " << f;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // ties to even -> overflow to inf
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie between 0 and the smallest subnormal -> 0
  EXPECT_EQ(f32_to_f16(0x1.8p-25f), 0x0001);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  if (!cpu_features().f16c) GTEST_SKIP() << "no F16C to compare with";
  Rng rng(5, 1);
  for (int i = 0; i < 1000000; ++i) {  // random bit patterns over the whole float range
    std::uint32_t b = rng.next_u32();
    float f;
    std::memcpy(&f, &b, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), f16c_convert(f)) << "bits " << std::hex << b;
  }
}

__attribute__((target("avx512bf16,avx512vl"))) std::uint16_t bf16_hw_convert(float x) {
  const __m128bh r = _mm_cvtneps_pbh(_mm_set_ss(x));
  std::uint16_t out;
  std::memcpy(&out, &r, 2);
  return out;
}

TEST(Dense, BFloat16Conversions) {
  for (std::uint32_t h = 0; h < 65536; ++h) {  // every bf16 widens and narrows back to itself
    const float f = bf16_to_f32(std::uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f)))) << h;
      continue;
    }
    ASSERT_EQ(f32_to_bf16(f), h) << "bf16 " << h << " = " << f;
  }
  // Hand values: 1 + 2^-8 is the tie between 1 and 1 + 2^-7 (-> 1, even); just above it rounds up;
  // the largest finite float rounds to inf; fp16's overflow (65520) is finite in bf16.
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x3p-8f), 0x3f82);  // tie between 0x3f81 and 0x3f82 -> even
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(65520.0f), 0x4780);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(bf16_to_f32(0x0001), 0x1p-133f);  // subnormals widen exactly
  const float qnan = std::numeric_limits<float>::quiet_NaN(), snan = std::numeric_limits<float>::signaling_NaN();
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(qnan))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(snan))));  // a NaN never rounds to inf
  const std::uint32_t nan_low = 0x7f800001u;  // a NaN whose payload sits only in the low 16 bits
  float f_low;
  std::memcpy(&f_low, &nan_low, 4);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f_low))));
  if (!cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512_BF16 to compare with";
  Rng rng(7, 1);
  for (int i = 0; i < 1000000; ++i) {  // random bit patterns over the whole float range
    const std::uint32_t b = rng.next_u32();
    float f;
    std::memcpy(&f, &b, 4);
    if (std::isnan(f) || std::fpclassify(f) == FP_SUBNORMAL) continue;  // the instruction flushes subnormals
    ASSERT_EQ(f32_to_bf16(f), bf16_hw_convert(f)) << "bits " << std::hex << b;
  }
}

}  // namespace
}  // namespace ntn::test
