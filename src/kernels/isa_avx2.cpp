// The avx2 kernel table. This file alone is compiled with the avx2 flags (see CMakeLists.txt);
// it is reached only through the dispatch table, after the CPU probe said avx2 is usable.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn::kern_avx2 {
#include "simd_avx2.inl"
#include "kernels_impl.inl"
}  // namespace ntn::kern_avx2

namespace ntn::detail {
const KernelTable* table_avx2() { return &kern_avx2::kTable; }
}  // namespace ntn::detail
