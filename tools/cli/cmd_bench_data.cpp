// ntneural bench data: single-thread throughput of the O(n) rolling statistics and the
// indicators over 1M points, and (given a model and a series) the time of a 1000-origin
// backtest; each validated before it is timed.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "ntn/backtest.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/features.h"
#include "ntn/parallel.h"
#include "ntn/rng.h"
#include "ntn/timing.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct BenchDataOpts {
  std::size_t points = 1000000;
  std::string model, data, column = "close";  // backtest figure (only when --model and --data are given)
  bool json = false;
};

void check(bool ok, const char* what) { NTN_CHECK(ok, "bench data validation failed: ", what); }

// Naive rolling std (sample) at position i.
double naive_std(const std::vector<double>& x, std::size_t i, std::size_t w) {
  double s = 0;
  for (std::size_t j = i + 1 - w; j <= i; ++j) s += x[j];
  const double m = s / double(w);
  double q = 0;
  for (std::size_t j = i + 1 - w; j <= i; ++j) q += (x[j] - m) * (x[j] - m);
  return std::sqrt(q / double(w - 1));
}

int run_bench_data(const BenchDataOpts& o) {
  set_num_threads(1);
  const std::size_t n = o.points;
  NTN_CHECK(n >= 2000, "--points must be at least 2000");
  std::vector<double> x(n), a(n), b(n), c(n);
  Rng rng(7, 1);
  double p = 1000;
  for (auto& v : x) v = p += rng.normal();
  json out, detail;
  auto mpts = [&](const Timing& t) { return double(n) / t.median_s / 1e6; };

  for (std::size_t w : {10, 1000}) {
    rolling_std(x.data(), n, w, a.data());
    for (std::size_t i = w - 1; i < n; i += n / 97)
      check(std::fabs(a[i] - naive_std(x, i, w)) <= 1e-7 * (1 + a[i]), "rolling std vs naive");
  }
  const Timing s10 = measure([&] { rolling_std(x.data(), n, 10, a.data()); }, 11, 0.05);
  const Timing s1000 = measure([&] { rolling_std(x.data(), n, 1000, a.data()); }, 11, 0.05);
  out["rolling_std_1m_mpts_s"] = mpts(s10);
  out["rolling_std_w1000_mpts_s"] = mpts(s1000);
  out["rolling_std_w1000_over_w10"] = s1000.median_s / s10.median_s;
  detail["rolling_std_w10"] = s10.median_s;
  detail["rolling_std_w1000"] = s1000.median_s;

  rsi(x.data(), n, 14, a.data());
  for (std::size_t i = 14; i < n; i += 1013) check(a[i] >= 0 && a[i] <= 100, "rsi outside [0, 100]");
  const Timing tr = measure([&] { rsi(x.data(), n, 14, a.data()); }, 11, 0.05);
  out["rsi_1m_mpts_s"] = mpts(tr);

  macd(x.data(), n, 12, 26, 9, a.data(), b.data(), c.data());
  {
    std::vector<double> f(n), s(n);
    ema(x.data(), n, 12, f.data());
    ema(x.data(), n, 26, s.data());
    for (std::size_t i = 25; i < n; i += 1013) check(std::fabs(a[i] - (f[i] - s[i])) < 1e-9, "macd line");
  }
  const Timing tm = measure([&] { macd(x.data(), n, 12, 26, 9, a.data(), b.data(), c.data()); }, 11, 0.05);
  out["macd_1m_mpts_s"] = mpts(tm);

  bollinger(x.data(), n, 20, 2.0, a.data(), b.data(), c.data());
  for (std::size_t i = 19; i < n; i += 1013) {
    const double sd = naive_std(x, i, 20) * std::sqrt(19.0 / 20.0);  // population std
    check(std::fabs(b[i] - a[i] - 2 * sd) <= 1e-7 * (1 + sd), "bollinger band width");
  }
  const Timing tb = measure([&] { bollinger(x.data(), n, 20, 2.0, a.data(), b.data(), c.data()); }, 11, 0.05);
  out["bollinger_1m_mpts_s"] = mpts(tb);

  if (!o.model.empty()) {  // backtest of the model over 1000 origins of one series, no refit
    NTN_CHECK(!o.data.empty(), "--model needs --data (and --column) for the backtest figure");
    CsvOptions c;
    c.columns = {o.column};
    const Frame fr = read_wide_csv(o.data, c);
    const std::vector<double>& series = fr.cols[0];
    Predictor p(o.model, {.max_batch = 64});
    BacktestSpec spec;
    spec.origins = 1000;
    const BacktestResult r = backtest({&p}, o.column, series.data(), series.size(), spec);
    check(std::isfinite(r.aggregate["mae"].get<double>()) && r.per_origin.size() == 1000, "backtest result");
    double f[256];
    check(p.output_size() <= 256, "backtest check: horizon too long for the check buffer");
    const std::size_t t = r.per_origin[500].origin;
    p.predict_batch(series.data() + t + 1 - p.input_size(), 1, f);
    check(std::equal(f, f + p.horizon(), r.forecasts.begin() + std::ptrdiff_t(500 * p.horizon())),
          "backtest forecast != predict at origin 500");
    const Timing tb = measure([&] { backtest({&p}, o.column, series.data(), series.size(), spec); }, 11, 0.05);
    out["backtest_1000_origins_s"] = tb.median_s;
    out["backtest_model"] = o.model;
  }
  out["points"] = n;
  out["threads"] = 1;
  out["detail_median_s"] = detail;
  print_result(out, o.json);
  return 0;
}

}  // namespace

Run add_bench_data(CLI::App& app) {
  auto o = std::make_shared<BenchDataOpts>();
  add_uint(app, "--points", o->points, UintRange{1000, 100000000}, "Series length (default 1,000,000)");
  app.add_option("--model", o->model, "Model artifact: adds backtest_1000_origins_s (needs --data)");
  app.add_option("--data", o->data, "Wide CSV holding the backtest series");
  app.add_option("--column", o->column, "Backtest series column (default close)");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_bench_data(*o); };
}

}  // namespace ntn::cli
