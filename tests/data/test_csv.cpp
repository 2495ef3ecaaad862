#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ntn/csv.h"
#include "expect_error.h"
#include "ntn/error.h"

namespace ntn {
namespace {

using test::expect_error;

TEST(Csv, WideFileWithDatesAndSelectedColumns) {
  const char* text =
      "date,open,close\r\n"
      "2020-01-02,1.5,2\r\n"
      "2020-01-03,\"1.25\",3e0\r\n"
      "\r\n"
      "2020-01-06 09:30:00,+1,4\r\n";
  Frame f = parse_wide_csv(text, "mem.csv");
  EXPECT_EQ(f.rows(), 3u);
  EXPECT_EQ(f.time_name, "date");
  EXPECT_EQ(f.names, (std::vector<std::string>{"open", "close"}));
  EXPECT_EQ(f.col("open"), (std::vector<double>{1.5, 1.25, 1}));
  EXPECT_EQ(f.col("close"), (std::vector<double>{2, 3, 4}));
  EXPECT_DOUBLE_EQ(f.time[1] - f.time[0], 86400.0);
  EXPECT_DOUBLE_EQ(f.time[0], 18263.0 * 86400.0);  // 2020-01-02 is day 18263 since 1970-01-01
  EXPECT_DOUBLE_EQ(f.time[2] - f.time[0], 4 * 86400.0 + 9.5 * 3600.0);
  CsvOptions o;
  o.columns = {"close"};
  f = parse_wide_csv(text, "mem.csv", o);
  EXPECT_EQ(f.names, (std::vector<std::string>{"close"}));
  expect_error([&] { f.col("volume"); }, {"mem.csv", "no column 'volume'", "close"});
}

TEST(Csv, TimeFormats) {
  double t;
  EXPECT_TRUE(parse_time("1970-01-01", &t));
  EXPECT_EQ(t, 0.0);
  EXPECT_TRUE(parse_time("1949-02", &t));
  EXPECT_EQ(t, -7639.0 * 86400.0);  // 1949-02-01: 21 years + 5 leap days - 31 days before 1970
  EXPECT_TRUE(parse_time("2016-07-01T01:00", &t));
  EXPECT_TRUE(parse_time("2000-02-29", &t));
  EXPECT_TRUE(parse_time("1991.496154", &t));
  EXPECT_DOUBLE_EQ(t, 1991.496154);
  EXPECT_FALSE(parse_time("1999-02-29", &t));  // not a leap year
  EXPECT_FALSE(parse_time("2020-13-01", &t));
  EXPECT_FALSE(parse_time("2020-01-01 25:00", &t));
  EXPECT_FALSE(parse_time("yesterday", &t));
  EXPECT_FALSE(parse_time("2020/01/01", &t));
}

TEST(Csv, BadInputNamesFileLineAndColumn) {
  expect_error([] { parse_wide_csv("", "e.csv"); }, {"e.csv", "empty"});
  expect_error([] { parse_wide_csv("date,x\n", "h.csv"); }, {"h.csv", "no data rows"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1\n2020-01-02,abc\n", "t.csv"); },
               {"t.csv:3", "column 'x'", "'abc' is not a number"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1\n2020-01-02,nan\n", "n.csv"); },
               {"n.csv:3", "column 'x'", "NaN/inf", "--fill"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1\n2020-01-02,\n", "m.csv"); },
               {"m.csv:3", "column 'x'", "missing value"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1\n2020-01-01,2\n", "d.csv"); },
               {"d.csv:3", "duplicates line 2"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n", "o.csv"); },
               {"o.csv:4", "earlier than", "time order"});
  expect_error([] { parse_wide_csv("date,x\nnot-a-date,1\n", "b.csv"); }, {"b.csv:2", "time column 'date'"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,1,2\n", "r.csv"); }, {"r.csv:2", "3 fields", "header has 2"});
  expect_error([] { parse_wide_csv("date,x,x\n2020-01-01,1,2\n", "u.csv"); }, {"u.csv:1", "'x' appears twice"});
  expect_error([] { parse_wide_csv("date,x\n2020-01-01,\"1\n", "q.csv"); }, {"q.csv:2", "unterminated"});
  CsvOptions o;
  o.columns = {"close"};
  expect_error([&] { parse_wide_csv("date,x\n2020-01-01,1\n", "c.csv", o); },
               {"c.csv", "unknown column 'close'", "columns: date, x"});
  expect_error([] { read_wide_csv("/nonexistent/file.csv"); }, {"cannot open '/nonexistent/file.csv'"});
  expect_error([] { parse_fill_policy("bfill"); }, {"bfill", "ffill"});
}

TEST(Csv, HostileCellsHeadersAndSelections) {
  // A UTF-8 byte-order mark is not part of the first column's name.
  const Frame bom = parse_wide_csv("\xEF\xBB\xBF" "date,close\n2020-01-01,1\n", "bom.csv");
  EXPECT_EQ(bom.time_name, "date");
  EXPECT_EQ(parse_m4_csv("\xEF\xBB\xBF" "V1,V2\nH1,5\n", "m4.csv").ids[0], "H1");
  // Row lines are kept for messages.
  EXPECT_EQ(parse_wide_csv("t,x\n\n1,2\n2,3\n", "l.csv").lines, (std::vector<std::size_t>{3, 4}));
  const std::vector<std::pair<std::string, const char*>> wide = {
      {"t,x\n1,+-95.5\n", "w.csv:2: column 'x': '+-95.5' is not a number"},
      {"t,x\n1,++1\n", "w.csv:2: column 'x': '++1' is not a number"},
      {"t,x\n1,+\n", "w.csv:2: column 'x': '+' is not a number"},
      {"t,x\n1,0x10\n", "w.csv:2: column 'x': '0x10' is not a number"},
      {"t,caf\xE9\n1,2\n", "w.csv:1: the header name in column 2 is not valid UTF-8"},
      {"t,\xC0\xAF\n1,2\n", "is not valid UTF-8"},
  };
  for (const auto& [text, frag] : wide) {
    SCOPED_TRACE(frag);
    expect_error([&] { parse_wide_csv(text, "w.csv"); }, {frag});
  }
  expect_error([] { parse_m4_csv("V1,V2\nH\xFF,1\n", "m.csv"); }, {"m.csv:2: the series id in column 1 is not valid UTF-8"});
  CsvOptions twice;
  twice.columns = {"x", "x"};
  expect_error([&] { parse_wide_csv("t,x\n1,2\n", "w.csv", twice); }, {"column 'x' is selected twice"});
  // Values beyond float32 are read (the reader is double) and refused when converted, by line.
  const Frame big = parse_wide_csv("t,x\n1,2\n2,1e39\n", "b.csv");
  expect_error([&] { column_f32(big, 0); }, {"b.csv:3: column 'x': value 1e+39 is beyond float32"});
  EXPECT_EQ(column_f32(big, 0, 2).size(), 0u);
  const SeriesSet m4 = parse_m4_csv("V1,V2,V3\nH1,1,-4e38\n", "m.csv");
  expect_error([&] { series_f32(m4, 0); }, {"m.csv:2: series 'H1', column 3: value -4e+38 is beyond float32"});
}

TEST(Csv, FillPoliciesRepairGaps) {
  const char* text = "t,a,b\n1,1,10\n2,,nan\n3,,\n4,4,40\n5,5,\n";
  CsvOptions o;
  o.fill = FillPolicy::ffill;
  Frame f = parse_wide_csv(text, "f.csv", o);
  EXPECT_EQ(f.col("a"), (std::vector<double>{1, 1, 1, 4, 5}));
  EXPECT_EQ(f.col("b"), (std::vector<double>{10, 10, 10, 40, 40}));
  EXPECT_EQ(f.filled, 5u);
  o.fill = FillPolicy::linear;
  f = parse_wide_csv(text, "f.csv", o);
  EXPECT_EQ(f.col("a"), (std::vector<double>{1, 2, 3, 4, 5}));
  EXPECT_EQ(f.col("b"), (std::vector<double>{10, 20, 30, 40, 40}));  // trailing gap holds
  expect_error([&] { parse_wide_csv("t,a\n1,\n2,2\n", "l.csv", o); }, {"l.csv:2", "starts with a missing value"});
}

TEST(Csv, SlashDatesNewestFirstAndOneColumnFiles) {
  // Month first (a second field above 12 somewhere), day first (a first field above 12).
  Frame f = parse_wide_csv("Week,g\n04/30/2021,3\n05/07/2021,4\n", "us.csv");
  double t = 0;
  ASSERT_TRUE(parse_time("2021-04-30", &t));
  EXPECT_EQ(f.time[0], t);
  EXPECT_EQ(f.time[1] - f.time[0], 7 * 86400.0);
  EXPECT_TRUE(time_is_dates(f));
  f = parse_wide_csv("d,g\n30/04/2021,3\n07/05/2021,4\n", "eu.csv");
  EXPECT_EQ(f.time[0], t);
  // Newest first: rows come back oldest first, with their lines, and gaps are filled forward in time.
  CsvOptions o;
  o.fill = FillPolicy::ffill;
  f = parse_wide_csv("Week,g\n05/14/2021,5\n05/07/2021,\n04/30/2021,3\n", "desc.csv", o);
  EXPECT_TRUE(f.reversed);
  EXPECT_EQ(f.col("g"), (std::vector<double>{3, 3, 5}));
  EXPECT_EQ(f.lines, (std::vector<std::size_t>{4, 3, 2}));
  EXPECT_EQ(f.time_text.front(), "04/30/2021");
  EXPECT_FALSE(parse_wide_csv("t,a\n1,1\n2,2\n", "asc.csv").reversed);
  // One column: the series itself, rows in file order.
  f = parse_wide_csv("\"Y\"\n22262\n21756\n23000\n", "taylor.csv");
  EXPECT_EQ(f.names, (std::vector<std::string>{"Y"}));
  EXPECT_EQ(f.col("Y"), (std::vector<double>{22262, 21756, 23000}));
  EXPECT_TRUE(f.time_text.empty());
  // What cannot be read names the file, the line and the fix.
  const std::vector<std::pair<std::string, std::vector<const char*>>> bad = {
      {"t,a\n01/02/2020,1\n01/03/2020,2\n", {"b.csv:2", "ambiguous", "YYYY-MM-DD"}},
      {"t,a\n13/02/2020,1\n01/14/2020,2\n", {"b.csv", "both the first and the second field above 12"}},
      {"t,a\n04/30/2021,1\n02/30/2021,2\n", {"b.csv:3", "'02/30/2021' is not a date", "MM/DD/YYYY"}},
      {"t,a\n04/30/2021,1\n2021-05-07,2\n", {"b.csv:3", "'2021-05-07' is not a date", "MM/DD/YYYY"}},
      {"t,a\n3,1\n2,2\n4,3\n", {"b.csv:4", "later than '2'", "newest first"}},
      {"t,a\n1,1\n3,2\n2,3\n", {"b.csv:4", "earlier than '3'", "oldest first"}},
      {"t,a\n1,1\n1,2\n", {"b.csv:3", "duplicates line 2"}},
      {"t,a\n6666666666/1/2020,1\n", {"b.csv:2", "time column 't'"}},  // fields too long for a date: no overflow
      {"t,a\n1/6666666666/2020,1\n", {"b.csv:2", "time column 't'"}},
  };
  for (const auto& [text, frags] : bad) {
    SCOPED_TRACE(text);
    for (const char* frag : frags) expect_error([&] { parse_wide_csv(text, "b.csv"); }, {frag});
  }
}

TEST(Csv, M4RowsAreRaggedButGapFree) {
  const char* text = "\"V1\",\"V2\",\"V3\",\"V4\"\n\"H1\",\"1\",\"2\",\"3\"\n\"H2\",\"5\",\"\",\"\"\n";
  SeriesSet s = parse_m4_csv(text, "m4.csv");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.ids[1], "H2");
  EXPECT_EQ(s.values[0], (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(s.values[1], (std::vector<double>{5}));
  EXPECT_EQ(s.index_of("H2"), 1u);
  expect_error([&] { s.index_of("H9"); }, {"m4.csv", "no series 'H9'"});
  expect_error([] { parse_m4_csv("V1,V2,V3,V4\nH1,1,,3\n", "g.csv"); }, {"g.csv:2", "series 'H1'", "column 'V3'", "gaps"});
  expect_error([] { parse_m4_csv("V1,V2\nH1,x\n", "x.csv"); }, {"x.csv:2", "'x' is not a number"});
  expect_error([] { parse_m4_csv("V1,V2\nH1,\n", "z.csv"); }, {"z.csv:2", "no values"});
  expect_error([] { parse_m4_csv("V1,V2\nH1,1\nH1,2\n", "y.csv"); }, {"y.csv:3", "appears twice"});
}

const std::string kData = NTN_SHARED_DATA;

TEST(CsvRealData, EtthSp500AndM4Load) {
  if (!std::filesystem::exists(kData + "/ETTh1.csv")) GTEST_SKIP() << "no ../shared/data";
  Frame ett = read_wide_csv(kData + "/ETTh1.csv");
  EXPECT_EQ(ett.rows(), 17420u);
  EXPECT_EQ(ett.names.size(), 7u);
  EXPECT_EQ(ett.names.back(), "OT");
  EXPECT_NEAR(ett.col("OT")[0], 30.531, 1e-3);
  EXPECT_DOUBLE_EQ(ett.time[1] - ett.time[0], 3600.0);

  CsvOptions o;
  o.columns = {"close"};
  Frame sp = read_wide_csv(kData + "/sp500_2000_2020_daily.csv", o);
  EXPECT_EQ(sp.rows(), 5105u);  // (the data README says 5,104; the file has 5,105 data rows)
  EXPECT_NEAR(sp.col("close")[0], 1455.219971, 1e-6);

  Frame eu = read_wide_csv(kData + "/eustockmarkets_daily.csv");
  EXPECT_EQ(eu.rows(), 1860u);
  EXPECT_EQ(eu.names, (std::vector<std::string>{"DAX", "SMI", "CAC", "FTSE"}));

  SeriesSet train = read_m4_csv(kData + "/m4_hourly_train.csv");
  SeriesSet test = read_m4_csv(kData + "/m4_hourly_test.csv");
  EXPECT_EQ(train.size(), 414u);
  EXPECT_EQ(test.size(), 414u);
  EXPECT_EQ(train.values[0].size(), 700u);
  EXPECT_EQ(train.values[0][0], 605.0);
  for (const auto& v : test.values) EXPECT_EQ(v.size(), 48u);  // the M4 hourly horizon
}

}  // namespace
}  // namespace ntn
