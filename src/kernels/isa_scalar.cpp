// The scalar kernel table: the shared kernel bodies (kernels_impl.inl) over the one-lane types
// of simd_scalar.inl. Compiled without ISA flags or auto-vectorisation (CMakeLists.txt), it runs
// on any x86-64 and gives bitwise the results of the AVX2 and AVX-512 tables: the same FMA
// chains, the same polynomials, the same canonical reduction order.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn::kern_scalar {
#include "simd_scalar.inl"
#include "kernels_impl.inl"
}  // namespace ntn::kern_scalar

namespace ntn::detail {
const KernelTable* table_scalar() { return &kern_scalar::kTable; }
}  // namespace ntn::detail
