// ntneural bench train: median time of one training step (forward + backward + Adam) of a model
// at a given batch, on synthetic random-walk windows. Validated before timing: 30 steps on
// one batch must lower its loss (the step really learns), and every loss must be finite.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "commands.h"
#include "common.h"
#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/jobs.h"
#include "ntn/parallel.h"
#include "ntn/rng.h"
#include "ntn/timing.h"
#include "ntn/trainer.h"

namespace ntn::cli {
namespace {

struct Opts {
  std::string model = "nhits";
  std::vector<std::string> settings;  // --set key=value
  std::size_t batch = 32, input_size = 168, horizon = 24, hidden = 512, micro = 0;
  int threads = 0, reps = 21;
  bool json = false;
  std::string precision = "fp32";
};

int run(const Opts& o) {
  set_num_threads(o.threads);
  const int threads = num_threads();
  nlohmann::json cfg = {{"type", o.model}, {"input_size", o.input_size}, {"horizon", o.horizon}};
  const nlohmann::json defaults = make_model<float>(nlohmann::json{{"type", o.model}})->config();
  if (defaults.contains("mlp_units"))
    cfg["mlp_units"] = {{o.hidden, o.hidden}};  // one hidden pair: NHITS-default has ~1.2M parameters
  else
    apply_width_depth(cfg, o.hidden, 0);
  apply_settings(cfg, o.settings);
  auto model = make_model<float>(cfg);
  model->init(1);
  // A random walk long enough for many distinct windows.
  const std::size_t n = 20000;
  std::vector<float> steps(n), walk(n);
  fill_normal(steps.data(), n, 0.0f, 1.0f, 5, 1);
  float acc = 0;
  for (std::size_t i = 0; i < n; ++i) walk[i] = acc += steps[i];
  SeriesStore store;
  store.add("walk", walk.data(), n);
  auto windows = make_windows(store, {o.input_size, o.horizon}, Split{});
  shuffle_windows(windows, 3, 0);
  TrainConfig tc;
  tc.batch_size = o.batch;
  tc.micro_batches = o.micro ? o.micro : 1;  // small batches: threads go to BLAS inside one micro-batch
  // mse, or the likelihood for a model that only outputs a distribution (deepar: Student-t)
  tc.loss = parse_loss(model_info(o.model).distribution_only() ? "nll" : "mse");
  tc.window_scaling = WindowScaling::standard;
  tc.log_every = 0;
  tc.precision = o.precision;
  Trainer tr(*model, store, windows, {}, tc);
  // Validate: repeated steps on one batch must reduce its loss.
  const double first = tr.train_step(windows.data(), o.batch);
  double last = first;
  for (int i = 0; i < 29; ++i) last = tr.train_step(windows.data(), o.batch);
  NTN_CHECK(std::isfinite(first) && last < first, "bench train validation failed: loss ", first, " -> ", last,
            " after 30 steps on one batch");
  std::size_t k = 0;
  auto step = [&] {
    tr.train_step(windows.data() + (k * o.batch) % (windows.size() - o.batch), o.batch);
    ++k;
  };
  // Under mpirun every rank must make the same calls: one step per repetition (measure() sizes
  // its repetitions by each process's own clock), each rank computing its share of the batch.
  dist::Comm& comm = dist::world();
  const std::uint64_t sent0 = comm.bytes_sent();
  const std::size_t k0 = k;
  Timing t;
  double exchange_ms = 0;  // median of the gradient exchange alone (0 on one rank)
  std::uint64_t sent_steps = 0;
  if (comm.distributed()) {
    step();  // warm-up
    std::vector<double> per(std::size_t(o.reps));
    for (double& v : per) {
      const double t0 = now_s();
      step();
      v = now_s() - t0;
    }
    std::sort(per.begin(), per.end());
    t.median_s = per[per.size() / 2];
    t.min_s = per.front();
    t.max_s = per.back();
    t.reps = o.reps;
    t.calls_per_rep = 1;
    sent_steps = comm.bytes_sent() - sent0;
    // The exchange alone (the cost model's input): the ordered sum of the gradient slab over the
    // same micro-batches, no compute around it.
    const std::size_t slab = model->params().slab_size(), C = std::min(tc.micro_batches, o.batch);
    const auto [c0, c1] = comm.owned(C);
    std::vector<std::vector<float>> parts(c1 - c0, std::vector<float>(slab, 1.0f));
    std::vector<const float*> local;
    for (auto& v : parts) local.push_back(v.data());
    if (float* sh = comm.shared_parts(C, slab)) {  // where the trainer writes them on one machine
      for (std::size_t i = 0; i < c1 - c0; ++i) {
        std::fill(sh + i * slab, sh + (i + 1) * slab, 1.0f);
        local[i] = sh + i * slab;
      }
    }
    std::vector<float> sum(slab);
    comm.ordered_sum(C, local.data(), slab, sum.data());  // warm-up
    for (double& v : per) {
      const double t0 = now_s();
      comm.ordered_sum(C, local.data(), slab, sum.data());
      v = now_s() - t0;
    }
    std::sort(per.begin(), per.end());
    exchange_ms = per[per.size() / 2] * 1e3;
  } else {
    t = measure(step, o.reps, 0.05);
  }
  const double sent_per_step = double(sent_steps) / double(std::max<std::size_t>(k - k0, 1));
  nlohmann::json j = {{"model", o.model},
                      {"parameters", model->params().count()},
                      {"batch", o.batch},
                      {"input_size", o.input_size},
                      {"horizon", o.horizon},
                      {"hidden", o.hidden},
                      {"threads", threads},
                      {"ranks", comm.size()},
                      {"bytes_sent_per_step", sent_per_step},  // this rank's, in the gradient and loss exchange
                      {"exchange_ms", exchange_ms},
                      {"exchange", comm.distributed() ? comm.shared_memory() ? "shared-memory" : "messages" : "none"},
                      {"micro_batches", tc.micro_batches},
                      {"precision", tc.precision},
                      {"step_ms", t.median_s * 1e3},
                      {"step_ms_min", t.min_s * 1e3},
                      {"step_ms_max", t.max_s * 1e3},
                      {"reps", t.reps},
                      {"validation_loss_first_last", {first, last}},
                      {"peak_rss_mb", peak_rss_mb()}};
  print_result(j, o.json);
  return 0;
}

}  // namespace

Run add_bench_train(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_option("--model", o->model, model_names());
  add_uint(app, "--batch", o->batch, limits::kBatch, "Windows per step (default 32)");
  add_uint(app, "--input-size", o->input_size, limits::kWindow, "Input length (default 168)");
  add_uint(app, "--horizon", o->horizon, limits::kHorizon, "Horizon (default 24)");
  add_uint(app, "--hidden", o->hidden, limits::kWidth,
           "Hidden width: one HIDDENxHIDDEN pair per block (default 512); as train --hidden for the others");
  app.add_option("--set", o->settings, "Model config field, repeatable: key=value (as train --set)");
  add_uint(app, "--micro-batches", o->micro, UintRange{0, 256}, "Micro-batches per step (default 1: the threads split each GEMM)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  add_uint(app, "--reps", o->reps, UintRange{1, 100000}, "Timed repetitions (the median is reported)");
  app.add_option("--precision", o->precision, "fp32 (default) or bf16 (mixed precision, as train --precision)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--json", o->json, "Print one JSON object (step_ms = median step time)");
  return [o] { return run(*o); };
}

}  // namespace ntn::cli
