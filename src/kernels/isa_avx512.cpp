// The avx512 kernel table. This file alone is compiled with the avx512 flags (see CMakeLists.txt);
// it is reached only through the dispatch table, after the CPU probe said avx512 is usable.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn::kern_avx512 {
#include "simd_avx512.inl"
#include "kernels_impl.inl"
}  // namespace ntn::kern_avx512

namespace ntn::detail {
const KernelTable* table_avx512() { return &kern_avx512::kTable; }
}  // namespace ntn::detail
