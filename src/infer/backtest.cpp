#include "ntn/backtest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/metrics.h"
#include "ntn/rng.h"
#include "ntn/trainer.h"

namespace ntn {

Ensemble parse_ensemble(const std::string& name) {
  if (name == "mean") return Ensemble::mean;
  if (name == "median") return Ensemble::median;
  if (name == "weighted") return Ensemble::weighted;
  throw Error(cat("unknown ensemble '", name, "': expected mean, median or weighted"));
}

BacktestResult backtest(const std::vector<Predictor*>& models, const std::string& series, const float* x,
                        std::size_t n, const BacktestSpec& spec) {
  const std::vector<double> xd(x, x + n);
  return backtest(models, series, xd.data(), n, spec);
}

namespace {
// Every rank's refit blocks (block j of refit_every origins on rank j % R) to every rank: rank 0
// gathers them with each rank's retraining seconds and refits, then broadcasts the forecasts
// (O, H) and the totals. point holds this rank's blocks on entry, every block on return.
void share_refit_blocks(dist::Comm& comm, std::size_t every, std::size_t H, std::vector<double>& point,
                        BacktestResult& r) {
  const std::size_t R = std::size_t(comm.size()), me = std::size_t(comm.rank()), O = point.size() / H;
  auto blocks_of = [&](std::size_t q, auto&& f) {  // f(first origin, origins) for each of rank q's blocks
    for (std::size_t k0 = 0, j = 0; k0 < O; k0 += every, ++j)
      if (j % R == q) f(k0, std::min(every, O - k0));
  };
  std::string mine(sizeof(double) + sizeof(std::uint64_t), '\0');
  const std::uint64_t refits = r.refits;
  std::memcpy(mine.data(), &r.refit_seconds, sizeof(double));
  std::memcpy(mine.data() + sizeof(double), &refits, sizeof refits);
  blocks_of(me, [&](std::size_t k0, std::size_t nb) {
    mine.append(reinterpret_cast<const char*>(point.data() + k0 * H), nb * H * sizeof(double));
  });
  const std::vector<std::string> all = comm.gather_to_root(mine);
  double totals[2] = {0, 0};  // seconds, refits
  if (comm.root()) {
    for (std::size_t q = 0; q < R; ++q) {
      const std::string& b = all[q];
      std::size_t at = sizeof(double) + sizeof(std::uint64_t), need = at;
      blocks_of(q, [&](std::size_t, std::size_t nb) { need += nb * H * sizeof(double); });
      NTN_CHECK(b.size() == need, "backtest: rank ", q, " sent ", b.size(), " bytes of forecasts, expected ", need);
      double sec;
      std::uint64_t k;
      std::memcpy(&sec, b.data(), sizeof sec);
      std::memcpy(&k, b.data() + sizeof sec, sizeof k);
      totals[0] += sec;
      totals[1] += double(k);
      blocks_of(q, [&](std::size_t k0, std::size_t nb) {
        std::memcpy(point.data() + k0 * H, b.data() + at, nb * H * sizeof(double));
        at += nb * H * sizeof(double);
      });
    }
  }
  comm.broadcast(point.data(), point.size() * sizeof(double));
  comm.broadcast(totals, sizeof totals);
  r.refit_seconds = totals[0];
  r.refits = std::size_t(totals[1]);
}
}  // namespace

BacktestResult backtest(const std::vector<Predictor*>& models, const std::string& series, const double* x,
                        std::size_t n, const BacktestSpec& spec) {
  NTN_CHECK(!models.empty(), "backtest: no model");
  const std::size_t L = models[0]->input_size(), H = models[0]->horizon();
  for (const Predictor* p : models)
    NTN_CHECK(p->input_size() == L && p->horizon() == H, "backtest: every model needs input ", L, " and horizon ", H,
              " (one has ", p->input_size(), " and ", p->horizon(), ")");
  NTN_CHECK(spec.origins > 0 && spec.step > 0, "backtest: origins and step must be positive");
  NTN_CHECK(spec.aci_gamma >= 0 && spec.aci_gamma <= 1, "backtest: aci_gamma ", spec.aci_gamma, " is not in [0, 1]");
  if (spec.ensemble == Ensemble::weighted) {
    NTN_CHECK(spec.weights.size() == models.size(), "backtest: ", spec.weights.size(), " weights for ", models.size(),
              " models");
    double s = 0;
    for (double w : spec.weights) s += w;
    NTN_CHECK(std::fabs(s - 1.0) < 1e-6, "backtest: ensemble weights sum to ", s, ", not 1");
  }
  // Origins t: last one n - H - 1, then back `step` at a time; the first needs t >= L - 1.
  const std::size_t span = mul_checked(spec.origins - 1, spec.step, "backtest: (origins - 1) x step");
  NTN_CHECK(n >= L + H && n - H - 1 - (L - 1) >= span, "backtest: series '", series, "' has ", n, " values; ",
            spec.origins, " origins ", spec.step, " apart need at least ", add_checked(L + H, span, "backtest span"),
            " (input ", L, ", horizon ", H, ")");
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(fits_f32(x[i]), "backtest: series '", series, "' value ", i, " is not finite in float32 (", x[i],
              ")");
  const std::size_t O = spec.origins, t0 = n - H - 1 - span;
  BacktestResult r;
  // Forecast every origin with every model: rows are overlapping views (ldx = step).
  std::vector<double> f(O * H, 0.0), one;  // one: a block's raw (rows, H, Q) forecasts
  std::vector<double> stat_rows;           // the static covariates repeated per row
  std::vector<std::vector<double>> point(models.size(), std::vector<double>(O * H));
  // One model without refits has conformal intervals: it keeps its outputs (O, H, Q), whose
  // scales (conformal_scales: the window's, or a quantile head's own spread) the intervals take.
  const bool keep_rows =
      models.size() == 1 && spec.refit_every == 0 && !models[0]->artifact().conformal.empty();
  std::vector<double> rows_all(keep_rows ? O * H * models[0]->outputs() : 0);
  // Point forecasts of origins [k0, k0 + nb) by p into dst (nb, H): one batched call whose rows
  // are overlapping views of the series, scaled and unscaled in double.
  auto forecast_block = [&](Predictor& p, std::size_t k0, std::size_t nb, double* dst) {
    const std::size_t Q = p.outputs(), t = t0 + k0 * spec.step;
    one.resize(nb * H * Q);
    const std::vector<std::size_t> rows(
        nb, p.artifact().scaling == SeriesScaling::none ? Predictor::kNoSeries : p.series_index(series));
    const Covariates c = p.covariates();
    if (!c.any()) {
      p.predict_batch(x + t + 1 - L, nb, one.data(), rows.data(), spec.step);
    } else {
      const RawCovariateTable* ct = spec.covariates;
      NTN_CHECK(ct && ct->rows == n && ct->hist.size() == n * c.hist && ct->futr.size() >= n * c.futr &&
                    ct->stat.size() == c.stat,
                "backtest: the model takes ", c.hist, " historic, ", c.futr, " future-known and ", c.stat,
                " static covariates; give them for the ", n, " steps of the series");
      stat_rows.resize(nb * c.stat);
      for (std::size_t b = 0; b < nb; ++b) std::copy_n(ct->stat.data(), c.stat, stat_rows.data() + b * c.stat);
      const RawCovariates rc{ct->hist.data() + (t + 1 - L) * c.hist, ct->futr.data() + (t + 1 - L) * c.futr,
                             stat_rows.data(), spec.step * c.hist, spec.step * c.futr, c.stat};
      p.predict_batch(x + t + 1 - L, nb, one.data(), rc, rows.data(), spec.step);
    }
    const std::size_t qo = p.artifact().point_output();
    for (std::size_t i = 0; i < nb * H; ++i) dst[i] = one[i * Q + qo];
    if (keep_rows) std::copy_n(one.data(), nb * H * Q, rows_all.data() + k0 * H * Q);
  };
  const auto c0 = std::chrono::steady_clock::now();
  double refit_here = 0;  // this rank's retraining time
  if (spec.refit_every > 0) {
    NTN_CHECK(models.size() == 1 && spec.refit, "backtest: refitting needs one model and a refit function");
    dist::Comm& comm = spec.comm ? *spec.comm : dist::self();
    const std::size_t R = std::size_t(comm.size()), me = std::size_t(comm.rank());
    for (std::size_t k0 = 0, j = 0; k0 < O; k0 += spec.refit_every, ++j) {
      if (j % R != me) continue;  // block j is rank j % R's
      const auto r0 = std::chrono::steady_clock::now();
      std::unique_ptr<Predictor> p = spec.refit(x, t0 + k0 * spec.step + 1);  // data up to the block's first origin
      refit_here += std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
      ++r.refits;
      NTN_CHECK(p && p->input_size() == L && p->horizon() == H, "backtest: the refit model changed its shape");
      forecast_block(*p, k0, std::min(spec.refit_every, O - k0), point[0].data() + k0 * H);
    }
    r.refit_seconds = refit_here;
    if (comm.distributed()) share_refit_blocks(comm, spec.refit_every, H, point[0], r);
  } else {
    for (std::size_t m = 0; m < models.size(); ++m) forecast_block(*models[m], 0, O, point[m].data());
  }
  r.forecast_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count() - refit_here;
  std::vector<double> tmp(models.size());
  for (std::size_t i = 0; i < O * H; ++i) {
    if (models.size() == 1) {
      f[i] = point[0][i];
      continue;
    }
    double v = 0;
    switch (spec.ensemble) {
      case Ensemble::mean:
        for (const auto& pm : point) v += pm[i];
        v /= double(models.size());
        break;
      case Ensemble::weighted:
        for (std::size_t m = 0; m < models.size(); ++m) v += spec.weights[m] * point[m][i];
        break;
      case Ensemble::median: {
        for (std::size_t m = 0; m < models.size(); ++m) tmp[m] = point[m][i];
        std::sort(tmp.begin(), tmp.end());
        const std::size_t k = tmp.size();
        v = k % 2 ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
        break;
      }
    }
    f[i] = v;
  }
  // Seasonal-naive MAE prefix sums: scale(t) = mean_{s in [m, t]} |x_s - x_{s-m}|.
  const std::size_t m = spec.season;
  std::vector<double> pre(n + 1, 0.0);
  if (m > 0)
    for (std::size_t s = 0; s < n; ++s) pre[s + 1] = pre[s] + (s >= m ? std::fabs(double(x[s]) - x[s - m]) : 0.0);
  MetricSums all, naive;  // in double, against the double series
  std::vector<double> last(H);
  // One model without refits: its split-conformal intervals around each origin's forecast.
  const Conformal* cf = keep_rows ? &models[0]->artifact().conformal : nullptr;
  const std::size_t K = cf ? cf->levels.size() : 0;
  IntervalSums cover(cf ? cf->levels : std::vector<double>{});
  const NormStats st = cf ? models[0]->series_stats(models[0]->artifact().scaling == SeriesScaling::none
                                                        ? Predictor::kNoSeries
                                                        : models[0]->series_index(series))
                          : NormStats{};
  // Origins one step apart are a stream: adaptive conformal intervals follow it, each value
  // arriving (observe) before the forecast of the origin it ends.
  const bool adaptive = cf && spec.step == 1 && spec.aci_gamma > 0;
  std::vector<AdaptiveConformal> aci;
  for (std::size_t k = 0; adaptive && k < K; ++k) aci.emplace_back(*cf, cf->levels[k], spec.aci_gamma);
  IntervalSums aci_cover(adaptive ? cf->levels : std::vector<double>{});
  r.levels = cf ? cf->levels : std::vector<double>{};
  r.lo.resize(O * K * H);
  r.hi.resize(O * K * H);
  if (adaptive) {
    r.aci_lo.resize(O * K * H);
    r.aci_hi.resize(O * K * H);
  }
  r.per_origin.reserve(O);
  const OutputSpec out = cf ? models[0]->artifact().output : OutputSpec{};
  const std::size_t Q1 = cf ? models[0]->outputs() : 1;
  std::vector<double> slo(H), shi(H), fc(H);
  for (std::size_t k = 0; k < O; ++k) {
    const std::size_t t = t0 + k * spec.step;
    const double* y = x + t + 1;
    const double* fk = f.data() + k * H;
    const double scale = m > 0 && t + 1 > m ? pre[t + 1] / double(t + 1 - m) : 0.0;
    MetricSums s;
    s.add(y, fk, H, scale, x + t);
    all.add(y, fk, H, scale, x + t);
    std::fill(last.begin(), last.end(), x[t]);
    naive.add(y, last.data(), H, scale, nullptr);
    if (cf)  // the interval scales of this forecast (fc: its point forecast, the same as fk here)
      conformal_scales(*cf, out, st, x + t + 1 - L, L, rows_all.data() + k * H * Q1, fc.data(), slo.data(),
                       shi.data());
    for (std::size_t lv = 0; lv < K; ++lv) {
      double* lo = r.lo.data() + (k * K + lv) * H;
      double* hi = r.hi.data() + (k * K + lv) * H;
      conformal_interval(*cf, lv, fk, slo.data(), shi.data(), lo, hi);
      cover.add(lv, y, lo, hi, H, scale);
      if (!adaptive) continue;
      if (k > 0) aci[lv].observe(double(x[t]));
      lo = r.aci_lo.data() + (k * K + lv) * H;
      hi = r.aci_hi.data() + (k * K + lv) * H;
      aci[lv].interval(fk, slo.data(), shi.data(), lo, hi);
      aci_cover.add(lv, y, lo, hi, H, scale);
    }
    r.per_origin.push_back({t, s.mae(), s.mse(), s.smape(), s.mase(), s.directional_accuracy()});
  }
  r.forecasts = std::move(f);
  r.aggregate = {{"origins", O},        {"step", spec.step},   {"horizon", H},        {"mae", all.mae()},
                 {"mse", all.mse()},    {"rmse", all.rmse()},  {"smape", all.smape()},
                 {"directional_accuracy", all.directional_accuracy()},
                 {"naive", {{"mae", naive.mae()}, {"mse", naive.mse()}, {"smape", naive.smape()}}},
                 {"refits", r.refits}};
  // A constant series makes the random walk perfect: the ratio is then undefined, not inf/NaN.
  if (naive.mae() > 0) r.aggregate["mae_over_naive"] = all.mae() / naive.mae();
  if (all.mase() >= 0) {
    r.aggregate["mase"] = all.mase();
    r.aggregate["naive"]["mase"] = naive.mase();
  }
  if (cf) {
    r.aggregate["intervals"] = {{"method", "split conformal"}, {"score", conformal_score_name(cf->score)},
                                {"levels", cover.to_json()}};
    if (cf->half_life > 0) r.aggregate["intervals"]["half_life"] = cf->half_life;
  }
  if (adaptive)
    r.aggregate["adaptive_intervals"] = {{"method", "adaptive conformal (ACI)"}, {"gamma", spec.aci_gamma},
                                         {"levels", aci_cover.to_json()}};
  return r;
}

std::vector<SearchCandidate> expand_grid(const nlohmann::json& base_model, const nlohmann::json& base_train,
                                         const std::string& grid, std::size_t random, std::uint64_t seed) {
  const nlohmann::json train_keys = TrainConfig{}.to_json();
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> axes;
  std::size_t start = 0;
  while (start <= grid.size()) {
    std::size_t end = grid.find(';', start);
    if (end == std::string::npos) end = grid.size();
    std::string item = grid.substr(start, end - start);
    start = end + 1;
    const auto trim = [](std::string t) {
      const auto a = t.find_first_not_of(" \t"), b = t.find_last_not_of(" \t");
      return a == std::string::npos ? std::string() : t.substr(a, b - a + 1);
    };
    item = trim(item);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    NTN_CHECK(eq != std::string::npos && eq > 0, "grid: '", item, "' is not key=value|value...");
    const std::string key = trim(item.substr(0, eq));
    std::vector<nlohmann::json> values;
    std::size_t vs = eq + 1;
    while (vs <= item.size()) {
      std::size_t ve = item.find('|', vs);
      if (ve == std::string::npos) ve = item.size();
      const std::string text = trim(item.substr(vs, ve - vs));
      vs = ve + 1;
      NTN_CHECK(!text.empty(), "grid: key '", key, "' has an empty value");
      try {
        values.push_back(nlohmann::json::parse(text));
      } catch (const nlohmann::json::exception&) {
        values.push_back(text);  // a bare word: a string value
      }
    }
    axes.emplace_back(key, std::move(values));
  }
  std::size_t total = 1;
  for (const auto& a : axes) {
    NTN_CHECK(total <= 100000 / a.second.size(), "grid: more than 100,000 combinations");
    total *= a.second.size();
  }
  std::vector<std::size_t> order(total);
  for (std::size_t i = 0; i < total; ++i) order[i] = i;
  if (random > 0 && random < total) {  // seeded Fisher-Yates, keep the first `random`
    Rng rng(seed, stream_id("grid.random"));
    for (std::size_t i = total - 1; i > 0; --i) std::swap(order[i], order[std::size_t(rng.next_u64() % (i + 1))]);
    order.resize(random);
  }
  std::vector<SearchCandidate> out;
  for (std::size_t idx : order) {
    SearchCandidate c{base_model, base_train};
    std::size_t rest = idx;
    for (auto it = axes.rbegin(); it != axes.rend(); ++it) {  // last axis varies fastest
      const auto& [key, values] = *it;
      (train_keys.contains(key) ? c.train : c.model)[key] = values[rest % values.size()];
      rest /= values.size();
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<SearchResult> search(const std::vector<SearchCandidate>& candidates, const std::string& series,
                                 const double* x, std::size_t n, const BacktestSpec& spec, SeriesScaling scaling,
                                 dist::Comm* comm) {
  NTN_CHECK(!candidates.empty(), "search: no candidate configuration");
  std::vector<SearchResult> out;
  NTN_CHECK(spec.origins > 0 && spec.step > 0, "search: origins and step must be positive");
  const std::size_t span = mul_checked(spec.origins - 1, spec.step, "search: (origins - 1) x step");
  // Every candidate is validated before the first one trains: a bad value in the last
  // combination is an error now, not after an hour of training.
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    try {
      TrainConfig::from_json(candidates[i].train);
      const auto m = make_model<float>(candidates[i].model);
      NTN_CHECK(n > m->horizon() + 1 && n - m->horizon() - 1 > span, "series '", series, "' has ", n,
                " values, too few for horizon ", m->horizon(), " and ", spec.origins, " origins ", spec.step,
                " apart");
    } catch (const Error& e) {
      throw Error(cat("search: candidate ", i + 1, " (", candidates[i].model.dump(), " ", candidates[i].train.dump(),
                      "): ", e.what()));
    }
  }
  dist::Comm& cm = comm ? *comm : dist::self();
  const std::size_t R = std::size_t(cm.size()), me = std::size_t(cm.rank());
  BacktestSpec one = spec;
  one.comm = nullptr;  // each candidate's backtest on the rank that trained it
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const SearchCandidate& c = candidates[i];
    out.push_back({c, {}, 0});
    if (i % R != me) continue;  // candidate i is rank i % R's
    const TrainConfig tc = TrainConfig::from_json(c.train);
    const std::size_t H = c.model.value("horizon", std::size_t(0));
    const std::size_t first_origin = n - H - 1 - span;
    const auto t0 = std::chrono::steady_clock::now();
    Predictor p(train_on_series(c.model, tc, series, x, first_origin + 1, scaling),
                PredictorOptions{.max_batch = 64, .workspaces = 0});
    out.back().train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.back().aggregate = backtest({&p}, series, x, n, one).aggregate;
  }
  if (cm.distributed()) {
    // Every rank's scores to rank 0 (JSON: its doubles read back to the same bits), then to all.
    nlohmann::json mine = nlohmann::json::array();
    for (std::size_t i = me; i < out.size(); i += R)
      mine.push_back({{"i", i}, {"aggregate", out[i].aggregate}, {"train_seconds", out[i].train_seconds}});
    const std::vector<std::string> parts = cm.gather_to_root(mine.dump());
    std::string all;
    if (cm.root()) {
      nlohmann::json merged = nlohmann::json::array();
      for (const std::string& b : parts)
        for (auto& e : nlohmann::json::parse(b)) merged.push_back(std::move(e));
      all = merged.dump();
    }
    std::uint64_t bytes = all.size();
    cm.broadcast(&bytes, sizeof bytes);
    all.resize(bytes);
    cm.broadcast(all.data(), bytes);
    for (const auto& e : nlohmann::json::parse(all)) {
      SearchResult& r = out.at(e.at("i").get<std::size_t>());
      r.aggregate = e.at("aggregate");
      r.train_seconds = e.at("train_seconds").get<double>();
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const SearchResult& a, const SearchResult& b) {
    return a.aggregate["mae"].get<double>() < b.aggregate["mae"].get<double>();
  });
  return out;
}

namespace {
// The last `folds` test blocks of length `test`; train = [0, b) (train_len 0) or the train_len
// points before each block.
std::vector<Fold> tail_folds(const char* what, std::size_t n, std::size_t folds, std::size_t test,
                             std::size_t train_len, std::size_t min_train) {
  NTN_CHECK(folds > 0 && test > 0, what, ": folds and test length must be positive");
  NTN_CHECK(min_train + folds * test <= n, what, ": ", folds, " folds of ", test, " after ", min_train,
            " training points need ", min_train + folds * test, " points (have ", n, ")");
  std::vector<Fold> v;
  const std::size_t first = n - folds * test;
  for (std::size_t i = 0; i < folds; ++i) {
    const std::size_t b = first + i * test;
    v.push_back({{{train_len ? b - train_len : 0, b}}, {b, b + test}});
  }
  return v;
}
}  // namespace

std::vector<Fold> expanding_splits(std::size_t n, std::size_t folds, std::size_t test, std::size_t min_train) {
  return tail_folds("expanding splits", n, folds, test, 0, min_train);
}

std::vector<Fold> rolling_splits(std::size_t n, std::size_t folds, std::size_t test, std::size_t train) {
  NTN_CHECK(train > 0, "rolling splits: the training length must be positive");
  return tail_folds("rolling splits", n, folds, test, train, train);
}

std::vector<Fold> purged_kfold(std::size_t n, std::size_t k, std::size_t purge, std::size_t embargo) {
  NTN_CHECK(k >= 2 && n >= k, "purged k-fold needs k >= 2 folds and at least k points (k = ", k, ", n = ", n, ")");
  std::vector<Fold> v;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t b = i * n / k, e = (i + 1) * n / k;
    Fold f{{}, {b, e}};
    const std::size_t left_end = b > purge ? b - purge : 0;  // labels of these reach into the test fold
    if (left_end > 0) f.train.push_back({0, left_end});
    const std::size_t right_begin = std::min(n, e + embargo);
    if (right_begin < n) f.train.push_back({right_begin, n});
    v.push_back(f);
  }
  return v;
}

}  // namespace ntn
