// Chooses the kernel table once: the best ISA the CPU and OS support, capped by NTN_ISA.
#include <cstdlib>

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

std::size_t gemv_packed_size(std::size_t M, std::size_t K) {
  return (M + kGemvPanel - 1) / kGemvPanel * kGemvPanel * K;
}

void f32_gemv_pack(const float* W, std::size_t M, std::size_t K, float* packed) {
  const std::size_t panels = (M + kGemvPanel - 1) / kGemvPanel;
  for (std::size_t p = 0; p < panels; ++p) {
    float* dst = packed + p * K * kGemvPanel;
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t r = 0; r < kGemvPanel; ++r) {
        const std::size_t row = p * kGemvPanel + r;
        dst[k * kGemvPanel + r] = row < M ? W[row * K + k] : 0.0f;
      }
  }
}

}  // namespace ntn
