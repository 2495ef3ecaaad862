// Counts heap allocations made by this process (tests and `ntneural bench predict`). Release builds interpose the
// whole malloc family (so C libraries such as libgomp and OpenBLAS are counted too); sanitizer
// builds, whose runtime owns malloc, count C++ operator new only.
#pragma once

#include <cstdint>

namespace ntn {
std::uint64_t allocations();
}
