// ntneural train / evaluate / predict.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/parallel.h"
#include "ntn/pipeline.h"
#include "ntn/timing.h"
#include "ntn/trainer.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct TrainOpts {
  DataOpts data;
  std::string model = "nhits", config, out, mlp_units, activation, pooling, interpolation;
  std::size_t input_size = 0, horizon = 0, hidden = 0, layers = 0;
  float dropout = -1.0f;
  std::string loss = "mae", quantiles;
  float huber_delta = 1.0f;
  std::string optimizer = "adam", schedule = "step", window_scaler;
  float lr = 1e-3f, weight_decay = 0.0f, clip = 0.0f;
  std::size_t lr_decays = 3;
  std::uint64_t max_steps = 1000, epochs = 0, seed = 1, val_every = 100, patience = 0, checkpoint_every = 0;
  std::size_t batch = 32, micro = 4, val_batch = 1024;
  double min_delta = 0;
  int threads = 0;
  std::string checkpoint;
  bool resume = false, json = false, quiet = false;
};

json load_config(const std::string& s) {
  if (s.empty()) return json::object();
  std::string text = s;
  if (std::filesystem::exists(s)) text = read_file(s);
  try {
    json j = json::parse(text);
    NTN_CHECK(j.is_object(), "--config: expected a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(cat("--config: '", s, "' is neither a readable file nor valid JSON (", e.what(), ")"));
  }
}

json parse_mlp_units(const std::string& s) {
  json units = json::array();
  for (const auto& pair : split_list(s)) {
    const auto x = pair.find('x');
    NTN_CHECK(x != std::string::npos, "--mlp-units: '", pair, "' is not WIDTHxWIDTH (e.g. 512x512)");
    try {
      units.push_back({std::stoul(pair.substr(0, x)), std::stoul(pair.substr(x + 1))});
    } catch (const std::exception&) {
      throw Error(cat("--mlp-units: '", pair, "' is not WIDTHxWIDTH (e.g. 512x512)"));
    }
  }
  return units;
}

int run_train(const TrainOpts& o) {
  set_num_threads(o.threads);
  const DataSpec spec = data_spec(o.data);
  std::size_t H = o.horizon;
  if (H == 0 && spec.protocol != Protocol::m4) H = 24;
  // Input length: the authors' choices per protocol unless given (m4: 2 H, ltsf: 5 H).
  std::size_t L = o.input_size;
  auto default_L = [&](std::size_t h) {
    return spec.protocol == Protocol::m4 ? 2 * h : spec.protocol == Protocol::ltsf ? 5 * h : 168;
  };
  if (L == 0 && H > 0) L = default_L(H);
  Prepared p;
  if (L == 0) {  // m4 with the horizon taken from the test file: read it first
    std::size_t h = 0;
    p = prepare(spec, 1, h);
    H = h;
    L = default_L(H);
  }
  p = prepare(spec, L, H);

  const std::vector<float> quantiles = parse_floats(o.quantiles, "--quantiles");
  json cfg = load_config(o.config);
  cfg["type"] = o.model;
  cfg["input_size"] = L;
  cfg["horizon"] = H;
  cfg["outputs"] = std::max<std::size_t>(quantiles.size(), 1);
  if (!o.mlp_units.empty()) cfg["mlp_units"] = parse_mlp_units(o.mlp_units);
  if (o.hidden) cfg["hidden_size"] = o.hidden;
  if (o.layers) cfg["num_layers"] = o.layers;
  if (!o.activation.empty()) cfg["activation"] = o.activation;
  if (!o.pooling.empty()) cfg["pooling"] = o.pooling;
  if (!o.interpolation.empty()) cfg["interpolation"] = o.interpolation;
  if (o.dropout >= 0) cfg["dropout"] = o.dropout;
  auto model = make_model<float>(cfg);
  model->init(o.seed);

  TrainConfig tc;
  tc.max_steps = o.max_steps;
  tc.epochs = o.epochs;
  tc.batch_size = o.batch;
  tc.micro_batches = o.micro;
  tc.val_batch = o.val_batch;
  tc.seed = o.seed;
  tc.loss = parse_loss(o.loss, quantiles, o.huber_delta);
  tc.optim.name = o.optimizer;
  tc.optim.lr = o.lr;
  tc.optim.weight_decay = o.weight_decay;
  tc.clip_norm = o.clip;
  tc.schedule.name = o.schedule;
  tc.window_scaling = parse_window_scaling(
      !o.window_scaler.empty() ? o.window_scaler : spec.protocol == Protocol::m4 ? "robust" : "none");
  tc.val_every = o.val_every;
  tc.patience = o.patience;
  tc.min_delta = o.min_delta;
  tc.checkpoint_path = o.checkpoint;
  tc.checkpoint_every = o.checkpoint_every;
  tc.log_every = o.quiet ? 0 : 50;
  const std::uint64_t total = total_steps(tc, p.train.size());
  if (tc.schedule.name == "step") {  // the authors' default: halve the rate num_lr_decays times
    tc.schedule.step_size = std::max<std::uint64_t>(1, total / std::max<std::size_t>(o.lr_decays, 1));
    tc.schedule.gamma = 0.5f;
  } else if (tc.schedule.name == "cosine") {
    tc.schedule.total = total;
    tc.schedule.warmup = tc.schedule.total / 20;
  }
  Trainer trainer(*model, p.store, p.train, p.val, tc);
  if (!o.quiet) trainer.on_log = report_progress;
  if (o.resume) {
    NTN_CHECK(!o.checkpoint.empty(), "--resume needs --checkpoint FILE");
    if (std::filesystem::exists(o.checkpoint)) trainer.resume(o.checkpoint);
  }
  const TrainSummary summary = trainer.run();

  Artifact a;
  a.model = std::move(model);
  a.scaling = p.scaling;
  for (std::size_t s = 0; s < p.store.size(); ++s) a.series.push_back(p.store.name(s));
  a.stats = p.stats;
  a.window_scaling = tc.window_scaling;
  a.quantiles = quantiles;
  a.uuid = make_uuid();
  a.version = NTN_VERSION;
  a.created = utc_now_iso8601();
  a.training = {{"config", tc.to_json()}, {"summary", summary.to_json()}, {"data", p.describe()},
                {"threads", num_threads()}};
  a.save(o.out);

  json result = {{"model", o.out},
                 {"uuid", a.uuid},
                 {"model_type", a.model->type()},
                 {"parameters", a.model->params().count()},
                 {"input_size", L},
                 {"horizon", H},
                 {"train", summary.to_json()}};
  if (!p.test.empty()) result["test"] = evaluate_test(a, p).to_json();
  if (o.json) {
    std::printf("%s\n", result.dump().c_str());
  } else {
    std::printf("model saved to %s (%s, %zu parameters, uuid %s)\n", o.out.c_str(), a.model->type().c_str(),
                a.model->params().count(), a.uuid.c_str());
    std::printf("trained %llu steps in %.1f s, last train loss %.5f", (unsigned long long)summary.steps,
                summary.seconds, summary.last_train_loss);
    if (summary.best_val_loss >= 0)
      std::printf(", best validation loss %.5f at step %llu", summary.best_val_loss,
                  (unsigned long long)summary.best_step);
    std::printf("\n");
    if (result.contains("test")) {
      const json& t = result["test"];
      std::printf("test: %zu windows, %s scale\n", t["windows"].get<std::size_t>(),
                  t["scale"].get<std::string>().c_str());
      std::printf("  %-22s %12s %12s\n", "metric", "model", "naive");
      for (const char* k : {"mae", "mse", "smape", "mase"})
        if (t.contains(k))
          std::printf("  %-22s %12.5g %12.5g\n", k, t[k].get<double>(), t["naive"].value(k, -1.0));
      std::printf("  %-22s %12.3f\n", "directional_accuracy", t["directional_accuracy"].get<double>());
      std::printf("  %-22s %12.3f\n", "mae_over_naive", t["mae_over_naive"].get<double>());
    }
  }
  return 0;
}

struct EvalOpts {
  DataOpts data;
  std::string model;
  int threads = 0;
  bool json = false;
};

int run_evaluate(const EvalOpts& o) {
  set_num_threads(o.threads);
  const Artifact a = Artifact::load(o.model);
  std::size_t H = a.model->horizon();
  const Prepared p = prepare(data_spec(o.data), a.model->input_size(), H);
  const TestMetrics m = evaluate_test(a, p);
  json j = m.to_json();
  j["model"] = o.model;
  j["uuid"] = a.uuid;
  print_result(j, o.json);
  return 0;
}

struct PredictOpts {
  DataOpts data;
  std::string model, format = "wide";
  int threads = 0;
  bool json = false;
};

int run_predict(const PredictOpts& o) {
  set_num_threads(o.threads);
  const Artifact a = Artifact::load(o.model);
  const std::size_t L = a.model->input_size(), H = a.model->horizon(), Q = a.model->outputs();
  SeriesStore store;
  std::vector<NormStats> stats;
  auto add = [&](const std::string& name, const std::vector<double>& v, const std::string& src) {
    NTN_CHECK(v.size() >= L, src, ": series '", name, "' has ", v.size(), " values, the model needs the last ", L);
    NormStats st;
    if (a.scaling != SeriesScaling::none) {
      auto it = std::find(a.series.begin(), a.series.end(), name);
      NTN_CHECK(it != a.series.end(), src, ": series '", name, "' was not in the training data; its scaler is ",
                "unknown (trained on ", a.series.size(), " series, e.g. '", a.series.front(), "')");
      st = a.stats[std::size_t(it - a.series.begin())];
    }
    std::vector<double> scaled(v.size());
    normalize(st, v.data(), scaled.data(), v.size());
    store.add(name, scaled.data(), v.size());
    stats.push_back(st);
  };
  if (o.format == "m4") {
    const SeriesSet s = read_m4_csv(o.data.path);
    for (std::size_t i = 0; i < s.size(); ++i) add(s.ids[i], s.values[i], o.data.path);
  } else {
    NTN_CHECK(o.format == "wide", "--format must be wide or m4 (got '", o.format, "')");
    CsvOptions c = data_spec(o.data).csv;
    if (c.columns.empty() && a.scaling != SeriesScaling::none) c.columns = a.series;
    const Frame f = read_wide_csv(o.data.path, c);
    for (std::size_t i = 0; i < f.names.size(); ++i) add(f.names[i], f.cols[i], o.data.path);
  }
  std::vector<WindowRef> w;
  for (std::size_t s = 0; s < store.size(); ++s) w.push_back({std::uint32_t(s), std::uint32_t(store.length(s) - L)});
  std::vector<float> out(w.size() * H * Q);
  const double t0 = now_s();
  predict_windows(*a.model, store, w, a.window_scaling, out.data());
  const double secs = now_s() - t0;
  for (std::size_t s = 0; s < w.size(); ++s) denormalize(stats[s], out.data() + s * H * Q, out.data() + s * H * Q, H * Q);
  if (o.json) {
    json fc = json::object();
    for (std::size_t s = 0; s < w.size(); ++s) {
      json steps = json::array();
      for (std::size_t h = 0; h < H; ++h) {
        if (Q == 1) {
          steps.push_back(out[s * H + h]);
        } else {
          steps.push_back(std::vector<float>(out.begin() + std::ptrdiff_t((s * H + h) * Q),
                                             out.begin() + std::ptrdiff_t((s * H + h + 1) * Q)));
        }
      }
      fc[store.name(s)] = steps;
    }
    json j = {{"model", o.model}, {"uuid", a.uuid}, {"horizon", H}, {"forecasts", fc}, {"seconds", secs}};
    if (!a.quantiles.empty()) j["quantiles"] = a.quantiles;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("series,step");
  if (Q == 1) std::printf(",forecast");
  for (float q : a.quantiles) std::printf(",q%g", double(q));
  std::printf("\n");
  for (std::size_t s = 0; s < w.size(); ++s)
    for (std::size_t h = 0; h < H; ++h) {
      std::printf("%s,%zu", store.name(s).c_str(), h + 1);
      for (std::size_t q = 0; q < Q; ++q) std::printf(",%.6g", double(out[(s * H + h) * Q + q]));
      std::printf("\n");
    }
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOpts>();
  add_data_options(app, o->data, true);
  app.add_option("--model", o->model, "Model type: nhits, nbeats or mlp");
  app.add_option("--config", o->config, "Model config: a JSON file or inline JSON (flags below override it)");
  app.add_option("--out", o->out, "Artifact to write (safetensors + JSON metadata)")->required();
  app.add_option("--input-size", o->input_size, "Input window L (default: m4 2H, ltsf 5H, else 168)");
  app.add_option("--horizon", o->horizon, "Forecast horizon H (default 24; m4: from the test file)");
  app.add_option("--mlp-units", o->mlp_units, "Block MLP pairs, e.g. 512x512,512x512 (nhits/nbeats)");
  app.add_option("--hidden", o->hidden, "Hidden width (mlp model)");
  app.add_option("--layers", o->layers, "Hidden layers (mlp model)");
  app.add_option("--activation", o->activation, "relu, gelu, tanh, sigmoid, softplus, silu");
  app.add_option("--pooling", o->pooling, "nhits pooling: max or avg");
  app.add_option("--interpolation", o->interpolation, "nhits interpolation: linear or nearest");
  app.add_option("--dropout", o->dropout, "Dropout probability after each hidden activation");
  app.add_option("--loss", o->loss, "mae (default), mse, huber, mq (multi-quantile, needs --quantiles)");
  app.add_option("--quantiles", o->quantiles, "Quantile levels for --loss mq, e.g. 0.1,0.5,0.9");
  app.add_option("--huber-delta", o->huber_delta, "Huber delta");
  app.add_option("--optimizer", o->optimizer, "adam (default), adamw, sgd, rmsprop");
  app.add_option("--lr", o->lr, "Learning rate (default 1e-3)");
  app.add_option("--weight-decay", o->weight_decay, "Weight decay");
  app.add_option("--schedule", o->schedule, "step (default: halve --lr-decays times), cosine, constant, plateau");
  app.add_option("--lr-decays", o->lr_decays, "Number of halvings of the step schedule (default 3)");
  app.add_option("--clip", o->clip, "Global gradient-norm clip (0: off)");
  app.add_option("--max-steps", o->max_steps, "Optimizer steps (default 1000)");
  app.add_option("--epochs", o->epochs, "Train for this many epochs instead of --max-steps");
  app.add_option("--batch", o->batch, "Windows per batch (default 32)");
  app.add_option("--micro-batches", o->micro, "Fixed micro-batch split of each batch (default 4)");
  app.add_option("--val-batch", o->val_batch, "Windows per validation batch");
  app.add_option("--window-scaler", o->window_scaler, "Per-window scaling: none, standard, robust (m4 default robust)");
  app.add_option("--seed", o->seed, "Random seed (weights, data order, dropout)");
  app.add_option("--threads", o->threads, "Threads (0: all)");
  app.add_option("--val-every", o->val_every, "Validate every N steps (0: never)");
  app.add_option("--patience", o->patience, "Early stopping after N validations without improvement (0: off)");
  app.add_option("--min-delta", o->min_delta, "Improvement that resets the patience");
  app.add_option("--checkpoint", o->checkpoint, "Checkpoint file (written atomically)");
  app.add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints");
  app.add_flag("--resume", o->resume, "Continue from --checkpoint if it exists");
  app.add_flag("--json", o->json, "Print the result as one JSON object");
  app.add_flag("--quiet", o->quiet, "No progress output");
  return [o] { return run_train(*o); };
}

Run add_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvalOpts>();
  app.add_option("--model", o->model, "Model artifact")->required();
  add_data_options(app, o->data, true);
  app.add_option("--threads", o->threads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object (mse, mae, rmse, smape, mase, ...)");
  return [o] { return run_evaluate(*o); };
}

Run add_predict(CLI::App& app) {
  auto o = std::make_shared<PredictOpts>();
  app.add_option("--model", o->model, "Model artifact")->required();
  add_data_options(app, o->data, false);
  app.add_option("--format", o->format, "wide (default) or m4");
  app.add_option("--threads", o->threads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object instead of CSV");
  return [o] { return run_predict(*o); };
}

}  // namespace ntn::cli
