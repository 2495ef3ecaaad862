// ntn::Error: the one exception type the library throws, at its boundaries only
// (file I/O, parsing, configuration, CLI arguments, API misuse). Kernels never throw.
//
// Intended usage:
//   if (!file) throw ntn::Error(ntn::cat("cannot open '", path, "': ", std::strerror(errno)));
//   NTN_CHECK(rows > 0, "csv '", path, "' has no data rows");      // always on, throws
//   NTN_DASSERT(i < n);                                          // debug builds only
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ntn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenates any streamable values into one message.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// The items of a range as one list for a message: "a, b, c" (any streamable items).
template <class Range>
std::string join(const Range& items, const char* sep = ", ") {
  std::ostringstream os;
  const char* s = "";
  for (const auto& x : items) os << s << x, s = sep;
  return os.str();
}

[[noreturn]] void fail_assert(const char* expr, const char* file, int line);

}  // namespace ntn

// Boundary check: throws ntn::Error with the message when cond is false.
#define NTN_CHECK(cond, ...)                                  \
  do {                                                        \
    if (!(cond)) throw ::ntn::Error(::ntn::cat(__VA_ARGS__)); \
  } while (0)

// Hot-path invariant: compiled out in release builds, aborts with file:line in debug builds.
#ifdef NDEBUG
#define NTN_DASSERT(cond) ((void)0)
#else
#define NTN_DASSERT(cond) ((cond) ? (void)0 : ::ntn::fail_assert(#cond, __FILE__, __LINE__))
#endif
