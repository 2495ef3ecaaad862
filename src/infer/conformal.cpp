#include "ntn/conformal.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/pipeline.h"
#include "ntn/trainer.h"

namespace ntn {

using nlohmann::json;

ConformalScore parse_conformal_score(const std::string& name) {
  if (name == "absolute") return ConformalScore::absolute;
  if (name == "window") return ConformalScore::window;
  if (name == "head") return ConformalScore::head;
  throw Error(cat("unknown conformal score '", name, "': expected absolute, window or head"));
}

const char* conformal_score_name(ConformalScore s) {
  return s == ConformalScore::window ? "window" : s == ConformalScore::head ? "head" : "absolute";
}

std::size_t conformal_min_windows(double level) {
  // The smallest n with ceil((n + 1) a) <= n, checked directly (no rounding surprise at a = 0.8).
  std::size_t n = std::size_t(std::floor(level / (1 - level)));
  while (std::ceil(double(n + 1) * level) > double(n)) ++n;
  return n;
}

namespace {
void check_levels(const std::vector<double>& levels, const std::string& ctx) {
  for (std::size_t k = 0; k < levels.size(); ++k) {
    NTN_CHECK(std::isfinite(levels[k]) && levels[k] > 0 && levels[k] < 1, ctx, ": conformal level ", levels[k],
              " is outside (0, 1) (0.8 for an 80% interval)");
    NTN_CHECK(k == 0 || levels[k] > levels[k - 1], ctx, ": conformal levels must increase (", levels[k - 1],
              " then ", levels[k], ")");
  }
}
}  // namespace

json Conformal::to_json() const {
  json r = json::array();
  for (std::size_t k = 0; k < levels.size(); ++k)
    r.push_back(std::vector<double>(radius.begin() + std::ptrdiff_t(k * horizon),
                                    radius.begin() + std::ptrdiff_t((k + 1) * horizon)));
  json g = json::array();
  const std::size_t G = grid_size();
  for (std::size_t h = 0; h < horizon && G; ++h)
    g.push_back(std::vector<double>(grid.begin() + std::ptrdiff_t(h * G), grid.begin() + std::ptrdiff_t((h + 1) * G)));
  json j = {{"method", "split"}, {"score", conformal_score_name(score)}, {"levels", levels},
            {"windows", windows},  {"radius", r}, {"grid", g}};
  if (half_life > 0) j["half_life"] = half_life;
  return j;
}

Conformal Conformal::from_json(const json& j, std::size_t H, const std::string& ctx) {
  const std::string where = ctx + ": conformal";
  NTN_CHECK(j.is_object(), where, " must be a JSON object (corrupted file)");
  json_known_fields(j, where, {"method", "score", "levels", "windows", "radius", "grid", "half_life"});
  NTN_CHECK(json_string(j, where, "method", "split") == "split", where, ": method must be split");
  Conformal c;
  try {
    c.score = parse_conformal_score(json_string(j, where, "score", "absolute"));
  } catch (const Error& e) {
    throw Error(cat(where, ": ", e.what()));
  }
  c.levels = json_real_list(j, where, "levels", {}, {1e-9, 1 - 1e-9});
  check_levels(c.levels, where);
  c.windows = json_uint(j, where, "windows", 0, {1, std::uint64_t(1) << 40});
  c.half_life = json_real(j, where, "half_life", 0, {0, 1e15});
  c.horizon = H;
  NTN_CHECK(j.contains("radius") && j["radius"].is_array() && j["radius"].size() == c.levels.size(), where,
            ": radius must hold one list per level (corrupted file)");
  for (std::size_t k = 0; k < c.levels.size(); ++k) {
    const json& row = j["radius"][k];
    NTN_CHECK(row.is_array() && row.size() == H, where, ": radius of level ", c.levels[k], " must hold ", H,
              " values, one per horizon step (corrupted file)");
    for (const json& v : row) {
      NTN_CHECK(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() < 1e30,
                where, ": radius of level ", c.levels[k], " holds ", v.dump(), " (must be finite and >= 0)");
      c.radius.push_back(v.get<double>());
    }
    NTN_CHECK(c.windows >= conformal_min_windows(c.levels[k]), where, ": level ", c.levels[k], " from ", c.windows,
              " windows (needs ", conformal_min_windows(c.levels[k]), ")");
  }
  if (j.contains("grid")) {  // H rows of G = min(windows, 100) non-decreasing order statistics
    const std::size_t G = std::min<std::size_t>(c.windows, 100);
    NTN_CHECK(j["grid"].is_array() && j["grid"].size() == H, where, ": grid must hold one list per horizon step "
              "(corrupted file)");
    for (std::size_t h = 0; h < H; ++h) {
      const json& row = j["grid"][h];
      NTN_CHECK(row.is_array() && row.size() == G, where, ": grid of step ", h + 1, " must hold ", G,
                " values (corrupted file)");
      for (std::size_t g = 0; g < G; ++g) {
        const json& v = row[g];
        NTN_CHECK(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() < 1e30 &&
                      (g == 0 || v.get<double>() >= c.grid.back()),
                  where, ": grid of step ", h + 1, " holds ", v.dump(), " at ", g,
                  " (must be finite, >= 0 and non-decreasing)");
        c.grid.push_back(v.get<double>());
      }
    }
  }
  return c;
}

std::vector<double> conformal_weights(const std::vector<WindowRef>& windows, double half_life) {
  NTN_CHECK(std::isfinite(half_life) && half_life >= 0, "conformal half-life ", half_life,
            " must be finite and >= 0 (time steps; 0: every window weighs the same)");
  std::vector<double> w(windows.size(), 1.0);
  if (half_life == 0) return w;
  std::vector<std::uint32_t> last;  // each series' latest calibration window start
  for (const WindowRef& r : windows) {
    if (r.series >= last.size()) last.resize(r.series + 1, 0);
    last[r.series] = std::max(last[r.series], r.start);
  }
  for (std::size_t i = 0; i < windows.size(); ++i)
    w[i] = std::exp2(-double(last[windows[i].series] - windows[i].start) / half_life);
  return w;
}

Conformal split_conformal(const std::vector<double>& scores, std::size_t n, std::size_t H,
                          const std::vector<double>& levels, ConformalScore score, const std::vector<double>& weights) {
  NTN_CHECK(H > 0 && scores.size() == n * H, "split conformal: ", scores.size(), " scores for ", n, " windows x ", H,
            " steps");
  check_levels(levels, "split conformal");
  for (double a : levels)
    NTN_CHECK(n >= conformal_min_windows(a), "split conformal: a ", a * 100, "% interval needs at least ",
              conformal_min_windows(a), " calibration windows (have ", n, ")");
  NTN_CHECK(weights.empty() || weights.size() == n, "split conformal: ", weights.size(), " weights for ", n,
            " windows");
  double wsum = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    NTN_CHECK(std::isfinite(weights[i]) && weights[i] >= 0 && weights[i] <= 1, "split conformal: weight ", weights[i],
              " of window ", i, " (weights are in [0, 1])");
    wsum += weights[i];
  }
  for (double a : levels)
    NTN_CHECK(weights.empty() || conformal_supports(a, wsum), "split conformal: a ", a * 100,
              "% interval needs calibration weights summing to at least ", a / (1 - a), " (have ", wsum,
              ": a longer half-life, or more windows)");
  for (std::size_t i = 0; i < scores.size(); ++i)
    NTN_CHECK(std::isfinite(scores[i]) && scores[i] >= 0, "split conformal: score ", scores[i], " of window ", i / H,
              " step ", i % H + 1, " (scores are finite and >= 0)");
  Conformal c;
  c.score = score;
  c.levels = levels;
  c.horizon = H;
  c.windows = n;
  c.radius.resize(levels.size() * H);
  const std::size_t G = std::min<std::size_t>(n, 100);
  c.grid.resize(H * G);
  std::vector<double> col(n);
  std::vector<std::size_t> order(weights.empty() ? 0 : n);
  std::vector<double> cum(order.size());  // cumulative weight of the sorted scores
  for (std::size_t h = 0; h < H && !weights.empty(); ++h) {
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) {
      return scores[i * H + h] < scores[j * H + h] || (scores[i * H + h] == scores[j * H + h] && i < j);
    });
    double run = 0;
    for (std::size_t k = 0; k < n; ++k) col[k] = scores[order[k] * H + h], cum[k] = run += weights[order[k]];
    // The smallest score whose cumulative weight reaches `target`; the largest when none does.
    auto at = [&](double target) {
      const std::size_t k = std::size_t(std::lower_bound(cum.begin(), cum.end(), target) - cum.begin());
      return col[std::min(k, n - 1)];
    };
    for (std::size_t k = 0; k < levels.size(); ++k) c.radius[k * H + h] = at(levels[k] * (wsum + 1));
    // The plain grid's order statistic r sits at level r / (n + 1): cumulative weight r (W + 1) / (n + 1).
    for (std::size_t g = 0; g < G; ++g)
      c.grid[h * G + g] = at(double((n * (g + 1) + G - 1) / G) * ((wsum + 1) / double(n + 1)));
  }
  for (std::size_t h = 0; h < H && weights.empty(); ++h) {
    for (std::size_t i = 0; i < n; ++i) col[i] = scores[i * H + h];
    std::sort(col.begin(), col.end());
    for (std::size_t k = 0; k < levels.size(); ++k) {
      const std::size_t rank = std::size_t(std::ceil(double(n + 1) * levels[k]));  // 1-based, <= n
      c.radius[k * H + h] = col[rank - 1];
    }
    for (std::size_t g = 0; g < G; ++g) c.grid[h * G + g] = col[(n * (g + 1) + G - 1) / G - 1];
  }
  return c;
}

double Conformal::quantile(std::size_t h, double b) const {
  NTN_CHECK(h < horizon && !grid.empty(), "conformal quantile: step ", h, " of ", horizon,
            grid.empty() ? " (a calibration without its grid: calibrate again)" : "");
  if (!(b > 0)) return 0.0;
  const double rank = std::ceil(double(windows + 1) * b);  // 1-based
  if (rank > double(windows)) return std::numeric_limits<double>::infinity();
  const std::size_t G = grid_size(), k = std::size_t(rank);
  const std::size_t g = (k * G + windows - 1) / windows - 1;  // the first order statistic at or above rank k
  return grid[h * G + g];
}

AdaptiveConformal::AdaptiveConformal(const Conformal& c, double level, double gamma)
    : c_(c), level_(level), gamma_(gamma), H_(c.horizon), W_(c.grid_size()) {
  NTN_CHECK(!c.grid.empty(), "adaptive conformal: the calibration has no score grid (calibrate the model again)");
  NTN_CHECK(std::isfinite(level) && level > 0 && level < 1, "adaptive conformal: level ", level, " is outside (0, 1)");
  NTN_CHECK(std::isfinite(gamma) && gamma > 0 && gamma <= 1, "adaptive conformal: gamma ", gamma,
            " is outside (0, 1] (", kAciGamma, " by default)");
  alpha_.assign(H_, 1 - level);
  lo_.assign(H_ * H_, 0.0);
  hi_.assign(H_ * H_, 0.0);
  f_.assign(H_ * H_, 0.0);
  slo_.assign(H_ * H_, 0.0);
  shi_.assign(H_ * H_, 0.0);
  made_.assign(H_, -1);
  // The scores start as the calibration's order statistics, in a fixed shuffled order (so the
  // first ones replaced are not all the smallest): Fisher-Yates with splitmix64, seed fixed.
  std::vector<std::size_t> order(W_);
  for (std::size_t i = 0; i < W_; ++i) order[i] = i;
  std::uint64_t z = 0x9E3779B97F4A7C15ull;
  for (std::size_t i = W_; i > 1; --i) {
    z += 0x9E3779B97F4A7C15ull;
    std::uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    std::swap(order[i - 1], order[std::size_t(x % i)]);
  }
  ring_.resize(H_ * W_);
  sorted_.resize(H_ * W_);
  head_.assign(H_, 0);
  for (std::size_t h = 0; h < H_; ++h)
    for (std::size_t i = 0; i < W_; ++i) {
      ring_[h * W_ + i] = c.grid[h * W_ + order[i]];
      sorted_[h * W_ + i] = c.grid[h * W_ + i];  // the grid is ascending
    }
}

void AdaptiveConformal::add_score(std::size_t h, double s) {
  double* ring = ring_.data() + h * W_;
  double* sorted = sorted_.data() + h * W_;
  const double old = ring[head_[h]];
  ring[head_[h]] = s;
  head_[h] = (head_[h] + 1) % W_;
  // Replace `old` in the sorted row by s, shifting the values between them by one place.
  std::size_t i = std::size_t(std::lower_bound(sorted, sorted + W_, old) - sorted);
  while (i + 1 < W_ && sorted[i + 1] < s) sorted[i] = sorted[i + 1], ++i;
  while (i > 0 && sorted[i - 1] > s) sorted[i] = sorted[i - 1], --i;
  sorted[i] = s;
}

double AdaptiveConformal::radius(std::size_t h, double b) const {
  if (!(b > 0)) return 0.0;
  const double rank = std::ceil(double(W_ + 1) * b);  // 1-based
  const double* sorted = sorted_.data() + h * W_;
  return rank > double(W_) ? sorted[W_ - 1] : sorted[std::size_t(rank) - 1];
}

void AdaptiveConformal::observe(double y) {
  NTN_CHECK(std::isfinite(y), "adaptive conformal: observed value ", y, " is not finite");
  for (std::size_t slot = 0; slot < H_; ++slot) {
    if (made_[slot] < 0) continue;
    const std::uint64_t h = t_ - std::uint64_t(made_[slot]);  // this value is step h of that forecast
    if (h >= H_) continue;
    const double lo = lo_[slot * H_ + h], hi = hi_[slot * H_ + h];
    const double miss = (y < lo || y > hi) ? 1.0 : 0.0;
    alpha_[h] = std::max(alpha_[h] + gamma_ * ((1 - level_) - miss), -gamma_);
    const std::size_t i = slot * H_ + std::size_t(h);
    const double s = conformal_score(y, f_[i], slo_[i], shi_[i]);
    if (slo_[i] > 0 && shi_[i] > 0 && std::isfinite(s)) add_score(std::size_t(h), s);
  }
  ++t_;
}

void AdaptiveConformal::interval(const double* f, const double* s_lo, const double* s_hi, double* lo, double* hi) {
  const std::size_t slot = std::size_t(t_ % H_);
  for (std::size_t h = 0; h < H_; ++h) {
    const double r = radius(h, 1 - alpha_[h]);  // alpha_h >= 1: zero width
    const std::size_t i = slot * H_ + h;
    lo[h] = f[h] - r * s_lo[h];
    hi[h] = f[h] + r * s_hi[h];
    lo_[i] = lo[h];
    hi_[i] = hi[h];
    f_[i] = f[h];
    slo_[i] = std::isfinite(s_lo[h]) && s_lo[h] > 0 ? s_lo[h] : 0.0;
    shi_[i] = std::isfinite(s_hi[h]) && s_hi[h] > 0 ? s_hi[h] : 0.0;
  }
  made_[slot] = std::int64_t(t_);
}

json AdaptiveConformal::state() const {
  // Infinite bounds (alpha <= 0) are kept as null: JSON has no infinity.
  auto bounds = [](const std::vector<double>& v) {
    json a = json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? json(x) : json(nullptr));
    return a;
  };
  return {{"level", level_},    {"gamma", gamma_}, {"observed", t_},       {"alpha", alpha_},
          {"made", made_},      {"lo", bounds(lo_)}, {"hi", bounds(hi_)}, {"f", f_},
          {"scale_lo", slo_},   {"scale_hi", shi_}, {"scores", ring_},    {"head", head_}};
}

void AdaptiveConformal::restore(const json& s) {
  const std::string ctx = "adaptive conformal state";
  NTN_CHECK(s.is_object(), ctx, ": not a JSON object");
  NTN_CHECK(json_real(s, ctx, "level", -1, {-1, 2}) == level_ && json_real(s, ctx, "gamma", -1, {-1, 2}) == gamma_, ctx,
            ": saved with another level or gamma (", s.value("level", json()).dump(), ", ",
            s.value("gamma", json()).dump(), "; now ", level_, ", ", gamma_, ")");
  AdaptiveConformal n = *this;
  n.t_ = json_uint(s, ctx, "observed", 0, {0, UINT64_MAX});
  n.alpha_ = json_real_list(s, ctx, "alpha", {}, {-1e6, 1e6});
  NTN_CHECK(n.alpha_.size() == H_, ctx, ": ", n.alpha_.size(), " alphas for horizon ", H_);
  NTN_CHECK(s.contains("made") && s["made"].is_array() && s["made"].size() == H_ && s.contains("lo") &&
                s["lo"].is_array() && s["lo"].size() == H_ * H_ && s.contains("hi") && s["hi"].is_array() &&
                s["hi"].size() == H_ * H_,
            ctx, ": pending intervals of another horizon (corrupted state)");
  for (std::size_t i = 0; i < H_; ++i) {
    const json& m = s["made"][i];
    NTN_CHECK(m.is_number_integer() && m.get<std::int64_t>() >= -1 && m.get<std::int64_t>() <= std::int64_t(n.t_), ctx,
              ": pending forecast ", i, " made at ", m.dump(), " (corrupted state)");
    n.made_[i] = m.get<std::int64_t>();
  }
  for (std::size_t i = 0; i < H_ * H_; ++i) {
    const json &l = s["lo"][i], &u = s["hi"][i];
    NTN_CHECK((l.is_null() || l.is_number()) && (u.is_null() || u.is_number()), ctx, ": bound ", i,
              " is not a number (corrupted state)");
    n.lo_[i] = l.is_null() ? -std::numeric_limits<double>::infinity() : l.get<double>();
    n.hi_[i] = u.is_null() ? std::numeric_limits<double>::infinity() : u.get<double>();
    NTN_CHECK(!std::isnan(n.lo_[i]) && !std::isnan(n.hi_[i]) && n.lo_[i] <= n.hi_[i], ctx, ": bound ", i,
              " is empty (corrupted state)");
  }
  if (s.contains("scores")) {  // the online scores and the pending forecasts they come from
    n.f_ = json_real_list(s, ctx, "f", {}, {-1e300, 1e300});
    if (s.contains("scale")) {  // one scale per pending forecast: both sides of each of its steps
      const std::vector<double> sc = json_real_list(s, ctx, "scale", {}, {0, 1e300});
      NTN_CHECK(sc.size() == H_, ctx, ": ", sc.size(), " scales for horizon ", H_, " (corrupted state)");
      for (std::size_t i = 0; i < H_ * H_; ++i) n.slo_[i] = n.shi_[i] = sc[i / H_];
    } else {
      NTN_CHECK(s.contains("scale_lo") && s.contains("scale_hi"), ctx,
                ": the pending forecasts' scale_lo / scale_hi are missing (corrupted state)");
      n.slo_ = json_real_list(s, ctx, "scale_lo", {}, {0, 1e300});
      n.shi_ = json_real_list(s, ctx, "scale_hi", {}, {0, 1e300});
    }
    const std::vector<double> ring = json_real_list(s, ctx, "scores", {}, {0, 1e300});
    NTN_CHECK(n.f_.size() == H_ * H_ && n.slo_.size() == H_ * H_ && n.shi_.size() == H_ * H_ &&
                  ring.size() == H_ * W_ && s.contains("head") &&
                  s["head"].is_array() && s["head"].size() == H_,
              ctx, ": scores of another horizon or calibration (corrupted state)");
    for (std::size_t h = 0; h < H_; ++h) {
      const json& hd = s["head"][h];
      NTN_CHECK(hd.is_number_unsigned() && hd.get<std::uint64_t>() < W_, ctx, ": score position ", hd.dump(),
                " of step ", h, " (corrupted state)");
      n.head_[h] = hd.get<std::size_t>();
    }
    n.ring_ = ring;
    n.sorted_ = ring;
    for (std::size_t h = 0; h < H_; ++h)
      std::sort(n.sorted_.begin() + std::ptrdiff_t(h * W_), n.sorted_.begin() + std::ptrdiff_t((h + 1) * W_));
  } else {  // saved before the scores were online: they start from the calibration
    std::fill(n.slo_.begin(), n.slo_.end(), 0.0);
    std::fill(n.shi_.begin(), n.shi_.end(), 0.0);
  }
  for (double& a : n.alpha_) a = std::max(a, -gamma_);
  *this = std::move(n);
}

template <class T>
double conformal_window_scale(ConformalScore score, const T* x, std::size_t L) {
  if (score == ConformalScore::absolute || L < 2) return 1.0;
  double steps = 0, level = 0;
  for (std::size_t t = 0; t < L; ++t) {
    level += std::fabs(double(x[t]));
    if (t) steps += std::fabs(double(x[t]) - double(x[t - 1]));
  }
  return std::max(steps / double(L - 1), 1e-9 * (1 + level / double(L)));
}
template double conformal_window_scale<float>(ConformalScore, const float*, std::size_t);
template double conformal_window_scale<double>(ConformalScore, const double*, std::size_t);

void check_conformal_head(const OutputSpec& out, const std::string& ctx) {
  if (out.kind == OutputKind::distribution) return;
  const std::size_t Q = out.outputs(), po = out.point_index();
  NTN_CHECK(out.kind == OutputKind::quantiles && po > 0 && po + 1 < Q, ctx,
            ": conformal score head scales the model's own spread: it needs a distribution head (--loss nll) or "
            "quantile levels on both sides of the median (--loss pinball --quantiles 0.1,0.5,0.9); this model's "
            "head is ",
            output_kind_name(out.kind), out.kind == OutputKind::quantiles ? cat(" ", json(out.levels).dump()) : "");
}

template <class T>
void conformal_scales(const Conformal& c, const OutputSpec& out, const NormStats& st, const T* x, std::size_t L,
                      const double* y, double* f, double* s_lo, double* s_hi) {
  const std::size_t H = c.horizon, Q = out.outputs(), po = out.point_index();
  const double ws = c.score == ConformalScore::head ? 0.0 : conformal_original_scale(c, st, x, L);
  const double sc = st.scale < 0 ? -st.scale : st.scale;
  for (std::size_t h = 0; h < H; ++h) {
    const double* q = y + h * Q;
    f[h] = q[po];
    double lo = ws, hi = ws;
    if (c.score == ConformalScore::head) {
      if (out.kind == OutputKind::quantiles) {
        lo = q[po] - q[0];
        hi = q[Q - 1] - q[po];
      } else if (out.dist == DistKind::negative_binomial) {
        // Not scale-equivariant: the spread of the count the series scaler maps it from, rescaled.
        const double mu = sc > 0 ? q[0] / sc : q[0];
        lo = hi = std::sqrt(std::max(mu + q[1] * mu * mu, 0.0)) * (sc > 0 ? sc : 1.0);
      } else {
        lo = hi = q[1];  // sigma (the Student-t's scale)
      }
    }
    const double floor = 1e-9 * (1 + std::fabs(f[h]));
    s_lo[h] = std::isfinite(lo) ? std::max(lo, floor) : lo;
    s_hi[h] = std::isfinite(hi) ? std::max(hi, floor) : hi;
  }
}
template void conformal_scales<float>(const Conformal&, const OutputSpec&, const NormStats&, const float*,
                                      std::size_t, const double*, double*, double*, double*);
template void conformal_scales<double>(const Conformal&, const OutputSpec&, const NormStats&, const double*,
                                       std::size_t, const double*, double*, double*, double*);

Conformal calibrate_conformal(const Artifact& a, const SeriesStore& store, const std::vector<WindowRef>& windows,
                              const std::vector<double>& levels, ConformalScore score, double half_life) {
  const Model<float>& m = *a.model;
  const std::size_t H = m.horizon(), Q = m.outputs(), L = m.input_size(), n = windows.size();
  NTN_CHECK(n > 0, "conformal calibration: no calibration windows (the validation part is empty: raise "
            "--val-ratio, or calibrate on other data)");
  if (score == ConformalScore::head) check_conformal_head(a.output, "conformal calibration");
  std::vector<float> out(n * H * Q);
  predict_windows(m, store, windows, a.window_scaling, out.data(), 1024, &a.output);
  std::vector<double> scores(n * H), y(H * Q), f(H), slo(H), shi(H);
  Conformal c;  // the score and horizon conformal_scales reads
  c.score = score;
  c.horizon = H;
  const NormStats identity{0.0, 1.0};  // the store is already series-scaled
  for (std::size_t i = 0; i < n; ++i) {
    const float* s = store.data(windows[i].series) + windows[i].start;
    std::copy_n(out.data() + i * H * Q, H * Q, y.data());
    conformal_scales(c, a.output, identity, s, L, y.data(), f.data(), slo.data(), shi.data());
    for (std::size_t h = 0; h < H; ++h) scores[i * H + h] = conformal_score(double(s[L + h]), f[h], slo[h], shi[h]);
  }
  if (half_life == 0) return split_conformal(scores, n, H, levels, score);
  Conformal r = split_conformal(scores, n, H, levels, score, conformal_weights(windows, half_life));
  r.half_life = half_life;
  return r;
}

void conformal_interval(const Conformal& c, std::size_t level, const double* f, const double* s_lo,
                        const double* s_hi, double* lo, double* hi) {
  NTN_CHECK(level < c.levels.size(), "conformal interval: level index ", level, " of ", c.levels.size());
  for (std::size_t h = 0; h < c.horizon; ++h) {
    const double r = c.r(level, h);
    lo[h] = f[h] - r * s_lo[h];
    hi[h] = f[h] + r * s_hi[h];
  }
}

void conformal_interval(const Conformal& c, std::size_t level, const OutputSpec& out, const NormStats& st,
                        const double* x, std::size_t L, const double* y, double* lo, double* hi) {
  std::vector<double> f(c.horizon), slo(c.horizon), shi(c.horizon);
  conformal_scales(c, out, st, x, L, y, f.data(), slo.data(), shi.data());
  conformal_interval(c, level, f.data(), slo.data(), shi.data(), lo, hi);
}

IntervalSums::IntervalSums(std::vector<double> lv)
    : levels(std::move(lv)),
      hits(levels.size()),
      width(levels.size()),
      is_scaled(levels.size()),
      n(levels.size()),
      scaled_n(levels.size()),
      unbounded(levels.size()) {}

void IntervalSums::add(std::size_t k, const double* y, const double* lo, const double* hi, std::size_t m,
                       double mase_scale) {
  const double alpha = 1 - levels[k];
  double is = 0;
  bool bounded = true;
  for (std::size_t i = 0; i < m; ++i) {
    hits[k] += y[i] >= lo[i] && y[i] <= hi[i];
    if (!std::isfinite(hi[i] - lo[i])) {  // an adaptive interval past its calibration: the whole line
      ++unbounded[k];
      bounded = false;
      continue;
    }
    width[k] += hi[i] - lo[i];
    is += hi[i] - lo[i];
    if (y[i] < lo[i]) is += 2 / alpha * (lo[i] - y[i]);
    if (y[i] > hi[i]) is += 2 / alpha * (y[i] - hi[i]);
  }
  n[k] += m;
  if (bounded && mase_scale > 0 && m > 0) {
    is_scaled[k] += is / double(m) / mase_scale;
    ++scaled_n[k];
  }
}

json IntervalSums::to_json() const {
  json out = json::array();
  for (std::size_t k = 0; k < levels.size(); ++k) {
    if (n[k] == 0) continue;
    json j = {{"level", levels[k]}, {"coverage", hits[k] / double(n[k])}};
    if (unbounded[k] < n[k]) j["mean_width"] = width[k] / double(n[k] - unbounded[k]);
    if (unbounded[k]) j["unbounded"] = double(unbounded[k]) / double(n[k]);
    if (scaled_n[k]) j["msis"] = is_scaled[k] / double(scaled_n[k]);
    out.push_back(j);
  }
  return out;
}

}  // namespace ntn
