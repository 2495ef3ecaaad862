#include "ntn/error.h"

#include <cstdio>
#include <cstdlib>

namespace ntn {

void fail_assert(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "ntneural: internal assertion failed: %s (%s:%d)\n", expr, file, line);
  std::abort();
}

}  // namespace ntn
