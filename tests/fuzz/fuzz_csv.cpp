// libFuzzer target: the CSV readers (wide and M4) on arbitrary bytes. The first byte picks the
// layout and options; every outcome must be a parsed frame or an ntn::Error - never a crash, a
// hang, a sanitizer report or a NaN that reaches the frame unrepaired.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "ntn/csv.h"
#include "ntn/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (mode & 1) {
      const ntn::SeriesSet s = ntn::parse_m4_csv(text, "fuzz.csv");
      for (const auto& v : s.values)
        for (double x : v)
          if (!std::isfinite(x)) __builtin_trap();
      for (std::size_t i = 0; i < s.size(); ++i) ntn::series_f32(s, i);
    } else {
      ntn::CsvOptions o;
      o.fill = ntn::FillPolicy((mode >> 1) % 3);
      o.has_time_column = (mode & 8) == 0;
      if (mode & 16) o.columns = {"close"};
      const ntn::Frame f = ntn::parse_wide_csv(text, "fuzz.csv", o);
      for (std::size_t c = 0; c < f.cols.size(); ++c) {
        if (f.cols[c].size() != f.rows() || f.lines.size() != f.rows()) __builtin_trap();
        for (double x : f.cols[c])
          if (!std::isfinite(x)) __builtin_trap();  // missing values are an error or repaired
        ntn::column_f32(f, c);
      }
    }
  } catch (const ntn::Error&) {
  }
  return 0;
}
