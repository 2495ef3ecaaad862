#include "ntn/jobs.h"

#include "train/job_frame.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>

#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/parallel.h"

namespace ntn {

using nlohmann::json;

namespace {

// The loss's output kind is one the model has (ModelInfo::outputs); an nll loss names the model's
// distribution; a count distribution trains on non-negative values only.
void check_loss_fits_model(const LossSpec& loss, WindowScaling window, json& cfg, const Prepared& p) {
  const std::string type = json_string(cfg, "model config", "type", "");
  const ModelInfo& info = model_info(type);
  const OutputSpec spec = output_spec(loss);
  const std::string kind = output_kind_name(spec.kind);
  const std::string kinds = join(info.outputs);
  NTN_CHECK(std::find(info.outputs.begin(), info.outputs.end(), kind) != info.outputs.end(), "the ",
            loss_name(loss.kind), " loss trains a ", kind, " output, but model '", type, "' outputs ", kinds,
            kind == "distribution" ? "" : info.distribution_only()
                                              ? " (train it with --loss nll --distribution gaussian|student_t|negative_binomial)"
                                              : "");
  // A model fitted per window computes its own quantiles (prophet: of its simulated paths).
  if (spec.kind == OutputKind::quantiles && info.direct_fit)
    cfg["quantiles"] = std::vector<double>(spec.levels.begin(), spec.levels.end());
  if (spec.kind != OutputKind::distribution) return;
  cfg["distribution"] = dist_name(spec.dist);
  if (spec.dist != DistKind::negative_binomial) return;
  // The likelihood must see the counts themselves (a scaled count has the wrong Poisson noise):
  // the model scales each window itself (DeepAR's mean scaling) and scales its mean back.
  NTN_CHECK(p.scaling == SeriesScaling::none, "the negative_binomial loss models counts, which a ",
            series_scaling_name(p.scaling), " scaler would change: use --scaler none (the model scales each window "
            "by its mean itself)");
  NTN_CHECK(window == WindowScaling::none, "the negative_binomial loss models counts, which the ",
            window_scaling_name(window), " window scaler would shift: drop --window-scaler");
  for (std::size_t s = 0; s < p.store.size(); ++s) {
    const float* v = p.store.data(s);
    for (std::size_t i = 0; i < p.store.length(s); ++i)
      NTN_CHECK(v[i] >= 0, "series '", p.store.name(s), "': value ", v[i], " at row ", i + 1,
                " is negative; the negative_binomial loss models counts (>= 0)");
  }
}

}  // namespace

namespace detail {

JobFrame job_frame(const TrainJob& job, bool want_dates) {
  JobFrame f;
  f.cfg = job.model;
  NTN_CHECK(f.cfg.is_object(), "model config: expected a JSON object (got ", f.cfg.dump().substr(0, 80), ")");
  const char* ctx = "model config";
  f.H = json_uint(f.cfg, ctx, "horizon", 0, {0, limits::kHorizon.hi});
  f.L = json_uint(f.cfg, ctx, "input_size", 0, {0, limits::kWindow.hi});
  if (f.H == 0 && job.data.protocol != Protocol::m4) f.H = 24;
  f.data = job.data;
  // A model that reads its time axis from calendar channels (prophet) gets them, last, when the
  // file has dates (and its config does not opt out with "timestamps": false).
  const ModelInfo& info = model_info(json_string(f.cfg, ctx, "type", ""));
  std::optional<Frame> frame;  // a wide file, read once when its dates or the default input size matter
  if (f.data.protocol != Protocol::m4 && (want_dates || !info.calendar.empty() || f.L == 0)) {
    frame = read_wide(f.data, f.data.csv);
    f.dates = time_is_dates(*frame);
  }
  if (!info.calendar.empty() && f.dates && json_bool(f.cfg, ctx, "timestamps", true)) {
    auto& cal = f.data.covariates.calendar;
    for (const auto& name : info.calendar) cal.erase(std::remove(cal.begin(), cal.end(), name), cal.end());
    cal.insert(cal.end(), info.calendar.begin(), info.calendar.end());
    f.cfg["timestamps"] = true;
  }
  if (f.H == 0) {  // m4: the horizon is the test file's; read it first
    std::size_t h = 0;
    prepare(f.data, 1, h);
    f.H = h;
  }
  f.L0 = f.L ? f.L : default_input_size(f.data, frame ? *frame : Frame{}, f.H);  // no frame: m4
  return f;
}

Prepared prepare_model(const JobFrame& f, std::size_t L, const TrainConfig& tc, json& cfg) {
  std::size_t H = f.H;
  Prepared p = prepare(f.data, L, H);
  complete_config(cfg, p, tc, L, H);
  return p;
}

void complete_config(json& cfg, const Prepared& p, const TrainConfig& tc, std::size_t L, std::size_t H) {
  cfg["input_size"] = L;
  cfg["horizon"] = H;
  cfg["outputs"] = tc.loss.outputs();
  check_loss_fits_model(tc.loss, tc.window_scaling, cfg, p);
  const Covariates cov = p.covariates.counts();
  if (cov.any()) {
    cfg["hist_exog"] = cov.hist;
    cfg["futr_exog"] = cov.futr;
    cfg["stat_exog"] = cov.stat;
  }
}

void apply_draw(const json& draw, std::size_t H, std::size_t& L, DataSpec& data, json& train, json& model) {
  const json train_keys = TrainConfig{}.to_json();
  for (const auto& [k, v] : draw.items()) {
    if (k == "input_size_multiplier") {
      NTN_CHECK(v.is_number_unsigned() && v.get<std::uint64_t>() >= 1,
                "auto space: 'input_size_multiplier' must be a positive integer (got ", v.dump(), ")");
      L = v.get<std::size_t>() * H;
    } else if (k == "calendar") {
      NTN_CHECK(v == "none" || v == "auto", "auto space: 'calendar' is \"none\" or \"auto\" (got ", v.dump(), ")");
      if (v == "auto") data.covariates.calendar.push_back("auto");
    } else if (train_keys.contains(k)) {
      train[k] = v;
    } else {
      model[k] = v;
    }
  }
}

void add_conformal(TrainResult& r, const TrainJob& job, bool held_out) {
  if (job.conformal_levels.empty()) return;
  const std::size_t n = r.prepared.val.size();
  std::string why;
  std::vector<double> levels;
  if (!held_out) {
    why = "the model was refit on the validation windows: none is held out to calibrate on";
  } else {
    double wsum = 0;
    for (double w : conformal_weights(r.prepared.val, job.conformal_half_life)) wsum += w;
    for (double a : job.conformal_levels) {
      if (n < conformal_min_windows(a)) {
        why += cat(why.empty() ? "" : "; ", a * 100, "% needs ", conformal_min_windows(a), " calibration windows, the "
                   "validation part has ", n);
      } else if (!conformal_supports(a, wsum)) {
        why += cat(why.empty() ? "" : "; ", a * 100, "% needs calibration weights summing to ", a / (1 - a),
                   ", half-life ", job.conformal_half_life, " gives ", wsum);
      } else {
        levels.push_back(a);
      }
    }
  }
  if (!levels.empty())
    r.artifact.conformal = calibrate_conformal(r.artifact, r.prepared.store, r.prepared.val, levels, job.conformal_score,
                                               job.conformal_half_life);
  if (!why.empty()) r.artifact.training["conformal"] = {{"skipped", why}};
}

TrainSummary refit(Model<float>& model, const Prepared& p, const TrainConfig& tc, std::uint64_t steps,
                   json& record) {
  std::vector<WindowRef> all = p.train;
  all.insert(all.end(), p.val.begin(), p.val.end());
  TrainConfig rc = tc;
  rc.val_every = 0;
  rc.patience = 0;
  Trainer tr(model, p.store, all, {}, rc);
  TrainSummary s = tr.run(steps);
  s.paused = false;
  record = {{"steps", s.steps}, {"windows", all.size()}, {"seconds", s.seconds}};
  return s;
}

}  // namespace detail

std::string default_loss(const std::string& model_type) {
  return model_info(model_type).distribution_only() ? "nll" : "mae";
}

std::string default_window_scaler(const std::string& model_type, Protocol protocol, const LossSpec& loss) {
  if (model_info(model_type).direct_fit) return "none";
  if (protocol == Protocol::m4) return "robust";
  return loss.kind == LossKind::nll && loss.dist != DistKind::negative_binomial ? "standard" : "none";
}

TrainResult train_job(const TrainJob& job) {
  const detail::JobFrame f = detail::job_frame(job);
  TrainResult r;
  json cfg = f.cfg;
  r.prepared = detail::prepare_model(f, f.L0, job.train, cfg);
  const Prepared& p = r.prepared;
  auto model = make_model<float>(cfg);
  model->init(job.train.seed);
  TrainConfig tc = job.train;
  derive_schedule(tc, p.train.size());
  Trainer trainer(*model, p.store, p.train, p.val, tc);
  if (job.on_log) trainer.on_log = job.on_log;
  trainer.checkpoint_at_end = true;
  NTN_CHECK(!job.resume || !tc.checkpoint_path.empty(), "resume needs a checkpoint file (--checkpoint)");
  if (job.resume && std::filesystem::exists(tc.checkpoint_path))
    trainer.resume(tc.checkpoint_path);
  else if (!job.init_from.empty())
    trainer.resume(job.init_from);
  r.summary = trainer.run();
  r.artifact = Artifact::from_training(std::move(model), p, tc, r.summary);
  detail::add_conformal(r, job, true);
  return r;
}

std::vector<SeriesRun> train_per_series(const TrainJob& job, dist::Comm& comm, const SeriesSink& sink) {
  NTN_CHECK(!job.resume && job.train.checkpoint_path.empty() && job.init_from.empty(),
            "--per-series trains one model per series: no --checkpoint / --resume / --init-from (each model is short)");
  const detail::JobFrame f = detail::job_frame(job);
  json cfg = f.cfg;
  const Prepared all = detail::prepare_model(f, f.L0, job.train, cfg);
  const std::size_t S = all.store.size(), R = std::size_t(comm.size()), r = std::size_t(comm.rank());
  std::vector<std::size_t> mine;  // series s on rank s % R: lengths sorted in the file spread evenly
  for (std::size_t s = r; s < S; s += R) mine.push_back(s);
  std::vector<SeriesRun> runs(mine.size());
  std::vector<std::exception_ptr> errors(mine.size());
  // One model per thread; each trainer runs on its own (a nested parallel region is serial) and
  // shares no batch with another rank (dist::self()).
  parallel_chunks(mine.size(), [&](std::size_t i) {
    const std::size_t s = mine[i];
    try {
      const Prepared p = select_series(all, s);
      auto model = make_model<float>(cfg);
      model->init(job.train.seed);
      TrainConfig tc = job.train;
      derive_schedule(tc, p.train.size());
      Trainer trainer(*model, p.store, p.train, p.val, tc, &dist::self());
      const TrainSummary summary = trainer.run();
      Artifact a = Artifact::from_training(std::move(model), p, tc, summary);
      SeriesRun& run = runs[i];
      run.name = p.store.name(0);
      run.summary = summary.to_json();
      if (!p.test.empty()) run.test = evaluate_test(a, p).to_json();
      run.artifact = a.bytes();
      run.rank = comm.rank();
      if (sink && sink(s, run)) {
        run.stored = true;
        std::string().swap(run.artifact);
      }
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  for (std::size_t i = 0; i < mine.size(); ++i)
    if (errors[i]) {
      try {
        std::rethrow_exception(errors[i]);
      } catch (const Error& e) {
        throw Error(cat("series '", all.store.name(mine[i]), "': ", e.what()));
      }
    }
  if (!comm.distributed()) return runs;
  // Gather on rank 0: each rank's runs as one blob (JSON of each run, then its artifact's bytes).
  std::string blob;
  std::size_t bytes = 0;
  for (const SeriesRun& run : runs) bytes += run.artifact.size() + 4096;
  blob.reserve(bytes);  // one allocation: the artifacts can be tens of MB
  auto put = [&](const std::string& bytes) {
    const std::uint64_t n = bytes.size();
    blob.append(reinterpret_cast<const char*>(&n), sizeof n);
    blob += bytes;
  };
  for (const SeriesRun& run : runs) {
    put(json{{"name", run.name}, {"summary", run.summary}, {"test", run.test}, {"rank", run.rank}, {"stored", run.stored}}
            .dump());
    put(run.artifact);
  }
  const std::vector<std::string> blobs = comm.gather_to_root(blob);
  if (!comm.root()) return {};
  std::vector<SeriesRun> out(S);
  for (std::size_t q = 0; q < R; ++q) {
    const std::string& b = blobs[q];
    std::size_t at = 0;
    auto get = [&] {
      std::uint64_t n = 0;
      NTN_CHECK(at + sizeof n <= b.size(), "rank ", q, ": truncated results");
      std::memcpy(&n, b.data() + at, sizeof n);
      at += sizeof n;
      NTN_CHECK(n <= b.size() - at, "rank ", q, ": truncated results");
      std::string v = b.substr(at, n);
      at += n;
      return v;
    };
    for (std::size_t s = q; s < S; s += R) {
      const json meta = json::parse(get());
      SeriesRun& run = out[s];
      run.name = meta["name"].get<std::string>();
      run.summary = meta["summary"];
      run.test = meta["test"];
      run.rank = meta["rank"].get<int>();
      run.stored = meta["stored"].get<bool>();
      run.artifact = get();
    }
  }
  return out;
}

void apply_settings(json& cfg, const std::vector<std::string>& settings) {
  for (const std::string& s : settings) {
    const auto eq = s.find('=');
    NTN_CHECK(eq != std::string::npos && eq > 0, "--set '", s, "': expected key=value (e.g. pooling=avg)");
    const std::string key = s.substr(0, eq), text = s.substr(eq + 1);
    NTN_CHECK(key != "type", "--set type=...: choose the model with --model");
    NTN_CHECK(!text.empty(), "--set ", key, "=: empty value");
    json v;
    try {
      v = json::parse(text);
    } catch (const json::exception&) {
      v = text;  // a bare word: a string
    }
    cfg[key] = v;
  }
}

void apply_width_depth(json& cfg, std::size_t hidden, std::size_t layers) {
  if (!hidden && !layers) return;
  const json defaults = make_model<float>(json{{"type", cfg.value("type", "nhits")}})->config();
  const std::string type = defaults.at("type").get<std::string>();
  if (defaults.contains("channels")) {  // tcn: every block `hidden` wide (default: its last width), `layers` blocks
    const auto ch = defaults["channels"].get<std::vector<std::size_t>>();
    cfg["channels"] = std::vector<std::size_t>(layers ? layers : ch.size(), hidden ? hidden : ch.back());
    return;
  }
  const bool enc = defaults.contains("encoder_hidden_size");
  const char* wf = enc ? "encoder_hidden_size" : "hidden_size";
  const char* df = enc ? "encoder_n_layers" : "num_layers";
  NTN_CHECK(!hidden || defaults.contains(wf), "--hidden: ", type, " has no single hidden width (set its fields with --set",
            defaults.contains("mlp_units") ? ", or --mlp-units" : "", ")");
  NTN_CHECK(!layers || defaults.contains(df), "--layers: ", type, " has no single layer count (set its fields with --set)");
  if (hidden) cfg[wf] = hidden;
  if (layers) cfg[df] = layers;
}

}  // namespace ntn
