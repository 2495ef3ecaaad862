#include <algorithm>
#include "ntn/csv.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/preprocess.h"

namespace ntn {
namespace {

// Walks the text line by line (\n or \r\n), skipping empty lines, with 1-based line numbers.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view* line, std::size_t* number) {
    while (pos_ < text_.size()) {
      std::size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view l = text_.substr(pos_, end - pos_);
      pos_ = end + 1;
      ++line_;
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (l.find_first_not_of(" \t") == std::string_view::npos) continue;
      *line = l;
      *number = line_;
      return true;
    }
    return false;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 0;
};

std::string where(const std::string& src, std::size_t line) { return cat(src, ":", line, ": "); }

// Splits one record into fields: commas, RFC 4180 double quotes with "" as an escaped quote.
void split_fields(std::string_view line, const std::string& src, std::size_t lineno,
                  std::vector<std::string>* out) {
  out->clear();
  std::string field;
  std::size_t i = 0;
  for (;;) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        NTN_CHECK(i < line.size(), where(src, lineno), "unterminated quoted field (column ", out->size() + 1, ")");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      NTN_CHECK(i == line.size() || line[i] == ',', where(src, lineno), "text after a closing quote in column ",
                out->size() + 1);
    } else {
      const std::size_t end = std::min(line.find(',', i), line.size());
      field.assign(line.substr(i, end - i));
      i = end;
    }
    out->push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {  // a trailing comma: one more, empty field
      out->emplace_back();
      break;
    }
  }
}

// Reads the header record of a file: fails on an empty file.
// Names become JSON (artifact metadata, --json output), which must be UTF-8.
void check_utf8(std::string_view text, const std::string& src, std::size_t lineno, std::size_t column,
                const char* what) {
  NTN_CHECK(valid_utf8(text), where(src, lineno), what, " in column ", column,
            " is not valid UTF-8 text (re-save the file as UTF-8)");
}

std::vector<std::string> read_header(LineReader& lines, const std::string& src, std::size_t* lineno) {
  std::string_view line;
  NTN_CHECK(lines.next(&line, lineno), src, ": the file is empty (expected a header line)");
  std::vector<std::string> header;
  split_fields(line, src, *lineno, &header);
  for (std::size_t i = 0; i < header.size(); ++i) check_utf8(header[i], src, *lineno, i + 1, "the header name");
  return header;
}

// A UTF-8 byte-order mark (spreadsheet exports) is not part of the first column's name.
std::string_view skip_bom(std::string_view text) {
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.remove_prefix(3);
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

enum class Cell { ok, missing, non_finite, text };

Cell parse_number(std::string_view s, double* v) {
  switch (strict_double(s, v)) {  // the one number rule (fields.h)
    case NumberText::ok: return Cell::ok;
    case NumberText::empty: return Cell::missing;
    case NumberText::not_finite: return Cell::non_finite;
    case NumberText::not_a_number: break;
  }
  return Cell::text;
}

bool parse_uint(std::string_view s, std::size_t n, int* v) {
  if (s.size() != n || n > 9) return false;  // at most 9 digits: never beyond int
  int r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    r = r * 10 + (c - '0');
  }
  *v = r;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + long(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The leading-gap check names the file and line; the repair itself is preprocess.h's.
void fill_gaps(std::vector<double>& col, const std::vector<std::size_t>& gaps, FillPolicy fill,
               const std::vector<std::size_t>& line_of_row, const std::string& src, const std::string& name) {
  if (gaps.empty()) return;
  const std::size_t r = gaps.front();
  NTN_CHECK(r > 0, where(src, line_of_row[r]), "column '", name, "' starts with a missing value; ",
            fill == FillPolicy::ffill ? "ffill" : "linear", " fill needs an earlier value (trim the leading rows)");
  if (fill == FillPolicy::ffill)
    fill_forward(col.data(), col.size());
  else
    fill_linear(col.data(), col.size());
}

}  // namespace

FillPolicy parse_fill_policy(const std::string& name) {
  if (name == "error" || name.empty()) return FillPolicy::error;
  if (name == "ffill") return FillPolicy::ffill;
  if (name == "linear") return FillPolicy::linear;
  throw Error(cat("unknown fill policy '", name, "': expected error, ffill or linear"));
}

namespace {
// "A/B/YYYY": month first (mdy) or day first; false if not that shape or not a valid date.
bool parse_slash_date(std::string_view s, bool mdy, double* out) {
  s = trim(s);
  const std::size_t a = s.find('/'), b = a == std::string_view::npos ? a : s.find('/', a + 1);
  if (b == std::string_view::npos || a == 0 || a > 2 || b - a - 1 == 0 || b - a - 1 > 2 || s.size() - b - 1 != 4)
    return false;
  int p, q, y;
  if (!parse_uint(s.substr(0, a), a, &p) || !parse_uint(s.substr(a + 1, b - a - 1), b - a - 1, &q) ||
      !parse_uint(s.substr(b + 1), 4, &y))
    return false;
  const int mo = mdy ? p : q, d = mdy ? q : p;
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap(y))) return false;
  *out = double(days_from_civil(y, unsigned(mo), unsigned(d))) * 86400.0;
  return true;
}
}  // namespace

bool parse_time(std::string_view s, double* out) {
  s = trim(s);
  double num;
  if (parse_number(s, &num) == Cell::ok) {
    *out = num;
    return true;
  }
  // YYYY-MM[-DD[( |T)HH:MM[:SS]]]
  int y, mo, d = 1, h = 0, mi = 0, sec = 0;
  if (s.size() < 7 || !parse_uint(s.substr(0, 4), 4, &y) || s[4] != '-' || !parse_uint(s.substr(5, 2), 2, &mo))
    return false;
  std::string_view rest = s.substr(7);
  if (!rest.empty()) {
    if (rest.size() < 3 || rest[0] != '-' || !parse_uint(rest.substr(1, 2), 2, &d)) return false;
    rest.remove_prefix(3);
    if (!rest.empty()) {
      if (rest[0] != ' ' && rest[0] != 'T') return false;
      rest.remove_prefix(1);
      if (rest.size() < 5 || !parse_uint(rest.substr(0, 2), 2, &h) || rest[2] != ':' ||
          !parse_uint(rest.substr(3, 2), 2, &mi))
        return false;
      rest.remove_prefix(5);
      if (!rest.empty()) {
        if (rest.size() != 3 || rest[0] != ':' || !parse_uint(rest.substr(1, 2), 2, &sec)) return false;
      }
    }
  }
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || sec > 60)
    return false;
  *out = double(days_from_civil(y, unsigned(mo), unsigned(d))) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
  return true;
}

std::string read_file(const std::string& path) {
  // One read into a buffer of the file's size (a stringstream copy costs 2-3x more for the
  // 5 MB artifacts a predictor loads).
  std::FILE* f = std::fopen(path.c_str(), "rb");
  NTN_CHECK(f != nullptr, "cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(::fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(f);
    throw Error(cat("cannot read '", path, "': it is a directory"));
  }
  std::string s;
  // A regular file is read in one go at its size; anything else (a pipe, a device) in chunks.
  const long n = S_ISREG(st.st_mode) ? long(st.st_size) : 0;
  if (n > 0) {
    s.resize(std::size_t(n));
    const std::size_t got = std::fread(s.data(), 1, s.size(), f);
    s.resize(got);
  } else {  // not seekable (a pipe): read in chunks
    char buf[1 << 16];
    std::size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, got);
  }
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  NTN_CHECK(!bad, "error while reading '", path, "'");
  return s;
}

Frame select_columns(const Frame& all, const CsvOptions& opt) {
  const std::size_t R = all.rows();
  for (std::size_t c = 0; c < all.cols.size(); ++c)
    NTN_CHECK(all.cols[c].size() == R, all.source, ": column '", all.names[c], "' has ", all.cols[c].size(),
              " values, the time axis ", R);
  Frame f;
  f.source = all.source;
  f.time_name = all.time_name;
  f.time_text = all.time_text;
  f.time = all.time;
  f.lines = all.lines;
  f.reversed = all.reversed;
  const std::vector<std::string> names = opt.columns.empty() ? all.names : opt.columns;
  NTN_CHECK(!names.empty(), all.source, ": no series column");
  for (const std::string& name : names) {
    std::size_t c = 0;
    while (c < all.names.size() && all.names[c] != name) ++c;
    NTN_CHECK(c < all.names.size(), all.source, ": unknown column '", name, "' (columns: ", join(all.names), ")");
    std::vector<double> v = all.cols[c];
    std::size_t bad = 0;
    for (std::size_t r = 0; r < R; ++r)
      if (!std::isfinite(v[r])) {
        NTN_CHECK(opt.fill != FillPolicy::error, all.source, ": column '", name, "' row ", r, ": value ", v[r],
                  " is NaN/inf (repair it, or fill it: ffill / linear)");
        NTN_CHECK(r > 0 || std::isfinite(v[0]), all.source, ": column '", name,
                  "' row 0 is NaN/inf: a leading gap cannot be filled");
        ++bad;
      }
    if (bad) {
      // The same repairs as the file reader's: NaN marks the gaps for the fill functions.
      for (double& x : v)
        if (!std::isfinite(x)) x = std::numeric_limits<double>::quiet_NaN();
      (opt.fill == FillPolicy::ffill ? fill_forward : fill_linear)(v.data(), v.size());
      f.filled += bad;
    }
    f.names.push_back(name);
    f.cols.push_back(std::move(v));
  }
  return f;
}

const std::vector<double>& Frame::col(const std::string& name) const {
  for (std::size_t c = 0; c < names.size(); ++c)
    if (names[c] == name) return cols[c];
  throw Error(cat(source, ": no column '", name, "' (columns: ", join(names), ")"));
}

std::size_t SeriesSet::index_of(const std::string& id) const {
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == id) return i;
  throw Error(cat(source, ": no series '", id, "'"));
}

Frame read_wide_csv(const std::string& path, const CsvOptions& opt) {
  return parse_wide_csv(read_file(path), path, opt);
}

Frame parse_wide_csv(std::string_view text, const std::string& src, const CsvOptions& opt) {
  LineReader lines(skip_bom(text));
  std::string_view line;
  std::size_t lineno = 0;
  std::vector<std::string> header = read_header(lines, src, &lineno), fields;
  for (auto& h : header) h = std::string(trim(h));
  for (std::size_t i = 0; i < header.size(); ++i) {
    NTN_CHECK(!header[i].empty(), where(src, lineno), "header column ", i + 1, " has no name");
    for (std::size_t j = 0; j < i; ++j)
      NTN_CHECK(header[i] != header[j], where(src, lineno), "column name '", header[i], "' appears twice");
  }
  auto find = [&](const std::string& name) -> std::size_t {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    throw Error(cat(src, ": unknown column '", name, "' (columns: ", join(header), ")"));
  };

  Frame f;
  f.source = src;
  std::size_t time_idx = header.size();  // none
  // A file of one column is the series itself (no time column to name).
  if (opt.has_time_column && (header.size() > 1 || !opt.time_column.empty())) {
    time_idx = opt.time_column.empty() ? 0 : find(opt.time_column);
    f.time_name = header[time_idx];
  }
  std::vector<std::size_t> picked;
  if (opt.columns.empty()) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (i != time_idx) picked.push_back(i);
  } else {
    for (const auto& name : opt.columns) {
      const std::size_t i = find(name);
      for (std::size_t p : picked)
        NTN_CHECK(p != i, src, ": column '", name, "' is selected twice (--columns lists each column once)");
      NTN_CHECK(i != time_idx, src, ": column '", name, "' is the time column; pick numeric columns");
      picked.push_back(i);
    }
  }
  NTN_CHECK(!picked.empty(), src, ": no numeric columns (columns: ", join(header), ")");
  for (std::size_t i : picked) f.names.push_back(header[i]);
  f.cols.resize(picked.size());

  std::vector<std::vector<std::size_t>> gaps(picked.size());
  std::vector<std::size_t> line_of_row;
  // Slash dates (04/30/2021): month or day first, decided by the file - a first field above 12
  // is a day, a second field above 12 a day; neither anywhere is ambiguous.
  int slash = 0;  // 0: none, 1: month first, 2: day first
  if (time_idx < header.size()) {
    LineReader scan = lines;
    std::string_view l;
    std::size_t n = 0, first_line = 0;
    bool day_first = false, month_first = false;
    while (scan.next(&l, &n)) {
      split_fields(l, src, n, &fields);
      if (fields.size() != header.size()) break;  // reported by the main pass
      const std::string_view cell = trim(fields[time_idx]);
      const std::size_t a = cell.find('/');
      if (a == std::string_view::npos) break;
      if (!first_line) first_line = n;
      int p = 0, q = 0;
      const std::size_t b = cell.find('/', a + 1);
      if (a <= 2 && parse_uint(cell.substr(0, a), a, &p) && p > 12) day_first = true;
      if (b != std::string_view::npos && b - a - 1 <= 2 && parse_uint(cell.substr(a + 1, b - a - 1), b - a - 1, &q) &&
          q > 12)
        month_first = true;
    }
    if (first_line) {
      NTN_CHECK(!(day_first && month_first), src, ": time column '", f.time_name,
                "': slash dates with both the first and the second field above 12 (neither MM/DD/YYYY nor DD/MM/YYYY)");
      NTN_CHECK(day_first || month_first, where(src, first_line), "time column '", f.time_name,
                "': slash dates whose fields never exceed 12 are ambiguous (MM/DD or DD/MM); write them as YYYY-MM-DD");
      slash = month_first ? 1 : 2;
    }
  }
  int order = 0;  // +1: oldest first, -1: newest first (reversed after reading)
  while (lines.next(&line, &lineno)) {
    split_fields(line, src, lineno, &fields);
    NTN_CHECK(fields.size() == header.size(), where(src, lineno), "row has ", fields.size(), " fields, the header has ",
              header.size());
    const std::size_t row = line_of_row.size();
    line_of_row.push_back(lineno);
    double t = double(row);
    if (time_idx < header.size()) {
      const bool ok = slash ? parse_slash_date(fields[time_idx], slash == 1, &t) : parse_time(fields[time_idx], &t);
      NTN_CHECK(ok, where(src, lineno), "time column '", f.time_name, "': '", fields[time_idx], "' is not a date (",
                slash == 1   ? "MM/DD/YYYY, as the file's other rows"
                : slash == 2 ? "DD/MM/YYYY, as the file's other rows"
                             : "YYYY-MM-DD[ HH:MM[:SS]], YYYY-MM, MM/DD/YYYY",
                ") or a number");
      if (row > 0) {
        const double prev = f.time.back();
        NTN_CHECK(t != prev, where(src, lineno), "timestamp '", fields[time_idx], "' duplicates line ",
                  line_of_row[row - 1]);
        if (row == 1) order = t > prev ? 1 : -1;  // the first two rows say which way the file runs
        NTN_CHECK((t > prev) == (order > 0), where(src, lineno), "timestamp '", fields[time_idx], "' is ",
                  order > 0 ? "earlier" : "later", " than '", f.time_text.back(), "' on line ", line_of_row[row - 1],
                  " (rows must be in time order: ", order > 0 ? "oldest" : "newest", " first, as the file starts)");
      }
      f.time_text.push_back(fields[time_idx]);
    }
    f.time.push_back(t);
    for (std::size_t c = 0; c < picked.size(); ++c) {
      double v = 0;
      const Cell k = parse_number(fields[picked[c]], &v);
      NTN_CHECK(k != Cell::text, where(src, lineno), "column '", f.names[c], "': '", fields[picked[c]],
                "' is not a number");
      if (k != Cell::ok) {
        NTN_CHECK(opt.fill != FillPolicy::error, where(src, lineno), "column '", f.names[c], "': ",
                  k == Cell::missing ? "missing value (empty cell)" : cat("value '", fields[picked[c]], "' is NaN/inf"),
                  "; repair it in the file or use --fill ffill|linear");
        gaps[c].push_back(row);
        v = std::nan("");
      }
      f.cols[c].push_back(v);
    }
  }
  NTN_CHECK(!line_of_row.empty(), src, ": no data rows after the header");
  if (order < 0) {  // newest first: read it oldest first
    const std::size_t n = line_of_row.size();
    std::reverse(line_of_row.begin(), line_of_row.end());
    std::reverse(f.time.begin(), f.time.end());
    std::reverse(f.time_text.begin(), f.time_text.end());
    for (auto& c : f.cols) std::reverse(c.begin(), c.end());
    for (auto& g : gaps) {
      for (auto& r : g) r = n - 1 - r;
      std::reverse(g.begin(), g.end());
    }
    f.reversed = true;
  }
  f.lines = line_of_row;
  for (std::size_t c = 0; c < picked.size(); ++c) {
    fill_gaps(f.cols[c], gaps[c], opt.fill, line_of_row, src, f.names[c]);
    f.filled += gaps[c].size();
  }
  return f;
}

std::vector<float> column_f32(const Frame& f, std::size_t c, std::size_t first) {
  const std::vector<double>& col = f.cols.at(c);
  std::vector<float> out(col.begin() + std::ptrdiff_t(std::min(first, col.size())), col.end());
  for (std::size_t r = first; r < col.size(); ++r)
    NTN_CHECK(fits_f32(col[r]), where(f.source, r < f.lines.size() ? f.lines[r] : r + 2), "column '", f.names[c],
              "': value ", col[r], " is beyond float32 (|x| <= 3.4e38), the precision models compute in; rescale it");
  return out;
}

std::vector<float> series_f32(const SeriesSet& set, std::size_t s, std::size_t first) {
  const std::vector<double>& v = set.values.at(s);
  std::vector<float> out(v.begin() + std::ptrdiff_t(std::min(first, v.size())), v.end());
  for (std::size_t i = first; i < v.size(); ++i)
    NTN_CHECK(fits_f32(v[i]), where(set.source, s < set.lines.size() ? set.lines[s] : 0), "series '", set.ids[s],
              "', column ", i + 2, ": value ", v[i],
              " is beyond float32 (|x| <= 3.4e38), the precision models compute in; rescale it");
  return out;
}

SeriesSet read_m4_csv(const std::string& path) { return parse_m4_csv(read_file(path), path); }

SeriesSet parse_m4_csv(std::string_view text, const std::string& src) {
  LineReader lines(skip_bom(text));
  std::string_view line;
  std::size_t lineno = 0;
  std::vector<std::string> header = read_header(lines, src, &lineno), fields;
  NTN_CHECK(header.size() >= 2, where(src, lineno), "an M4 file needs an id column and value columns");
  SeriesSet set;
  set.source = src;
  std::unordered_set<std::string> seen;
  while (lines.next(&line, &lineno)) {
    split_fields(line, src, lineno, &fields);
    NTN_CHECK(fields.size() <= header.size(), where(src, lineno), "row has ", fields.size(),
              " fields, the header has ", header.size());
    const std::string id(trim(fields[0]));
    NTN_CHECK(!id.empty(), where(src, lineno), "series id (column '", header[0], "') is empty");
    check_utf8(id, src, lineno, 1, "the series id");
    std::vector<double> v;
    std::size_t end = fields.size();
    while (end > 1 && trim(fields[end - 1]).empty()) --end;  // ragged row: trailing padding
    for (std::size_t i = 1; i < end; ++i) {
      double x;
      const Cell k = parse_number(fields[i], &x);
      NTN_CHECK(k != Cell::missing, where(src, lineno), "series '", id, "': empty cell in column '", header[i],
                "' before the end of the series (gaps are not allowed)");
      NTN_CHECK(k != Cell::text, where(src, lineno), "series '", id, "', column '", header[i], "': '", fields[i],
                "' is not a number");
      NTN_CHECK(k == Cell::ok, where(src, lineno), "series '", id, "', column '", header[i], "': value '", fields[i],
                "' is NaN/inf");
      v.push_back(x);
    }
    NTN_CHECK(!v.empty(), where(src, lineno), "series '", id, "' has no values");
    NTN_CHECK(seen.insert(id).second, where(src, lineno), "series id '", id, "' appears twice");
    set.ids.push_back(id);
    set.values.push_back(std::move(v));
    set.lines.push_back(lineno);
  }
  NTN_CHECK(!set.ids.empty(), src, ": no series rows after the header");
  return set;
}

}  // namespace ntn
