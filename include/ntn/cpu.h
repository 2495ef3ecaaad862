// CPU feature probe (CPUID + XGETBV): a feature counts only if the CPU has it AND the OS
// saves its registers on a context switch (XCR0), so AVX is never used where it would fault.
//
// Intended usage:
//   const ntn::CpuFeatures& f = ntn::cpu_features();   // probed once
//   if (f.avx2 && f.fma) ...
//   ntn::Isa best = ntn::best_supported_isa();         // before the NTN_ISA cap
#pragma once

#include <string>
#include <vector>

namespace ntn {

struct CpuFeatures {
  bool sse4_2 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512dq = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;  // vcvtneps2bf16, vdpbf16ps (Zen 4 / 5, Sapphire Rapids and later)
  std::string vendor;
  std::string brand;
};

// Instruction sets we compile kernels for, in increasing order.
// avx2 = AVX2 + FMA + F16C; avx512 = F, DQ, BW, VL and VNNI (Ice Lake, Zen 4 and later; a
// Skylake-SP without VNNI runs the avx2 kernels).
enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const CpuFeatures& cpu_features();
const char* isa_name(Isa isa);
bool isa_supported(Isa isa);                 // can this CPU + OS run the kernels for isa?
Isa best_supported_isa();
std::vector<Isa> supported_isas();           // every isa_supported() one, scalar first

// Parses an NTN_ISA value: scalar|sse4|avx2|avx512|native (sse4 has no kernels of its own and
// means scalar). Throws ntn::Error naming the variable and the accepted values otherwise.
Isa parse_isa_cap(const std::string& value, Isa native);

}  // namespace ntn
