#include "ntn/trainer.h"

#include "ntn/dist.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"
#include "ntn/safetensors.h"
#include "ntn/timing.h"

namespace ntn {

using nlohmann::json;

json TrainConfig::to_json() const {
  return {{"max_steps", max_steps},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"micro_batches", micro_batches},
          {"seed", seed},
          {"loss", loss_name(loss.kind)},
          {"quantiles", loss.quantiles},
          {"huber_delta", loss.delta},
          {"distribution", loss.kind == LossKind::nll ? dist_name(loss.dist) : ""},
          {"optimizer", optim.name},
          {"lr", optim.lr},
          {"weight_decay", optim.weight_decay},
          {"decay_on", optim.decay_on},
          {"schedule", schedule.name},
          {"clip_norm", clip_norm},
          {"window_scaling", window_scaling_name(window_scaling)},
          {"val_every", val_every},
          {"patience", patience},
          {"min_delta", min_delta},
          {"restore_best", restore_best},
          {"val_metric", val_metric},
          {"lr_decays", lr_decays},
          {"val_batch", val_batch},
          {"precision", precision}};
}

TrainConfig TrainConfig::from_json(const json& j) {
  const char* ctx = "training config";
  NTN_CHECK(j.is_object(), ctx, ": expected a JSON object (got ", j.dump().substr(0, 80), ")");
  json_known_fields(j, ctx, {"max_steps", "epochs", "batch_size", "micro_batches", "seed", "loss", "quantiles",
                             "huber_delta", "distribution", "optimizer", "lr", "weight_decay", "decay_on", "schedule", "clip_norm",
                             "window_scaling", "val_every", "val_batch", "patience", "min_delta", "restore_best", "val_metric", "lr_decays",
                             "checkpoint_every", "log_every", "precision"});
  TrainConfig tc;
  tc.max_steps = json_uint(j, ctx, "max_steps", tc.max_steps, limits::kSteps);
  tc.epochs = json_uint(j, ctx, "epochs", tc.epochs, limits::kEpochs);
  tc.batch_size = json_uint(j, ctx, "batch_size", tc.batch_size, limits::kBatch);
  tc.micro_batches = json_uint(j, ctx, "micro_batches", tc.micro_batches, limits::kMicroBatches);
  tc.seed = json_uint(j, ctx, "seed", tc.seed, limits::kSeed);
  std::vector<float> quantiles;
  for (double q : json_real_list(j, ctx, "quantiles", {}, limits::kQuantile)) quantiles.push_back(float(q));
  tc.loss = parse_loss(json_string(j, ctx, "loss", loss_name(tc.loss.kind)), quantiles,
                       float(json_real(j, ctx, "huber_delta", tc.loss.delta, limits::kHuberDelta)),
                       json_string(j, ctx, "distribution", ""));
  tc.optim.name = json_string(j, ctx, "optimizer", tc.optim.name);
  tc.optim.lr = float(json_real(j, ctx, "lr", tc.optim.lr, limits::kLr));
  tc.optim.weight_decay = float(json_real(j, ctx, "weight_decay", tc.optim.weight_decay, limits::kWeightDecay));
  tc.optim.decay_on = json_string(j, ctx, "decay_on", tc.optim.decay_on);
  tc.schedule.name = json_string(j, ctx, "schedule", tc.schedule.name);
  tc.clip_norm = float(json_real(j, ctx, "clip_norm", tc.clip_norm, limits::kClip));
  tc.window_scaling = parse_window_scaling(json_string(j, ctx, "window_scaling", window_scaling_name(tc.window_scaling)));
  tc.val_every = json_uint(j, ctx, "val_every", tc.val_every, limits::kEvery);
  tc.val_batch = json_uint(j, ctx, "val_batch", tc.val_batch, limits::kBatch);
  tc.patience = json_uint(j, ctx, "patience", tc.patience, limits::kPatience);
  tc.min_delta = json_real(j, ctx, "min_delta", tc.min_delta, limits::kMinDelta);
  tc.restore_best = json_bool(j, ctx, "restore_best", tc.restore_best);
  tc.val_metric = json_string(j, ctx, "val_metric", tc.val_metric);
  tc.lr_decays = json_uint(j, ctx, "lr_decays", tc.lr_decays, limits::kLrDecays);
  tc.checkpoint_every = json_uint(j, ctx, "checkpoint_every", tc.checkpoint_every, limits::kEvery);
  tc.log_every = json_uint(j, ctx, "log_every", tc.log_every, limits::kEvery);
  tc.precision = json_string(j, ctx, "precision", tc.precision);
  tc.validate();
  return tc;
}

void TrainConfig::validate() const {
  const char* ctx = "training config";
  auto u = [&](const char* k, std::uint64_t v, UintRange r) { check_uint(cat(ctx, ": field '", k, "'"), v, r); };
  auto f = [&](const char* k, double v, RealRange r) { check_real(cat(ctx, ": field '", k, "'"), v, r); };
  u("max_steps", max_steps, limits::kSteps);
  u("epochs", epochs, limits::kEpochs);
  u("batch_size", batch_size, limits::kBatch);
  u("micro_batches", micro_batches, limits::kMicroBatches);
  u("val_batch", val_batch, limits::kBatch);
  u("val_every", val_every, limits::kEvery);
  u("patience", patience, limits::kPatience);
  u("checkpoint_every", checkpoint_every, limits::kEvery);
  u("log_every", log_every, limits::kEvery);
  u("lr_decays", lr_decays, limits::kLrDecays);
  f("lr", optim.lr, limits::kLr);
  f("weight_decay", optim.weight_decay, limits::kWeightDecay);
  f("clip_norm", clip_norm, limits::kClip);
  f("min_delta", min_delta, limits::kMinDelta);
  f("huber_delta", loss.delta, limits::kHuberDelta);
  NTN_CHECK(optim.decay_on == "all" || optim.decay_on == "weights", ctx, ": field 'decay_on' must be all or weights (got '",
            optim.decay_on, "')");
  NTN_CHECK(val_metric == "loss" || val_metric == "mae" || val_metric == "mse" || val_metric == "smape", ctx,
            ": field 'val_metric' must be loss, mae, mse or smape (got '", val_metric, "')");
  NTN_CHECK(precision == "fp32" || precision == "bf16", ctx, ": field 'precision' must be fp32 or bf16 (got '",
            precision, "')");
  NTN_CHECK(loss.quantiles.size() <= limits::kOutputs.hi, ctx, ": at most ", limits::kOutputs.hi, " quantile levels");
}

void derive_schedule(TrainConfig& tc, std::size_t train_windows) {
  const std::uint64_t total = total_steps(tc, train_windows);
  if (tc.schedule.name == "step") {
    tc.schedule.step_size = std::max<std::uint64_t>(1, total / std::max<std::size_t>(tc.lr_decays, 1));
    tc.schedule.gamma = 0.5f;
  } else if (tc.schedule.name == "cosine") {
    tc.schedule.total = total;
    tc.schedule.warmup = tc.schedule.total / 20;
  }
}

json TrainSummary::to_json() const {
  json j = {{"steps", steps},
            {"seconds", seconds},
            {"last_train_loss", last_train_loss},
            {"stopped_early", stopped_early},
            {"restored_best", restored_best}};
  if (paused) j["paused"] = true;
  if (best_val_loss >= 0) {
    j["best_val_loss"] = best_val_loss;
    j["best_step"] = best_step;
  }
  if (!curve.empty()) {
    json st = json::array(), tr = json::array(), va = json::array();
    for (const CurvePoint& p : curve) {
      st.push_back(p.step);
      tr.push_back(p.train);
      va.push_back(p.val >= 0 ? json(p.val) : json(nullptr));
    }
    j["curve"] = {{"step", st}, {"train", tr}, {"val", va}};
  }
  return j;
}

void TrainSummary::add_curve_point(const CurvePoint& p) {
  curve.push_back(p);
  if (curve.size() <= kCurvePoints) return;
  std::size_t w = 0;  // keep points 0, 2, 4, ... and the newest
  for (std::size_t r = 0; r + 1 < curve.size(); r += 2) curve[w++] = curve[r];
  curve[w++] = curve.back();
  curve.resize(w);
}

// ---- per-micro-batch state ------------------------------------------------------------------
struct Trainer::Chunk {
  std::unique_ptr<Model<float>::Workspace> ws;       // training rows (forward + backward)
  std::unique_ptr<Model<float>::Workspace> eval_ws;  // validation rows, forward only (made on first use)
  std::vector<float> pred, dpred, grads;  // grads: own slab (empty for chunk 0: it uses the main one)
  double loss = 0;
};

// ---- batch stream: the shuffled order, one batch at a time ------------------------------------
// Batches are assembled on the steps' thread. A prefetch thread overlapping the next batch with
// the step did not pay once the robust window statistics were cached: on a whole model it gained
// under 2% (NHITS on ETTh1, 1 thread: 10.05-10.27 s vs 10.31-10.57 s), and with a model per
// series its hand-offs (65k futex calls for 414 models) cost 10% (6.3-6.5 s vs 5.8-5.9 s) and
// took a core from the other rank.
class Trainer::BatchStream {
 public:
  struct Batch {
    std::vector<WindowRef> windows;
    WindowBatch data;              // rows [row0, row0 + data rows) of a global batch of `rows` rows
    std::size_t rows = 0, row0 = 0;
  };

  BatchStream(const Trainer& t, std::uint64_t& epoch, std::uint64_t& offset)
      : t_(t), epoch_(epoch), offset_(offset), order_(t.train_) {
    shuffle_windows(order_, t_.cfg_.seed, epoch_);
  }

  // The next batch of the shuffled order (a new epoch, freshly shuffled, when one ends); advances
  // the trainer's epoch and offset. Valid until the next call.
  Batch& next() {
    const std::size_t N = t_.train_.size(), B = t_.cfg_.batch_size;
    if (offset_ >= N) {
      ++epoch_;
      offset_ = 0;
      order_ = t_.train_;
      shuffle_windows(order_, t_.cfg_.seed, epoch_);
    }
    const std::size_t nb = std::min<std::size_t>(B, N - offset_);
    // This rank's rows only: those of the micro-batches it owns (all of them on one rank).
    const auto [r0, r1] = t_.local_rows(nb);
    b_.rows = nb;
    b_.row0 = r0;
    b_.windows.assign(order_.begin() + std::ptrdiff_t(offset_ + r0), order_.begin() + std::ptrdiff_t(offset_ + r1));
    b_.data.fill(t_.assembler_, b_.windows.data(), r1 - r0, /*with_target=*/true);
    offset_ += nb;
    return b_;
  }

 private:
  const Trainer& t_;
  std::uint64_t &epoch_, &offset_;
  std::vector<WindowRef> order_;  // this epoch's shuffled windows
  Batch b_;
};

// ---- trainer --------------------------------------------------------------------------------
Trainer::Trainer(Model<float>& model, const SeriesStore& store, std::vector<WindowRef> train,
                 std::vector<WindowRef> val, TrainConfig cfg, dist::Comm* comm)
    : model_(model),
      store_(store),
      train_(std::move(train)),
      val_(std::move(val)),
      cfg_(std::move(cfg)),
      opt_(cfg_.optim, model.params()),
      sched_(cfg_.schedule, cfg_.optim.lr),
      assembler_(store, {model.input_size(), model.horizon()}, cfg_.window_scaling),
      comm_(comm ? comm : &dist::world()) {
  cfg_.validate();
  NTN_CHECK(!train_.empty(), "no training windows: the series are too short for input ", model.input_size(),
            " + horizon ", model.horizon());
  NTN_CHECK(cfg_.batch_size > 0, "batch size must be positive");
  const Covariates mc = model.covariates(), sc = store.covariates();
  NTN_CHECK(mc == sc, "the model takes ", mc.hist, " historic, ", mc.futr, " future-known and ", mc.stat,
            " static covariates but the data has ", sc.hist, ", ", sc.futr, " and ", sc.stat);
  NTN_CHECK(cfg_.micro_batches > 0, "micro-batches must be positive");
  NTN_CHECK(cfg_.micro_batches >= std::size_t(comm_->size()), "micro-batches (", cfg_.micro_batches,
            ") must be at least the ranks (", comm_->size(), "): each rank computes whole micro-batches");
  NTN_CHECK(cfg_.loss.outputs() == model.outputs(), "the ", loss_name(cfg_.loss.kind), " loss needs ",
            cfg_.loss.outputs(), " outputs per step but the model has ", model.outputs());
  if (cfg_.precision == "bf16") {
    NTN_CHECK(bf16_gemm_available(), "bf16 training needs a CPU with AVX512_BF16 (vdpbf16ps: AMD Zen 4 / 5, Intel ",
              "Sapphire Rapids or later) and the avx512 kernels; this one has ",
              cpu_features().avx512bf16 ? "it, but NTN_ISA caps the kernels below avx512" : "no AVX512_BF16",
              " (train with --precision fp32)");
  }
  assembler_.cache_window_stats();  // robust scaling: every window's statistics once, not per batch
  const std::size_t C = cfg_.micro_batches;
  // Training workspaces hold what backward needs for their rows only; validation runs through
  // smaller forward-only workspaces (evaluate), so a large val_batch never multiplies the
  // per-row activations a recurrent model keeps for backward through time.
  const std::size_t rows = (cfg_.batch_size + C - 1) / C, out_rows = std::max(rows, eval_rows());
  const std::size_t HQ = model.horizon() * model.outputs();
  const std::size_t slab = model.params().slab_size();
  grads_.assign(slab, 0.0f);
  for (std::size_t c = 0; c < C; ++c) {
    auto* ch = new Chunk;
    ch->ws = model.make_workspace(rows);
    ch->pred.resize(out_rows * HQ);
    ch->dpred.resize(rows * HQ);
    if (c > 0) ch->grads.assign(slab, 0.0f);
    chunks_.push_back(ch);
  }
  // Last: nothing below can throw past it. The model keeps the mode after the trainer (which may
  // outlive it); Artifact::from_training clears it, and a next Trainer sets it either way.
  model_.set_bf16_products(cfg_.precision == "bf16");
}

Trainer::~Trainer() {
  for (Chunk* c : chunks_) delete c;
}

std::uint64_t total_steps(const TrainConfig& cfg, std::size_t n_train) {
  if (cfg.epochs == 0) return cfg.max_steps;
  return cfg.epochs * ((n_train + cfg.batch_size - 1) / std::max<std::size_t>(cfg.batch_size, 1));
}

std::uint64_t Trainer::total_steps() const { return ntn::total_steps(cfg_, train_.size()); }

std::pair<std::size_t, std::size_t> Trainer::local_rows(std::size_t B) const {
  const std::size_t C = std::min(cfg_.micro_batches, B);
  const auto [c0, c1] = comm_->owned(C);
  return {c0 * B / C, c1 * B / C};
}

double Trainer::loss_sum(std::size_t C) const {
  double sum = 0;
  if (!comm_->distributed()) {
    for (std::size_t c = 0; c < C; ++c) sum += chunks_[c]->loss;
    return sum;
  }
  // Every micro-batch's loss on every rank, summed in micro-batch order.
  const auto [c0, c1] = comm_->owned(C);
  double local[limits::kMicroBatches.hi], all[limits::kMicroBatches.hi];
  for (std::size_t c = c0; c < c1; ++c) local[c - c0] = chunks_[c]->loss;
  comm_->gather_parts(C, local, all);
  for (std::size_t c = 0; c < C; ++c) sum += all[c];
  return sum;
}

double Trainer::step_on_batch(const Batch<float>& batch, const float* y, std::size_t B, std::size_t row0) {
  Batch<float> in = batch;
  in.y_futr = y;  // the targets, for models that feed them back in training (teacher forcing)
  const std::size_t L = model_.input_size(), H = model_.horizon(), Q = model_.outputs();
  const Covariates cov = model_.covariates();
  const std::size_t C = std::min(cfg_.micro_batches, B);
  // Plain variables, not a structured binding: clang < 16 cannot capture bindings in a lambda.
  const std::pair<std::size_t, std::size_t> own = comm_->owned(C);  // this rank's micro-batches
  const std::size_t c0 = own.first, c1 = own.second;                 // (all of them on one rank)
  const bool dist = comm_->distributed();
  const float inv = 1.0f / float(B * H * cfg_.loss.terms());
  const std::size_t slab = grads_.size();
  // A batch larger than the configured one (train_step with more rows): grow the workspaces
  // once, before the parallel region.
  const std::size_t need = (B + C - 1) / C;
  for (std::size_t c = 0; c < C; ++c) {
    Chunk& ch = *chunks_[c];
    if (ch.ws->max_batch >= need) continue;
    ch.ws = model_.make_workspace(need);
    ch.pred.resize(std::max(ch.pred.size(), need * H * Q));
    ch.dpred.resize(need * H * Q);
  }
  // Between ranks of one machine each micro-batch's gradient is written straight into shared
  // memory, where the peers read their slices of it. Otherwise the exchange starts before the
  // compute: every receive is posted now and, when the micro-batches run on this thread (one
  // thread, or one micro-batch per rank: MPI calls stay on this thread), each finished range of a
  // micro-batch's gradient is sent while the rest of its backward runs.
  float* shared = dist ? comm_->shared_parts(C, slab) : nullptr;
  auto grad_of = [&](std::size_t c) {
    return shared ? shared + (c - c0) * slab : c == 0 ? grads_.data() : chunks_[c]->grads.data();
  };
  const float* local[limits::kMicroBatches.hi];
  for (std::size_t c = c0; c < c1; ++c) local[c - c0] = grad_of(c);
  if (dist) comm_->reduce_scatter_begin(C, local, slab);
  const bool overlap = dist && !shared && (num_threads() <= 1 || c1 - c0 <= 1);
  parallel_chunks(c1 - c0, [&](std::size_t i) {
    const std::size_t c = c0 + i, r0 = c * B / C, r1 = (c + 1) * B / C, nb = r1 - r0;
    Chunk& ch = *chunks_[c];
    float* g = grad_of(c);
    auto ready = [&](std::size_t lo, std::size_t hi) { comm_->reduce_scatter_ready(c, lo, hi); };
    FunctionRef<void(std::size_t, std::size_t)> ready_ref(ready);
    nn::RunCtx ctx;
    ctx.grads_final = overlap ? &ready_ref : nullptr;
    ctx.accumulate = false;  // the backward overwrites every gradient: no zeroing pass
    ctx.training = true;
    ctx.seed = cfg_.seed;
    ctx.step = step_;
    ctx.row0 = r0;  // of the global batch (dropout masks); the rows held here start at row0
    model_.forward(*ch.ws, in.rows(r0 - row0, nb, L, H, cov), ch.pred.data(), ctx);
    ch.loss = loss_sum_grad(cfg_.loss, ch.pred.data(), y + (r0 - row0) * H, ch.dpred.data(), nb, H, inv);
    model_.backward(*ch.ws, ch.dpred.data(), g, nullptr, nb, ctx);
  });
  // Fixed reduction order per element: grads = ((g0 + g1) + g2) + ... Without clipping it is
  // fused into the optimizer's blocked pass (each block summed while in cache, then updated).
  const KernelTable& k = kernels();
  auto reduce = [&](std::size_t lo, std::size_t hi) {
    for (std::size_t c = 1; c < C; ++c)
      k.f32_add(grads_.data() + lo, chunks_[c]->grads.data() + lo, grads_.data() + lo, hi - lo);
  };
  FunctionRef<void(std::size_t, std::size_t)> reduce_ref(reduce);
  const double loss = loss_sum(C) * double(inv);
  NTN_CHECK(std::isfinite(loss), "training diverged at step ", step_, ": the loss is ", loss,
            "; lower the learning rate, clip gradients (--clip) or scale the data");
  if (dist) {
    // The same order across ranks: each rank sums its slice of the slab over all C micro-batches
    // (Comm::reduce_scatter). Clipping needs the whole gradient's norm: every rank gets every
    // slice and updates every parameter. Otherwise each rank updates only its slice (its shard of
    // the optimizer's work and state: elementwise, so the same bits) and the updated parameters
    // are exchanged instead of the gradients (the same bytes).
    comm_->reduce_scatter_end(grads_.data());
    if (cfg_.clip_norm > 0) {
      comm_->all_gather(grads_.data(), slab);
      clip_grad_norm(grads_.data(), slab, cfg_.clip_norm);
      opt_.step(model_.params(), grads_.data(), sched_.lr(step_));
    } else {
      const std::pair<std::size_t, std::size_t> mine = comm_->slice(slab);
      opt_.step(model_.params(), grads_.data(), sched_.lr(step_), nullptr, mine.first, mine.second);
      comm_->all_gather(model_.params().values(), slab);
      state_sharded_ = true;
    }
  } else if (cfg_.clip_norm > 0) {
    if (C > 1) parallel_for(slab, 1 << 14, reduce);
    clip_grad_norm(grads_.data(), slab, cfg_.clip_norm);
    opt_.step(model_.params(), grads_.data(), sched_.lr(step_));
  } else {
    opt_.step(model_.params(), grads_.data(), sched_.lr(step_), C > 1 ? &reduce_ref : nullptr);
  }
  ++step_;
  return loss;
}

double Trainer::train_step(const WindowRef* w, std::size_t B) {
  const auto [r0, r1] = local_rows(B);
  step_batch_.fill(assembler_, w + r0, r1 - r0, /*with_target=*/true);
  return step_on_batch(step_batch_.view(), step_batch_.y.data(), B, r0);
}

double Trainer::evaluate(const std::vector<WindowRef>& windows) {
  if (windows.empty()) return -1;
  const std::size_t L = model_.input_size(), H = model_.horizon();
  const std::size_t C = cfg_.micro_batches, VB = std::max<std::size_t>(cfg_.val_batch, 1);
  // Rows per forward: eval_rows(), or fewer when no micro-batch of these windows has that many
  // (a model per series validates on a few windows: no 128-row workspaces to build and zero).
  // Either way each micro-batch runs its rows in the same groups, so the sum is the same.
  const std::size_t most = std::min(VB, windows.size()), used = std::min(C, most);
  const std::size_t ER = std::min(eval_rows(), (most + used - 1) / used);
  const Covariates cov = model_.covariates();
  for (std::size_t c = 0; c < used; ++c)
    if (!chunks_[c]->eval_ws || chunks_[c]->eval_ws->max_batch < ER)
      chunks_[c]->eval_ws = model_.make_workspace(ER, /*inference=*/true);
  WindowBatch wb;
  double sum = 0;
  // A data-scale metric scores the point forecast with the window scaling inverted.
  enum class Metric { loss, mae, mse, smape };
  const Metric metric = cfg_.val_metric == "mae"   ? Metric::mae
                        : cfg_.val_metric == "mse" ? Metric::mse
                        : cfg_.val_metric == "smape" ? Metric::smape
                                                     : Metric::loss;
  const OutputSpec spec = output_spec(cfg_.loss);
  const std::size_t Q = spec.outputs(), qp = spec.point_index();
  auto metric_sum = [&](float* pred, const float* y, const NormStats* st, std::size_t n) {
    double acc = 0;
    for (std::size_t r = 0; r < n; ++r) {
      float* row = pred + r * H * Q;
      order_outputs(spec, row, H);
      for (std::size_t h = 0; h < H; ++h) {
        const double f = st[r].invert(row[h * Q + qp]), t = st[r].invert(y[r * H + h]);
        const double e = std::fabs(f - t);
        if (metric == Metric::mae) acc += e;
        else if (metric == Metric::mse) acc += e * e;
        else if (std::fabs(f) + std::fabs(t) > 0) acc += 200.0 * e / (std::fabs(f) + std::fabs(t));
      }
    }
    return acc;
  };
  for (std::size_t s = 0; s < windows.size(); s += VB) {
    const std::size_t B = std::min(VB, windows.size() - s);
    wb.fill(assembler_, windows.data() + s, B, /*with_target=*/true);
    const Batch<float> in = wb.view();
    const std::size_t CC = std::min(C, B);
    const std::pair<std::size_t, std::size_t> own = comm_->owned(CC);  // this rank's validation micro-batches
    const std::size_t c0 = own.first, c1 = own.second;
    parallel_chunks(c1 - c0, [&](std::size_t i) {
      const std::size_t c = c0 + i, r0 = c * B / CC, nb = (c + 1) * B / CC - r0;
      Chunk& ch = *chunks_[c];
      ch.loss = 0;
      for (std::size_t k = 0; k < nb; k += ER) {  // the chunk's rows, ER at a time, in order
        const std::size_t n = std::min(ER, nb - k);
        model_.forward(*ch.eval_ws, in.rows(r0 + k, n, L, H, cov), ch.pred.data(), nn::RunCtx{});
        if (metric == Metric::loss)
          ch.loss += loss_sum_grad(cfg_.loss, ch.pred.data(), wb.y.data() + (r0 + k) * H, nullptr, n, H, 0.0f);
        else
          ch.loss += metric_sum(ch.pred.data(), wb.y.data() + (r0 + k) * H, wb.stats.data() + r0 + k, n);
      }
    });
    sum += loss_sum(CC);
  }
  return sum / double(windows.size() * H * (metric == Metric::loss ? cfg_.loss.terms() : 1));
}

TrainSummary Trainer::run(std::uint64_t until) {
  const std::uint64_t total = total_steps();
  const std::uint64_t end = until > 0 ? std::min(until, total) : total;
  const double t0 = now_s();
  TrainSummary s;
  if (model_.fits_directly()) {  // fitted on each window's history in forward: no steps, score validation
    s.best_val_loss = best_val_ = evaluate(val_);
    s.seconds = now_s() - t0;
    if (on_log) {
      TrainLog log;
      log.val_loss = s.best_val_loss;
      log.elapsed_s = s.seconds;
      log.final = true;
      on_log(log);
    }
    return s;
  }
  BatchStream batches(*this, epoch_, offset_);
  double acc = 0;
  std::uint64_t acc_n = 0;
  const bool validating = !val_.empty() && cfg_.val_every > 0;
  const bool early = cfg_.patience > 0 && validating;
  const bool keep_best = validating && (early || cfg_.restore_best);
  auto snapshot_best = [&] {
    const float* p = model_.params().values();
    best_params_.assign(p, p + model_.params().slab_size());
  };
  while (step_ < end) {
    BatchStream::Batch& b = batches.next();
    const double loss = step_on_batch(b.data.view(), b.data.y.data(), b.rows, b.row0);
    last_loss_ = loss;
    acc += loss;
    ++acc_n;
    TrainLog log;
    log.step = step_;
    log.total_steps = total;
    log.lr = sched_.lr(step_ - 1);
    bool emit = cfg_.log_every > 0 && step_ % cfg_.log_every == 0;
    bool stop = false;
    if (!val_.empty() && cfg_.val_every > 0 && (step_ % cfg_.val_every == 0 || step_ == total)) {
      const double v = evaluate(val_);
      log.val_loss = v;
      emit = true;
      sched_.observe(v);
      if (best_val_ < 0 || v < best_val_ - cfg_.min_delta) {
        best_val_ = v;
        best_step_ = step_;
        bad_evals_ = 0;
        if (keep_best) snapshot_best();
      } else if (early && ++bad_evals_ >= cfg_.patience) {
        stop = true;
        s.stopped_early = true;
      }
    }
    if (!cfg_.checkpoint_path.empty() && cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0) {
      sync_state();  // every rank then holds the same state: rank 0 writes it
      if (comm_->root()) save_checkpoint(cfg_.checkpoint_path);
    }
    if (emit || stop || step_ == total) {
      log.train_loss = acc / double(std::max<std::uint64_t>(acc_n, 1));
      log.elapsed_s = now_s() - t0;
      log.final = stop || step_ == total;
      acc = 0;
      acc_n = 0;
      s.add_curve_point({log.step, log.train_loss, log.val_loss});
      if (on_log) on_log(log);
    }
    if (stop) break;
  }
  s.paused = !s.stopped_early && step_ < total;
  if (checkpoint_at_end && !cfg_.checkpoint_path.empty()) {
    sync_state();
    if (comm_->root()) save_checkpoint(cfg_.checkpoint_path);
  }
  if (keep_best && !s.paused && !best_params_.empty()) {
    std::memcpy(model_.params().values(), best_params_.data(), best_params_.size() * sizeof(float));
    s.restored_best = true;
  }
  sync_state();
  s.steps = step_;
  s.seconds = now_s() - t0;
  s.last_train_loss = last_loss_;
  s.best_val_loss = best_val_;
  s.best_step = best_step_;
  return s;
}

void Trainer::sync_state() {
  if (!state_sharded_) return;
  for (auto& [name, buf] : opt_.state())
    if (!buf->empty()) comm_->all_gather(buf->data(), buf->size());
  state_sharded_ = false;
}

void Trainer::save_checkpoint(const std::string& path) const {
  NTN_CHECK(!state_sharded_, "save_checkpoint: every rank holds only its shard of the optimizer state; call "
            "sync_state() on every rank first (run() does)");
  const auto& ps = model_.params();
  const Shape slab{std::int64_t(ps.slab_size())};
  SafeTensorsWriter w;
  w.add("params", DType::f32, slab, ps.values());
  auto& self = const_cast<Trainer&>(*this);  // Optimizer::state() hands out its buffers
  for (auto& [name, buf] : self.opt_.state())
    if (!buf->empty()) w.add("optim." + name, DType::f32, slab, buf->data());
  if (!best_params_.empty()) w.add("best_params", DType::f32, slab, best_params_.data());
  const json state = {{"step", step_},
                      {"epoch", epoch_},
                      {"offset", offset_},
                      {"opt_steps", opt_.steps()},
                      {"best_val", best_val_},
                      {"best_step", best_step_},
                      {"bad_evals", bad_evals_},
                      {"last_loss", last_loss_},
                      {"sched_scale", sched_.plateau_scale()},
                      {"sched_best", sched_.plateau_best()},
                      {"sched_bad", sched_.plateau_bad()}};
  w.metadata["format"] = "ntneural-checkpoint";
  w.metadata["model_config"] = model_.config().dump();
  w.metadata["train_config"] = cfg_.to_json().dump();
  w.metadata["trainer_state"] = state.dump();
  w.write(path);
}

void Trainer::resume(const std::string& path) {
  const SafeTensorsFile f = SafeTensorsFile::read(path);
  NTN_CHECK(f.metadata().count("format") && f.meta("format") == "ntneural-checkpoint", path,
            ": not an ntneural checkpoint");
  json mc, tc, st;
  try {
    mc = json::parse(f.meta("model_config"));
    tc = json::parse(f.meta("train_config"));
    st = json::parse(f.meta("trainer_state"));
  } catch (const json::exception&) {
    throw Error(cat(path, ": checkpoint metadata is not valid JSON (corrupted file)"));
  }
  NTN_CHECK(mc == model_.config(), path, ": the checkpoint is of another model (", mc.dump(), ")");
  json mine = cfg_.to_json(), theirs = tc;
  for (const char* k : {"max_steps", "epochs", "patience", "val_every", "val_batch", "restore_best"}) {  // may change on resume
    mine.erase(k);
    theirs.erase(k);
  }
  NTN_CHECK(mine == theirs, path, ": the checkpoint was trained with another configuration (", tc.dump(), ")");
  auto& ps = model_.params();
  const Shape slab{std::int64_t(ps.slab_size())};
  std::memcpy(ps.values(), f.get("params", DType::f32, slab), ps.slab_size() * sizeof(float));
  for (auto& [name, buf] : opt_.state())
    if (!buf->empty()) std::memcpy(buf->data(), f.get("optim." + name, DType::f32, slab), buf->size() * sizeof(float));
  if (f.has("best_params")) {
    std::vector<float> tmp;
    const float* p = f.get_f32("best_params", slab, tmp);
    best_params_.assign(p, p + ps.slab_size());
  }
  // Typed and range-checked (a JSON 1e44 read into an integer would be undefined behaviour).
  const std::string ctx = cat(path, ": checkpoint state");
  for (const char* k : {"step", "epoch", "offset", "opt_steps", "best_val", "best_step", "bad_evals", "last_loss",
                        "sched_scale", "sched_best", "sched_bad"})
    NTN_CHECK(st.is_object() && st.contains(k), ctx, ": '", k, "' is missing (corrupted file)");
  const UintRange any{0, UINT64_MAX};
  const RealRange real{-1e308, 1e308};
  try {
    step_ = json_uint(st, ctx, "step", 0, any);
    epoch_ = json_uint(st, ctx, "epoch", 0, any);
    offset_ = json_uint(st, ctx, "offset", 0, any);
    opt_.set_steps(json_uint(st, ctx, "opt_steps", 0, any));
    best_val_ = json_real(st, ctx, "best_val", 0, real);
    best_step_ = json_uint(st, ctx, "best_step", 0, any);
    bad_evals_ = json_uint(st, ctx, "bad_evals", 0, any);
    last_loss_ = json_real(st, ctx, "last_loss", 0, real);
    sched_.restore(float(json_real(st, ctx, "sched_scale", 1, {0, 1e30})), json_real(st, ctx, "sched_best", 0, real),
                   json_uint(st, ctx, "sched_bad", 0, any));
  } catch (const json::exception&) {
    throw Error(cat(path, ": checkpoint trainer state is incomplete (corrupted file)"));
  }
}

namespace {
constexpr std::size_t kEvalWindowSteps = std::size_t(1) << 16;
}  // namespace

void predict_windows(const Model<float>& model, const SeriesStore& store, const std::vector<WindowRef>& windows,
                     WindowScaling scaling, float* out, std::size_t max_batch, const OutputSpec* output) {
  NTN_CHECK(store.covariates() == model.covariates(), "predict_windows: the data's covariates differ from the model's");
  NTN_CHECK(!output || output->outputs() == model.outputs(), "predict_windows: a ", output ? output->outputs() : 0,
            "-output spec for a model with ", model.outputs(), " outputs");
  const std::size_t L = model.input_size(), H = model.horizon(), Q = model.outputs();
  const std::size_t T = std::size_t(std::max(1, num_threads()));
  // Windows per call: max_batch over the threads, and at most 65536 window steps (a recurrent
  // model keeps every step of its window per row: 1024 windows of 480 steps through a GRU-200
  // would hold 393 MB per layer).
  // Workspaces only as many and as large as these windows need (a few windows: one small one).
  const std::size_t per = std::max<std::size_t>(
      1, std::min({(max_batch + T - 1) / T, kEvalWindowSteps / std::max<std::size_t>(L, 1), windows.size()}));
  const std::size_t used = std::min(T, (windows.size() + per - 1) / per);
  const BatchAssembler assembler(store, {L, H}, scaling);
  std::vector<std::unique_ptr<Model<float>::Workspace>> ws;
  for (std::size_t t = 0; t < used; ++t) ws.push_back(model.make_workspace(per, /*inference=*/true));
  std::vector<WindowBatch> wbs(used);
  for (std::size_t s = 0; s < windows.size(); s += per * used) {
    const std::size_t n = std::min(per * used, windows.size() - s);
    const std::size_t chunks = (n + per - 1) / per;
    parallel_chunks(chunks, [&](std::size_t c) {
      const std::size_t r0 = s + c * per, nb = std::min(per, windows.size() - r0);
      wbs[c].fill(assembler, windows.data() + r0, nb, /*with_target=*/false);
      float* y = out + r0 * H * Q;
      model.forward(*ws[c], wbs[c].view(), y, nn::RunCtx{});
      if (output && output->kind == OutputKind::distribution) {  // per parameter (a sigma is never shifted)
        unscale_outputs(*output, wbs[c].stats.data(), y, nb, H);
        return;
      }
      if (Q > 1)  // monotone quantiles: sort each step's outputs (rearrangement; never worse in pinball loss)
        for (std::size_t i = 0; i < nb * H; ++i) std::sort(y + i * Q, y + (i + 1) * Q);
      for (std::size_t b = 0; b < nb; ++b) denormalize(wbs[c].stats[b], y + b * H * Q, y + b * H * Q, H * Q);
    });
  }
}

}  // namespace ntn
