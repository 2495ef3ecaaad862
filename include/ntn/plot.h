// Self-contained pictures: line charts with interval bands as SVG, and one-page HTML reports that
// put charts, tables and a model card together. No plotting runtime: the SVG is written here, text
// and all, and any browser (or an XML parser) reads it.
//
// A chart is lines (a label, x and y, a colour, dashed or not) over bands (a label, x, lo, hi, a
// colour and opacity), drawn bands first, on axes with "nice" ticks (1, 2, 5 x 10^k) that cover
// every finite value, axis titles and a legend of every labelled line and band. A non-finite
// value breaks its line (a gap), it is never drawn as 0. x_names (optional) names the integer x
// positions (dates of a series): tick labels then show those names.
//
// Intended usage:
//   ntn::plot::Chart c{.title = "close", .x_label = "day", .y_label = "USD"};
//   c.bands.push_back({"95% interval", xs, lo, hi, "#1f77b4", 0.18});
//   c.lines.push_back({"forecast", xs, f, "#1f77b4"});
//   std::string svg = ntn::plot::svg(c);               // a standalone SVG file
//   ntn::plot::Report r{.title = "run"};
//   r.sections.push_back({"Forecast", "", {c}, {}});
//   std::string html = ntn::plot::html(r);             // one page, SVG inline
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ntn::plot {

struct Line {
  std::string label;            // "" : not in the legend
  std::vector<double> x, y;     // same length
  std::string color = "#1f77b4";
  bool dashed = false;
  bool markers = false;         // a dot on every point (short series: error by step)
};

struct Band {
  std::string label;
  std::vector<double> x, lo, hi;  // same length
  std::string color = "#1f77b4";
  double opacity = 0.2;
};

struct Chart {
  std::string title{}, x_label{}, y_label{};
  std::vector<Band> bands{};
  std::vector<Line> lines{};
  std::vector<std::string> x_names{};  // optional: names of x = 0, 1, ... (tick labels)
  double width = 900, height = 340;
  bool fixed_y = false;              // y axis [y_min, y_max] instead of the data's range
  double y_min = 0, y_max = 1;
};

// The standard colours (matplotlib's tab10), for series and levels.
const char* color(std::size_t i);

// Ticks covering [lo, hi] at a 1 / 2 / 5 x 10^k step, about `target` of them (lo < hi, finite).
std::vector<double> nice_ticks(double lo, double hi, std::size_t target = 6);

// Text with &, <, >, " and ' escaped for XML / HTML.
std::string escape(const std::string& s);

// A chart as SVG markup. standalone: a complete file (XML declaration, xmlns); else an <svg>
// element to inline in HTML. Lines and bands of mismatched lengths, a chart with nothing to draw,
// and a non-finite or non-positive size are errors naming the chart.
std::string svg(const Chart& c, bool standalone = true);
// Several charts one above the other in one SVG file (each its own height).
std::string svg_stack(const std::vector<Chart>& charts);

// A one-page HTML report: a title, a subtitle line, then sections, each a heading, an optional
// paragraph, its charts and its tables. A table is a header row and rows of cells (text).
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
struct Section {
  std::string heading{}, text{};
  std::vector<Chart> charts{};
  std::vector<Table> tables{};
};
struct Report {
  std::string title{}, subtitle{};
  std::vector<Section> sections{};
};
std::string html(const Report& r);

}  // namespace ntn::plot
