#include "ntn/rnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"
#include "ntn/rng.h"

namespace ntn::nn {

Cell parse_cell(const std::string& name) {
  if (name == "gru" || name == "GRU") return Cell::gru;
  if (name == "lstm" || name == "LSTM") return Cell::lstm;
  throw Error(cat("unknown recurrent cell '", name, "': expected gru or lstm"));
}

const char* cell_name(Cell c) { return c == Cell::gru ? "gru" : "lstm"; }

template <class T>
void Recurrent<T>::declare(ParamSet<T>& ps, const std::string& prefix, Cell cell_, std::size_t input_,
                           std::size_t hidden_, std::size_t layers_, bool bidirectional_, float dropout_) {
  NTN_CHECK(input_ > 0 && hidden_ > 0 && layers_ > 0, "recurrent '", prefix, "': input (", input_, "), hidden (",
            hidden_, ") and layers (", layers_, ") must be positive");
  NTN_CHECK(dropout_ >= 0.0f && dropout_ < 1.0f, "recurrent '", prefix, "': dropout ", dropout_,
            " is outside [0, 1)");
  cell = cell_;
  input = input_;
  hidden = hidden_;
  layers = layers_;
  bidirectional = bidirectional_;
  dropout = dropout_;
  stream = stream_id(prefix + ".dropout");
  dirs.assign(layers * ndirs(), Dir{});
  for (std::size_t l = 0; l < layers; ++l)
    for (std::size_t d = 0; d < ndirs(); ++d) {
      const std::string p = cat(prefix, ".l", l, d ? "_reverse" : "");
      Dir& dir = dirs[l * ndirs() + d];
      dir.ih.declare(ps, p + ".ih", layer_input(l), gates(), true, Role::linear_weight);
      dir.hh.declare(ps, p + ".hh", hidden, gates(), true, Role::recurrent_weight);
    }
}

template <class T>
void Recurrent<T>::init(ParamSet<T>& ps, std::uint64_t seed) const {
  const float bound = 1.0f / std::sqrt(float(hidden));
  std::vector<float> tmp;
  for (const Dir& d : dirs)
    for (std::size_t i : {d.ih.w, d.ih.b, d.hh.w, d.hh.b}) {
      const auto& e = ps.entries()[i];
      tmp.resize(e.size);
      fill_uniform(tmp.data(), e.size, -bound, bound, seed, stream_id(e.name));
      std::copy(tmp.begin(), tmp.end(), ps.value(i));
    }
}

namespace {
// W (rows, cols) -> W^T (cols, rows) packed for the dense kernel (out = cols, in = rows), in buf
// (resized once: the transposed copy sits past the packed one).
void pack_transposed(const float* W, std::size_t rows, std::size_t cols, std::vector<float>& buf) {
  const std::size_t packed = dense_packed_size(cols, rows);
  buf.resize(packed + rows * cols);
  float* tr = buf.data() + packed;
  constexpr std::size_t kb = 16;  // 16 x 16 blocks: every line read and written is used whole
  for (std::size_t g0 = 0; g0 < rows; g0 += kb)
    for (std::size_t j0 = 0; j0 < cols; j0 += kb)
      for (std::size_t g = g0; g < std::min(rows, g0 + kb); ++g)
        for (std::size_t j = j0; j < std::min(cols, j0 + kb); ++j) tr[j * rows + g] = W[g * cols + j];
  f32_dense_pack(tr, cols, rows, buf.data());
}

// fp32 packed copies of a recurrent layer's matrices, refreshed by each forward that runs without
// served weights. Rows of a long call (every step's input projection) are split over the threads
// (rows are independent: no bit depends on the split).
class TrainPack final : public PackedLinears {
 public:
  // The slab for the matrices `mats` (parameter indices) of ps; refresh() packs their values.
  TrainPack(const ParamSet<float>& ps, std::vector<std::size_t> mats) : ps_(&ps), mats_(std::move(mats)) {
    std::size_t n = 0;
    at_.assign(ps.entries().size(), std::size_t(-1));
    for (std::size_t i : mats_) {
      const auto& e = ps.entries()[i];
      at_[i] = n;
      n += dense_packed_size(std::size_t(e.shape[0]), std::size_t(e.shape[1]));
    }
    slab_.assign(n, 0.0f);
  }
  void refresh(const ParamSet<float>& ps) {
    for (std::size_t i : mats_) {
      const auto& e = ps.entries()[i];
      f32_dense_pack(ps.value(i), std::size_t(e.shape[0]), std::size_t(e.shape[1]), slab_.data() + at_[i]);
    }
    ps_ = &ps;
  }
  void run(const Linear<float>& l, const float* x, float* y, std::size_t B) override {
    const float* w = slab_.data() + at_[l.w];
    const float* bias = l.has_bias ? ps_->value(l.b) : nullptr;
    const KernelTable& k = kernels();
    const double flops = 2.0 * double(B) * double(l.in) * double(l.out);
    if (flops < 4e6 || num_threads() < 2) return k.f32_dense(w, l.out, l.in, x, l.in, B, bias, y, l.out);
    parallel_for(B, 16, [&](std::size_t lo, std::size_t hi) {
      k.f32_dense(w, l.out, l.in, x + lo * l.in, l.in, hi - lo, bias, y + lo * l.out, l.out);
    });
  }

 private:
  const ParamSet<float>* ps_ = nullptr;
  std::vector<std::size_t> mats_;
  std::vector<std::size_t> at_;  // by parameter index
  std::vector<float> slab_;
};
}  // namespace

template <class T>
typename Recurrent<T>::Cache Recurrent<T>::make_cache(std::size_t B, std::size_t T_, bool inference) const {
  Cache c;
  c.max_batch = B;
  c.max_steps = T_;
  c.inference = inference;
  const std::size_t G = gates(), Hd = hidden, TB = check_tensor_size(T_, B, "recurrent workspace (steps x batch)");
  const std::size_t widest = std::max(input, out());
  // Inference keeps one step of gates and every step's outputs; training every step's gates.
  if (inference)
    check_tensor_size(TB, out(), "recurrent workspace (steps x batch x outputs)");
  else
    check_tensor_size(TB, std::max(G, widest), "recurrent workspace (steps x batch x gates)");
  // The input projection of every step as one product, unless that buffer would pass 16 MB
  // (long windows, large batches: evaluation over thousands of windows); then blocks of steps,
  // each still one product over (steps x batch) rows (the same chains: no bit changes).
  c.proj_steps = std::max<std::size_t>(1, std::min(T_, (std::size_t(4) << 20) / std::max<std::size_t>(1, B * G)));
  c.xp.resize((inference ? c.proj_steps : 1) * B * G);  // training: one step (step_forward); forward projects into gates
  c.hp.resize(B * G);
  for (std::size_t l = 0; l < layers; ++l) {
    c.outs.emplace_back(TB * out());
    c.dropped.emplace_back(!inference && dropout > 0.0f && l + 1 < layers ? TB * out() : 0);
  }
  const bool lstm = cell == Cell::lstm;
  const std::size_t steps = inference ? 1 : T_, states = inference ? 2 : T_ + 1;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    c.gates.emplace_back(steps * B * G);
    c.h.emplace_back(states * B * Hd);
    c.c.emplace_back(lstm ? states * B * Hd : 0);
    c.tc.emplace_back(lstm ? steps * B * Hd : 0);
    c.hn.emplace_back(lstm ? 0 : steps * B * Hd);
  }
  if (inference) return c;
  c.dgi.resize(TB * G);
  c.dgh.resize(lstm ? 0 : TB * G);
  c.dh.resize(B * Hd);
  c.dc.resize(B * Hd);
  c.dtmp.resize(B * Hd);
  c.g0.resize(TB * widest);
  c.g1.resize(TB * widest);
  c.gx.resize(TB * widest);
  return c;
}

template <class T>
RunCtx Recurrent<T>::products_ctx(const ParamSet<T>& ps, Cache& c, const RunCtx& ctx, bool refresh) const {
  RunCtx run = ctx;
  if constexpr (std::is_same_v<T, float>) {
    if (!ctx.packed) {
      if (!c.pack) {
        std::vector<std::size_t> mats;
        for (const Dir& d : dirs) mats.insert(mats.end(), {d.ih.w, d.hh.w});
        c.pack = std::make_unique<TrainPack>(ps, std::move(mats));
        refresh = true;
      }
      if (refresh) static_cast<TrainPack&>(*c.pack).refresh(ps);
      run.packed = c.pack.get();
    }
  }
  return run;
}

template <class T>
void Recurrent<T>::cell_step(const ParamSet<T>& ps, const Dir& d, const T* xp, const T* h_prev, const T* c_prev,
                             T* hp, T* gates_, T* h, T* c, T* tc, T* hn, std::size_t B, const RunCtx& ctx) const {
  const std::size_t G = gates(), Hd = hidden;
  d.hh.forward(ps, h_prev, hp, B, ctx);  // the recurrent product; every read of h_prev happens here
  if constexpr (std::is_same_v<T, float>) {  // the kernel table's fused gate pass
    if (cell == Cell::lstm)
      kernels().f32_lstm_cell(xp, hp, c_prev, gates_, c, tc, h, B, Hd);
    else
      kernels().f32_gru_cell(xp, hp, h_prev, gates_, hn, h, B, Hd);
    return;
  }
  for (std::size_t b = 0; b < B; ++b) {
    T* g = gates_ + b * G;
    const T* xr = xp + b * G;
    const T* hr = hp + b * G;
    if (cell == Cell::lstm) {
      for (std::size_t j = 0; j < G; ++j) g[j] = xr[j] + hr[j];
      act_forward(Act::sigmoid, g, g, 2 * Hd);  // i, f
      act_forward(Act::tanh, g + 2 * Hd, g + 2 * Hd, Hd);
      act_forward(Act::sigmoid, g + 3 * Hd, g + 3 * Hd, Hd);  // o
      T* cr = c + b * Hd;
      const T* cp = c_prev + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) {
        const T fc = g[Hd + j] * cp[j], ig = g[j] * g[2 * Hd + j];
        cr[j] = fc + ig;
      }
      T* t = tc + b * Hd;
      act_forward(Act::tanh, cr, t, Hd);
      T* hr_out = h + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) hr_out[j] = g[3 * Hd + j] * t[j];
    } else {
      for (std::size_t j = 0; j < 2 * Hd; ++j) g[j] = xr[j] + hr[j];
      act_forward(Act::sigmoid, g, g, 2 * Hd);  // r, z
      T* hnr = hn + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) {
        hnr[j] = hr[2 * Hd + j];
        const T rh = g[j] * hr[2 * Hd + j];
        g[2 * Hd + j] = xr[2 * Hd + j] + rh;
      }
      act_forward(Act::tanh, g + 2 * Hd, g + 2 * Hd, Hd);  // n
      const T* hpv = h_prev + b * Hd;
      T* ho = h + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) {
        const T z = g[Hd + j], n = g[2 * Hd + j];
        const T a = (T(1) - z) * n, bz = z * hpv[j];
        ho[j] = a + bz;
      }
    }
  }
}

template <class T>
void Recurrent<T>::cell_backward(const T* gates_, const T* c_prev, const T* tc, const T* h_prev, const T* hn,
                                 const T* dh, T* dc, T* gi, T* gh, T* dz, std::size_t B) const {
  const std::size_t G = gates(), Hd = hidden;
  if constexpr (std::is_same_v<T, float>) {  // the kernel table's fused gate gradients
    if (cell == Cell::lstm)
      kernels().f32_lstm_cell_bwd(gates_, c_prev, tc, dh, dc, gi, B, Hd);
    else
      kernels().f32_gru_cell_bwd(gates_, h_prev, hn, dh, gi, gh, dz, B, Hd);
    return;
  }
  for (std::size_t b = 0; b < B; ++b) {  // the same equations in double
    const T* a = gates_ + b * G;
    T* gib = gi + b * G;
    const T* dhb = dh + b * Hd;
    if (cell == Cell::lstm) {
      const T* cp = c_prev + b * Hd;
      const T* tcb = tc + b * Hd;
      T* dcb = dc + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) {
        const T i = a[j], f = a[Hd + j], gg = a[2 * Hd + j], o = a[3 * Hd + j], tcv = tcb[j];
        const T dcv = dcb[j] + dhb[j] * o * (T(1) - tcv * tcv);
        gib[j] = dcv * gg * i * (T(1) - i);
        gib[Hd + j] = dcv * cp[j] * f * (T(1) - f);
        gib[2 * Hd + j] = dcv * i * (T(1) - gg * gg);
        gib[3 * Hd + j] = dhb[j] * tcv * o * (T(1) - o);
        dcb[j] = dcv * f;
      }
    } else {
      T* ghb = gh + b * G;
      const T* hpb = h_prev + b * Hd;
      const T* hnb = hn + b * Hd;
      T* dt = dz + b * Hd;
      for (std::size_t j = 0; j < Hd; ++j) {
        const T r = a[j], z = a[Hd + j], n = a[2 * Hd + j];
        const T dnp = dhb[j] * (T(1) - z) * (T(1) - n * n);
        const T drp = dnp * hnb[j] * r * (T(1) - r);
        const T dzp = dhb[j] * (hpb[j] - n) * z * (T(1) - z);
        gib[j] = ghb[j] = drp;
        gib[Hd + j] = ghb[Hd + j] = dzp;
        gib[2 * Hd + j] = dnp;
        ghb[2 * Hd + j] = dnp * r;
        dt[j] = dhb[j] * z;
      }
    }
  }
}

namespace {
// Dropout between layers: element j of step t of global row r of layer l's output.
std::uint64_t rnn_drop_counter(const RunCtx& ctx, std::size_t l, std::size_t T_, std::size_t t, std::size_t b,
                               std::size_t width) {
  return (ctx.step << 40) + (std::uint64_t(l) << 56) + ((ctx.row0 + b) * T_ + t) * width;
}
}  // namespace

template <class T>
void Recurrent<T>::forward(const ParamSet<T>& ps, Cache& c, const T* x, std::size_t T_, std::size_t B,
                           const RunCtx& ctx) const {
  NTN_DASSERT(B <= c.max_batch && T_ <= c.max_steps);
  NTN_CHECK(!(c.inference && ctx.training), "recurrent: an inference workspace cannot run a training forward");
  const std::size_t G = gates(), Hd = hidden, O = out(), BH = B * Hd;
  const bool lstm = cell == Cell::lstm, inf = c.inference;
  c.x = x;
  const RunCtx run = products_ctx(ps, c, ctx, /*refresh=*/true);
  const T* in = x;
  for (std::size_t l = 0; l < layers; ++l) {
    T* y = c.outs[l].data();
    for (std::size_t d = 0; d < ndirs(); ++d) {
      const std::size_t k = l * ndirs() + d;
      const Dir& dir = dirs[k];
      T* H = c.h[k].data();
      T* C = lstm ? c.c[k].data() : nullptr;
      // Training: state of step s at row s (natural time order, the initial state at row 0 for
      // the forward direction and at row T for the reverse one). Inference: two rows, ping-pong.
      const std::size_t init = inf ? 0 : (d ? T_ : 0);
      std::fill(H + init * BH, H + (init + 1) * BH, T(0));
      if (lstm) std::fill(C + init * BH, C + (init + 1) * BH, T(0));
      std::size_t t_lo = 0;
      for (std::size_t s = 0; s < T_; ++s) {
        const std::size_t t = d ? T_ - 1 - s : s;
        // The input projection of the next block of steps, at once. Training projects into the
        // gate rows of those steps, which the cell then overwrites in place (one buffer streamed
        // instead of two); inference into the block buffer xp.
        if (s % c.proj_steps == 0) {
          const std::size_t n = std::min(c.proj_steps, T_ - s);
          t_lo = d ? T_ - s - n : s;
          dir.ih.forward(ps, in + t_lo * B * layer_input(l), inf ? c.xp.data() : c.gates[k].data() + t_lo * B * G,
                         n * B, run);
        }
        std::size_t prev, cur, slot;
        if (inf) {
          prev = s & 1, cur = prev ^ 1, slot = 0;
        } else {
          prev = d ? t + 1 : t, cur = d ? t : t + 1, slot = t;
        }
        T* hcur = H + cur * BH;
        T* g = c.gates[k].data() + slot * B * G;
        cell_step(ps, dir, inf ? c.xp.data() + (t - t_lo) * B * G : g, H + prev * BH, lstm ? C + prev * BH : nullptr,
                  c.hp.data(), g, hcur, lstm ? C + cur * BH : nullptr,
                  lstm ? c.tc[k].data() + slot * BH : nullptr, lstm ? nullptr : c.hn[k].data() + slot * BH, B, run);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(y + (t * B + b) * O + d * Hd, hcur + b * Hd, Hd * sizeof(T));
      }
    }
    in = y;
    if (ctx.training && dropout > 0.0f && l + 1 < layers) {
      T* dr = c.dropped[l].data();
      for (std::size_t t = 0; t < T_; ++t)
        for (std::size_t b = 0; b < B; ++b)
          dropout_forward(y + (t * B + b) * O, dr + (t * B + b) * O, O, dropout, ctx.seed, stream,
                          rnn_drop_counter(ctx, l, T_, t, b, O));
      in = dr;
    }
  }
}

template <class T>
void Recurrent<T>::backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t T_,
                            std::size_t B, const RunCtx& ctx) const {
  NTN_CHECK(!c.inference, "recurrent: backward after an inference forward");
  const std::size_t G = gates(), Hd = hidden, O = out(), TB = T_ * B, BH = B * Hd;
  const bool lstm = cell == Cell::lstm;
  const bool drop = ctx.training && dropout > 0.0f;
  const T* gy = dy;  // gradient of layer l's output (T, B, O)
  for (std::size_t l = layers; l-- > 0;) {
    const std::size_t in_l = layer_input(l);
    T* gin = l > 0 ? (l % 2 == 0 ? c.g0.data() : c.g1.data()) : dx;
    const T* X = l == 0 ? c.x : (drop ? c.dropped[l - 1].data() : c.outs[l - 1].data());
    for (std::size_t d = 0; d < ndirs(); ++d) {
      const std::size_t k = l * ndirs() + d;
      const Dir& dir = dirs[k];
      const T* H = c.h[k].data();
      const T* C = lstm ? c.c[k].data() : nullptr;
      const T* A = c.gates[k].data();
      T* dgi = c.dgi.data();
      T* dgh = lstm ? dgi : c.dgh.data();
      T* dh = c.dh.data();
      T* dc = c.dc.data();
      std::fill(dh, dh + BH, T(0));
      std::fill(dc, dc + BH, T(0));
      const T* Whh = ps.value(dir.hh.w);
      if constexpr (std::is_same_v<T, float>) pack_transposed(Whh, G, Hd, c.whh_t);  // dh = dG W_hh over W_hh^T
      for (std::size_t s = T_; s-- > 0;) {  // the forward's steps, last first
        const std::size_t t = d ? T_ - 1 - s : s;
        const std::size_t prev = d ? t + 1 : t;
        for (std::size_t b = 0; b < B; ++b) {
          const T* g = gy + (t * B + b) * O + d * Hd;
          if constexpr (std::is_same_v<T, float>)
            kernels().f32_add(dh + b * Hd, g, dh + b * Hd, Hd);
          else
            for (std::size_t j = 0; j < Hd; ++j) dh[b * Hd + j] += g[j];
        }
        T* gi = dgi + t * B * G;
        T* gh = dgh + t * B * G;
        const T* hprev = H + prev * BH;
        cell_backward(A + t * B * G, lstm ? C + prev * BH : nullptr, lstm ? c.tc[k].data() + t * BH : nullptr, hprev,
                      lstm ? nullptr : c.hn[k].data() + t * BH, dh, dc, gi, gh, c.dtmp.data(), B);
        // dh of the previous state: dG_h W_hh (+ z dh for GRU, the chain started from it).
        if constexpr (std::is_same_v<T, float>) {
          kernels().f32_dense(c.whh_t.data(), Hd, G, gh, G, B, nullptr, dh, Hd);
          if (!lstm) kernels().f32_add(dh, c.dtmp.data(), dh, BH);
        } else {
          if (!lstm) std::memcpy(dh, c.dtmp.data(), BH * sizeof(T));
          matmul<T>(false, false, B, Hd, G, gh, G, Whh, Hd, dh, Hd, /*accumulate=*/!lstm);
        }
      }
      // Weight gradients of every step at once.
      const std::size_t hprev0 = d ? 1 : 0;
      dir.hh.backward(ps, grads, H + hprev0 * BH, dgh, nullptr, TB, ctx.accumulate);
      T* gxd = gin ? (d == 0 ? gin : c.gx.data()) : nullptr;
      // dx = dG W_ih over all steps (float, inputs of 16+ features): the dense kernel over a packed
      // W_ih^T (rows of dG are contiguous; the GEMM's packing of them costs more than the product
      // for these shapes), the same chains over the gates in order; with 2+ threads beside the
      // weight gradient, as Linear::backward runs its two products. Otherwise Linear::backward.
      bool dx_done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (gxd && in_l >= 16) {
          pack_transposed(ps.value(dir.ih.w), G, in_l, c.wih_t);
          auto input_grad = [&] { kernels().f32_dense(c.wih_t.data(), in_l, G, dgi, G, TB, nullptr, gxd, in_l); };
          auto weight_grad = [&] { dir.ih.backward(ps, grads, X, dgi, nullptr, TB, ctx.accumulate); };
          if (num_threads() > 1)
            parallel_chunks(2, [&](std::size_t task) { task == 0 ? weight_grad() : input_grad(); });
          else
            weight_grad(), input_grad();
          dx_done = true;
        }
      }
      if (!dx_done) dir.ih.backward(ps, grads, X, dgi, gxd, TB, ctx.accumulate);
      if (d == 1 && gin)
        for (std::size_t i = 0; i < TB * in_l; ++i) gin[i] += c.gx[i];
    }
    if (l > 0 && drop)
      for (std::size_t t = 0; t < T_; ++t)
        for (std::size_t b = 0; b < B; ++b)
          dropout_backward(gin + (t * B + b) * in_l, gin + (t * B + b) * in_l, in_l, dropout, ctx.seed, stream,
                           rnn_drop_counter(ctx, l - 1, T_, t, b, in_l));
    gy = gin;
  }
}

template <class T>
const T* Recurrent<T>::step_forward(const ParamSet<T>& ps, Cache& c, std::size_t t, const T* x_t, std::size_t T_,
                                    std::size_t B, const RunCtx& ctx) const {
  NTN_CHECK(!bidirectional, "recurrent: a bidirectional layer cannot run step by step");
  NTN_DASSERT(B <= c.max_batch && t < T_ && T_ <= c.max_steps);
  const std::size_t G = gates(), Hd = hidden, BH = B * Hd, O = out();
  const bool lstm = cell == Cell::lstm, inf = c.inference;
  if (c.xin.size() < c.max_steps * c.max_batch * input) c.xin.resize(c.max_steps * c.max_batch * input);
  std::memcpy(c.xin.data() + t * B * input, x_t, B * input * sizeof(T));
  const RunCtx run = products_ctx(ps, c, ctx, /*refresh=*/t == 0);  // the weights do not change in a sequence
  const T* in = c.xin.data() + t * B * input;
  for (std::size_t l = 0; l < layers; ++l) {
    const Dir& dir = dirs[l];
    T* H = c.h[l].data();
    T* C = lstm ? c.c[l].data() : nullptr;
    std::size_t prev, cur, slot;
    if (inf) {
      prev = t & 1, cur = prev ^ 1, slot = 0;
    } else {
      prev = t, cur = t + 1, slot = t;
    }
    if (t == 0) {
      std::fill(H + prev * BH, H + (prev + 1) * BH, T(0));
      if (lstm) std::fill(C + prev * BH, C + (prev + 1) * BH, T(0));
    }
    T* xp = c.xp.data();
    dir.ih.forward(ps, in, xp, B, run);
    cell_step(ps, dir, xp, H + prev * BH, lstm ? C + prev * BH : nullptr, c.hp.data(), c.gates[l].data() + slot * B * G,
              H + cur * BH, lstm ? C + cur * BH : nullptr, lstm ? c.tc[l].data() + slot * BH : nullptr,
              lstm ? nullptr : c.hn[l].data() + slot * BH, B, run);
    T* y = c.outs[l].data() + t * B * O;
    std::memcpy(y, H + cur * BH, BH * sizeof(T));
    in = y;
    if (ctx.training && dropout > 0.0f && l + 1 < layers) {
      T* dr = c.dropped[l].data() + t * B * O;
      for (std::size_t b = 0; b < B; ++b)
        dropout_forward(y + b * O, dr + b * O, O, dropout, ctx.seed, stream, rnn_drop_counter(ctx, l, T_, t, b, O));
      in = dr;
    }
  }
  return c.outs.back().data() + t * B * O;
}

template <class T>
void Recurrent<T>::step_backward(const ParamSet<T>& ps, Cache& c, std::size_t t, std::size_t T_, const T* dy_t,
                                 T* dx_t, std::size_t B, const RunCtx& ctx) const {
  NTN_CHECK(!c.inference, "recurrent: backward after an inference forward");
  const std::size_t G = gates(), Hd = hidden, BH = B * Hd, TB = T_ * B;
  const bool lstm = cell == Cell::lstm;
  const bool drop = ctx.training && dropout > 0.0f;
  if (t + 1 == T_) {  // the first call of a backward: fresh running gradients
    c.sdg.resize(layers);
    c.sdgh.resize(layers);
    for (std::size_t l = 0; l < layers; ++l) {
      if (c.sdg[l].size() < c.max_steps * c.max_batch * G) c.sdg[l].resize(c.max_steps * c.max_batch * G);
      if (!lstm && c.sdgh[l].size() < c.max_steps * c.max_batch * G) c.sdgh[l].resize(c.max_steps * c.max_batch * G);
    }
    const std::size_t widest = std::max(input, out());
    if (c.sgx.size() < c.max_batch * widest) c.sgx.resize(c.max_batch * widest), c.sgin.resize(c.max_batch * widest);
    c.sdh.assign(layers * c.max_batch * Hd, T(0));
    c.sdc.assign(layers * c.max_batch * Hd, T(0));
    (void)TB;
  }
  const T* incoming = dy_t;  // gradient of this layer's h_t from above (B, hidden)
  for (std::size_t l = layers; l-- > 0;) {
    const Dir& dir = dirs[l];
    const std::size_t in_l = layer_input(l);
    T* dh = c.sdh.data() + l * c.max_batch * Hd;
    T* dc = c.sdc.data() + l * c.max_batch * Hd;
    for (std::size_t i = 0; i < BH; ++i) dh[i] += incoming[i];
    T* gi = c.sdg[l].data() + t * B * G;
    T* gh = lstm ? gi : c.sdgh[l].data() + t * B * G;
    const T* A = c.gates[l].data() + t * B * G;
    const T* hprev = c.h[l].data() + t * BH;
    cell_backward(A, lstm ? c.c[l].data() + t * BH : nullptr, lstm ? c.tc[l].data() + t * BH : nullptr, hprev,
                  lstm ? nullptr : c.hn[l].data() + t * BH, dh, dc, gi, gh, c.dtmp.data(), B);
    // The previous step's state gradient: dG_h W_hh (+ z dh for GRU, the chain started from it).
    if (!lstm) std::memcpy(dh, c.dtmp.data(), BH * sizeof(T));
    matmul<T>(false, false, B, Hd, G, gh, G, ps.value(dir.hh.w), Hd, dh, Hd, /*accumulate=*/!lstm);
    // This step's input gradient: dG_i W_ih, through the dropout below this layer.
    T* gx = l > 0 ? c.sgx.data() : dx_t;
    if (!gx) continue;
    matmul<T>(false, false, B, in_l, G, gi, G, ps.value(dir.ih.w), in_l, gx, in_l);
    if (l > 0) {
      if (drop)
        for (std::size_t b = 0; b < B; ++b)
          dropout_backward(gx + b * in_l, gx + b * in_l, in_l, dropout, ctx.seed, stream,
                           rnn_drop_counter(ctx, l - 1, T_, t, b, in_l));
      std::memcpy(c.sgin.data(), gx, B * in_l * sizeof(T));
      incoming = c.sgin.data();
    }
  }
}

template <class T>
void Recurrent<T>::step_backward_end(const ParamSet<T>& ps, T* grads, Cache& c, std::size_t T_, std::size_t B,
                                     const RunCtx& ctx) const {
  const std::size_t TB = T_ * B;
  const bool lstm = cell == Cell::lstm, drop = ctx.training && dropout > 0.0f;
  for (std::size_t l = 0; l < layers; ++l) {
    const Dir& dir = dirs[l];
    const T* gi = c.sdg[l].data();
    const T* gh = lstm ? gi : c.sdgh[l].data();
    dir.hh.backward(ps, grads, c.h[l].data(), gh, nullptr, TB, ctx.accumulate);  // states 0 .. T-1
    const T* X = l == 0 ? c.xin.data() : (drop ? c.dropped[l - 1].data() : c.outs[l - 1].data());
    dir.ih.backward(ps, grads, X, gi, nullptr, TB, ctx.accumulate);
  }
}

template <class T>
typename Recurrent<T>::StepScratch Recurrent<T>::make_step_scratch(std::size_t B) const {
  StepScratch s;
  s.max_batch = B;
  s.xp.resize(B * gates());
  s.hp.resize(B * gates());
  s.gates.resize(B * gates());
  s.tc.resize(cell == Cell::lstm ? B * hidden : 0);
  s.hn.resize(cell == Cell::lstm ? 0 : B * hidden);
  return s;
}

template <class T>
const T* Recurrent<T>::step(const ParamSet<T>& ps, T* state, StepScratch& s, const T* x, std::size_t B,
                            const RunCtx& ctx) const {
  NTN_CHECK(!bidirectional, "recurrent: a bidirectional layer cannot step (its reverse direction reads the future)");
  NTN_DASSERT(B <= s.max_batch);
  const bool lstm = cell == Cell::lstm;
  const std::size_t BH = B * hidden, per = lstm ? 2 * BH : BH;
  const T* in = x;
  for (std::size_t l = 0; l < layers; ++l) {
    T* h = state + l * per;
    T* cst = lstm ? h + BH : nullptr;
    const Dir& d = dirs[l];
    d.ih.forward(ps, in, s.xp.data(), B, ctx);
    cell_step(ps, d, s.xp.data(), h, cst, s.hp.data(), s.gates.data(), h, cst, lstm ? s.tc.data() : nullptr,
              lstm ? nullptr : s.hn.data(), B, ctx);
    in = h;
  }
  return in;
}

template struct Recurrent<float>;
template struct Recurrent<double>;

}  // namespace ntn::nn
