// SVG line charts and HTML reports (ntn/plot.h). Everything is laid out here in pixels: a chart
// is a title row, legend rows, the plot area with its grid and tick labels, and the axis titles.
#include "ntn/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "ntn/error.h"

namespace ntn::plot {
namespace {

constexpr double kLeft = 78, kRight = 24, kTitle = 28, kLegendRow = 20, kBottom = 48, kCharW = 7.0;
constexpr const char* kFont = "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\"";

std::string num(double v) {  // a pixel coordinate
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// A tick label: as many decimals as the step needs (none for a step >= 1), %g beyond 1e9 or
// below 1e-6 steps, never "-0".
std::string tick_text(double v, double step) {
  if (std::fabs(v) < step * 1e-9) v = 0;
  char b[48];
  if (std::fabs(v) >= 1e9 || step < 1e-6) {
    std::snprintf(b, sizeof b, "%.4g", v);
  } else {
    const int dec = step >= 1 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
    std::snprintf(b, sizeof b, "%.*f", std::min(dec, 8), v);
  }
  return b;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  void widen() {  // a single value: a range around it
    if (lo < hi) return;
    const double d = std::fabs(lo) > 0 ? std::fabs(lo) * 0.05 : 1.0;
    lo -= d;
    hi += d;
  }
};

struct LegendItem {
  std::string label, color;
  bool band, dashed;
  double opacity;
};

// Legend items laid out left to right, wrapping at the chart's width: (row, x) of each.
std::vector<std::pair<std::size_t, double>> legend_layout(const std::vector<LegendItem>& items, double width,
                                                          std::size_t& rows) {
  std::vector<std::pair<std::size_t, double>> at;
  double x = kLeft;
  std::size_t row = 0;
  for (const LegendItem& it : items) {
    const double w = 30 + kCharW * double(it.label.size()) + 18;
    if (x + w > width - kRight && x > kLeft) {
      ++row;
      x = kLeft;
    }
    at.emplace_back(row, x);
    x += w;
  }
  rows = items.empty() ? 0 : row + 1;
  return at;
}

void check_chart(const Chart& c) {
  const std::string name = c.title.empty() ? std::string("chart") : cat("chart '", c.title, "'");
  NTN_CHECK(std::isfinite(c.width) && std::isfinite(c.height) && c.width >= 200 && c.height >= 120 && c.width <= 1e5 &&
                c.height <= 1e5,
            name, ": size ", c.width, " x ", c.height, " (need 200..1e5 x 120..1e5 pixels)");
  NTN_CHECK(!c.fixed_y || (std::isfinite(c.y_min) && std::isfinite(c.y_max) && c.y_min < c.y_max), name,
            ": fixed y range [", c.y_min, ", ", c.y_max, "] is empty or not finite");
  bool any = false;
  for (const Line& l : c.lines) {
    NTN_CHECK(l.x.size() == l.y.size(), name, ": line '", l.label, "' has ", l.x.size(), " x and ", l.y.size(), " y values");
    for (std::size_t i = 0; i < l.x.size(); ++i) any = any || (std::isfinite(l.x[i]) && std::isfinite(l.y[i]));
  }
  for (const Band& b : c.bands) {
    NTN_CHECK(b.x.size() == b.lo.size() && b.x.size() == b.hi.size(), name, ": band '", b.label, "' has ", b.x.size(),
              " x, ", b.lo.size(), " lo and ", b.hi.size(), " hi values");
    for (std::size_t i = 0; i < b.x.size(); ++i)
      any = any || (std::isfinite(b.x[i]) && std::isfinite(b.lo[i]) && std::isfinite(b.hi[i]));
  }
  NTN_CHECK(any, name, ": nothing to draw (no line or band has a finite point)");
}

// The chart at vertical offset y0 (svg_stack) as SVG elements.
std::string chart_body(const Chart& c, double y0) {
  check_chart(c);
  Range xr, yr;
  for (const Line& l : c.lines)
    for (std::size_t i = 0; i < l.x.size(); ++i)
      if (std::isfinite(l.x[i]) && std::isfinite(l.y[i])) {
        xr.add(l.x[i]);
        yr.add(l.y[i]);
      }
  for (const Band& b : c.bands)
    for (std::size_t i = 0; i < b.x.size(); ++i)
      if (std::isfinite(b.x[i]) && std::isfinite(b.lo[i]) && std::isfinite(b.hi[i])) {
        xr.add(b.x[i]);
        yr.add(b.lo[i]);
        yr.add(b.hi[i]);
      }
  xr.widen();
  if (c.fixed_y) {
    yr.lo = c.y_min;
    yr.hi = c.y_max;
  }
  yr.widen();
  const std::vector<double> yt = nice_ticks(yr.lo, yr.hi, 6);
  if (!c.fixed_y) {  // the axis ends on ticks
    yr.lo = yt.front();
    yr.hi = yt.back();
  }
  std::vector<LegendItem> items;
  for (const Band& b : c.bands)
    if (!b.label.empty()) items.push_back({b.label, b.color, true, false, b.opacity});
  for (const Line& l : c.lines)
    if (!l.label.empty()) items.push_back({l.label, l.color, false, l.dashed, 1.0});
  std::size_t rows = 0;
  const auto at = legend_layout(items, c.width, rows);
  const double top = y0 + kTitle + kLegendRow * double(rows) + 10;
  const double left = kLeft, right = c.width - kRight, bottom = y0 + c.height - kBottom;
  NTN_CHECK(bottom - top >= 40, "chart '", c.title, "': ", c.height, " pixels leave no room for the plot under ",
            rows, " legend rows");
  auto px = [&](double x) { return left + (x - xr.lo) / (xr.hi - xr.lo) * (right - left); };
  auto py = [&](double y) {
    y = std::clamp(y, yr.lo, yr.hi);
    return bottom - (y - yr.lo) / (yr.hi - yr.lo) * (bottom - top);
  };
  std::string s;
  s += cat("<g class=\"chart\" data-title=\"", escape(c.title), "\">\n");
  s += cat("<rect x=\"0\" y=\"", num(y0), "\" width=\"", num(c.width), "\" height=\"", num(c.height),
           "\" fill=\"#ffffff\"/>\n");
  s += cat("<text class=\"title\" x=\"", num(left), "\" y=\"", num(y0 + 19), "\" ", kFont,
           " font-size=\"15\" font-weight=\"bold\" fill=\"#222\">", escape(c.title), "</text>\n");
  // Grid and y ticks.
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double t : yt) {
    if (t < yr.lo - 1e-12 * std::fabs(ystep) || t > yr.hi + 1e-12 * std::fabs(ystep)) continue;
    const double y = py(t);
    s += cat("<line x1=\"", num(left), "\" y1=\"", num(y), "\" x2=\"", num(right), "\" y2=\"", num(y),
             "\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\n");
    s += cat("<text class=\"tick y\" x=\"", num(left - 6), "\" y=\"", num(y + 4), "\" ", kFont,
             " font-size=\"11\" fill=\"#444\" text-anchor=\"end\">", escape(tick_text(t, ystep)), "</text>\n");
  }
  // x ticks: values, or the names of integer positions.
  std::vector<double> xt = nice_ticks(xr.lo, xr.hi, std::max<std::size_t>(2, std::size_t((right - left) / 110)));
  const double xstep0 = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
  if (!c.x_names.empty() && xstep0 < 1) xt = nice_ticks(xr.lo, xr.hi, 2);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
  for (double t : xt) {
    if (t < xr.lo - 1e-9 * std::fabs(xstep) || t > xr.hi + 1e-9 * std::fabs(xstep)) continue;
    std::string label = tick_text(t, xstep);
    if (!c.x_names.empty()) {
      const double r = std::round(t);
      if (std::fabs(r - t) > 1e-6 || r < 0 || r >= double(c.x_names.size())) continue;
      label = c.x_names[std::size_t(r)];
    }
    const double x = px(t);
    s += cat("<line x1=\"", num(x), "\" y1=\"", num(bottom), "\" x2=\"", num(x), "\" y2=\"", num(bottom + 5),
             "\" stroke=\"#666\" stroke-width=\"1\"/>\n");
    // A label that would run past the chart's edge ends (or starts) at its tick instead.
    const double half = 3.2 * double(label.size());
    const char* anchor = x + half > c.width - 2 ? "end" : x - half < 2 ? "start" : "middle";
    s += cat("<text class=\"tick x\" x=\"", num(x), "\" y=\"", num(bottom + 18), "\" ", kFont,
             " font-size=\"11\" fill=\"#444\" text-anchor=\"", anchor, "\">", escape(label), "</text>\n");
  }
  // Bands, then lines, each run of finite points its own shape.
  for (const Band& b : c.bands) {
    std::size_t i = 0;
    while (i < b.x.size()) {
      auto ok = [&](std::size_t k) { return std::isfinite(b.x[k]) && std::isfinite(b.lo[k]) && std::isfinite(b.hi[k]); };
      while (i < b.x.size() && !ok(i)) ++i;
      std::size_t j = i;
      while (j < b.x.size() && ok(j)) ++j;
      if (j > i) {
        std::string pts;
        for (std::size_t k = i; k < j; ++k) pts += cat(num(px(b.x[k])), ",", num(py(b.hi[k])), " ");
        for (std::size_t k = j; k-- > i;) pts += cat(num(px(b.x[k])), ",", num(py(b.lo[k])), " ");
        pts.pop_back();
        s += cat("<polygon class=\"band\" points=\"", pts, "\" fill=\"", escape(b.color), "\" fill-opacity=\"",
                 num(std::clamp(b.opacity, 0.0, 1.0)), "\" stroke=\"none\"/>\n");
      }
      i = j;
    }
  }
  for (const Line& l : c.lines) {
    std::string d;
    bool pen = false;
    for (std::size_t k = 0; k < l.x.size(); ++k) {
      if (!std::isfinite(l.x[k]) || !std::isfinite(l.y[k])) {
        pen = false;
        continue;
      }
      d += cat(pen ? "L" : "M", num(px(l.x[k])), ",", num(py(l.y[k])), " ");
      pen = true;
    }
    if (!d.empty()) {
      d.pop_back();
      s += cat("<path class=\"series\" data-label=\"", escape(l.label), "\" d=\"", d, "\" fill=\"none\" stroke=\"",
               escape(l.color), "\" stroke-width=\"1.8\" stroke-linejoin=\"round\"",
               l.dashed ? " stroke-dasharray=\"6 4\"" : "", "/>\n");
    }
    if (l.markers)
      for (std::size_t k = 0; k < l.x.size(); ++k)
        if (std::isfinite(l.x[k]) && std::isfinite(l.y[k]))
          s += cat("<circle cx=\"", num(px(l.x[k])), "\" cy=\"", num(py(l.y[k])), "\" r=\"3\" fill=\"", escape(l.color),
                   "\"/>\n");
  }
  // Frame, axis titles, legend.
  s += cat("<rect x=\"", num(left), "\" y=\"", num(top), "\" width=\"", num(right - left), "\" height=\"",
           num(bottom - top), "\" fill=\"none\" stroke=\"#666\" stroke-width=\"1\"/>\n");
  if (!c.x_label.empty())
    s += cat("<text class=\"axis-label x\" x=\"", num((left + right) / 2), "\" y=\"", num(y0 + c.height - 10), "\" ",
             kFont, " font-size=\"12\" fill=\"#222\" text-anchor=\"middle\">", escape(c.x_label), "</text>\n");
  if (!c.y_label.empty()) {
    const double cx = 16, cy = (top + bottom) / 2;
    s += cat("<text class=\"axis-label y\" x=\"", num(cx), "\" y=\"", num(cy), "\" ", kFont,
             " font-size=\"12\" fill=\"#222\" text-anchor=\"middle\" transform=\"rotate(-90 ", num(cx), " ", num(cy),
             ")\">", escape(c.y_label), "</text>\n");
  }
  if (!items.empty()) {
    s += "<g class=\"legend\">\n";
    for (std::size_t i = 0; i < items.size(); ++i) {
      const LegendItem& it = items[i];
      const double x = at[i].second, y = y0 + kTitle + kLegendRow * double(at[i].first) + 8;
      if (it.band)
        s += cat("<rect x=\"", num(x), "\" y=\"", num(y - 6), "\" width=\"24\" height=\"12\" fill=\"", escape(it.color),
                 "\" fill-opacity=\"", num(std::clamp(it.opacity, 0.0, 1.0)), "\"/>\n");
      else
        s += cat("<line x1=\"", num(x), "\" y1=\"", num(y), "\" x2=\"", num(x + 24), "\" y2=\"", num(y), "\" stroke=\"",
                 escape(it.color), "\" stroke-width=\"2.5\"", it.dashed ? " stroke-dasharray=\"6 4\"" : "", "/>\n");
      s += cat("<text class=\"legend-item\" x=\"", num(x + 30), "\" y=\"", num(y + 4), "\" ", kFont,
               " font-size=\"12\" fill=\"#222\">", escape(it.label), "</text>\n");
    }
    s += "</g>\n";
  }
  s += "</g>\n";
  return s;
}

std::string svg_open(double w, double h, const std::string& title, bool standalone) {
  std::string s;
  if (standalone) s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += cat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", num(w), "\" height=\"", num(h), "\" viewBox=\"0 0 ",
           num(w), " ", num(h), "\" role=\"img\" aria-label=\"", escape(title), "\">\n<title>", escape(title),
           "</title>\n");
  return s;
}

}  // namespace

const char* color(std::size_t i) {
  static const char* const kTab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return kTab10[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, std::size_t target) {
  NTN_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "nice_ticks: range [", lo, ", ", hi, "]");
  target = std::max<std::size_t>(target, 2);
  const double raw = (hi - lo) / double(target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  double first = std::floor(lo / step) * step, last = std::ceil(hi / step) * step;
  if (first > lo) first -= step;  // rounding (99.99 / 0.005 * 0.005 > 99.99): the ticks still cover the range
  if (last < hi) last += step;
  std::vector<double> t;
  for (double k = 0; first + k * step <= last + step * 1e-9 && t.size() < 1000; ++k) t.push_back(first + k * step);
  return t;
}

std::string escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char ch : s) switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0: shown as '?'.
        o += (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n') ? '?' : ch;
    }
  return o;
}

std::string svg(const Chart& c, bool standalone) {
  std::string body = chart_body(c, 0);
  return svg_open(c.width, c.height, c.title, standalone) + body + "</svg>\n";
}

std::string svg_stack(const std::vector<Chart>& charts) {
  NTN_CHECK(!charts.empty(), "svg_stack: no charts");
  double w = 0, h = 0;
  std::string body;
  for (const Chart& c : charts) {
    body += chart_body(c, h);
    w = std::max(w, c.width);
    h += c.height;
  }
  return svg_open(w, h, charts.front().title, true) + body + "</svg>\n";
}

std::string html(const Report& r) {
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape(r.title) +
      "</title>\n<style>\n"
      "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:24px auto;max-width:960px;color:#222;"
      "background:#fff}\n"
      "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;"
      "padding-bottom:4px}\n"
      ".subtitle{color:#555;margin:0 0 12px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}\n"
      "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f2f2f2}\n"
      "td.num{text-align:right;font-variant-numeric:tabular-nums}svg{display:block;margin:8px 0}\n"
      "</style>\n</head>\n<body>\n<h1>" +
      escape(r.title) + "</h1>\n";
  if (!r.subtitle.empty()) s += "<p class=\"subtitle\">" + escape(r.subtitle) + "</p>\n";
  for (const Section& sec : r.sections) {
    s += "<section>\n<h2>" + escape(sec.heading) + "</h2>\n";
    if (!sec.text.empty()) s += "<p>" + escape(sec.text) + "</p>\n";
    for (const Chart& c : sec.charts) s += svg_open(c.width, c.height, c.title, false) + chart_body(c, 0) + "</svg>\n";
    for (const Table& t : sec.tables) {
      s += "<table>\n";
      if (!t.header.empty()) {
        s += "<tr>";
        for (const std::string& h : t.header) s += "<th>" + escape(h) + "</th>";
        s += "</tr>\n";
      }
      for (const auto& row : t.rows) {
        s += "<tr>";
        for (const std::string& cell : row) {
          char* end = nullptr;
          const bool numeric = !cell.empty() && (std::strtod(cell.c_str(), &end), end && *end == '\0');
          s += (numeric ? "<td class=\"num\">" : "<td>") + escape(cell) + "</td>";
        }
        s += "</tr>\n";
      }
      s += "</table>\n";
    }
    s += "</section>\n";
  }
  s += "</body>\n</html>\n";
  return s;
}

}  // namespace ntn::plot
