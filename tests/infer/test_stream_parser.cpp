// StreamLineParser (the --stream text protocol): values do not depend on how the bytes are
// chunked; every bad line is an error naming stdin:LINE (table of cases).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "expect_error.h"
#include "ntn/predictor.h"

namespace ntn {
namespace {

std::vector<std::pair<float, std::size_t>> parse(const std::string& text, std::size_t chunk) {
  std::vector<std::pair<float, std::size_t>> out;
  StreamLineParser p([&](float v, std::size_t line) { out.emplace_back(v, line); });
  for (std::size_t i = 0; i < text.size(); i += chunk) p.feed(text.data() + i, std::min(chunk, text.size() - i));
  p.finish();
  return out;
}

TEST(StreamLineParser, ChunkingDoesNotChangeTheValues) {
  const std::string text = "1\n\n  2.5 \r\n-3e2\n+4\n" + std::string(3000, ' ') + "5\n6";
  const auto whole = parse(text, text.size());
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(whole[0], std::make_pair(1.0f, std::size_t(1)));
  EXPECT_EQ(whole[1], std::make_pair(2.5f, std::size_t(3)));
  EXPECT_EQ(whole[2], std::make_pair(-300.0f, std::size_t(4)));
  EXPECT_EQ(whole[3], std::make_pair(4.0f, std::size_t(5)));
  EXPECT_EQ(whole[4], std::make_pair(5.0f, std::size_t(6)));
  EXPECT_EQ(whole[5], std::make_pair(6.0f, std::size_t(7)));
  for (std::size_t chunk : {1, 2, 3, 7, 255, 256, 4096}) EXPECT_EQ(parse(text, chunk), whole) << chunk;
}

TEST(StreamLineParser, BadLinesNameTheLine) {
  const std::vector<std::pair<std::string, const char*>> cases = {
      {"1\n0x10\n", "stdin:2: '0x10' is not a number"},
      {std::string("12\0" "3\n", 5), "stdin:1: '12?3' is not a number"},
      {"nan\n", "'nan' is not a number"},
      {"-inf\n", "'-inf' is not a number"},
      {"+-1\n", "'+-1' is not a number"},
      {"++1\n", "'++1' is not a number"},
      {"1 2\n", "'1 2' is not a number"},
      {"1e39\n", "stdin:1: value 1e39 is beyond float32"},
      {"1e400\n", "'1e400' is not a number"},
      {std::string(5000, '1') + "\n", "stdin:1: line is longer than 4096 bytes"},
      {std::string(5000, '1'), "stdin:1: line is longer than 4096 bytes"},  // unterminated too
      {"1\n2\nabc", "stdin:3: 'abc' is not a number"},
  };
  for (const auto& [text, frag] : cases) {
    SCOPED_TRACE(frag);
    for (std::size_t chunk : {std::size_t(1), std::size_t(64), text.size()})
      test::expect_error([&] { parse(text, chunk); }, {frag});
  }
}

}  // namespace
}  // namespace ntn
