// Chooses the kernel table once: the best ISA the CPU and OS support, capped by NTN_ISA.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {
namespace detail {
const KernelTable* table_scalar();
const KernelTable* table_avx2();
const KernelTable* table_avx512();
}  // namespace detail

namespace {
const KernelTable* table_of(Isa isa) {
  switch (isa) {
    case Isa::scalar: return detail::table_scalar();
    case Isa::avx2: return detail::table_avx2();
    case Isa::avx512: return detail::table_avx512();
  }
  return detail::table_scalar();
}

Isa resolve_active() {
  const Isa best = best_supported_isa();
  const char* env = std::getenv("NTN_ISA");
  const Isa cap = parse_isa_cap(env ? env : "", best);
  return cap < best ? cap : best;
}
}  // namespace

Isa active_isa() {
  static const Isa isa = resolve_active();  // throws (and retries next call) on a bad NTN_ISA
  return isa;
}

const KernelTable& kernels() {
  static const KernelTable* t = table_of(active_isa());
  return *t;
}

const KernelTable& kernels_for(Isa isa) {
  NTN_CHECK(isa_supported(isa), "kernels for ", isa_name(isa), " requested, but this CPU/OS does not support ",
            isa_name(isa));
  return *table_of(isa);
}

// ---- packing for the dense kernels ----------------------------------------------------------
std::size_t dense_panels(std::size_t M) { return (M + kDensePanel - 1) / kDensePanel; }
std::size_t dense_packed_size(std::size_t M, std::size_t K) { return dense_panels(M) * kDensePanel * K; }

namespace {
template <class T>
void pack_panels(const T* W, std::size_t M, std::size_t K, T* packed) {
  for (std::size_t p = 0; p < dense_panels(M); ++p) {
    T* dst = packed + p * K * kDensePanel;
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t r = 0; r < kDensePanel; ++r) {
        const std::size_t row = p * kDensePanel + r;
        dst[k * kDensePanel + r] = row < M ? W[row * K + k] : T(0);
      }
  }
}
}  // namespace

void f32_dense_pack(const float* W, std::size_t M, std::size_t K, float* packed) { pack_panels(W, M, K, packed); }
void f16_dense_pack(const std::uint16_t* W, std::size_t M, std::size_t K, std::uint16_t* packed) {
  pack_panels(W, M, K, packed);
}

void bf16_dense_pack(const std::uint16_t* W, std::size_t M, std::size_t K, std::uint16_t* packed) {
  const std::size_t K2 = bf16_padded_k(K);
  for (std::size_t p = 0; p < dense_panels(M); ++p) {
    std::uint16_t* dst = packed + p * K2 * kDensePanel;
    for (std::size_t k = 0; k < K2; ++k)
      for (std::size_t r = 0; r < kDensePanel; ++r) {
        const std::size_t row = p * kDensePanel + r;
        dst[k / 2 * 2 * kDensePanel + r * 2 + k % 2] = row < M && k < K ? W[row * K + k] : std::uint16_t(0);
      }
  }
}

void i8_dense_pack(const std::int8_t* q, std::size_t M, std::size_t K, std::int8_t* packed, std::int32_t* w_sum) {
  const std::size_t Kp = i8_padded_k(K), P = dense_panels(M);
  for (std::size_t p = 0; p < P; ++p) {
    const I8PanelAt at = i8_panel_at(p, P, Kp);
    std::int8_t* dst = packed + at.offset;
    for (std::size_t r = 0; r < kDensePanel; ++r) {
      const std::size_t row = p * kDensePanel + r;
      std::int32_t sum = 0;
      for (std::size_t k = 0; k < Kp; ++k) {
        const std::int8_t v = row < M && k < K ? q[row * K + k] : std::int8_t(0);
        dst[k / 4 * at.quad_stride + r * 4 + k % 4] = v;
        sum += v;
      }
      w_sum[row] = sum;
    }
  }
}

void i8_quantize_rows(const float* W, std::size_t M, std::size_t K, std::int8_t* q, float* scale) {
  for (std::size_t o = 0; o < M; ++o) {
    float amax = 0.0f;
    for (std::size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(W[o * K + k]));
    scale[o] = amax / 127.0f;
    for (std::size_t k = 0; k < K; ++k)
      q[o * K + k] = amax > 0.0f ? std::int8_t(std::clamp(std::nearbyint(W[o * K + k] / scale[o]), -127.0f, 127.0f))
                                 : std::int8_t(0);
  }
}

// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
std::uint16_t f32_to_f16(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  const std::uint16_t sign = std::uint16_t((b >> 16) & 0x8000u);
  const std::uint32_t abs = b & 0x7fffffffu;
  if (abs >= 0x7f800000u) return std::uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));  // inf / NaN
  if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {  // below 2^-14: subnormal half (or zero)
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): rounds to 0
    const std::uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... value = m * 2^(e-150)
    // half subnormal unit is 2^-24: q = m * 2^(e - 150 + 24) = m >> (126 - e)
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return std::uint16_t(sign | q);
  }
  // normal: rebias exponent (127 -> 15) and round the mantissa from 23 to 10 bits, half to even
  std::uint32_t h = ((abs >> 13) - (112u << 10));
  const std::uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is correct
  return std::uint16_t(sign | h);
}

std::uint16_t f32_to_bf16(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((b >> 16) | 0x40u);  // NaN: keep it quiet
  b += 0x7fffu + ((b >> 16) & 1u);  // round to nearest even; a carry into the exponent is correct
  return std::uint16_t(b >> 16);
}

float bf16_to_f32(std::uint16_t h) {
  const std::uint32_t b = std::uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  std::uint32_t b;
  if (e == 0x1f) {
    b = sign | 0x7f800000u | (m << 13);
  } else if (e != 0) {
    b = sign | ((e + 112u) << 23) | (m << 13);
  } else if (m == 0) {
    b = sign;
  } else {  // subnormal: m * 2^-24, exact in f32
    const float v = float(m) * 0x1p-24f;
    std::memcpy(&b, &v, 4);
    b |= sign;
  }
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

}  // namespace ntn
