#include <gtest/gtest.h>

#include "ntn/cpu.h"
#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {
namespace {

TEST(Cpu, ProbeIsConsistent) {
  const CpuFeatures& f = cpu_features();
  EXPECT_FALSE(f.vendor.empty());
  if (f.avx512f) {
    EXPECT_TRUE(f.avx);  // AVX-512 usable implies the OS saves YMM state too
  }
  if (f.avx2) {
    EXPECT_TRUE(f.avx);
  }
  EXPECT_TRUE(isa_supported(Isa::scalar));
  EXPECT_EQ(supported_isas().front(), Isa::scalar);
  EXPECT_EQ(supported_isas().back(), best_supported_isa());
  EXPECT_EQ(kernels_for(Isa::scalar).isa, Isa::scalar);
  for (Isa i : supported_isas()) EXPECT_EQ(kernels_for(i).isa, i);
  if (!isa_supported(Isa::avx512)) {
    EXPECT_THROW(kernels_for(Isa::avx512), Error);
  }
  EXPECT_LE(int(active_isa()), int(best_supported_isa()));
}

TEST(Cpu, IsaCapParsing) {
  EXPECT_EQ(parse_isa_cap("", Isa::avx512), Isa::avx512);
  EXPECT_EQ(parse_isa_cap("native", Isa::avx2), Isa::avx2);
  EXPECT_EQ(parse_isa_cap("scalar", Isa::avx512), Isa::scalar);
  EXPECT_EQ(parse_isa_cap("sse4", Isa::avx512), Isa::scalar);
  EXPECT_EQ(parse_isa_cap("avx2", Isa::avx512), Isa::avx2);
  try {
    parse_isa_cap("avx1024", Isa::avx2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NTN_ISA='avx1024'"), std::string::npos);
  }
}

}  // namespace
}  // namespace ntn
