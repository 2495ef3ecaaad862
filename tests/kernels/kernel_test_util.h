// Helpers for kernel tests: every SIMD table the CPU supports is compared with the scalar
// reference at the sizes that exercise tails and unrolled loops (1, tile-1, tile, tile+1 for
// tiles 8 and 16, multiples, primes), out of place and in place.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn::test {

inline const std::vector<std::size_t>& sizes() {
  static const std::vector<std::size_t> s = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 1000, 1021};
  return s;
}

inline std::vector<float> rand_vec(std::size_t n, std::uint64_t stream, float lo = -3.0f, float hi = 3.0f) {
  std::vector<float> v(n);
  fill_uniform(v.data(), n, lo, hi, 99, stream);
  return v;
}

// |got - want| <= atol + rtol |want|; NaN must match NaN; infinities must match exactly.
inline ::testing::AssertionResult close(float got, float want, float atol, float rtol) {
  if (std::isnan(want) || std::isnan(got)) {
    if (std::isnan(want) && std::isnan(got)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << got << ", want " << want;
  }
  if (std::isinf(want) || std::isinf(got)) {
    if (got == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << got << ", want " << want;
  }
  if (std::fabs(got - want) <= atol + rtol * std::fabs(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (diff " << got - want << ")";
}

inline void expect_all_close(const std::vector<float>& got, const std::vector<float>& want, float atol,
                             float rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(close(got[i], want[i], atol, rtol)) << what << " at index " << i << " of " << got.size();
}

// The accuracy oracle (tests/kernels/oracle.cpp): every op defined plainly, reductions in double.
const KernelTable& oracle();

// Parameterised over every ISA this machine supports, the scalar table included; ref() is the
// oracle (within tolerances; bitwise for the dense kernels and the GEMM).
class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  const KernelTable& k() const { return kernels_for(GetParam()); }
  const KernelTable& ref() const { return oracle(); }
};

inline std::vector<Isa> all_isas() { return supported_isas(); }

inline std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return isa_name(info.param); }

#define NTN_INSTANTIATE_ISA_TESTS(Suite) \
  INSTANTIATE_TEST_SUITE_P(Isa, Suite, ::testing::ValuesIn(::ntn::test::all_isas()), ::ntn::test::isa_param_name)

}  // namespace ntn::test
