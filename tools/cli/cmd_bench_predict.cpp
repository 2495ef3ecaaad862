// ntneural bench predict: serving figures of one artifact - batch-1 latency (the predictor's
// own statistics) and its ratio to the memory floor (one read of the packed weights, measured in
// the same run), one streaming tick (a carried state for recurrent models), batch throughput at 1..512, the forecast-cache replay, allocations per
// predict, load + first forecast, peak resident memory. Every path is validated before it is
// timed: batch rows must equal single forecasts bitwise, and fp32 must match the training-time
// prediction path.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "alloc_counter.h"
#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/forecast_cache.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"
#include "ntn/predictor.h"
#include "ntn/rng.h"
#include "ntn/timing.h"
#include "ntn/trainer.h"

namespace ntn::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchPredictOpts {
  std::string model, precision = "fp32";
  int threads = 0;
  std::size_t requests = 20000;  // batch-1 forecasts timed for the latency figures
  std::size_t serve = 0;         // > 0: only load and serve this many forecasts (memory run)
  std::size_t symbols = 100, strategies = 20, ticks = 50;  // cache replay
  double target_us = 0;
  bool json = false;
};

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

// The exact median (the upper one of an even count) of v, which is permuted; 0 for none.
template <class T>
double median(std::vector<T>& v) {
  if (v.empty()) return 0.0;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
  return double(v[v.size() / 2]);
}

// n random-walk "price" series of length len, one after another (Philox, seed fixed).
std::vector<float> random_walks(std::size_t n, std::size_t len, std::uint64_t seed) {
  std::vector<float> v(n * len);
  Rng rng(seed, 17);
  for (std::size_t s = 0; s < n; ++s) {
    float p = 100.0f + 20.0f * rng.uniform();
    for (std::size_t t = 0; t < len; ++t) v[s * len + t] = p += 0.5f * rng.normal();
  }
  return v;
}

void check(bool ok, const char* what) { NTN_CHECK(ok, "bench predict validation failed: ", what); }

int run_bench_predict(const BenchPredictOpts& o) {
  set_num_threads(o.threads);
  const Precision prec = parse_precision(o.precision);
  json out;
  // ---- load + first forecast ------------------------------------------------------------------
  const auto t_load = Clock::now();
  // --threads also splits ONE forecast's layers (forecast_threads): batch-1 latency on that many cores.
  const std::string model = model_path(o.model);
  Predictor p(model, {.precision = prec, .forecast_threads = std::size_t(num_threads())});
  const std::size_t L = p.input_size(), HQ = p.output_size();
  const std::size_t series = p.artifact().stats.size() > 1 ? 0 : Predictor::kNoSeries;
  const std::size_t n_windows = 4096;
  const std::vector<float> walk = random_walks(1, n_windows + L, 1);  // window i = walk[i, i + L)
  std::vector<float> y(512 * HQ), y1(HQ);
  p.predict(walk.data(), y1.data(), series);
  out["load_first_forecast_ms"] = us_since(t_load) / 1e3;
  for (float v : y1) check(std::isfinite(v), "first forecast is not finite");
  p.latency().reset();
  p.latency().set_target_us(o.target_us);

  if (o.serve > 0) {  // memory run: nothing but serving
    for (std::size_t r = 0; r < o.serve; ++r) p.predict(walk.data() + r % n_windows, y1.data(), series);
    const LatencySummary s = p.latency().summary();
    out["served"] = o.serve;
    out["latency_p50_us"] = s.p50_us;
    out["latency_p99_us"] = s.p99_us;
    out["peak_rss_mb"] = peak_rss_mb();
    print_result(out, o.json);
    return 0;
  }

  // ---- validation -----------------------------------------------------------------------------
  // Windows as a (n, L) matrix (each row a slice of the walk).
  std::vector<float> xs(512 * L);
  for (std::size_t b = 0; b < 512; ++b) std::memcpy(xs.data() + b * L, walk.data() + b * 7, L * sizeof(float));
  std::vector<std::size_t> rows(512, series);
  p.predict_batch(xs.data(), 512, y.data(), rows.data());
  for (std::size_t b = 0; b < 512; b += 37) {
    p.predict(xs.data() + b * L, y1.data(), series);
    check(std::memcmp(y1.data(), y.data() + b * HQ, HQ * sizeof(float)) == 0, "batch row != single forecast");
  }
  if (prec == Precision::fp32 && p.artifact().precision == Precision::fp32) {
    // The training-time path (BLAS forward, scalers by hand) on the same 64 windows, from a full
    // copy of the artifact (the predictor's own copy never loaded its Linear weights).
    const Artifact a = Artifact::load(model);
    SeriesStore store;
    const NormStats st = p.series_stats(series);
    for (std::size_t b = 0; b < 64; ++b) {
      std::vector<float> v(L);
      normalize(st, xs.data() + b * L, v.data(), L);
      store.add(std::to_string(b), v.data(), L);
    }
    std::vector<WindowRef> w;
    for (std::size_t b = 0; b < 64; ++b) w.push_back({std::uint32_t(b), 0});
    std::vector<float> ref(64 * HQ);
    predict_windows(*a.model, store, w, a.window_scaling, ref.data());
    double err = 0, mag = 0;
    for (std::size_t i = 0; i < 64 * HQ; ++i) {
      const float r = float(ref[i] * st.scale + st.center);
      err = std::max(err, double(std::fabs(r - y[i])));
      mag = std::max(mag, double(std::fabs(r)));
    }
    NTN_CHECK(err <= 1e-4 * mag, "bench predict validation failed: fp32 predictor differs from the training-time path by ", err, " (largest forecast ", mag, ")");
    out["validation_max_abs_err_vs_training_path"] = err;
  }

  // ---- batch-1 latency: the predictor's statistics over `requests` forecasts -------------------
  for (std::size_t r = 0; r < 2000; ++r) p.predict(walk.data() + r % n_windows, y1.data(), series);  // steady state
  p.latency().reset();
  std::vector<std::uint64_t> call_ns(o.requests);  // each call timed from outside too: an exact median
  const std::uint64_t a0 = allocations();
  for (std::size_t r = 0; r < o.requests; ++r) {
    const auto t0 = Clock::now();
    p.predict(walk.data() + r % n_windows, y1.data(), series);
    call_ns[r] = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  const std::uint64_t a1 = allocations();
  const LatencySummary lat = p.latency().summary();
  out["latency_median_us"] = median(call_ns) / 1e3;  // exact (what the PyTorch scripts report)
  out["latency_p50_us"] = lat.p50_us;  // the histogram's bucket edge (within 3.2%, never below)
  out["latency_p95_us"] = lat.p95_us;
  out["latency_p99_us"] = lat.p99_us;
  out["latency_mean_us"] = lat.mean_us;
  out["latency_max_us"] = lat.max_us;
  out["latency_p99_over_p50"] = lat.p99_us / lat.p50_us;
  if (o.target_us > 0) out["latency_target_violations"] = lat.violations;
  out["allocs_per_predict"] = double(a1 - a0) / double(o.requests);

  // ---- the memory floor of a batch-1 forecast: one read of the packed weights, as warm as the
  // forecasts leave them, timed the same way (exact median of single calls). The ratio comes from
  // reads and forecasts interleaved one for one, so that both medians see the same phase of a
  // shared machine (a floor timed in a quiet second and forecasts in a busy one, or the reverse,
  // moved the ratio by 15% between runs). -------------------------------------------------------
  {
    const PackedWeights& pw = p.packed_weights();
    const float* slab = static_cast<const float*>(pw.slab());
    const std::size_t n = pw.slab_bytes() / sizeof(float);
    const KernelTable& k = kernels();
    const std::size_t pairs = std::max<std::size_t>(o.requests / 4, 200);
    std::vector<std::uint64_t> probe_ns(pairs), fc_ns(pairs);
    volatile float sink = 0.0f;
    for (std::size_t r = 0; r < 200; ++r) sink = k.read_probe(slab, n);
    for (std::size_t r = 0; r < pairs; ++r) {
      auto t0 = Clock::now();
      sink = k.read_probe(slab, n);
      probe_ns[r] = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      t0 = Clock::now();
      p.predict(walk.data() + r % n_windows, y1.data(), series);
      fc_ns[r] = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    }
    (void)sink;
    const double floor_us = median(probe_ns) / 1e3, paired_us = median(fc_ns) / 1e3;
    out["floor_read_us"] = floor_us;  // reading the packed weights once, nothing else
    out["floor_read_gb_per_s"] = double(pw.slab_bytes()) / (floor_us * 1e3);
    out["latency_paired_median_us"] = paired_us;  // the forecasts interleaved with the reads
    out["latency_over_floor"] = paired_us / floor_us;
  }

  // ---- streaming: one tick (push) of a StreamingPredictor, steady state -------------------------
  {
    StreamingPredictor st(p, series);
    const std::size_t ticks = std::max<std::size_t>(o.requests, 1000);
    const std::vector<float> tape = random_walks(1, L + ticks, 3);
    for (std::size_t t = 0; t + 1 < L; ++t) st.push(tape[t], y1.data());
    check(st.push(tape[L - 1], y1.data()), "stream not full after L values");
    p.predict(tape.data(), y.data(), series);  // a fresh stream over one window == its forecast
    check(std::memcmp(y.data(), y1.data(), HQ * sizeof(float)) == 0, "stream forecast != predict on its window");
    std::vector<double> tick_us;
    tick_us.reserve(ticks);
    const std::uint64_t s0 = allocations();
    for (std::size_t t = L; t < L + ticks; ++t) {
      const auto t0 = Clock::now();
      st.push(tape[t], y1.data());
      tick_us.push_back(us_since(t0));
    }
    const std::uint64_t s1 = allocations();
    for (float v : y1) check(std::isfinite(v), "stream forecast is not finite");
    std::sort(tick_us.begin(), tick_us.end());
    out["stream_carries_state"] = st.carries_state();
    out["stream_tick_p50_us"] = tick_us[tick_us.size() / 2];
    out["stream_tick_p99_us"] = tick_us[tick_us.size() * 99 / 100];
    out["stream_ticks"] = ticks;
    out["allocs_per_tick"] = double(s1 - s0) / double(ticks);
  }

  // ---- throughput at batch 1, 8, 32, 128, 512 (predict_batch on the thread pool) -------------
  for (std::size_t B : {1, 8, 32, 128, 256, 512}) {
    const Timing t = measure([&] { p.predict_batch(xs.data(), B, y.data(), rows.data()); }, 11, 0.02);
    out["throughput_b" + std::to_string(B) + "_per_s"] = double(B) / t.median_s;
    out["batch_b" + std::to_string(B) + "_us"] = t.median_s * 1e6;
  }

  // ---- cache replay: `strategies` ask for the forecast of each of `symbols` at every tick ------
  {
    const std::vector<float> sym = random_walks(o.symbols, o.ticks + L, 2);
    ForecastCache cache(L, HQ, {.capacity = 4 * o.symbols});
    std::vector<double> hit_us, miss_us;
    hit_us.reserve(o.symbols * o.strategies * o.ticks);
    miss_us.reserve(o.symbols * o.ticks);
    for (std::size_t t = 0; t < o.ticks; ++t)
      for (std::size_t k = 0; k < o.strategies; ++k)
        for (std::size_t s = 0; s < o.symbols; ++s) {
          const float* x = sym.data() + s * (o.ticks + L) + t;
          const auto t0 = Clock::now();
          const bool hit = predict_cached(p, cache, x, y1.data(), series);
          (hit ? hit_us : miss_us).push_back(us_since(t0));
          if (hit && s == 0 && k == 1) {  // a hit must be the forecast of that window
            p.predict(x, y.data(), series);
            check(std::memcmp(y.data(), y1.data(), HQ * sizeof(float)) == 0, "cache hit != fresh forecast");
          }
        }
    const auto m = cache.metrics();
    out["cache_hit_rate"] = m.hit_rate();
    out["cache_hit_us"] = median(hit_us);
    out["cache_miss_us"] = median(miss_us);
    out["cache_requests"] = m.hits + m.misses;
  }
  out["peak_rss_mb"] = peak_rss_mb();
  out["precision"] = precision_name(p.precision());
  out["threads"] = num_threads();
  out["isa"] = isa_name(active_isa());
  out["packed_weight_mb"] = double(p.packed_bytes()) / 1e6;
  out["parameters"] = p.artifact().model->params().count();
  out["model"] = o.model;
  print_result(out, o.json);
  return 0;
}

}  // namespace

Run add_bench_predict(CLI::App& app) {
  auto o = std::make_shared<BenchPredictOpts>();
  app.add_option("--model", o->model, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  app.add_option("--precision", o->precision, "fp32 (default), fp16, bf16 or int8");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads for batch predictions and for one forecast (its layers' rows split between them; 0: all)");
  add_uint(app, "--requests", o->requests, UintRange{1, 100000000}, "Batch-1 forecasts timed for the latency figures (default 20000)");
  add_uint(app, "--serve", o->serve, UintRange{0, 100000000}, "Only load and serve this many batch-1 forecasts (memory run)");
  add_real(app, "--target-us", o->target_us, RealRange{0, 1e9}, "Latency target: count forecasts slower than this");
  add_uint(app, "--symbols", o->symbols, UintRange{1, 1000000}, "Cache replay: symbols per tick (default 100)");
  add_uint(app, "--strategies", o->strategies, UintRange{1, 10000}, "Cache replay: strategies asking for each symbol (default 20)");
  add_uint(app, "--ticks", o->ticks, UintRange{1, 1000000}, "Cache replay: ticks (default 50)");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_bench_predict(*o); };
}

}  // namespace ntn::cli
