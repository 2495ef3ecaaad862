// The TCN forecaster (Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic Convolutional
// and Recurrent Networks"): a stack of residual blocks of causal dilated convolutions over the
// window, then an MLP decoder from the last column of the last block (and the future-known
// covariates of the horizon) to horizon x outputs.
//
// Block i (dilation d = dilation_base^i, kernel K, out channels C_i):
//   h1 = drop(act(conv1(x)))          conv1: C_{i-1} -> C_i, K, d
//   h2 = drop(act(conv2(h1)))         conv2: C_i -> C_i, K, d
//   y  = act(h2 + res(x))             res: a 1x1 convolution where C_{i-1} != C_i, else x
// Input per step t < L: [y_t | hist_t (Ch) | futr_t (Cf) | static (S)] (C_{-1} = 1 + Ch + Cf + S).
// Decoder input: [y_{L-1} of the last block (C) | futr_{L..L+H-1} (H * Cf)].
//
// The head reads one column, so each block computes only the columns inside its receptive field
// (CausalConv1d: the last 1, then 1 + 2 span, ... columns); the others cannot change the forecast
// or a gradient. Streaming: each convolution keeps a ring of its last span + 1 input columns, so
// a tick costs one column per convolution; after T ticks the forecast is the batch forward over
// those T values (the zero padding before them is the rings' initial zeros).
#include <algorithm>
#include <cstring>

#include "models/common.h"
#include "ntn/conv.h"
#include "ntn/mlp.h"
#include "ntn/rng.h"

namespace ntn::models {
namespace {

ModelInfo tcn_info() {
  return {
      "tcn",
      "Temporal convolutional network: residual blocks of causal dilated convolutions, MLP decoder from the "
      "last column (computes only its receptive field; streams one column per layer)",
      json{{"type", "tcn"},
           {"input_size", 12},
           {"horizon", 4},
           {"channels", {3, 4}},
           {"kernel_size", 3},
           {"decoder_hidden_size", 8},
           {"decoder_layers", 1}},
      {"point", "quantiles"},
      {"historic", "future", "static"},
      true};
}

// Typical values shown.
struct TcnConfig : BaseConfig {
  std::vector<std::size_t> channels = {64, 64, 64, 64, 64, 64};  // out channels of each residual block
  std::size_t kernel_size = 3;                                   // K: taps per convolution
  std::size_t dilation_base = 2;                                 // block i dilates by dilation_base^i
  std::size_t decoder_hidden_size = 128;                         // width of the decoder MLP's hidden layers
  std::size_t decoder_layers = 1;  // hidden layers of the decoder (0: one Linear to the horizon)

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    channels = read_sizes(j, ctx, "channels", channels, limits::kWidth);
    NTN_CHECK(!channels.empty() && channels.size() <= limits::kLayers.hi, ctx,
              ": field 'channels' must list 1..", limits::kLayers.hi, " block widths (got ", channels.size(),
              ")");
    kernel_size = json_uint(j, ctx, "kernel_size", kernel_size, {1, 64});
    dilation_base = json_uint(j, ctx, "dilation_base", dilation_base, {1, 64});
    decoder_hidden_size = json_uint(j, ctx, "decoder_hidden_size", decoder_hidden_size, limits::kWidth);
    decoder_layers = json_uint(j, ctx, "decoder_layers", decoder_layers, {0, limits::kLayers.hi});
    // The receptive field must stay a size a window can have (dilation_base^i grows fast).
    std::uint64_t d = 1, field = 1;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      field += 2 * (kernel_size - 1) * d;
      NTN_CHECK(field <= limits::kWindow.hi, ctx, ": fields 'kernel_size' (", kernel_size,
                "), 'dilation_base' (", dilation_base, ") and 'channels' (", channels.size(),
                " blocks) give a receptive field over ", limits::kWindow.hi, " steps");
      d *= dilation_base;
    }
  }
  static TcnConfig from_json(const json& j) { return read_config<TcnConfig>(j, tcn_info()); }
  json to_json() const {
    json j = {{"type", "tcn"}};
    write(j);
    j["channels"] = channels;
    j["kernel_size"] = kernel_size;
    j["dilation_base"] = dilation_base;
    j["decoder_hidden_size"] = decoder_hidden_size;
    j["decoder_layers"] = decoder_layers;
    return j;
  }
  std::size_t step_width() const { return 1 + hist_exog + futr_exog + stat_exog; }
  std::size_t decoder_width() const { return channels.back() + horizon * futr_exog; }
};

template <class T>
class Tcn final : public Model<T> {
  struct Block {
    std::size_t cin = 0, cout = 0;
    nn::CausalConv1d<T> conv1, conv2, down;  // down: declared only where cin != cout
    bool has_down = false;
    std::uint64_t drop1 = 0, drop2 = 0;  // dropout streams
    // Columns of a window of length L: input, conv1 output (= conv2 input), block output.
    std::size_t n_in = 0, n_mid = 0, n_out = 0;
  };

 public:
  explicit Tcn(const TcnConfig& c) : c_(c) {
    std::size_t cin = c.step_width(), d = 1;
    for (std::size_t i = 0; i < c.channels.size(); ++i, d *= c.dilation_base) {
      Block b;
      b.cin = cin;
      b.cout = c.channels[i];
      const std::string p = cat("blocks.", i);
      b.conv1.declare(this->ps_, p + ".conv1", cin, b.cout, c.kernel_size, d);
      b.conv2.declare(this->ps_, p + ".conv2", b.cout, b.cout, c.kernel_size, d);
      b.has_down = cin != b.cout;
      if (b.has_down) b.down.declare(this->ps_, p + ".down", cin, b.cout, 1, 1);
      b.drop1 = stream_id(p + ".dropout1");
      b.drop2 = stream_id(p + ".dropout2");
      blocks_.push_back(b);
      cin = b.cout;
    }
    // The columns each block computes: the head reads the last one.
    std::size_t n = 1;
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      Block& b = blocks_[i];
      b.n_out = n;
      b.n_mid = b.conv2.input_columns(n, c.input_size);
      b.n_in = b.conv1.input_columns(b.n_mid, c.input_size);
      n = b.n_in;
    }
    decoder_.declare_hidden(this->ps_, "decoder", c.decoder_width(), c.decoder_hidden_size, c.decoder_layers,
                            c.horizon * c.outputs, c.activation, c.dropout);
    this->ps_.finalize();
  }
  std::string type() const override { return "tcn"; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t seed) override {
    for (const Block& b : blocks_) {
      b.conv1.init(this->ps_, seed);
      b.conv2.init(this->ps_, seed);
      if (b.has_down) b.down.init(this->ps_, seed);
    }
    decoder_.init(this->ps_, seed);
  }

  // Per block: the convolutions' caches and the activations backward reads, (B, columns, C).
  struct BlockWs {
    typename nn::CausalConv1d<T>::Cache c1, c2, down;
    std::vector<T> pre1, a1, h1;  // conv1 output, after act, after dropout (h1 empty: = a1)
    std::vector<T> pre2, a2, h2;
    std::vector<T> res;       // the 1x1 convolution's output (has_down)
    std::vector<T> sum, out;  // h2 + res, act(sum): the next block's input
  };
  struct Ws final : Model<T>::Workspace {
    std::vector<BlockWs> blocks;
    typename nn::Mlp<T>::Cache dec;
    std::vector<T> x;          // (B, n_in of block 0, step width) model input columns
    std::vector<T> din, ddin;  // decoder input with future covariates (B, decoder width), gradient
    std::vector<T> g_out, g_mid, g_in, g_res;  // gradient scratch: block output, conv1 output, block input
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    const bool drop = !inference && c_.dropout > 0.0f;
    std::size_t widest = 0;
    for (const Block& b : blocks_) {
      BlockWs w;
      const std::size_t mid =
          check_tensor_size(B * b.n_mid, b.cout, "tcn activations (batch x columns x channels)");
      const std::size_t out = B * b.n_out * b.cout;
      w.c1 = b.conv1.make_cache(B, b.n_in, b.n_mid, inference);
      w.c2 = b.conv2.make_cache(B, b.n_mid, b.n_out, inference);
      if (b.has_down) {
        w.down = b.down.make_cache(B, b.n_in, b.n_out, inference);
        w.res.resize(out);
      }
      w.pre1.resize(mid);
      w.a1.resize(mid);
      if (drop) w.h1.resize(mid);
      w.pre2.resize(out);
      w.a2.resize(out);
      if (drop) w.h2.resize(out);
      w.sum.resize(out);
      w.out.resize(out);
      widest = std::max({widest, mid, B * b.n_in * b.cin});
      ws->blocks.push_back(std::move(w));
    }
    ws->dec = decoder_.make_cache(B, inference);
    ws->x.resize(
        check_tensor_size(B * blocks_[0].n_in, c_.step_width(), "tcn input (batch x columns x inputs)"));
    if (c_.futr_exog)
      ws->din.resize(check_tensor_size(B, c_.decoder_width(), "decoder input (batch x width)"));
    if (!inference) {
      ws->ddin.resize(B * c_.decoder_width());
      ws->g_out.resize(widest);
      ws->g_mid.resize(widest);
      ws->g_in.resize(widest);
      ws->g_res.resize(widest);
    }
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y,
               const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, B = in.B, W = c_.step_width(), n0 = blocks_[0].n_in;
    const Covariates cov = c_.covariates();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = L - n0; t < L; ++t) step_inputs(in, cov, L, H, b, t, ws.x.data() + (b * n0 + t - (L - n0)) * W);
    const bool drop = ctx.training && c_.dropout > 0.0f;
    NTN_CHECK(!drop || !ws.blocks[0].h1.empty(),
              "tcn: a forward-only workspace cannot run a training forward");
    const T* x = ws.x.data();
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      const Block& b = blocks_[i];
      BlockWs& w = ws.blocks[i];
      const std::size_t nm = B * b.n_mid * b.cout, no = B * b.n_out * b.cout;
      b.conv1.forward(this->ps_, w.c1, x, w.pre1.data(), B, b.n_in, b.n_mid, ctx);
      nn::act_forward(c_.activation, w.pre1.data(), w.a1.data(), nm);
      const T* h1 = w.a1.data();
      if (drop) {
        nn::dropout_forward(h1, w.h1.data(), nm, c_.dropout, ctx.seed, b.drop1,
                            drop_counter(ctx, b.n_mid * b.cout));
        h1 = w.h1.data();
      }
      b.conv2.forward(this->ps_, w.c2, h1, w.pre2.data(), B, b.n_mid, b.n_out, ctx);
      nn::act_forward(c_.activation, w.pre2.data(), w.a2.data(), no);
      const T* h2 = w.a2.data();
      if (drop) {
        nn::dropout_forward(h2, w.h2.data(), no, c_.dropout, ctx.seed, b.drop2,
                            drop_counter(ctx, b.n_out * b.cout));
        h2 = w.h2.data();
      }
      if (b.has_down) {
        b.down.forward(this->ps_, w.down, x, w.res.data(), B, b.n_in, b.n_out, ctx);
        for (std::size_t k = 0; k < no; ++k) w.sum[k] = h2[k] + w.res[k];
      } else {  // identity: the last n_out input columns of each row
        const std::size_t C = b.cout, skip = (b.n_in - b.n_out) * C;
        for (std::size_t r = 0; r < B; ++r) {
          const T* xr = x + r * b.n_in * C + skip;
          const T* hr = h2 + r * b.n_out * C;
          T* s = w.sum.data() + r * b.n_out * C;
          for (std::size_t k = 0; k < b.n_out * C; ++k) s[k] = hr[k] + xr[k];
        }
      }
      nn::act_forward(c_.activation, w.sum.data(), w.out.data(), no);
      x = w.out.data();
    }
    // The last block has one column per row: x is (B, C).
    decoder_.forward(this->ps_, ws.dec,
                     with_future_covariates(in, c_.futr_exog, L, H, x, c_.channels.back(), ws.din.data()), y, B, ctx);
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t C = c_.channels.back(), DW = c_.decoder_width();
    decoder_.backward(this->ps_, grads, ws.dec, dy, ws.ddin.data(), B, ctx);
    for (std::size_t r = 0; r < B; ++r)
      std::memcpy(ws.g_out.data() + r * C, ws.ddin.data() + r * DW, C * sizeof(T));
    const bool drop = ctx.training && c_.dropout > 0.0f;
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      const Block& b = blocks_[i];
      BlockWs& w = ws.blocks[i];
      const std::size_t nm = B * b.n_mid * b.cout, no = B * b.n_out * b.cout, ni = B * b.n_in * b.cin;
      const bool want_dx = i > 0 || dx;
      T* g = ws.g_out.data();  // d out -> d sum, in place
      nn::act_backward(c_.activation, w.sum.data(), w.out.data(), g, g, no);
      // conv2 branch: d h2 = d sum -> d pre2 (g_mid), then d h1 (g_in) -> d pre1 (in place)
      T* gp2 = ws.g_mid.data();
      if (drop) {
        nn::dropout_backward(g, gp2, no, c_.dropout, ctx.seed, b.drop2, drop_counter(ctx, b.n_out * b.cout));
        nn::act_backward(c_.activation, w.pre2.data(), w.a2.data(), gp2, gp2, no);
      } else {
        nn::act_backward(c_.activation, w.pre2.data(), w.a2.data(), g, gp2, no);
      }
      T* gh1 = ws.g_in.data();
      b.conv2.backward(this->ps_, grads, w.c2, gp2, gh1, B, b.n_mid, b.n_out, ctx);
      if (drop)
        nn::dropout_backward(gh1, gh1, nm, c_.dropout, ctx.seed, b.drop1,
                             drop_counter(ctx, b.n_mid * b.cout));
      nn::act_backward(c_.activation, w.pre1.data(), w.a1.data(), gh1, gh1, nm);
      // d x: conv1's, plus the residual's (g_res when it is a convolution; g itself otherwise).
      T* gx = ws.g_mid.data();  // (B, n_in, cin); gp2 is no longer needed
      b.conv1.backward(this->ps_, grads, w.c1, gh1, want_dx ? gx : nullptr, B, b.n_in, b.n_mid, ctx);
      if (b.has_down) {
        b.down.backward(this->ps_, grads, w.down, g, want_dx ? ws.g_res.data() : nullptr, B, b.n_in, b.n_out,
                        ctx);
        if (want_dx)
          for (std::size_t k = 0; k < ni; ++k) gx[k] += ws.g_res[k];
      } else if (want_dx) {
        const std::size_t Cb = b.cout, skip = (b.n_in - b.n_out) * Cb;
        for (std::size_t r = 0; r < B; ++r) {
          T* xr = gx + r * b.n_in * Cb + skip;
          const T* gr = g + r * b.n_out * Cb;
          for (std::size_t k = 0; k < b.n_out * Cb; ++k) xr[k] += gr[k];
        }
      }
      if (!want_dx) break;
      std::swap(ws.g_out, ws.g_mid);  // this block's d input is the previous block's d output
    }
    if (!dx) return;
    const std::size_t L = c_.input_size, n0 = blocks_[0].n_in, W = c_.step_width();
    const T* g0 = ws.g_out.data();
    for (std::size_t r = 0; r < B; ++r)
      for (std::size_t t = 0; t < L; ++t) dx[r * L + t] = t < L - n0 ? T(0) : g0[(r * n0 + t - (L - n0)) * W];
  }

  // ---- streaming: a ring per convolution ------------------------------------------------------
  struct St final : Model<T>::State {
    std::vector<T> v;  // per block: conv1's ring, conv2's ring; then each block's ring position
    std::vector<T> col, pre, h1, h2, res, x;  // scratch, one column
    typename nn::Mlp<T>::Cache dec;
    T* values() override { return v.data(); }
    std::size_t size() const override { return v.size(); }
  };
  std::unique_ptr<typename Model<T>::State> make_state() const override {
    auto s = std::make_unique<St>();
    std::size_t n = blocks_.size(), widest = 0, wcol = 0;
    for (const Block& b : blocks_) {
      n += b.conv1.ring_columns() * (b.cin + b.cout);
      widest = std::max({widest, b.cin, b.cout});
      wcol = std::max({wcol, b.conv1.lin.in, b.conv2.lin.in});
    }
    s->v.assign(n, T(0));
    s->col.resize(wcol);
    for (auto* buf : {&s->pre, &s->h1, &s->h2, &s->res, &s->x}) buf->resize(widest);
    s->dec = decoder_.make_cache(1, true);
    return s;
  }
  void step(typename Model<T>::State& base, const T* tick, T* y, const nn::RunCtx& ctx) const override {
    NTN_CHECK(!c_.covariates().any(),
              "tcn: a model with covariates does not stream (its ticks would need them)");
    St& s = static_cast<St&>(base);
    T* ring = s.v.data();
    T* pos = s.v.data() + s.v.size() - blocks_.size();
    const T* x = tick;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      const Block& b = blocks_[i];
      const std::size_t R = b.conv1.ring_columns(), C = b.cout;
      // A restored state's positions are checked, never trusted: a ring index outside the ring
      // would read outside the state.
      NTN_CHECK(pos[i] >= T(0) && pos[i] < T(R) && pos[i] == T(std::size_t(pos[i])),
                "tcn: stream state position ", pos[i], " of block ", i, " is not a ring slot (0..", R - 1,
                "): a damaged state");
      const std::size_t p = std::size_t(pos[i]);
      b.conv1.step(this->ps_, ring, p, x, s.pre.data(), s.col.data(), ctx);
      nn::act_forward(c_.activation, s.pre.data(), s.h1.data(), C);
      ring += R * b.cin;
      b.conv2.step(this->ps_, ring, p, s.h1.data(), s.pre.data(), s.col.data(), ctx);
      nn::act_forward(c_.activation, s.pre.data(), s.h2.data(), C);
      ring += R * C;
      const T* res = x;
      if (b.has_down) {
        b.down.lin.forward(this->ps_, x, s.res.data(), 1, ctx);
        res = s.res.data();
      }
      for (std::size_t k = 0; k < C; ++k) s.pre[k] = s.h2[k] + res[k];
      nn::act_forward(c_.activation, s.pre.data(), s.x.data(), C);
      x = s.x.data();
      pos[i] = T((p + 1) % R);
    }
    decoder_.forward(this->ps_, s.dec, x, y, 1, ctx);
  }

 private:
  // Dropout masks depend on the global row (ctx.row0), not on how a batch is split.
  static std::uint64_t drop_counter(const nn::RunCtx& ctx, std::size_t width) {
    return (ctx.step << 40) + ctx.row0 * width;
  }

  TcnConfig c_;
  std::vector<Block> blocks_;
  nn::Mlp<T> decoder_;
};

}  // namespace

Entry tcn_entry() { return make_entry<Tcn, TcnConfig>(tcn_info()); }

}  // namespace ntn::models
