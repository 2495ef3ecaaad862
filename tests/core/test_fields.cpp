// The one validated number parser (ntn/fields.h), driven by tables: every accepted text gives its
// value; every rejected text is a one-line error naming the field and the reason.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "expect_error.h"
#include "ntn/fields.h"

namespace ntn {
namespace {

using nlohmann::json;

TEST(Fields, UintAcceptsOnlyPlainIntegersInRange) {
  const UintRange r{1, 1000};
  const std::vector<std::pair<const char*, std::uint64_t>> ok = {{"1", 1}, {"1000", 1000}, {" 42 ", 42}, {"007", 7}};
  for (const auto& [text, v] : ok) EXPECT_EQ(parse_uint("--batch", text, r), v) << text;
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"-1", "'-1' is out of range (expected an integer in 1..1000)"},
      {"0", "0 is out of range"},
      {"1001", "1001 is out of range"},
      {"18446744073709551615", "out of range"},
      {"18446744073709551616", "out of range"},
      {"99999999999999999999999", "out of range"},
      {"1e3", "'1e3' is not a plain integer"},
      {"1.5", "'1.5' is not a plain integer"},
      {"+5", "'+5' is not a plain integer"},
      {"0x10", "'0x10' is not a plain integer"},
      {"16abc", "'16abc' is not a plain integer"},
      {"", "empty value"},
      {"nan", "'nan' is not a plain integer"},
  };
  for (const auto& [text, frag] : bad) {
    SCOPED_TRACE(text);
    test::expect_error([&] { parse_uint("--batch", text, r); }, {"--batch: ", frag});
  }
  EXPECT_EQ(parse_uint("--seed", "18446744073709551615", limits::kSeed), UINT64_MAX);
}

TEST(Fields, RealAcceptsOnlyFiniteNumbersInRange) {
  const std::vector<std::pair<const char*, double>> ok = {{"0.001", 1e-3}, {"1e-3", 1e-3}, {"+0.5", 0.5}, {"10", 10}};
  for (const auto& [text, v] : ok) EXPECT_EQ(parse_real("--lr", text, limits::kLr), v) << text;
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"0", "'0' is out of range (expected a number in (0, 10])"},
      {"-1", "out of range"},
      {"10.5", "out of range"},
      {"nan", "'nan' is not a finite number"},
      {"inf", "not a finite number"},
      {"-inf", "not a finite number"},
      {"1e400", "not a finite number"},
      {"+-1", "'+-1' is not a number"},
      {"++1", "is not a number"},
      {"0x10", "is not a number"},
      {"1,5", "is not a number"},
      {"1e", "is not a number"},
      {"", "empty value"},
      {"true", "is not a number"},
  };
  for (const auto& [text, frag] : bad) {
    SCOPED_TRACE(text);
    test::expect_error([&] { parse_real("--lr", text, limits::kLr); }, {"--lr: ", frag});
  }
  // Half-open ranges: dropout [0, 1), quantile (0, 1).
  EXPECT_EQ(parse_real("--dropout", "0", limits::kDropout), 0.0);
  test::expect_error([] { parse_real("--dropout", "1", limits::kDropout); }, {"[0, 1)"});
  test::expect_error([] { parse_real("q", "0", limits::kQuantile); }, {"(0, 1)"});
}

TEST(Fields, ListsRejectEmptyItems) {
  EXPECT_EQ(split_items("--columns", "a, b ,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_items("--columns", "  ").empty());
  for (const char* text : {"0.1,,0.9", "0.1,", ",0.1", " , "}) {
    SCOPED_TRACE(text);
    test::expect_error([&] { parse_real_list("--quantiles", text, limits::kQuantile); }, {"--quantiles: item", "empty"});
  }
  EXPECT_EQ(parse_real_list("--quantiles", "0.1,0.5,0.9", limits::kQuantile), (std::vector<double>{0.1, 0.5, 0.9}));
}

TEST(Fields, CheckedProductsNeverWrap) {
  EXPECT_EQ(mul_checked(1u << 20, 1u << 20, "x"), 1ull << 40);
  test::expect_error([] { mul_checked(8, 2305843009213693952ull, "origins x step"); }, {"origins x step", "overflows"});
  test::expect_error([] { add_checked(UINT64_MAX, 1, "span"); }, {"span", "overflows"});
  test::expect_error([] { check_tensor_size(65536, 65536, "activations"); }, {"activations", "exceed the limit"});
  EXPECT_EQ(check_tensor_size(1024, 1024, "ok"), 1u << 20);
}

TEST(Fields, JsonFieldsCheckTypeAndRange) {
  const json j = {{"n", 5},   {"neg", -1}, {"frac", 1.5}, {"big", 1e16}, {"flag", true},
                  {"s", "x"}, {"lr", 0.1}, {"list", {1, 2, -3}}};
  EXPECT_EQ(json_uint(j, "cfg", "n", 0, {1, 10}), 5u);
  EXPECT_EQ(json_uint(j, "cfg", "absent", 7, {1, 10}), 7u);
  EXPECT_EQ(json_real(j, "cfg", "lr", 0, limits::kLr), 0.1);
  const std::vector<std::pair<std::function<void()>, const char*>> bad = {
      {[&] { json_uint(j, "cfg", "neg", 0, {0, 10}); }, "cfg: field 'neg': -1 is out of range"},
      {[&] { json_uint(j, "cfg", "frac", 0, {0, 10}); }, "cfg: field 'frac': 1.5 is not an integer"},
      {[&] { json_uint(j, "cfg", "big", 0, {0, 10}); }, "field 'big': 1e+16 is not an integer"},
      {[&] { json_uint(j, "cfg", "flag", 0, {0, 10}); }, "field 'flag': true is not an integer"},
      {[&] { json_real(j, "cfg", "flag", 0, limits::kLr); }, "field 'flag': true is not a number"},
      {[&] { json_real(j, "cfg", "s", 0, limits::kLr); }, "field 's': \"x\" is not a number"},
      {[&] { json_uint(j, "cfg", "n", 0, {6, 10}); }, "field 'n': 5 is out of range (expected an integer in 6..10)"},
      {[&] { json_uint_list(j, "cfg", "list", {}, {0, 10}); }, "field 'list'[2]: -3 is out of range"},
      {[&] { json_uint_list(j, "cfg", "n", {}, {0, 10}); }, "field 'n': 5 is not a list"},
      {[&] { json_string(j, "cfg", "n", ""); }, "field 'n': 5 is not a string"},
      {[&] { json_bool(j, "cfg", "n", false); }, "field 'n': 5 is not true or false"},
      {[&] { json_known_fields(j, "cfg", {"n", "neg"}); }, "cfg: unknown field"},
  };
  for (const auto& [f, frag] : bad) {
    SCOPED_TRACE(frag);
    test::expect_error(f, {frag});
  }
}

TEST(Fields, Utf8Validation) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"close", true},          {"caf\xC3\xA9", true},      {"\xE2\x82\xAC", true},  {"\xF0\x9F\x93\x88", true},
      {"\xFF", false},          {"\xC3", false},            {"\xC0\xAF", false},     {"\xED\xA0\x80", false},
      {"\xF4\x90\x80\x80", false}, {"ab\x80", false},       {"\xE2\x82", false},     {"", true},
  };
  for (const auto& [s, ok] : cases) EXPECT_EQ(valid_utf8(s), ok) << testing::PrintToString(s);
}

}  // namespace
}  // namespace ntn
