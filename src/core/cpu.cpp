#include "ntn/cpu.h"

#include <cpuid.h>

#include <cstdint>
#include <cstring>

#include "ntn/error.h"

namespace ntn {
namespace {

std::uint64_t xgetbv0() {
  std::uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (std::uint64_t(edx) << 32) | eax;
}

CpuFeatures probe() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor + 0, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;

  __get_cpuid(1, &a, &b, &c, &d);
  f.sse4_2 = c & (1u << 20);
  const bool osxsave = c & (1u << 27);
  const bool cpu_avx = c & (1u << 28);
  const bool cpu_fma = c & (1u << 12);
  const bool cpu_f16c = c & (1u << 29);

  // XCR0 bits: 1 = SSE state, 2 = AVX (upper YMM); 5,6,7 = AVX-512 opmask, ZMM0-15 upper, ZMM16-31.
  const std::uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;

  f.avx = cpu_avx && os_avx;
  f.fma = cpu_fma && os_avx;
  f.f16c = cpu_f16c && os_avx;
  if (max_leaf >= 7) {
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    f.avx2 = (b & (1u << 5)) && os_avx;
    f.avx512f = (b & (1u << 16)) && os_avx512;
    f.avx512dq = (b & (1u << 17)) && os_avx512;
    f.avx512bw = (b & (1u << 30)) && os_avx512;
    f.avx512vl = (b & (1u << 31)) && os_avx512;
    f.avx512vnni = (c & (1u << 11)) && os_avx512;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    const unsigned max_sub = a;
    if (max_sub >= 1) {
      __get_cpuid_count(7, 1, &a, &b, &c, &d);
      f.avx512bf16 = (a & (1u << 5)) && os_avx512;
    }
  }

  unsigned ext = __get_cpuid_max(0x80000000u, nullptr);
  if (ext >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002u + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i + 0, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    f.brand = brand;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe();
  return f;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512dq && f.avx512bw &&
                             f.avx512vl && f.avx512vnni;  // int8 kernels use VNNI
  }
  return false;
}

Isa best_supported_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

Isa parse_isa_cap(const std::string& value, Isa native) {
  if (value.empty() || value == "native") return native;
  if (value == "scalar" || value == "sse4") return Isa::scalar;
  if (value == "avx2") return Isa::avx2;
  if (value == "avx512") return Isa::avx512;
  throw Error(cat("NTN_ISA='", value,
                  "' is not one of scalar|sse4|avx2|avx512|native; unset it or pick one of those"));
}

}  // namespace ntn
