// Internal to src/data: the input check of every series function (features, preprocessing).
#pragma once

#include <cstddef>

namespace ntn::detail {

// Throws ntn::Error "<fn>: <what>[i] = v is not finite; repair ..." for the first NaN / inf.
// One vectorised sum decides; only a non-finite sum pays for the scan that names the index.
void check_series_finite(const char* fn, const char* what, const double* x, std::size_t n);

}  // namespace ntn::detail
