// CSV ingestion with validation. Two layouts:
//  - wide: a header, a time column (the first column unless told otherwise) and one numeric
//    column per series (ETTh1, the S&P 500 OHLCV file);
//  - M4 rows: a header, then one row per series: an id and its values, ragged rows padded with
//    empty fields (m4_hourly_train.csv).
// Every error is an ntn::Error that names the file and line (file:line), the column and the
// offending text: a non-numeric cell, a missing / NaN / inf value (an error unless a fill policy
// repairs it), a duplicated or out-of-order timestamp, an unknown column, a ragged row, an empty
// file. Nothing is silently dropped or turned into NaN.
//
// Intended usage:
//   ntn::CsvOptions o;
//   o.columns = {"close"};                        // empty: every column but the time column
//   o.fill = ntn::FillPolicy::ffill;              // default: error on missing values
//   ntn::Frame f = ntn::read_wide_csv("sp500.csv", o);
//   const std::vector<double>& close = f.col("close");
//   ntn::SeriesSet m4 = ntn::read_m4_csv("m4_hourly_train.csv");
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ntn {

// How to treat a missing (empty), NaN or inf numeric cell.
//  error : reject with the file, line and column (default);
//  ffill : copy the previous value of the column (a leading gap is still an error);
//  linear: interpolate linearly between the neighbours in row order; a trailing gap holds the
//          last value; a leading gap is still an error.
enum class FillPolicy { error, ffill, linear };
FillPolicy parse_fill_policy(const std::string& name);  // "error" | "ffill" | "linear"

struct CsvOptions {
  std::string time_column;           // header of the time column; "" = the first column
  bool has_time_column = true;       // false: every column is numeric, rows are the time order
  std::vector<std::string> columns;  // numeric columns to keep, in this order; empty = all
  FillPolicy fill = FillPolicy::error;
};

struct Frame {
  std::string source;                     // the file, for messages
  std::string time_name;                  // header of the time column ("" if none)
  std::vector<std::string> time_text;     // (rows) the time cells as written
  std::vector<double> time;               // (rows) seconds since 1970 for dates, else the number
  std::vector<std::string> names;         // (C) selected numeric columns
  std::vector<std::vector<double>> cols;  // (C, rows)
  std::vector<std::size_t> lines;         // (rows) 1-based line of each row in the file, for messages
  std::size_t filled = 0;                 // cells repaired by the fill policy
  bool reversed = false;                  // the file ran newest first; rows here run oldest first

  std::size_t rows() const { return time.size(); }
  // The column of that name; throws naming the columns that exist.
  const std::vector<double>& col(const std::string& name) const;
};

Frame read_wide_csv(const std::string& path, const CsvOptions& opt = {});
// The in-memory counterpart (data from numpy / pandas): the columns of `all` that opt names (every
// one when empty), in that order, checked like a file's cells - an unknown column, a NaN or an
// inf is an error naming all.source, the column and the row (0-based here: there is no file line)
// unless opt.fill repairs it (prepare then checks the float32 range of either).
Frame select_columns(const Frame& all, const CsvOptions& opt = {});
// Whether the time column holds dates (YYYY-MM-DD[ HH:MM]), which calendar features need.
inline bool time_is_dates(const Frame& f) {
  return !f.time_text.empty() && f.time_text[0].size() >= 7 &&
         (f.time_text[0][4] == '-' || f.time_text[0].find('/') != std::string::npos);
}

// Column c (rows [first, rows)) as float32 - what models compute in; a value beyond float32
// (|x| > 3.4e38) is an error naming the file, line and column.
std::vector<float> column_f32(const Frame& f, std::size_t c, std::size_t first = 0);

Frame parse_wide_csv(std::string_view text, const std::string& source, const CsvOptions& opt = {});

struct SeriesSet {
  std::string source;
  std::vector<std::string> ids;             // (S)
  std::vector<std::vector<double>> values;  // (S, ragged)
  std::vector<std::size_t> lines;           // (S) 1-based line of each series in the file, for messages
  std::size_t size() const { return ids.size(); }
  // Index of an id; throws naming the file if absent.
  std::size_t index_of(const std::string& id) const;
};

SeriesSet read_m4_csv(const std::string& path);
// Series s of an M4 file as float32, with the same check as column_f32 (file, line, column).
std::vector<float> series_f32(const SeriesSet& set, std::size_t s, std::size_t first = 0);
SeriesSet parse_m4_csv(std::string_view text, const std::string& source);

// Parses a time cell: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS]",
// "YYYY-MM" (first of the month) give seconds since 1970-01-01 UTC; a plain number (e.g. a
// decimal year) is returned as is. Returns false if the text is none of these. (A wide file's
// time column also takes MM/DD/YYYY or DD/MM/YYYY, the order decided by the whole column, and
// may run newest first: read_wide_csv returns its rows oldest first. A file of one column has
// no time column.)
bool parse_time(std::string_view text, double* out);

// Reads a whole file; throws ntn::Error naming the path and the system's reason.
std::string read_file(const std::string& path);

}  // namespace ntn
