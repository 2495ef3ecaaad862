#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "ntn/auto.h"
#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/rng.h"
#include "ntn/timing.h"
#include "train/job_frame.h"

namespace ntn {

using nlohmann::json;

namespace {

// NeuralForecast's Auto* common space (input multipliers 1..5 of the horizon, learning rate,
// batch, scaler, seed); the steps are the successive-halving budget, not a draw.
const char* kCommonSpace = R"({
  "input_size_multiplier": {"choice": [1, 2, 3, 4, 5]},
  "lr": {"loguniform": [1e-4, 1e-2]},
  "batch_size": {"choice": [32, 64, 128, 256]},
  "window_scaling": {"choice": ["none", "standard", "robust"]},
  "seed": {"randint": [1, 20]}
})";

double unit(Rng& rng) { return double(rng.next_u64() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)

double round3(double v) {  // 3 significant digits: readable settings, the same on every machine
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return std::strtod(buf, nullptr);
}

void check_entry(const std::string& key, const json& e) {
  const std::string ctx = cat("auto space: '", key, "'");
  NTN_CHECK(e.is_object() && e.size() == 1, ctx,
            ": expected one of {\"choice\": [...]}, {\"loguniform\": [lo, hi]}, {\"uniform\": [lo, hi]}, "
            "{\"randint\": [lo, hi]} (got ",
            e.dump().substr(0, 80), ")");
  const std::string kind = e.begin().key();
  const json& v = e.begin().value();
  if (kind == "choice") {
    NTN_CHECK(v.is_array() && !v.empty(), ctx, ": 'choice' needs a non-empty list");
    return;
  }
  NTN_CHECK(kind == "loguniform" || kind == "uniform" || kind == "randint", ctx, ": unknown kind '", kind,
            "' (choice, loguniform, uniform, randint)");
  NTN_CHECK(v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number(), ctx, ": '", kind,
            "' needs [lo, hi] numbers");
  const double lo = v[0].get<double>(), hi = v[1].get<double>();
  NTN_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, ctx, ": '", kind,
            "' needs finite lo <= hi (got [", lo, ", ", hi, "])");
  if (kind == "loguniform") NTN_CHECK(lo > 0, ctx, ": 'loguniform' needs lo > 0 (got ", lo, ")");
  if (kind == "randint")
    NTN_CHECK(v[0].is_number_integer() && v[1].is_number_integer() && lo >= 0 && hi < 4294967296.0, ctx,
              ": 'randint' needs integers in [0, 2^32)");
}

json draw(const json& e, Rng& rng) {
  const std::string kind = e.begin().key();
  const json& v = e.begin().value();
  if (kind == "choice") return v[rng.below(std::uint32_t(v.size()))];
  const double lo = v[0].get<double>(), hi = v[1].get<double>();
  if (kind == "randint") {
    const auto a = v[0].get<std::uint64_t>(), b = v[1].get<std::uint64_t>();
    return a + rng.below(std::uint32_t(b - a + 1));
  }
  const double u = unit(rng);
  if (kind == "uniform") return round3(lo + u * (hi - lo));
  return round3(std::exp(std::log(lo) + u * (std::log(hi) - std::log(lo))));
}

// A scratch folder for the candidates' paused states, removed however the search ends.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    static std::atomic<unsigned> counter{0};
    path = std::filesystem::temp_directory_path() / cat("ntneural-auto-", ::getpid(), "-", counter++);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct Trial {
  json params;        // the draw
  DataSpec data;      // the job's, with the drawn calendar features
  json model;         // complete model config (before the data's fields)
  TrainConfig train;  // complete training config (schedule derived)
  std::size_t L = 0;
  std::string checkpoint;
  TrainSummary summary;  // cumulative steps, best validation so far
  double seconds = 0;
  json curve = json::array();  // [step, validation score]
  std::size_t rung = 0;        // last rung reached
  bool done = false;           // reached its total or stopped early
  std::string error;
  double score() const {
    return error.empty() && summary.best_val_loss >= 0 ? summary.best_val_loss
                                                       : std::numeric_limits<double>::infinity();
  }
};

// A rung's steps: total / eta^below, to the nearest validation (at least one), at most total.
std::uint64_t rung_budget(std::uint64_t total, std::uint64_t val_every, std::size_t eta, std::size_t below) {
  double q = double(total);
  for (std::size_t i = 0; i < below; ++i) q /= double(eta);
  const auto vals = std::max<std::uint64_t>(1, std::uint64_t(std::llround(q / double(val_every))));
  return std::min(total, vals * val_every);
}

}  // namespace

json auto_space(const std::string& type) {
  const ModelInfo& info = model_info(type);
  NTN_CHECK(!info.direct_fit, "--auto: ", type,
            " is fitted on each window directly (no training settings to search); train it without --auto");
  NTN_CHECK(!info.composite, "--auto: an ", type, "'s members are not searched as one model; use --ensemble K with "
                             "--model set to the members' type");
  json space = json::parse(kCommonSpace);
  for (const auto& [k, v] : info.auto_space.items()) {
    if (v.is_null())
      space.erase(k);
    else
      space[k] = v;
  }
  return space;
}

std::vector<json> sample_space(const json& space, std::size_t n, std::uint64_t seed) {
  NTN_CHECK(space.is_object(), "auto space: expected a JSON object of settings (got ",
            space.dump().substr(0, 80), ")");
  for (const auto& [k, e] : space.items()) check_entry(k, e);
  Rng rng(seed, stream_id("auto_space"));
  std::vector<json> out;
  std::set<std::string> seen;
  for (std::size_t attempt = 0; out.size() < n && attempt < 100 * n + 100; ++attempt) {
    json d = json::object();
    for (const auto& [k, e] : space.items()) d[k] = draw(e, rng);
    if (seen.insert(d.dump()).second) out.push_back(std::move(d));
  }
  return out;
}

TrainResult auto_train(const TrainJob& job, const AutoSpec& spec) {
  NTN_CHECK(spec.candidates >= 1 && spec.candidates <= 10000, "--auto-candidates: expected 1..10000 (got ",
            spec.candidates, ")");
  NTN_CHECK(spec.eta >= 2 && spec.eta <= 100, "--auto-eta: expected 2..100 (got ", spec.eta, ")");
  NTN_CHECK(job.train.val_every > 0,
            "--auto scores candidates on the validation part: --val-every must be > 0");
  NTN_CHECK(!job.resume && job.init_from.empty(),
            "--auto does not resume a checkpoint (each candidate keeps its own): no --resume / --init-from");
  const double t0 = now_s();
  const detail::JobFrame f = detail::job_frame(job, spec.space.is_null());  // dates: the calendar setting
  const std::string type = json_string(f.cfg, "model config", "type", "");
  json space = spec.space.is_null() ? auto_space(type) : spec.space;
  NTN_CHECK(space.is_object(), "auto space: expected a JSON object of settings (got ",
            space.dump().substr(0, 80), ")");
  // Dates the model can read as future-known channels: whether the calendar features of their
  // spacing help is a setting too (unless the job names its own).
  const auto& takes = model_info(type).covariates;
  if (spec.space.is_null() && f.dates && f.data.covariates.calendar.empty() &&
      std::find(takes.begin(), takes.end(), "future") != takes.end())
    space["calendar"] = {{"choice", {"none", "auto"}}};
  // What the user fixed is not searched.
  for (const auto& [k, v] : f.cfg.items()) {
    if (k == "type" || k == "horizon") continue;
    space.erase(k == "input_size" ? "input_size_multiplier" : k);
  }
  for (const std::string& k : spec.fixed) space.erase(k);
  const std::string metric = detail::validation_metric(spec.metric, f.data.protocol);

  // Draw the candidates and complete their configurations.
  std::vector<Trial> trials;
  for (json& d : sample_space(space, spec.candidates, spec.seed)) {
    Trial t;
    t.params = d;
    t.model = f.cfg;
    json tc = job.train.to_json();
    t.L = f.L0;
    t.data = f.data;
    detail::apply_draw(d, f.H, t.L, t.data, tc, t.model);
    tc["val_metric"] = metric;
    tc["log_every"] = 0;
    t.train = TrainConfig::from_json(tc);
    trials.push_back(std::move(t));
  }
  const std::size_t n = trials.size();
  std::size_t K = 1;  // rungs: n, n/eta, ..., 1 candidates (K = 1 + ceil(log_eta n))
  for (std::size_t c = 1; c < n; c *= spec.eta) ++K;

  ScratchDir scratch;
  std::map<std::pair<std::size_t, std::vector<std::string>>, Prepared> data;  // by input size and calendar
  auto prepared = [&](Trial& t) -> Prepared& {
    const auto key = std::make_pair(t.L, t.data.covariates.calendar);
    auto it = data.find(key);
    if (it == data.end()) {
      std::size_t H = f.H;
      it = data.emplace(key, prepare(t.data, t.L, H)).first;
    }
    NTN_CHECK(!it->second.val.empty(),
              "--auto scores candidates on the validation part, and this data has none",
              f.data.protocol == Protocol::none ? " (--val-ratio is 0)" : "");
    return it->second;
  };
  // The model config with the data's fields (input size, horizon, outputs, covariates), the loss
  // checked against the model.
  auto full_config = [&](Trial& t, Prepared& p) {
    json cfg = t.model;
    detail::complete_config(cfg, p, t.train, t.L, f.H);
    return cfg;
  };
  // A trial's data, complete model config, freshly initialised model and training config.
  auto build = [&](Trial& t) {
    Prepared& p = prepared(t);
    json cfg = full_config(t, p);
    auto model = make_model<float>(cfg);
    model->init(t.train.seed);
    TrainConfig tc = t.train;
    derive_schedule(tc, p.train.size());
    return std::tuple<Prepared*, json, std::unique_ptr<Model<float>>, TrainConfig>(
        &p, std::move(cfg), std::move(model), std::move(tc));
  };
  // Trains trial i on to `rung`'s budget (or its end), pausing there with its state on disk.
  auto advance = [&](std::size_t i, std::size_t rung) {
    Trial& t = trials[i];
    t.rung = rung;
    if (t.done || !t.error.empty()) return;
    const double s0 = now_s();
    try {
      auto [pp, cfg, model, tc] = build(t);
      Prepared& p = *pp;
      const std::uint64_t total = total_steps(tc, p.train.size());
      const std::uint64_t budget = rung_budget(total, tc.val_every, spec.eta, K - 1 - rung);
      Trainer tr(*model, p.store, p.train, p.val, tc);
      tr.on_log = [&](const TrainLog& l) {
        if (l.val_loss >= 0) t.curve.push_back({l.step, l.val_loss});
      };
      if (!t.checkpoint.empty()) tr.resume(t.checkpoint);
      const TrainSummary s = tr.run(budget);
      const double secs = t.summary.seconds + s.seconds;
      t.summary = s;
      t.summary.seconds = secs;
      t.done = !s.paused;
      t.checkpoint = (scratch.path / cat("trial", i, ".ckpt")).string();
      tr.save_checkpoint(t.checkpoint);
    } catch (const Error& e) {
      t.error = e.what();
    }
    t.seconds += now_s() - s0;
    if (spec.on_trial)
      spec.on_trial({{"trial", i},
                     {"trials", n},
                     {"rung", rung},
                     {"rungs", K},
                     {"steps", t.summary.steps},
                     {"score", t.error.empty() ? json(t.summary.best_val_loss) : json(nullptr)},
                     {"metric", metric},
                     {"seconds", t.seconds},
                     {"error", t.error}});
  };

  std::vector<std::size_t> alive(n);
  for (std::size_t i = 0; i < n; ++i) alive[i] = i;
  auto by_score = [&](std::size_t a, std::size_t b) {
    const double sa = trials[a].score(), sb = trials[b].score();
    return sa != sb ? sa < sb : a < b;
  };
  for (std::size_t rung = 0; rung < K; ++rung) {
    for (std::size_t i : alive) advance(i, rung);
    std::stable_sort(alive.begin(), alive.end(), by_score);
    NTN_CHECK(std::isfinite(trials[alive[0]].score()),
              "--auto: every candidate failed; the first: ", trials[alive[0]].error);
    const std::size_t keep = rung + 1 < K ? (alive.size() + spec.eta - 1) / spec.eta : 1;
    for (std::size_t j = keep; j < alive.size(); ++j) {  // the pruned: their paused states are not needed
      std::error_code ec;
      if (!trials[alive[j]].checkpoint.empty()) std::filesystem::remove(trials[alive[j]].checkpoint, ec);
    }
    alive.resize(keep);
  }
  // The winner: its trainer ran to the end (restoring its best weights) and saved that state.
  Trial& w = trials[alive[0]];
  TrainResult r;
  auto [pp, cfg, model, tc] = build(w);
  Prepared& p = *pp;
  {
    Trainer tr(*model, p.store, p.train, p.val, tc);
    tr.resume(w.checkpoint);
  }
  std::vector<std::uint64_t> rungs;
  for (std::size_t r2 = 0; r2 < K; ++r2)
    rungs.push_back(rung_budget(total_steps(tc, p.train.size()), tc.val_every, spec.eta, K - 1 - r2));
  json report = {
      {"metric", metric},      {"candidates", n},        {"eta", spec.eta},    {"seed", spec.seed},
      {"space", space},        {"rungs", rungs},         {"chosen", alive[0]}, {"chosen_params", w.params},
      {"best_val", w.score()}, {"seconds", now_s() - t0}};
  json list = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const Trial& t = trials[i];
    json j = {{"trial", i},           {"params", t.params},       {"input_size", t.L},
              {"rung", t.rung},       {"steps", t.summary.steps}, {"stopped_early", t.summary.stopped_early},
              {"seconds", t.seconds}, {"curve", t.curve}};
    if (t.error.empty())
      j["score"] = t.summary.best_val_loss, j["best_step"] = t.summary.best_step;
    else
      j["error"] = t.error;
    list.push_back(std::move(j));
  }
  report["trials"] = std::move(list);
  r.summary = w.summary;
  if (spec.refit) {
    model = make_model<float>(cfg);
    model->init(w.train.seed);
    r.summary = detail::refit(*model, p, tc, w.summary.best_step ? w.summary.best_step : w.summary.steps,
                              report["refit"]);
    report["seconds"] = now_s() - t0;
  }
  r.artifact = Artifact::from_training(std::move(model), p, tc, r.summary);
  r.artifact.training["search"] = report;
  r.search = std::move(report);
  r.prepared = std::move(p);
  detail::add_conformal(r, job, !spec.refit);
  return r;
}

}  // namespace ntn
