// Compute kernels: free functions over raw pointers and counts. They never allocate, throw or
// start threads (callers split work above them by row ranges). Each op exists as a scalar
// reference (always compiled, never auto-vectorised) and as AVX2+FMA and AVX-512 versions;
// the best one the CPU supports is chosen once, capped by the environment variable
// NTN_ISA=scalar|sse4|avx2|avx512|native.
//
// Conventions: n is an element count; outputs may alias inputs element-for-element (in place)
// unless a comment says otherwise; no alignment is required.
// NaN and inf: elementwise ops and activations follow IEEE arithmetic; NaN propagates through
// every forward op (activations, reductions including min/max, normalisation, losses);
// activations map +-inf to their limits (relu/gelu/silu/softplus(-inf) = 0, (+inf) = +inf;
// tanh = +-1; sigmoid = 0 / 1).
//
// Intended usage:
//   const ntn::KernelTable& k = ntn::kernels();         // active table (dispatch resolved once)
//   k.f32_add(a, b, out, n);
//   float loss = k.f32_mse(pred, target, grad, n);       // fused loss + gradient
//   const ntn::KernelTable& ref = ntn::kernels_for(ntn::Isa::scalar);   // for tests
#pragma once

#include <cstddef>
#include <cstdint>

#include "ntn/cpu.h"

namespace ntn {

// C (M, N) = op(A) op(B) with a FIXED reduction order, for every matrix product whose bits we
// promise (training forward / backward, the N-BEATS bases, serving). Element (i, j) is ONE chain
// of fp32 FMAs over k = 0 .. K-1 in order:
//   acc = accumulate ? C(i, j) : 0;   acc = fma(s A(i, k), B(k, j), acc)  (s = -1 if neg, else 1);
//   C(i, j) = acc (+ bias[i] or bias[j] if bias is set)
// with A(i, k) = A[i a_rs + k a_cs], B(k, j) = B[k b_rs + j b_cs], C(i, j) = C[i c_rs + j c_cs]
// (any strides: transposes are strides). So a result does not depend on the ISA (the scalar
// table included), the blocking, the thread that computes it or the other rows and columns of
// the call; and with bias, accumulate = false it is bitwise the packed dense kernels' result
// (f32_dense: the same chain, then + bias). C must not overlap A or B. B is copied into a stack
// panel per block of k (always when its columns are not contiguous, b_cs != 1, and whenever C
// has more than a few rows), so the fastest orientation makes B the smaller operand.
struct GemmArgs {
  std::size_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  std::size_t a_rs = 0, a_cs = 1;
  const float* B = nullptr;
  std::size_t b_rs = 0, b_cs = 1;
  float* C = nullptr;
  std::size_t c_rs = 0, c_cs = 1;
  const float* bias = nullptr;
  bool bias_per_row = false;  // bias[i] (true) or bias[j] (false)
  bool neg = false;
  bool accumulate = false;
};

// The three products of a Linear layer y (B, out) = x (B, in) W^T + b, W (out, in), as training
// runs them (nn::Linear<float>, and the benchmarks and tests that measure the same products):
//   forward       y^T (out, B) = W x^T + b per row: the small x is the operand the GEMM packs,
//                 and each y element is the packed dense kernel's chain (serving == training);
//   weight grad   dW (out, in) = dy^T x, a chain over the batch rows (accumulated into dW if asked);
//   input grad    dx (B, in) = dy W, a chain over the outputs.
inline GemmArgs linear_forward_gemm(const float* W, const float* x, const float* bias, float* y, std::size_t B,
                                    std::size_t in, std::size_t out) {
  GemmArgs g;
  g.M = out, g.N = B, g.K = in;
  g.A = W, g.a_rs = in, g.a_cs = 1;
  g.B = x, g.b_rs = 1, g.b_cs = in;
  g.C = y, g.c_rs = 1, g.c_cs = out;
  g.bias = bias, g.bias_per_row = true;
  return g;
}
inline GemmArgs linear_weight_grad_gemm(const float* dy, const float* x, float* dW, std::size_t B, std::size_t in,
                                        std::size_t out, bool accumulate) {
  GemmArgs g;
  g.M = out, g.N = in, g.K = B;
  g.A = dy, g.a_rs = 1, g.a_cs = out;
  g.B = x, g.b_rs = in, g.b_cs = 1;
  g.C = dW, g.c_rs = in, g.c_cs = 1;
  g.accumulate = accumulate;
  return g;
}
inline GemmArgs linear_input_grad_gemm(const float* dy, const float* W, float* dx, std::size_t B, std::size_t in,
                                       std::size_t out) {
  GemmArgs g;
  g.M = B, g.N = in, g.K = out;
  g.A = dy, g.a_rs = out, g.a_cs = 1;
  g.B = W, g.b_rs = in, g.b_cs = 1;
  g.C = dx, g.c_rs = in, g.c_cs = 1;
  return g;
}

struct KernelTable {
  Isa isa;

  // ---- elementwise (out may alias any input) -------------------------------------------
  void (*f32_add)(const float* a, const float* b, float* out, std::size_t n);  // a + b
  void (*f32_sub)(const float* a, const float* b, float* out, std::size_t n);  // a - b
  void (*f32_mul)(const float* a, const float* b, float* out, std::size_t n);  // a * b
  void (*f32_axpy)(float alpha, const float* x, float* y, std::size_t n);      // y += alpha*x
  void (*f32_scale)(float alpha, const float* x, float* y, std::size_t n);     // y = alpha*x
  void (*f32_fma)(const float* a, const float* b, const float* c, float* out,
                  std::size_t n);  // a*b + c

  // ---- activations: fwd y = f(x); bwd dx = dy * f'(.) ----------------------------------
  // The first argument of a backward is x for relu, gelu, softplus, silu and y = f(x) for
  // tanh and sigmoid (the cheaper form). dx may alias dy.
  void (*f32_relu)(const float* x, float* y, std::size_t n);
  void (*f32_relu_bwd)(const float* x, const float* dy, float* dx, std::size_t n);
  void (*f32_gelu)(const float* x, float* y, std::size_t n);  // exact: x * Phi(x)
  void (*f32_gelu_bwd)(const float* x, const float* dy, float* dx, std::size_t n);
  void (*f32_tanh)(const float* x, float* y, std::size_t n);
  void (*f32_tanh_bwd)(const float* y, const float* dy, float* dx, std::size_t n);
  void (*f32_sigmoid)(const float* x, float* y, std::size_t n);
  void (*f32_sigmoid_bwd)(const float* y, const float* dy, float* dx, std::size_t n);
  // softplus as PyTorch (beta 1, threshold 20): x > 20 ? x : log1p(exp(x)).
  void (*f32_softplus)(const float* x, float* y, std::size_t n);
  void (*f32_softplus_bwd)(const float* x, const float* dy, float* dx, std::size_t n);
  void (*f32_silu)(const float* x, float* y, std::size_t n);  // x * sigmoid(x)
  void (*f32_silu_bwd)(const float* x, const float* dy, float* dx, std::size_t n);

  // ---- row-wise: x is (rows, cols) row-major ------------------------------------------
  void (*f32_softmax)(const float* x, float* y, std::size_t rows, std::size_t cols);
  // dx = y * (dy - sum(dy * y)) per row.
  void (*f32_softmax_bwd)(const float* y, const float* dy, float* dx, std::size_t rows,
                          std::size_t cols);
  // y = (x - mean) * rstd * gamma + beta per row; writes mean (rows), rstd (rows).
  void (*f32_layernorm)(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, std::size_t rows, std::size_t cols, float eps);
  // dx written; dgamma, dbeta (cols) accumulated (+=). dx must not alias x.
  void (*f32_layernorm_bwd)(const float* x, const float* dy, const float* gamma,
                            const float* mean, const float* rstd, float* dx, float* dgamma,
                            float* dbeta, std::size_t rows, std::size_t cols);

  // ---- reductions (n = 0: sum 0, mean/var NaN, min +inf, max -inf) -----------------------
  float (*f32_sum)(const float* x, std::size_t n);
  float (*f32_mean)(const float* x, std::size_t n);
  // Corrected two-pass variance with divisor n - ddof (ddof 0: population, 1: sample).
  float (*f32_variance)(const float* x, std::size_t n, int ddof);
  float (*f32_min)(const float* x, std::size_t n);
  float (*f32_max)(const float* x, std::size_t n);
  float (*f32_dot)(const float* a, const float* b, std::size_t n);
  float (*f32_sqnorm)(const float* x, std::size_t n);

  // ---- normalisation: y = (x - center) / scale; inverse x = y * scale + center ------------
  // Statistics (mean / std, min / max-min, median / IQR) come from ntn/normalize.h.
  void (*f32_normalize)(const float* x, float* y, std::size_t n, float center, float scale);
  void (*f32_denormalize)(const float* y, float* x, std::size_t n, float center, float scale);
  void (*f64_normalize)(const double* x, double* y, std::size_t n, double center, double scale);
  void (*f64_denormalize)(const double* y, double* x, std::size_t n, double center,
                          double scale);
  double (*f64_sum)(const double* x, std::size_t n);
  // Corrected two-pass variance around a given mean, divisor n (population).
  double (*f64_var_around)(const double* x, std::size_t n, double mean);
  float (*f32_var_around)(const float* x, std::size_t n, float mean);
  void (*f64_minmax)(const double* x, std::size_t n, double* mn, double* mx);

  // ---- losses fused with their gradient: returns mean loss over n; if grad != nullptr,
  // grad[i] = d(loss)/d(pred[i]) (includes the 1/n). grad may alias pred.
  float (*f32_mse)(const float* pred, const float* target, float* grad, std::size_t n);
  float (*f32_mae)(const float* pred, const float* target, float* grad, std::size_t n);
  // PyTorch HuberLoss: 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta), d = pred - target.
  float (*f32_huber)(const float* pred, const float* target, float* grad, std::size_t n,
                     float delta);

  // ---- optimizer step (PyTorch Adam / AdamW, same operation order) ------------------------
  // g' = g + l2 p (Adam's L2 decay); m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
  // p = p * (1 - decoupled) - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps),
  // with step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t), decoupled = lr * wd (AdamW).
  void (*f32_adam)(float* p, const float* g, float* m, float* v, std::size_t n, float step_size, float b1, float b2,
                   float eps, float inv_sqrt_bc2, float l2, float decoupled);

  // ---- packed dense layers for inference: y (B, M) = x (B, K) W^T + bias (M, may be null) ---
  // W (M, K) is packed once (f32_dense_pack and friends below) into panels of kDensePanel
  // output rows; x rows are ldx apart, y rows ldy apart. Every output is ONE chain of fp32 FMAs
  // over k = 0..K-1 in order, started at 0, then + bias: a row's result is bitwise the same
  // whatever B, the ISA (the scalar reference included) or the split of rows across threads.
  // B = 1 is the GEMV of a single forecast. y must not alias x.
  void (*f32_dense)(const float* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                    std::size_t B, const float* bias, float* y, std::size_t ldy);
  // fp16 (IEEE binary16) weights, widened exactly to fp32 before each FMA (F16C on x86): the
  // same chains as f32_dense, half the weight bytes.
  void (*f16_dense)(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                    std::size_t B, const float* bias, float* y, std::size_t ldy);
  // bf16 (bfloat16: fp32's sign and 8-bit exponent, 7 mantissa bits) weights in k pairs
  // (bf16_dense_pack), widened exactly by a shift or a mask: the same chains as f32_dense, half the
  // weight bytes, fp32's range (no overflow where fp16 would give inf) and a cheaper widening than
  // F16C's.
  void (*bf16_dense)(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                     std::size_t B, const float* bias, float* y, std::size_t ldy);
  // Dynamic symmetric quantisation of one activation row: amax = max |x|, s = amax / 127,
  // q[k] = round-half-even(x[k] * (127 / amax)) in [-127, 127] (0 if amax == 0), q[K..Kp) = 0.
  // Returns s. x must be finite.
  float (*f32_quantize_i8)(const float* x, std::size_t K, std::int8_t* q, std::size_t Kp);
  // int8 weights q_w (per output channel scale w_scale, |q_w| <= 127, packed by i8_dense_pack)
  // times int8 rows xq (B, Kp) with scales xs (B) from f32_quantize_i8:
  //   acc = sum_k xq[b, k] q_w[o, k]  (exact in int32), y[b, o] = float(acc) * (xs[b] * w_scale[o]) + bias[o].
  // Integer sums are exact, so every ISA gives bitwise the same y. AVX2 uses vpmaddubsw on |x|
  // and sign-transferred weights (each 16-bit pair sum <= 2 * 127 * 127 < 32767: it never
  // saturates); AVX-512 uses VNNI vpdpbusd on x + 128 and subtracts 128 * w_sum[o].
  void (*i8_dense)(const std::int8_t* packed, const float* w_scale, const std::int32_t* w_sum, std::size_t M,
                   std::size_t Kp, const std::int8_t* xq, std::size_t ldq, const float* xs, std::size_t B,
                   const float* bias, float* y, std::size_t ldy);

  // ---- GEMM with a fixed reduction order (GemmArgs above) ----------------------------------
  void (*f32_gemm)(const GemmArgs& g);

  // ---- measurement helper: runs `iters` rounds of independent FMAs (for peak GFLOP/s) -----
  // Returns a value that depends on every FMA; flops = iters * fma_peak_flops_per_iter.
  float (*fma_peak_probe)(std::size_t iters);
  std::size_t fma_peak_flops_per_iter;
  // ---- measurement helper: reads n floats once (the max over them in independent chains) ----
  // The time a kernel needs that streams those n * 4 bytes once and does nothing else: the
  // memory floor of a batch-1 forecast over packed weights of that size. Any bit pattern may be
  // read (max never slows down on subnormals); the result only keeps the reads alive.
  float (*read_probe)(const float* p, std::size_t n);

  // ---- recurrent cells: the gate pass of B rows (nn::Recurrent; PyTorch's equations) ------
  // xp, hp (B, G): input and recurrent products (biases included); states (B, H). Plain
  // multiplies and adds (never fused), sigmoid / tanh as f32_sigmoid / f32_tanh: bitwise the
  // same on every ISA. Outputs may alias the previous state (h with h_prev, c with c_prev), and
  // gates may be xp itself (training overwrites each step's projection with its activations).
  // LSTM, G = 4H, gates [i f g o]: writes the activated gates, c = f c_prev + i g, tc = tanh(c),
  // h = o tc.
  void (*f32_lstm_cell)(const float* xp, const float* hp, const float* c_prev, float* gates, float* c, float* tc,
                        float* h, std::size_t B, std::size_t H);
  // Backward of one step: dh (B, H) the gradient of h; dc (B, H) in: of c from the next step,
  // out: of c_prev. Writes dg (B, G), the pre-activation gate gradients.
  void (*f32_lstm_cell_bwd)(const float* gates, const float* c_prev, const float* tc, const float* dh, float* dc,
                            float* dg, std::size_t B, std::size_t H);
  // GRU, G = 3H, gates [r z n]: r, z = sigmoid(xp + hp), hn = hp_n, n = tanh(xp_n + r hn),
  // h = (1 - z) n + z h_prev. Writes the activated gates and hn (B, H).
  void (*f32_gru_cell)(const float* xp, const float* hp, const float* h_prev, float* gates, float* hn, float* h,
                       std::size_t B, std::size_t H);
  // Backward of one step: dgi / dgh (B, G), the gradients of the input and recurrent products'
  // pre-activations (they differ in the n gate: dgh_n = dgi_n r), and dz = dh z (B, H), the direct
  // part of the previous state's gradient.
  void (*f32_gru_cell_bwd)(const float* gates, const float* h_prev, const float* hn, const float* dh, float* dgi,
                           float* dgh, float* dz, std::size_t B, std::size_t H);

  // ---- dropout ----------------------------------------------------------------------------
  // y[i] = x[i] * scale where word (counter + i) of the Philox4x32-10 stream (seed, stream) is
  // >= threshold, else 0; word w is element w & 3 of block w >> 2 (ntn/rng.h, Rng::block). W
  // blocks are drawn at once in the vector lanes: the same bits on every ISA. y may alias x.
  void (*f32_dropout)(const float* x, float* y, std::size_t n, std::uint32_t threshold, float scale,
                      std::uint64_t seed, std::uint64_t stream, std::uint64_t counter);

  // ---- fused attention of one head ----------------------------------------------------------
  // For each query row i < Lq: s_j = q_i . k_j over the keys it sees (all, or under the causal
  // mask j <= i + Lk - Lq), o_i = softmax(s) v in ONE pass over blocks of kAttnBlock keys: the
  // block's scores, their max, exp and sum, then o and the running sum rescaled by exp(m_old -
  // m_new) (online softmax) - no (Lq, Lk) buffer. q is already scaled by 1 / sqrt(dh). Rows are
  // strided (ldq, ldk, ldv, ldo: a head's columns of (L, E) matrices); kt is scratch (dh x Lk).
  // A row that sees no key gets zeros. Four query rows at a time share each key and value load.
  // stats (null, or (Lq, 2)) receives each row's final max m and sum l (-inf and 0 for a row that
  // sees no key): all the backward needs besides the inputs and o.
  // Each score is one FMA chain over d, each output element of a block one chain over its keys in
  // order, the exp sums canonical: the same bits on every ISA.
  void (*f32_attention)(const float* q, std::size_t ldq, const float* k, std::size_t ldk, const float* v,
                        std::size_t ldv, float* o, std::size_t ldo, std::size_t Lq, std::size_t Lk, std::size_t dh,
                        bool causal, float* kt, float* stats);
  // Its backward from the forward's o and stats, again without an (Lq, Lk) buffer: per block the
  // scores are recomputed (the forward's bits), p = exp(s - m) / l, dp = dout . v, ds = p (dp -
  // D) with D_i = dout_i . o_i; dq = ds k (overwritten; the 1 / sqrt(dh) is the caller's), dk +=
  // ds^T q and dv += p^T dout (accumulated: a decoder adds every query call's share). scratch:
  // 2 dh Lk floats. Every element one FMA chain in a fixed order: the same bits on every ISA.
  void (*f32_attention_bwd)(const float* q, std::size_t ldq, const float* k, std::size_t ldk, const float* v,
                            std::size_t ldv, const float* o, std::size_t ldo, const float* dout, std::size_t lddo,
                            const float* stats, float* dq, std::size_t lddq, float* dk, std::size_t lddk, float* dv,
                            std::size_t lddv, std::size_t Lq, std::size_t Lk, std::size_t dh, bool causal,
                            float* scratch);
};

inline constexpr std::size_t kDensePanel = 16;  // output rows per packed panel
inline constexpr std::size_t kI8Group = 4;      // int8 panels interleaved per k quad (i8_dense_pack)
inline constexpr std::size_t kAttnBlock = 64;   // keys per block of f32_attention

// Active table: best ISA supported by the CPU, capped by NTN_ISA. Resolved on first call;
// throws ntn::Error if NTN_ISA holds an unknown value.
const KernelTable& kernels();
// Table of one ISA (for tests and benchmarks). Throws if the CPU does not support it.
const KernelTable& kernels_for(Isa isa);
Isa active_isa();

// ---- packing for the dense kernels (any ISA; done once when a model is loaded) ----------
// Panel p holds output rows [16p, 16p + 16); rows past M are zero.
//   f32 / fp16: packed[p * K * 16 + k * 16 + r]                     (size dense_packed_size)
//   bf16:       packed[p * K2 * 16 + (k / 2) * 32 + r * 2 + k % 2]  (K2 = K rounded up to 2, size
//               dense_packed_size(M, K2)): a row's weights for k and k + 1 share a 32-bit word, so one
//               load gives both, widened by a shift (k) and a mask (k + 1).
//   int8:      panels in groups of kI8Group, interleaved by k quad: group g (panels 4g ..) with
//              G of them (4, or fewer in the last group) holds, for each k quad, G rows of 64
//              bytes: packed[g * 4 * Kp * 16 + (k / 4) * G * 64 + (p % 4) * 64 + r * 4 + k % 4]
//              (Kp = K rounded up to 4, size dense_packed_size(M, Kp) bytes); a batch-1 tile of
//              4 panels reads one sequential stream. w_sum (panels * 16) = row sums of q_w.
std::size_t dense_panels(std::size_t M);
std::size_t dense_packed_size(std::size_t M, std::size_t K);  // elements
inline std::size_t i8_padded_k(std::size_t K) { return (K + 3) / 4 * 4; }
// Where panel p (of P, k extent Kp) starts in an int8 packing (k = 0, row 0), and the bytes from
// one k quad of its group to the next: the layout above, for the packer and the kernels alike.
struct I8PanelAt {
  std::size_t offset, quad_stride;
};
inline I8PanelAt i8_panel_at(std::size_t p, std::size_t P, std::size_t Kp) {
  const std::size_t g = p / kI8Group, G = P - g * kI8Group < kI8Group ? P - g * kI8Group : kI8Group;
  return {g * kI8Group * Kp * kDensePanel + p % kI8Group * 4 * kDensePanel, G * 4 * kDensePanel};
}
void f32_dense_pack(const float* W, std::size_t M, std::size_t K, float* packed);
void f16_dense_pack(const std::uint16_t* W, std::size_t M, std::size_t K, std::uint16_t* packed);
inline std::size_t bf16_padded_k(std::size_t K) { return (K + 1) / 2 * 2; }
void bf16_dense_pack(const std::uint16_t* W, std::size_t M, std::size_t K, std::uint16_t* packed);
void i8_dense_pack(const std::int8_t* q, std::size_t M, std::size_t K, std::int8_t* packed, std::int32_t* w_sum);
// Per output channel symmetric quantisation of W (M, K): scale[o] = max_k |W[o, k]| / 127,
// q[o, k] = round-half-even(W[o, k] / scale[o]) (all zero and scale 0 for a zero row).
void i8_quantize_rows(const float* W, std::size_t M, std::size_t K, std::int8_t* q, float* scale);
// IEEE binary16 conversions (round to nearest even; overflow -> inf; NaN stays NaN), portable.
std::uint16_t f32_to_f16(float x);
float f16_to_f32(std::uint16_t h);
// bfloat16 conversions: round to nearest even (what vcvtneps2bf16 does; overflow -> inf; NaN stays a
// quiet NaN with its sign), widening exact (the bits shifted left by 16). Portable.
std::uint16_t f32_to_bf16(float x);
float bf16_to_f32(std::uint16_t h);

// ---- bf16 GEMM (mixed-precision training: nn::ParamSet::set_bf16_products) -----------------
// The GemmArgs contract with bfloat16 products: A and B are rounded to bf16 (round to nearest
// even, as vcvtneps2bf16), and element (i, j) is ONE chain of vdpbf16ps steps over the k pairs in
// order: acc = accumulate ? C(i, j) : 0;  acc += A(i, 2p) B(2p, j) + A(i, 2p+1) B(2p+1, j)  (p = 0 ..;
// an odd K's last pair has a zero second term), then neg and bias as f32_gemm, fp32 throughout.
// So the result does not depend on the blocking, the thread or the other rows and columns (the
// rows of C may be split over threads), but it does on the instruction: only CPUs with
// AVX512_BF16 run it (Zen 4 / 5, Sapphire Rapids and later). Everywhere else - and under an
// NTN_ISA cap below avx512 - bf16_gemm_available() is false and bf16_gemm throws; there is no
// emulation that could pass for it.
bool bf16_gemm_available();
void bf16_gemm(const GemmArgs& g);

// ---- GEMM through OpenBLAS (row-major): C = alpha * op(A) op(B) + beta * C ------------------
// No bits are promised here (the result depends on OpenBLAS's kernel and thread count): used
// by the double-precision gradient checks and as the peer in the kernel benchmarks only.
// op(A) is (M, K), op(B) is (K, N), C is (M, N); lda/ldb/ldc are row strides of the stored
// matrices (A stored (M, K) if !trans_a else (K, M)).
void sgemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
           const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
           std::size_t ldc);
// Same contract, naive triple loop (the reference for tests).
void sgemm_ref(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K,
               float alpha, const float* A, std::size_t lda, const float* B, std::size_t ldb,
               float beta, float* C, std::size_t ldc);
// OpenBLAS sgemv, y = W x + beta y, W (M, K) row-major (the peer of our packed GEMV).
void sgemv_blas(std::size_t M, std::size_t K, const float* W, const float* x, float beta, float* y);
const char* blas_info();  // OpenBLAS build configuration string
const char* blas_core();  // the kernel family OpenBLAS uses here (OPENBLAS_CORETYPE overrides it)

}  // namespace ntn
