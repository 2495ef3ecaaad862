#include "ntn/fields.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "ntn/error.h"

namespace ntn {

using nlohmann::json;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Shortest round-trip text of a double (1e-3, not 0.0010000000000000000208).
std::string num(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

bool in_range(double v, RealRange r) {
  return (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
}

}  // namespace

std::string range_text(UintRange r) {
  if (r.hi == std::numeric_limits<std::uint64_t>::max()) return cat("an integer >= ", r.lo);
  return cat("an integer in ", r.lo, "..", r.hi);
}

std::string range_text(RealRange r) {
  return cat("a number in ", r.lo_open ? "(" : "[", num(r.lo), ", ", num(r.hi), r.hi_open ? ")" : "]");
}

std::uint64_t check_uint(std::string_view field, std::uint64_t v, UintRange r) {
  NTN_CHECK(v >= r.lo && v <= r.hi, field, ": ", v, " is out of range (expected ", range_text(r), ")");
  return v;
}

double check_real(std::string_view field, double v, RealRange r) {
  NTN_CHECK(std::isfinite(v) && in_range(v, r), field, ": ", num(v), " is out of range (expected ", range_text(r),
            ")");
  return v;
}

std::uint64_t parse_uint(std::string_view field, std::string_view text, UintRange r) {
  const std::string_view s = trim(text);
  NTN_CHECK(!s.empty(), field, ": empty value (expected ", range_text(r), ")");
  bool digits = true;
  for (char c : s) digits = digits && c >= '0' && c <= '9';
  if (!digits) {  // a sign, a fraction, an exponent or text: say which
    double d = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    const bool negative = ec != std::errc::invalid_argument && p == s.data() + s.size() && d < 0;
    throw Error(cat(field, ": '", s, "' is ", negative ? "out of range" : "not a plain integer", " (expected ",
                    range_text(r), ")"));
  }
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  NTN_CHECK(ec == std::errc() && p == s.data() + s.size(), field, ": '", s, "' is out of range (expected ",
            range_text(r), ")");
  NTN_CHECK(v >= r.lo && v <= r.hi, field, ": ", v, " is out of range (expected ", range_text(r), ")");
  return v;
}

NumberText strict_double(std::string_view text, double* v) {
  std::string_view s = trim(text);
  if (s.empty()) return NumberText::empty;
  if (s.front() == '+') {  // from_chars takes '-' only; a second sign ("+-1") is not a number
    s.remove_prefix(1);
    if (s.empty() || s.front() == '-' || s.front() == '+') return NumberText::not_a_number;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, std::chars_format::general);
  if (ec == std::errc::invalid_argument || p != s.data() + s.size()) return NumberText::not_a_number;
  if (ec == std::errc::result_out_of_range || !std::isfinite(*v)) return NumberText::not_finite;
  return NumberText::ok;
}

double parse_real(std::string_view field, std::string_view text, RealRange r) {
  const std::string_view s = trim(text);
  double v = 0;
  const NumberText k = strict_double(s, &v);
  NTN_CHECK(k != NumberText::empty, field, ": empty value (expected ", range_text(r), ")");
  NTN_CHECK(k != NumberText::not_a_number, field, ": '", s, "' is not a number (expected ", range_text(r), ")");
  NTN_CHECK(k == NumberText::ok, field, ": '", s, "' is not a finite number (expected ", range_text(r), ")");
  NTN_CHECK(in_range(v, r), field, ": '", s, "' is out of range (expected ", range_text(r), ")");
  return v;
}

std::vector<std::string> split_items(std::string_view field, std::string_view text) {
  std::vector<std::string> out;
  if (trim(text).empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string_view item = trim(text.substr(start, end - start));
    NTN_CHECK(!item.empty(), field, ": item ", out.size() + 1, " of '", text, "' is empty");
    out.emplace_back(item);
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

std::vector<double> parse_real_list(std::string_view field, std::string_view text, RealRange r) {
  std::vector<double> v;
  for (const auto& item : split_items(field, text)) v.push_back(parse_real(field, item, r));
  return v;
}

std::uint64_t mul_checked(std::uint64_t a, std::uint64_t b, std::string_view what) {
  std::uint64_t p = 0;
  NTN_CHECK(!__builtin_mul_overflow(a, b, &p), what, ": ", a, " x ", b, " overflows");
  return p;
}

std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, std::string_view what) {
  std::uint64_t s = 0;
  NTN_CHECK(!__builtin_add_overflow(a, b, &s), what, ": ", a, " + ", b, " overflows");
  return s;
}

std::uint64_t check_tensor_size(std::uint64_t a, std::uint64_t b, std::string_view what) {
  const std::uint64_t n = mul_checked(a, b, what);
  NTN_CHECK(n <= limits::kMaxTensor, what, ": ", a, " x ", b, " = ", n, " elements exceed the limit of ",
            limits::kMaxTensor, " per tensor (README 'Limits')");
  return n;
}

namespace {

std::uint64_t uint_of(const json& v, std::string_view ctx, std::string_view where, UintRange r) {
  const std::string name = cat(ctx, ": field ", where);
  if (v.is_number_unsigned()) return check_uint(name, v.get<std::uint64_t>(), r);
  if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    NTN_CHECK(i >= 0, name, ": ", i, " is out of range (expected ", range_text(r), ")");
    return check_uint(name, std::uint64_t(i), r);
  }
  throw Error(cat(name, ": ", v.dump(), " is not ", range_text(r)));
}

double real_of(const json& v, std::string_view ctx, std::string_view where, RealRange r) {
  const std::string name = cat(ctx, ": field ", where);
  NTN_CHECK(v.is_number(), name, ": ", v.dump(), " is not ", range_text(r));
  return check_real(name, v.get<double>(), r);
}

std::string quoted(const char* key) { return cat("'", key, "'"); }

}  // namespace

std::uint64_t json_uint(const json& j, std::string_view ctx, const char* key, std::uint64_t def, UintRange r) {
  if (!j.contains(key)) return def;
  return uint_of(j.at(key), ctx, quoted(key), r);
}

double json_real(const json& j, std::string_view ctx, const char* key, double def, RealRange r) {
  if (!j.contains(key)) return def;
  return real_of(j.at(key), ctx, quoted(key), r);
}

std::vector<std::uint64_t> json_uint_list(const json& j, std::string_view ctx, const char* key,
                                          const std::vector<std::uint64_t>& def, UintRange r) {
  if (!j.contains(key)) return def;
  const json& a = j.at(key);
  NTN_CHECK(a.is_array(), ctx, ": field '", key, "': ", a.dump(), " is not a list of integers");
  std::vector<std::uint64_t> v;
  for (std::size_t i = 0; i < a.size(); ++i) v.push_back(uint_of(a[i], ctx, cat("'", key, "'[", i, "]"), r));
  return v;
}

std::vector<double> json_real_list(const json& j, std::string_view ctx, const char* key, const std::vector<double>& def,
                                   RealRange r) {
  if (!j.contains(key)) return def;
  const json& a = j.at(key);
  NTN_CHECK(a.is_array(), ctx, ": field '", key, "': ", a.dump(), " is not a list of numbers");
  std::vector<double> v;
  for (std::size_t i = 0; i < a.size(); ++i) v.push_back(real_of(a[i], ctx, cat("'", key, "'[", i, "]"), r));
  return v;
}

std::string json_string(const json& j, std::string_view ctx, const char* key, const std::string& def) {
  if (!j.contains(key)) return def;
  NTN_CHECK(j.at(key).is_string(), ctx, ": field '", key, "': ", j.at(key).dump(), " is not a string");
  return j.at(key).get<std::string>();
}

bool json_bool(const json& j, std::string_view ctx, const char* key, bool def) {
  if (!j.contains(key)) return def;
  NTN_CHECK(j.at(key).is_boolean(), ctx, ": field '", key, "': ", j.at(key).dump(), " is not true or false");
  return j.at(key).get<bool>();
}

void json_known_fields(const json& j, std::string_view ctx, const std::vector<std::string>& known) {
  for (auto& [k, v] : j.items()) {
    bool found = false;
    for (const auto& n : known) found = found || n == k;
    if (found) continue;
    throw Error(cat(ctx, ": unknown field '", k, "' (known: ", join(known), ")"));
  }
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace ntn
