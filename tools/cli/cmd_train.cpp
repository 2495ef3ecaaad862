// ntneural train: options -> TrainJob -> train_job (the library call) -> test scores -> artifact.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "ntn/auto.h"
#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/jobs.h"
#include "ntn/models.h"
#include "ntn/parallel.h"
#include "ntn/safetensors.h"
#include "ntn/timing.h"
#include "report.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct TrainOpts {
  DataOpts data;
  std::string model = "nhits", config, out, mlp_units, activation, pooling, interpolation;
  std::size_t input_size = 0, horizon = 0, hidden = 0, layers = 0;
  float dropout = -1.0f;
  std::string loss, quantiles, distribution;
  float huber_delta = 1.0f;
  std::string optimizer = "adam", schedule = "step", window_scaler, decay_on = "all";
  float lr = 1e-3f, weight_decay = 0.0f, clip = 0.0f;
  std::size_t lr_decays = 3;
  std::uint64_t max_steps = 1000, epochs = 0, seed = 1, val_every = 100, patience = 5, checkpoint_every = 0;
  std::size_t batch = 32, micro = 4, val_batch = 1024;
  double min_delta = 0;
  double dist_timeout = 300;  // seconds a rank waits for the others in a collective (mpirun)
  int threads = 0;
  std::string checkpoint, val_metric = "loss", precision = "fp32";
  std::vector<std::string> settings;  // --set key=value
  bool auto_search = false, auto_refit = false;  // --auto, --auto-refit
  std::size_t auto_candidates = 9, auto_eta = 3;
  std::uint64_t auto_seed = 1;
  std::string auto_space, auto_metric;
  std::size_t ensemble = 0;            // --ensemble K (0: one model)
  std::string ensemble_combine = "median";
  std::vector<std::string> fixed;      // training settings given on the command line (not searched)
  bool no_restore_best = false, resume = false, json = false, quiet = false;
  bool per_series = false;  // --per-series: one model per series, --out a directory
  std::string register_to;  // --register DB[:NAME]
  std::string init_from;    // --init-from CHECKPOINT | registry:DB:REF
  PlotRequest plot;         // --plot FILE (.svg: the learning curve; .html: the run's report)
  std::string conformal = "0.8,0.95", conformal_score = "absolute";
  double conformal_half_life = 0;
};

json load_config(const std::string& s, const char* flag = "--config") {
  if (s.empty()) return json::object();
  std::string text = s;
  if (std::filesystem::exists(s)) text = read_file(s);
  try {
    json j = json::parse(text);
    NTN_CHECK(j.is_object(), flag, ": expected a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(cat(flag, ": '", s, "' is neither a readable file nor valid JSON (", e.what(), ")"));
  }
}

json parse_mlp_units(const std::string& s) {
  json units = json::array();
  for (const auto& pair : split_list(s, "--mlp-units")) {
    const auto x = pair.find('x');
    NTN_CHECK(x != std::string::npos, "--mlp-units: '", pair, "' is not WIDTHxWIDTH (e.g. 512x512)");
    units.push_back({parse_uint("--mlp-units", pair.substr(0, x), limits::kWidth),
                     parse_uint("--mlp-units", pair.substr(x + 1), limits::kWidth)});
  }
  return units;
}

// A file name for a series: its name with every character outside [A-Za-z0-9._-] replaced by '_'
// (and a leading '.' too), prefixed by its position so that two names never meet.
std::string series_file(std::size_t i, const std::string& name) {
  std::string f = cat(i, "_");
  for (char c : name)
    f += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  return f + ".ntn";
}

// Whether every rank sees `dir` (one machine, or a shared file system): rank 0 creates it with a
// probe file in it and every rank looks for the probe. On one rank it only creates it.
bool every_rank_sees(dist::Comm& comm, const std::string& dir) {
  namespace fs = std::filesystem;
  if (!comm.distributed()) {
    fs::create_directories(dir);
    return true;
  }
  char name[64] = {};
  if (comm.root()) {
    fs::create_directories(dir);
    std::snprintf(name, sizeof name, ".ntneural-probe-%d-%llx", int(::getpid()),
                  (unsigned long long)(now_s() * 1e9));
    write_file_atomic((fs::path(dir) / name).string(), "");
  }
  comm.broadcast(name, sizeof name);
  std::error_code ec;
  const double seen = fs::exists(fs::path(dir) / name, ec) ? 1 : 0;
  std::vector<double> all(std::size_t(comm.size()));
  comm.gather_parts(all.size(), &seen, all.data());
  if (comm.root()) fs::remove(fs::path(dir) / name, ec);
  return std::all_of(all.begin(), all.end(), [](double v) { return v == 1; });
}

int run_per_series(const TrainOpts& o, TrainJob& job, dist::Comm& comm,
                   const std::vector<std::pair<const char*, std::string>>& inputs) {
  job.on_log = nullptr;  // many models at once: one line per model below, not progress bars
  const double t0 = now_s();
  auto path_of = [&](std::size_t i, const std::string& name) {
    const std::string path = (std::filesystem::path(o.out) / series_file(i, name)).string();
    check_output_path("--out", path, inputs);
    return path;
  };
  // Where every rank sees the directory, each rank writes the models it trains as they finish,
  // from its threads; elsewhere rank 0 receives their bytes and writes them. summary.json, written
  // last by rank 0, lists the models of a job that finished.
  SeriesSink sink;
  if (every_rank_sees(comm, o.out))
    sink = [&](std::size_t s, const SeriesRun& r) {
      write_file_atomic(path_of(s, r.name), r.artifact);
      return true;
    };
  const std::vector<SeriesRun> runs = train_per_series(job, comm, sink);
  if (!comm.root()) return 0;
  json list = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const SeriesRun& r = runs[i];
    const std::string path = path_of(i, r.name);
    if (!r.stored) write_file_atomic(path, r.artifact);
    list.push_back(
        {{"series", r.name}, {"model", path}, {"rank", r.rank}, {"summary", r.summary}, {"test", r.test}});
  }
  const json result = {
      {"per_series", list}, {"ranks", comm.size()}, {"threads", num_threads()}, {"seconds", now_s() - t0}};
  write_file_atomic((std::filesystem::path(o.out) / "summary.json").string(), result.dump(1) + "\n");
  if (o.json) {
    std::printf("%s\n", result.dump().c_str());
    return 0;
  }
  std::printf("%zu models in %s (%d ranks x %d threads, %.1f s)\n", runs.size(), o.out.c_str(), comm.size(),
              num_threads(), now_s() - t0);
  // The protocol's test metrics (m4: sMAPE and MASE; else MAE and MSE).
  const bool m4 = job.data.protocol == Protocol::m4;
  const char *m1 = m4 ? "smape" : "mae", *m2 = m4 ? "mase" : "mse";
  std::printf("  %-24s %6s %12s %12s %12s\n", "series", "steps", "best val", cat("test ", m1).c_str(),
              cat("test ", m2).c_str());
  for (const json& e : list) {
    const json& s = e["summary"];
    const json& t = e["test"];
    auto num = [](const json& j, const char* k) {
      return j.is_object() && j.contains(k) && j[k].is_number() ? cat(j[k].get<double>()) : std::string("-");
    };
    std::printf("  %-24s %6llu %12s %12s %12s\n", e["series"].get<std::string>().c_str(),
                (unsigned long long)s.value("steps", std::uint64_t(0)), num(s, "best_val_loss").c_str(),
                num(t, m1).c_str(), num(t, m2).c_str());
  }
  return 0;
}

int run_train(const TrainOpts& o) {
  set_num_threads(o.threads);
  dist::Comm& comm = dist::world();  // one rank unless launched by mpirun / srun
  comm.set_timeout(o.dist_timeout);
  const std::string config_file = !o.config.empty() && std::filesystem::exists(o.config) ? o.config : "";
  // --init-from: a checkpoint file, or the one registered with a model (whose uuid becomes the
  // registered result's parent).
  std::string init_from, init_parent;
  if (!o.init_from.empty()) {
    NTN_CHECK(!o.per_series && !o.auto_search && !o.ensemble,
              "--init-from continues one model: not with --per-series, --auto or --ensemble");
    init_from = resolve_checkpoint_file(o.init_from, &init_parent);
    NTN_CHECK(std::ifstream(init_from).good(), "--init-from '", o.init_from, "': cannot read '", init_from, "'");
  }
  const std::vector<std::pair<const char*, std::string>> inputs = {{"--data", o.data.path},
                                                                   {"--test-data", o.data.test_path},
                                                                   {"--config", config_file},
                                                                   {"--checkpoint", o.checkpoint},
                                                                   {"--init-from", init_from}};
  if (o.per_series) {
    NTN_CHECK(!o.auto_search && !o.ensemble,
              "--per-series trains one plain model per series: not with --auto or --ensemble");
    std::error_code ec;
    NTN_CHECK(!std::filesystem::exists(o.out, ec) || std::filesystem::is_directory(o.out, ec), "--out '",
              o.out,
              "' exists and is not a directory: with --per-series it names the directory of the models");
  } else {
    check_output_path("--out", o.out, inputs);
  }
  PlotRequest plot = o.plot;
  if (!plot.out.empty()) {
    NTN_CHECK(!o.per_series, "--plot draws one model: not with --per-series (draw each with `ntneural plot`)");
    plot.model = o.out;
    plot.data = o.data;
    // A covariate model's pictures read its target and covariate columns by name (the artifact's).
    if (!(o.data.target.empty() && o.data.hist_exog.empty() && o.data.futr_exog.empty() && o.data.static_cols.empty() &&
          o.data.calendar.empty()))
      plot.data.columns = plot.data.target = plot.data.hist_exog = plot.data.futr_exog = plot.data.static_cols =
          plot.data.calendar = "";
    plot.command = "train";
    auto ins = inputs;
    ins.emplace_back("--out", o.out);
    check_plot_request(plot, "--plot", ins);
  }
  // --register: the registry is opened (and the name checked) before any training.
  std::string reg_db, reg_name;
  if (!o.register_to.empty()) {
    NTN_CHECK(!o.per_series, "--register takes one model: not with --per-series (register each file with `ntneural "
              "registry add`)");
    const std::size_t colon = o.register_to.rfind(':');
    reg_db = colon == std::string::npos ? o.register_to : o.register_to.substr(0, colon);
    reg_name = colon == std::string::npos ? std::filesystem::path(o.out).stem().string() : o.register_to.substr(colon + 1);
    NTN_CHECK(!reg_db.empty(), "--register '", o.register_to, "': expected DB or DB:NAME");
    if (comm.root()) {
      const Registry reg = Registry::open(reg_db);
      Registry::check_name(reg_name);
      // A model continued from another registry: its parent is not in this one (checked now, not
      // after the training, where registering would fail).
      if (!init_parent.empty()) {
        try {
          reg.get(init_parent);
        } catch (const Error&) {
          std::fprintf(stderr, "ntneural: note: --init-from's model %s is not in '%s': the new model is registered "
                       "without a parent\n", init_parent.c_str(), reg_db.c_str());
          init_parent.clear();
        }
      }
    }
  }
  if (!o.checkpoint.empty()) {
    std::vector<std::pair<const char*, std::string>> ins = {
        {"--data", o.data.path}, {"--test-data", o.data.test_path}, {"--config", config_file}};
    // A registered checkpoint is never written over; a checkpoint file may be continued in place.
    if (!init_parent.empty()) ins.emplace_back("--init-from", init_from);
    check_output_path("--checkpoint", o.checkpoint, ins);
  }
  TrainJob job;
  job.data = data_spec(o.data);
  // Model config: --config, then the per-model flags (aliases of fields), then --set key=value.
  json& cfg = job.model = load_config(o.config);
  cfg["type"] = o.model;
  if (o.input_size) cfg["input_size"] = o.input_size;
  if (o.horizon) cfg["horizon"] = o.horizon;
  if (!o.mlp_units.empty()) cfg["mlp_units"] = parse_mlp_units(o.mlp_units);
  apply_width_depth(cfg, o.hidden, o.layers);
  if (!o.activation.empty()) cfg["activation"] = o.activation;
  if (!o.pooling.empty()) cfg["pooling"] = o.pooling;
  if (!o.interpolation.empty()) cfg["interpolation"] = o.interpolation;
  if (o.dropout >= 0) cfg["dropout"] = o.dropout;
  apply_settings(cfg, o.settings);
  TrainConfig& tc = job.train;
  tc.max_steps = o.max_steps;
  tc.epochs = o.epochs;
  tc.batch_size = o.batch;
  tc.micro_batches = o.micro;
  tc.val_batch = o.val_batch;
  tc.seed = o.seed;
  const std::string loss = !o.loss.empty() ? o.loss : default_loss(o.model);
  tc.loss = parse_loss(loss, parse_floats(o.quantiles, "--quantiles", limits::kQuantile), o.huber_delta,
                       o.distribution);
  tc.optim.name = o.optimizer;
  tc.optim.lr = o.lr;
  tc.optim.weight_decay = o.weight_decay;
  tc.optim.decay_on = o.decay_on;
  tc.clip_norm = o.clip;
  tc.schedule.name = o.schedule;
  const std::string window_scaler =
      !o.window_scaler.empty() ? o.window_scaler : default_window_scaler(o.model, job.data.protocol, tc.loss);
  tc.window_scaling = parse_window_scaling(window_scaler);
  tc.val_every = o.val_every;
  tc.patience = o.patience;
  tc.min_delta = o.min_delta;
  tc.restore_best = !o.no_restore_best;
  tc.val_metric = o.val_metric;
  tc.precision = o.precision;
  tc.checkpoint_path = o.checkpoint;
  tc.checkpoint_every = o.checkpoint_every;
  tc.log_every = o.quiet ? 0 : 50;
  tc.lr_decays = o.lr_decays;
  job.resume = o.resume;
  job.init_from = init_from;
  job.conformal_levels = o.conformal == "none" ? std::vector<double>{}
                                                : parse_real_list("--conformal", o.conformal, {1e-6, 1 - 1e-6});
  for (std::size_t k = 1; k < job.conformal_levels.size(); ++k)  // checked before any training
    NTN_CHECK(job.conformal_levels[k] > job.conformal_levels[k - 1], "--conformal: levels must increase (",
              job.conformal_levels[k - 1], " then ", job.conformal_levels[k], ")");
  job.conformal_score = parse_conformal_score(o.conformal_score);
  NTN_CHECK(std::isfinite(o.conformal_half_life) && o.conformal_half_life >= 0 && o.conformal_half_life <= 1e15,
            "--conformal-half-life must be a finite number of time steps >= 0 (0: every window weighs the same; got ",
            o.conformal_half_life, ")");
  job.conformal_half_life = o.conformal_half_life;
  if (job.conformal_score == ConformalScore::head && !job.conformal_levels.empty())  // before any training
    check_conformal_head(output_spec(tc.loss), "--conformal-score head");
  NTN_CHECK(!o.resume || !o.checkpoint.empty(), "--resume needs --checkpoint FILE");
  if (!o.quiet) job.on_log = report_progress;
  if (o.per_series) return run_per_series(o, job, comm, inputs);
  TrainResult r;
  AutoSpec aspec;
  aspec.candidates = o.auto_candidates;
  aspec.eta = o.auto_eta;
  aspec.seed = o.auto_seed;
  aspec.metric = o.auto_metric;
  aspec.fixed = o.fixed;
  aspec.refit = o.auto_refit;
  if (o.auto_search && !o.auto_space.empty()) aspec.space = load_config(o.auto_space, "--auto-space");
  if (o.auto_search && !o.quiet)
    aspec.on_trial = [](const json& t) {
      std::fprintf(stderr, "auto: rung %zu/%zu trial %zu/%zu: %llu steps, ", t["rung"].get<std::size_t>() + 1,
                   t["rungs"].get<std::size_t>(), t["trial"].get<std::size_t>() + 1, t["trials"].get<std::size_t>(),
                   (unsigned long long)t["steps"].get<std::uint64_t>());
      if (t["score"].is_null())
        std::fprintf(stderr, "failed: %s\n", t["error"].get<std::string>().c_str());
      else
        std::fprintf(stderr, "validation %s %.5g (%.1f s)\n", t["metric"].get<std::string>().c_str(),
                     t["score"].get<double>(), t["seconds"].get<double>());
    };
  if (o.auto_search) NTN_CHECK(!o.resume, "--auto cannot --resume (each candidate keeps its own state)");
  if (o.ensemble) {
    EnsembleSpec spec;
    spec.members = o.ensemble;
    spec.combine = o.ensemble_combine;
    spec.metric = o.auto_metric;
    spec.refit = o.auto_refit;
    if (o.input_size) spec.multipliers.clear();
    if (!o.loss.empty()) spec.losses.clear();
    if (!o.quiet)
      spec.on_member = [&](const json& m) {
        std::fprintf(stderr, "ensemble: member %zu/%zu (input %zu, loss %s, seed %llu): %llu steps, validation %s in %.1f s\n",
                     m["member"].get<std::size_t>() + 1, o.ensemble, m["input_size"].get<std::size_t>(),
                     m["loss"].get<std::string>().c_str(), (unsigned long long)m["seed"].get<std::uint64_t>(),
                     (unsigned long long)m["steps"].get<std::uint64_t>(),
                     m.contains("score") ? cat(m["score"].get<double>()).c_str() : "-", m["seconds"].get<double>());
      };
    r = o.auto_search ? auto_ensemble_train(job, aspec, spec) : ensemble_train(job, spec);
  } else if (o.auto_search) {
    r = auto_train(job, aspec);
  } else {
    r = train_job(job);
  }
  const Artifact& a = r.artifact;
  const TrainSummary& summary = r.summary;
  json result = {{"model", o.out},
                 {"uuid", a.uuid},
                 {"model_type", a.model->type()},
                 {"parameters", a.model->params().count()},
                 {"input_size", a.model->input_size()},
                 {"horizon", a.model->horizon()},
                 {"train", summary.to_json()}};
  if (a.covariates.counts().any()) result["covariates"] = a.covariates.to_json();
  if (!r.members.empty()) {  // each member scored alone on the test part, beside the ensemble
    json ms = r.search["member_runs"];
    for (std::size_t k = 0; k < r.members.size(); ++k)
      if (!r.prepared.test.empty()) ms[k]["test"] = evaluate_test(r.members[k], r.prepared).to_json();
    result["ensemble"] = {{"members", ms}, {"combine", r.search["combine"]}, {"metric", r.search["metric"]},
                          {"score", r.search.value("score", json(nullptr))}, {"seconds", r.search["seconds"]}};
    if (r.search.contains("auto"))
      result["ensemble"]["auto"] = {{"chosen_params", r.search["auto"]["chosen_params"]},
                                    {"best_val", r.search["auto"]["best_val"]},
                                    {"seconds", r.search["auto"]["seconds"]}};
  } else if (!r.search.is_null()) {  // the whole search is in the artifact; here what was chosen and what it cost
    const json& sr = r.search;
    result["search"] = {{"chosen", sr["chosen"]},      {"chosen_params", sr["chosen_params"]},
                        {"metric", sr["metric"]},      {"best_val", sr["best_val"]},
                        {"candidates", sr["candidates"]}, {"rungs", sr["rungs"]},
                        {"seconds", sr["seconds"]},
                        {"refit", sr.value("refit", json(nullptr))}};
    std::uint64_t steps = 0;  // every candidate's steps: what the search cost
    for (const json& t : sr["trials"]) steps += t["steps"].get<std::uint64_t>();
    result["search"]["steps"] = steps;
  }
  if (!r.prepared.test.empty()) result["test"] = evaluate_test(a, r.prepared).to_json();
  if (a.training.contains("conformal")) result["conformal"] = a.training["conformal"];
  // After the test scoring: a model whose forecasts cannot be scored is never written. Every rank
  // holds the same weights; rank 0 writes them (atomically, as always).
  if (comm.root()) a.save(o.out);
  if (comm.root() && !reg_db.empty()) {
    RegisterSpec spec;
    spec.name = reg_name;
    spec.checkpoint = o.checkpoint;  // the state at the end of training (with the optimizer's)
    spec.parent = init_parent;
    if (summary.best_val_loss >= 0) spec.metrics["val_loss"] = summary.best_val_loss;
    if (result.contains("test"))
      for (const auto& [k, v] : result["test"].items())
        if (v.is_number() && k != "windows" && k != "season" && k != "horizon" && k != "series" &&
            std::isfinite(v.get<double>()))
          spec.metrics["test_" + k] = v;
    if (auto d = describe_artifact_data(a, o.data.season)) spec.signature = d->signature, spec.data = d->data;
    const ModelRecord rec = Registry::open(reg_db).add_file(o.out, spec);
    result["registered"] = {{"registry", reg_db}, {"name", rec.name}, {"version", rec.version}, {"signature", !rec.signature.empty()}};
  }
  std::string plot_line;
  if (comm.root() && !plot.out.empty()) {
    if (result.contains("test")) plot.metrics = {{"test", result["test"]}};
    plot_line = write_plot(plot);
    result["plot"] = plot.out;
  }
  if (o.json) {
    std::printf("%s\n", result.dump().c_str());
  } else {
    if (result.contains("ensemble")) {
      const json& e = result["ensemble"];
      const std::string vm = e["metric"].get<std::string>();
      const char* tm = r.prepared.protocol == Protocol::m4 ? "smape" : r.prepared.protocol == Protocol::ltsf ? "mse" : "mae";
      if (e.contains("auto"))
        std::printf("auto: chose %s (validation %.5g) in %.1f s; the members take its settings\n",
                    e["auto"]["chosen_params"].dump().c_str(), e["auto"]["best_val"].get<double>(),
                    e["auto"]["seconds"].get<double>());
      std::printf("ensemble: %zu members combined by the %s, %.1f s in all\n", e["members"].size(),
                  e["combine"].get<std::string>().c_str(), e["seconds"].get<double>());
      std::printf("  %6s %6s %6s %6s %6s %12s %12s\n", "member", "input", "loss", "seed", "steps",
                  cat("val ", vm).c_str(), cat("test ", tm).c_str());
      for (const json& m : e["members"])
        std::printf("  %6zu %6zu %6s %6llu %6llu %12s %12s\n", m["member"].get<std::size_t>(),
                    m["input_size"].get<std::size_t>(), m["loss"].get<std::string>().c_str(),
                    (unsigned long long)m["seed"].get<std::uint64_t>(), (unsigned long long)m["steps"].get<std::uint64_t>(),
                    m.contains("score") ? cat(m["score"].get<double>()).c_str() : "-",
                    m.contains("test") ? cat(m["test"][tm].get<double>()).c_str() : "-");
      if (result.contains("test"))
        std::printf("  %6s %6s %6s %6s %6s %12s %12s\n", "all", "", "", "", "",
                    e["score"].is_null() ? "-" : cat(e["score"].get<double>()).c_str(),
                    cat(result["test"][tm].get<double>()).c_str());
    }
    if (!r.search.is_null() && !result.contains("ensemble")) {
      const json& sr = r.search;
      std::printf("auto: %zu candidates, successive halving over rungs %s (eta %zu), %.1f s in all; validation %s\n",
                  sr["candidates"].get<std::size_t>(), sr["rungs"].dump().c_str(), sr["eta"].get<std::size_t>(),
                  sr["seconds"].get<double>(), sr["metric"].get<std::string>().c_str());
      std::printf("  %5s %5s %6s %10s %8s  %s\n", "trial", "rung", "steps", "score", "seconds", "settings");
      for (const json& t : sr["trials"])
        std::printf("  %5zu %5zu %6llu %10s %8.1f  %s%s\n", t["trial"].get<std::size_t>(), t["rung"].get<std::size_t>() + 1,
                    (unsigned long long)t["steps"].get<std::uint64_t>(),
                    t.contains("score") ? cat(t["score"].get<double>()).c_str() : "failed", t["seconds"].get<double>(),
                    t["params"].dump().c_str(), t["trial"] == sr["chosen"] ? "  <- chosen" : "");
    }
    std::printf("model saved to %s (%s, %zu parameters, uuid %s)\n", o.out.c_str(), a.model->type().c_str(),
                a.model->params().count(), a.uuid.c_str());
    if (result.contains("registered"))
      std::printf("registered in %s as %s@%lld\n", reg_db.c_str(), reg_name.c_str(),
                  (long long)result["registered"]["version"].get<std::int64_t>());
    if (a.model->fits_directly())
      std::printf("fitted on each window's history (no gradient steps): validation in %.1f s", summary.seconds);
    else
      std::printf("trained %llu steps in %.1f s, last train loss %.5f", (unsigned long long)summary.steps,
                  summary.seconds, summary.last_train_loss);
    if (result.contains("ensemble") && summary.best_val_loss >= 0)
      std::printf(", ensemble validation %s %.5f", result["ensemble"]["metric"].get<std::string>().c_str(),
                  summary.best_val_loss);
    else if (summary.best_val_loss >= 0)
      std::printf(", best validation loss %.5f at step %llu", summary.best_val_loss,
                  (unsigned long long)summary.best_step);
    std::printf("\n");
    if (result.contains("test")) {
      const json& t = result["test"];
      std::printf("test: %zu windows, %s scale\n", t["windows"].get<std::size_t>(),
                  t["scale"].get<std::string>().c_str());
      const bool sn = t.contains("seasonal_naive");
      std::printf("  %-22s %12s %12s", "metric", "model", "naive");
      if (sn) std::printf(" %12s", cat("snaive(", t["season"].get<std::size_t>(), ")").c_str());
      std::printf("\n");
      for (const char* k : {"mae", "mse", "smape", "mase"})
        if (t.contains(k)) {
          std::printf("  %-22s %12.5g %12.5g", k, t[k].get<double>(), t["naive"].value(k, -1.0));
          if (sn) std::printf(" %12.5g", t["seasonal_naive"].value(k, -1.0));
          std::printf("\n");
        }
      std::printf("  %-22s %12.3f\n", "directional_accuracy", t["directional_accuracy"].get<double>());
      if (t.contains("mae_over_naive"))
        std::printf("  %-22s %12.3f\n", "mae_over_naive", t["mae_over_naive"].get<double>());
      if (t.contains("probabilistic")) {  // a distribution model: scored from its sample paths
        const json& pr = t["probabilistic"];
        std::printf("  from %zu sample paths per window (seed %llu):\n", pr["paths"].get<std::size_t>(),
                    (unsigned long long)pr["seed"].get<std::uint64_t>());
        std::printf("  %-22s %12.5g\n", "crps", pr["crps"].get<double>());
        std::printf("  %-22s %12.5g\n", "median mae", pr["median"]["mae"].get<double>());
        for (const json& iv : pr["intervals"])
          std::printf("  %-22s %12.3f  (mean width %.5g)\n",
                      cat(iv["level"].get<double>() * 100, "% coverage").c_str(), iv["coverage"].get<double>(),
                      iv["mean_width"].get<double>());
      }
      if (t.contains("intervals")) {  // split-conformal intervals of the point forecast
        const json& ci = t["intervals"];
        std::printf("  split conformal (%s score, %zu calibration windows):\n", ci["score"].get<std::string>().c_str(),
                    ci["calibration_windows"].get<std::size_t>());
        for (const json& iv : ci["levels"])
          std::printf("  %-22s %12.3f  (mean width %.5g%s)\n",
                      cat(iv["level"].get<double>() * 100, "% coverage").c_str(), iv["coverage"].get<double>(),
                      iv["mean_width"].get<double>(),
                      iv.contains("msis") ? cat(", msis ", iv["msis"].get<double>()).c_str() : "");
      }
    }
    if (result.contains("conformal")) std::printf("note: conformal: %s\n", result["conformal"].value("skipped", "").c_str());
    if (!plot_line.empty()) std::printf("plot: %s\n", plot_line.c_str());
  }
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOpts>();
  add_data_options(app, o->data, true);
  add_covariate_options(app, o->data);
  app.add_option("--model", o->model, "Model type (default nhits): " + model_names() + " (ntneural models)");
  app.add_option("--config", o->config, "Model config: a JSON file or inline JSON (flags below override it)");
  app.add_option("--set", o->settings,
                 "Model config field, repeatable: key=value (JSON or a word), e.g. --set pooling=avg --set "
                 "'mlp_units=[[256,256]]'; validated by the model's config (overrides --config and the flags)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--out", o->out, "Artifact to write (safetensors + JSON metadata)")->required();
  app.add_option("--register", o->register_to,
                 "Also register the model in this registry file: DB (named after --out's file) or DB:NAME; its "
                 "metrics are val_loss and the test_* scores, its signature that of the training data; with --checkpoint "
                 "the checkpoint at the end of training too (what --init-from continues)");
  add_uint(app, "--input-size", o->input_size, limits::kWindow, "Input window L (default: m4 2H, ltsf 5H, else max(2H, 168, a week of sub-daily dates: 30 min 336), shortened so that a quarter of the training rows start a window)");
  add_uint(app, "--horizon", o->horizon, limits::kHorizon, "Forecast horizon H (default 24; m4: from the test file)");
  app.add_option("--mlp-units", o->mlp_units, "Block MLP pairs, e.g. 512x512,512x512 (nhits/nbeats)");
  add_uint(app, "--hidden", o->hidden, limits::kWidth, "Hidden width: mlp hidden_size, recurrent encoder_hidden_size, tcn channels of every block");
  add_uint(app, "--layers", o->layers, limits::kLayers, "Hidden layers: mlp num_layers, recurrent encoder_n_layers, tcn blocks");
  app.add_option("--activation", o->activation, "relu, gelu, tanh, sigmoid, softplus, silu");
  app.add_option("--pooling", o->pooling, "nhits pooling: max or avg");
  app.add_option("--interpolation", o->interpolation, "nhits interpolation: linear or nearest");
  add_real(app, "--dropout", o->dropout, limits::kDropout, "Dropout probability after each hidden activation");
  app.add_option("--loss", o->loss,
                 "mae (default), mse, huber, mq (multi-quantile, needs --quantiles), nll (negative log-likelihood of "
                 "a distribution head; the default for deepar)");
  app.add_option("--distribution", o->distribution,
                 "--loss nll: gaussian, student_t (default) or negative_binomial (counts; with --scaler mean)");
  app.add_option("--quantiles", o->quantiles, "Quantile levels for --loss mq, e.g. 0.1,0.5,0.9");
  add_real(app, "--huber-delta", o->huber_delta, limits::kHuberDelta, "Huber delta");
  app.add_option("--optimizer", o->optimizer, "adam (default), adamw, sgd, rmsprop");
  add_real(app, "--lr", o->lr, limits::kLr, "Learning rate (default 1e-3)");
  add_real(app, "--weight-decay", o->weight_decay, limits::kWeightDecay, "Weight decay");
  app.add_option("--decay-on", o->decay_on,
                 "Parameters that decay: all (default, as PyTorch) or weights (matrices, kernels, embeddings; "
                 "not biases or norms)")
      ->check(CLI::IsMember({"all", "weights"}));
  app.add_option("--schedule", o->schedule, "step (default: halve --lr-decays times), cosine, constant, plateau");
  add_uint(app, "--lr-decays", o->lr_decays, limits::kLrDecays, "Number of halvings of the step schedule (default 3)");
  add_real(app, "--clip", o->clip, limits::kClip, "Global gradient-norm clip (0: off)");
  add_uint(app, "--max-steps", o->max_steps, limits::kSteps, "Optimizer steps (default 1000)");
  add_uint(app, "--epochs", o->epochs, limits::kEpochs, "Train for this many epochs instead of --max-steps");
  add_uint(app, "--batch", o->batch, limits::kBatch, "Windows per batch (default 32)");
  add_uint(app, "--micro-batches", o->micro, limits::kMicroBatches, "Fixed micro-batch split of each batch (default 4)");
  add_uint(app, "--val-batch", o->val_batch, limits::kBatch, "Windows per validation batch");
  app.add_option("--window-scaler", o->window_scaler, "Per-window scaling: none, standard, robust (default: m4 robust, --loss nll with gaussian / student_t "
                 "standard, else none)");
  add_uint(app, "--seed", o->seed, limits::kSeed, "Random seed (weights, data order, dropout)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all); under mpirun, threads per rank");
  app.add_flag(
      "--per-series", o->per_series,
      "One model per series (same settings and seed each; --out is then a directory of <i>_<series>.ntn "
      "and summary.json); series spread over the threads and, under mpirun, the ranks; results written by "
      "rank 0");
  add_real(app, "--dist-timeout", o->dist_timeout, RealRange{1e-3, 1e7},
           "Under mpirun: seconds a rank waits for the others before ending the job naming the missing rank (default 300)");
  add_uint(app, "--val-every", o->val_every, limits::kEvery, "Validate every N steps (0: never)");
  add_uint(app, "--patience", o->patience, limits::kPatience,
           "Early stopping after N validations without improvement (default 5; 0: off)");
  add_real(app, "--min-delta", o->min_delta, limits::kMinDelta, "Improvement that resets the patience");
  app.add_flag("--no-restore-best", o->no_restore_best,
               "Keep the last step's weights (default: end with the weights of the best validation)");
  app.add_option("--val-metric", o->val_metric,
                 "What validation scores: loss (default: the training loss on the scaled outputs), or mae, mse, "
                 "smape of the point forecast on the data's scale")
      ->check(CLI::IsMember({"loss", "mae", "mse", "smape"}));
  app.add_option("--precision", o->precision,
                 "fp32 (default) or bf16: mixed precision, every Linear product with bfloat16 operands and fp32 "
                 "accumulation (vdpbf16ps), fp32 weights, gradients and optimizer state; needs a CPU with "
                 "AVX512_BF16. The artifact holds fp32 weights either way")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--checkpoint", o->checkpoint, "Checkpoint file (written atomically)");
  add_uint(app, "--checkpoint-every", o->checkpoint_every, limits::kEvery, "Steps between checkpoints");
  app.add_flag("--resume", o->resume, "Continue from --checkpoint if it exists");
  app.add_option("--conformal", o->conformal,
                 "Split-conformal interval levels calibrated on the validation windows and stored with the model "
                 "(default 0.8,0.95; none: no intervals)");
  app.add_option("--conformal-score", o->conformal_score,
                 "Conformal score: absolute (residuals in the series' scaled units, default), window (residuals "
                 "over the window's mean absolute step: intervals follow recent volatility) or head (residuals over "
                 "the quantile or distribution head's own spread: conformalised quantiles / distributions)");
  app.add_option("--conformal-half-life", o->conformal_half_life,
                 "Weigh the calibration windows by recency: a window T time steps older than its series' last one "
                 "weighs half as much (weighted split conformal for drifting data; 0, the default: all the same)");
  app.add_option("--init-from", o->init_from,
                 "Fine-tune / refit: start from this checkpoint (a file, or registry:DB:REF - the one registered "
                 "with that model, which becomes the new model's parent) instead of fresh weights; same model and "
                 "training settings, a larger --max-steps");
  app.add_flag("--auto", o->auto_search,
               "Search the model's default space (input size, learning rate, batch, window scaler, seed, calendar features on dated data, model "
               "knobs; README 'Automatic configuration') by successive halving on the validation part, then keep the best; settings "
               "given on the command line are not searched");
  app.add_flag("--auto-refit", o->auto_refit,
               "--auto: train the chosen configuration again on the training and validation parts, for the steps at "
               "which its validation was best (as the NHITS authors' long-horizon results do); the test part stays unseen; "
               "with --ensemble, each member");
  add_uint(app, "--auto-candidates", o->auto_candidates, {1, 10000}, "--auto: configurations drawn (default 9)");
  add_uint(app, "--auto-eta", o->auto_eta, {2, 100}, "--auto: each rung keeps the best 1/eta (default 3)");
  add_uint(app, "--auto-seed", o->auto_seed, limits::kSeed, "--auto: seed of the draws (default 1)");
  app.add_option("--auto-space", o->auto_space, "--auto: the space as a JSON file or inline JSON (replaces the default)");
  app.add_option("--auto-metric", o->auto_metric,
                 "--auto / --ensemble: validation metric (default: smape for m4, else mae)")
      ->check(CLI::IsMember({"mae", "mse", "smape"}));
  add_uint(app, "--ensemble", o->ensemble, {0, 256},
           "Train K members (the N-BEATS recipe: input 2..7 x horizon, loss mae / mse / huber, seed + k; --input-size "
           "or --loss fix them) and store them as one model that forecasts their median (0: one model); with "
           "--auto, the members take the search's chosen settings");
  app.add_option("--ensemble-combine", o->ensemble_combine, "--ensemble: median (default) or mean")
      ->check(CLI::IsMember({"median", "mean"}));
  app.add_flag("--json", o->json, "Print the result as one JSON object");
  app.add_flag("--quiet", o->quiet, "No progress output");
  app.add_option("--plot", o->plot.out,
                 "Draw the trained model: FILE.svg its learning curve, FILE.html the run's report (forecast fans on "
                 "--data, a backtest of its first series, learning curve, test metrics, model card)");
  add_plot_options(app, o->plot);
  return [o, &app] {
    // Training settings given explicitly are fixed in an --auto search.
    for (const auto& [flag, key] : std::vector<std::pair<const char*, const char*>>{
             {"--lr", "lr"}, {"--batch", "batch_size"}, {"--window-scaler", "window_scaling"}, {"--seed", "seed"},
             {"--loss", "loss"}, {"--optimizer", "optimizer"}, {"--weight-decay", "weight_decay"},
             {"--schedule", "schedule"}, {"--clip", "clip_norm"}})
      if (app.count(flag)) o->fixed.push_back(key);
    return run_train(*o);
  };
}

}  // namespace ntn::cli
