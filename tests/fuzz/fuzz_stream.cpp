// libFuzzer target: the --stream text protocol (StreamLineParser) on arbitrary bytes, fed in
// chunks whose sizes come from the input. Values must be finite float32, in line order, and the
// same whatever the chunking; everything else is an ntn::Error.
#include <cmath>
#include <cstdint>
#include <vector>

#include "ntn/error.h"
#include "ntn/predictor.h"

namespace {
std::vector<std::pair<float, std::size_t>> run(const char* text, std::size_t n, std::size_t chunk, bool* failed) {
  std::vector<std::pair<float, std::size_t>> out;
  ntn::StreamLineParser p([&](float v, std::size_t line) { out.emplace_back(v, line); });
  try {
    for (std::size_t i = 0; i < n; i += chunk) p.feed(text + i, std::min(chunk, n - i));
    p.finish();
    *failed = false;
  } catch (const ntn::Error&) {
    *failed = true;
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const char* text = reinterpret_cast<const char*>(data + 1);
  bool fa = false, fb = false;
  const auto a = run(text, size - 1, size, &fa), b = run(text, size - 1, chunk, &fb);
  if (fa != fb || a != b) __builtin_trap();  // chunking never changes the result
  std::size_t prev = 0;
  for (const auto& [v, line] : a) {
    if (!std::isfinite(v) || line <= prev) __builtin_trap();
    prev = line;
  }
  return 0;
}
