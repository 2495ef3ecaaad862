// ntneural bench kernels: the foundation's named figures, measured in this run.
// Every figure is validated before it is timed (SIMD against the scalar reference, our GEMV
// against OpenBLAS sgemv, OpenBLAS sgemm against the naive reference on sampled entries), and
// every ratio compares two timings taken in this process. Timings are medians of batches. The
// training-shape GEMM figures compare ntneural's fixed-order f32_gemm with OpenBLAS sgemm.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "commands.h"
#include "common.h"
#include "ntn/aligned.h"
#include "ntn/error.h"
#include "ntn/kernels.h"
#include "ntn/normalize.h"
#include "ntn/parallel.h"
#include "ntn/pool.h"
#include "ntn/rng.h"
#include "ntn/timing.h"

namespace ntn::cli {
namespace {

struct Opts {
  bool json = false;
  bool quick = false;  // fewer repetitions: a smoke run for the test suite, not for figures
  int threads = 0;     // for sgemm; 0 = all hardware threads
};

std::vector<float> random_vec(std::size_t n, std::uint64_t stream, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  fill_uniform(v.data(), n, lo, hi, 1234, stream);
  return v;
}

void expect_close(float got, float want, float rtol, const char* what) {
  NTN_CHECK(std::fabs(got - want) <= rtol * std::max(1.0f, std::fabs(want)),
            "bench validation failed for ", what, ": got ", got, ", expected ", want);
}

nlohmann::json timing_json(const Timing& t) {
  return {{"median_us", t.median_s * 1e6}, {"min_us", t.min_s * 1e6}, {"max_us", t.max_s * 1e6}, {"reps", t.reps}};
}

int run(const Opts& o) {
  const int reps = o.quick ? 3 : 15;
  const double batch_s = o.quick ? 2e-4 : 2e-3;
  const KernelTable& simd = kernels();
  const KernelTable& scalar = kernels_for(Isa::scalar);
  nlohmann::json out, detail;
  out["isa"] = isa_name(simd.isa);
  set_num_threads(1);

  // ---- z-score normalisation of 100k f32: statistics + apply --------------------------------
  {
    const std::size_t n = 100000;
    std::vector<float> x = random_vec(n, 1, 90.0f, 110.0f), y(n), yr(n);
    auto zscore = [&](const KernelTable& k, float* dst, std::size_t len) {
      const NormStats s = norm_stats(NormKind::zscore, x.data(), len, k);
      k.f32_normalize(x.data(), dst, len, float(s.center), float(s.scale));
    };
    zscore(simd, y.data(), n);
    zscore(scalar, yr.data(), n);
    for (std::size_t i = 0; i < n; i += 997) expect_close(y[i], yr[i], 1e-4f, "z-score normalisation");
    const Timing ts = measure([&] { zscore(simd, y.data(), n); }, reps, batch_s);
    const Timing tr = measure([&] { zscore(scalar, yr.data(), n); }, reps, batch_s);
    out["normalize_zscore_f32_100k_gelem_s"] = double(n) / ts.median_s / 1e9;
    out["normalize_simd_over_scalar"] = tr.median_s / ts.median_s;
    detail["normalize_zscore_100k"] = {{"simd", timing_json(ts)}, {"scalar", timing_json(tr)}};
    const std::size_t n1 = 1024;
    const Timing ts1 = measure([&] { zscore(simd, y.data(), n1); }, reps, batch_s);
    const Timing tr1 = measure([&] { zscore(scalar, yr.data(), n1); }, reps, batch_s);
    out["normalize_simd_over_scalar_1k"] = tr1.median_s / ts1.median_s;
  }

  // ---- fused MSE + gradient ------------------------------------------------------------------
  {
    for (std::size_t n : {std::size_t(1024), std::size_t(100000)}) {
      std::vector<float> p = random_vec(n, 2), t = random_vec(n, 3), g(n), gr(n);
      const float ls = simd.f32_mse(p.data(), t.data(), g.data(), n);
      const float lr = scalar.f32_mse(p.data(), t.data(), gr.data(), n);
      expect_close(ls, lr, 1e-4f, "mse loss");
      for (std::size_t i = 0; i < n; i += 101) expect_close(g[i], gr[i], 1e-5f, "mse gradient");
      const Timing ts = measure([&] { simd.f32_mse(p.data(), t.data(), g.data(), n); }, reps, batch_s);
      const Timing tr = measure([&] { scalar.f32_mse(p.data(), t.data(), gr.data(), n); }, reps, batch_s);
      const char* key = n == 1024 ? "mse_simd_over_scalar" : "mse_simd_over_scalar_100k";
      out[key] = tr.median_s / ts.median_s;
      detail[n == 1024 ? "mse_1k" : "mse_100k"] = {{"simd", timing_json(ts)}, {"scalar", timing_json(tr)}};
    }
  }

  // ---- dense 512x512: batch 1 (GEMV) fp32 / fp16 / bf16 / int8 vs OpenBLAS sgemv; batch 256 fp32 vs
  // OpenBLAS sgemm on one thread. Weights in cache. ------------------------------------------
  {
    const std::size_t M = 512, K = 512, Kp = i8_padded_k(K), B = 256;
    std::vector<float> w = random_vec(M * K, 4), x = random_vec(B * K, 5), y(B * M), yb(B * M);
    std::vector<float> packed(dense_packed_size(M, K));
    f32_dense_pack(w.data(), M, K, packed.data());
    std::vector<std::uint16_t> h(M * K), hpacked(dense_packed_size(M, K));
    for (std::size_t i = 0; i < M * K; ++i) h[i] = f32_to_f16(w[i]);
    f16_dense_pack(h.data(), M, K, hpacked.data());
    std::vector<std::uint16_t> bh(M * K), bpacked(dense_packed_size(M, bf16_padded_k(K)));
    for (std::size_t i = 0; i < M * K; ++i) bh[i] = f32_to_bf16(w[i]);
    bf16_dense_pack(bh.data(), M, K, bpacked.data());
    std::vector<std::int8_t> q(M * K), qpacked(dense_packed_size(M, Kp)), xq(Kp);
    std::vector<float> ws(M);
    std::vector<std::int32_t> wsum(dense_panels(M) * kDensePanel);
    i8_quantize_rows(w.data(), M, K, q.data(), ws.data());
    i8_dense_pack(q.data(), M, K, qpacked.data(), wsum.data());
    simd.f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
    sgemv_blas(M, K, w.data(), x.data(), 0.0f, yb.data());
    for (std::size_t i = 0; i < M; ++i) expect_close(y[i], yb[i], 1e-4f, "gemv vs OpenBLAS sgemv");
    simd.f16_dense(hpacked.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
    for (std::size_t i = 0; i < M; ++i) expect_close(y[i], yb[i], 2e-2f, "fp16 gemv vs OpenBLAS sgemv");
    simd.bf16_dense(bpacked.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
    for (std::size_t i = 0; i < M; ++i) expect_close(y[i], yb[i], 1e-1f, "bf16 gemv vs OpenBLAS sgemv");
    float xs = simd.f32_quantize_i8(x.data(), K, xq.data(), Kp);
    simd.i8_dense(qpacked.data(), ws.data(), wsum.data(), M, Kp, xq.data(), Kp, &xs, 1, nullptr, y.data(), M);
    for (std::size_t i = 0; i < M; ++i) expect_close(y[i], yb[i], 0.2f, "int8 gemv vs OpenBLAS sgemv");
    const Timing ts = measure([&] { simd.f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, y.data(), M); }, reps,
                              batch_s);
    const Timing th = measure([&] { simd.f16_dense(hpacked.data(), M, K, x.data(), K, 1, nullptr, y.data(), M); },
                              reps, batch_s);
    const Timing tbf = measure(
        [&] { simd.bf16_dense(bpacked.data(), M, K, x.data(), K, 1, nullptr, y.data(), M); }, reps, batch_s);
    const Timing tq = measure(
        [&] {
          xs = simd.f32_quantize_i8(x.data(), K, xq.data(), Kp);
          simd.i8_dense(qpacked.data(), ws.data(), wsum.data(), M, Kp, xq.data(), Kp, &xs, 1, nullptr, y.data(), M);
        },
        reps, batch_s);
    const Timing tb = measure([&] { sgemv_blas(M, K, w.data(), x.data(), 0.0f, yb.data()); }, reps, batch_s);
    const double flops = 2.0 * double(M) * double(K);
    out["gemv_512_gflops"] = flops / ts.median_s / 1e9;
    out["gemv_openblas_512_gflops"] = flops / tb.median_s / 1e9;
    out["gemv_over_openblas"] = tb.median_s / ts.median_s;
    out["gemv_f16_512_gflops"] = flops / th.median_s / 1e9;
    out["gemv_bf16_512_gflops"] = flops / tbf.median_s / 1e9;
    out["gemv_i8_512_gops"] = flops / tq.median_s / 1e9;
    detail["gemv_512"] = {{"ntn", timing_json(ts)}, {"openblas", timing_json(tb)}, {"ntn_f16", timing_json(th)}, {"ntn_bf16", timing_json(tbf)},
                          {"ntn_i8_incl_quantize", timing_json(tq)}};
    // Batch 256 through the same packed kernel vs OpenBLAS sgemm, one thread each.
    const int saved = blas_threads();
    set_blas_threads(1);
    simd.f32_dense(packed.data(), M, K, x.data(), K, B, nullptr, y.data(), M);
    sgemm(false, true, B, M, K, 1.0f, x.data(), K, w.data(), K, 0.0f, yb.data(), M);
    for (std::size_t i = 0; i < B * M; i += 97) expect_close(y[i], yb[i], 1e-4f, "dense B=256 vs OpenBLAS sgemm");
    const Timing td = measure([&] { simd.f32_dense(packed.data(), M, K, x.data(), K, B, nullptr, y.data(), M); },
                              reps, batch_s);
    const Timing tg = measure(
        [&] { sgemm(false, true, B, M, K, 1.0f, x.data(), K, w.data(), K, 0.0f, yb.data(), M); }, reps, batch_s);
    set_blas_threads(saved);
    out["dense_b256_512_gflops"] = double(B) * flops / td.median_s / 1e9;
    out["dense_b256_over_sgemm"] = tg.median_s / td.median_s;
    detail["dense_b256_512"] = {{"ntn", timing_json(td)}, {"openblas_sgemm", timing_json(tg)}};
  }

  // ---- the fixed-order GEMM on training shapes, one thread: forward y^T = W x^T + b, weight
  // gradient dW = dy^T x, input gradient dx = dy W, as nn::Linear<float> calls them, each against
  // OpenBLAS sgemm computing the same product. Two shapes: an MLP step (batch 32, Linear 512 ->
  // 512) and a recurrent layer's all-steps products (168 steps x batch 32 = 5376 rows, LSTM-128:
  // 128 -> 4 x 128 gates; its weight gradient reads the long, strided dy^T). -------------------
  auto train_gemms = [&](const char* key, std::size_t B, std::size_t in, std::size_t out_f) {
    std::vector<float> x = random_vec(B * in, 20), w = random_vec(out_f * in, 21), dy = random_vec(B * out_f, 22),
                       bias = random_vec(out_f, 23), y(B * out_f), dw(out_f * in), dx(B * in),
                       ref(std::max({out_f * in, B * out_f, B * in}));
    GemmArgs fwd = linear_forward_gemm(w.data(), x.data(), bias.data(), y.data(), B, in, out_f);
    GemmArgs gw = linear_weight_grad_gemm(dy.data(), x.data(), dw.data(), B, in, out_f, false);
    GemmArgs gx = linear_input_grad_gemm(dy.data(), w.data(), dx.data(), B, in, out_f);
    struct Shape3 {
      const char* name;
      GemmArgs* g;
      std::function<void(float*)> blas;  // the same product through OpenBLAS into the given buffer
    };
    const Shape3 shapes[] = {
        {"forward", &fwd,
         [&](float* c) {
           for (std::size_t r = 0; r < B; ++r) std::copy(bias.begin(), bias.end(), c + r * out_f);
           sgemm(false, true, B, out_f, in, 1.0f, x.data(), in, w.data(), in, 1.0f, c, out_f);
         }},
        {"weight_grad", &gw, [&](float* c) { sgemm(true, false, out_f, in, B, 1.0f, dy.data(), out_f, x.data(), in, 0.0f, c, in); }},
        {"input_grad", &gx, [&](float* c) { sgemm(false, false, B, in, out_f, 1.0f, dy.data(), out_f, w.data(), in, 0.0f, c, in); }},
    };
    const int saved = blas_threads();
    set_blas_threads(1);
    double t_ntn = 0, t_blas = 0;
    const double flops = 2.0 * double(B) * double(in) * double(out_f);
    nlohmann::json d;
    for (const Shape3& s3 : shapes) {
      simd.f32_gemm(*s3.g);
      s3.blas(ref.data());
      // Each C holds its product in OpenBLAS's layout (y as (B, out) in either orientation).
      for (std::size_t i = 0; i < s3.g->M * s3.g->N; i += 37) expect_close(s3.g->C[i], ref[i], 1e-3f, s3.name);
      const Timing tn = measure([&] { simd.f32_gemm(*s3.g); }, reps, batch_s);
      const Timing tb = measure([&] { s3.blas(ref.data()); }, reps, batch_s);
      t_ntn += tn.median_s;
      t_blas += tb.median_s;
      d[s3.name] = {{"ntn_gflops", flops / tn.median_s / 1e9}, {"openblas_gflops", flops / tb.median_s / 1e9},
                    {"ntn", timing_json(tn)}, {"openblas", timing_json(tb)}};
    }
    set_blas_threads(saved);
    out[cat(key, "_gflops")] = 3.0 * flops / t_ntn / 1e9;
    out[cat(key, "_over_openblas")] = t_blas / t_ntn;
    detail[key] = d;
  };
  train_gemms("gemm_train_b32", 32, 512, 512);
  train_gemms("gemm_rnn_5376", 168 * 32, 128, 512);

  // ---- peak FMA throughput (per core, measured) and SGEMM 512^3 on N threads -----------------
  {
    const std::size_t iters = 100000;
    const Timing tp = measure([&] { volatile float r = simd.fma_peak_probe(iters); (void)r; }, reps, batch_s);
    const double core_peak = double(iters) * double(simd.fma_peak_flops_per_iter) / tp.median_s / 1e9;
    set_num_threads(o.threads);
    const int threads = num_threads();
    const std::size_t n = 512;
    std::vector<float> a = random_vec(n * n, 6), b = random_vec(n * n, 7), c(n * n);
    sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    for (std::size_t s = 0; s < 16; ++s) {  // sampled entries against a double-precision dot
      const std::size_t i = (s * 131) % n, j = (s * 257 + 3) % n;
      double ref = 0;
      for (std::size_t k = 0; k < n; ++k) ref += double(a[i * n + k]) * b[k * n + j];
      expect_close(c[i * n + j], float(ref), 1e-4f, "sgemm vs reference");
    }
    const Timing tg = measure([&] { sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); },
                              reps, batch_s);
    const double gflops = 2.0 * double(n) * double(n) * double(n) / tg.median_s / 1e9;
    out["sgemm_512_gflops"] = gflops;
    out["sgemm_threads"] = threads;
    out["peak_gflops_per_core"] = core_peak;
    out["sgemm_512_peak_fraction"] = gflops / (core_peak * threads);
    detail["sgemm_512"] = timing_json(tg);
    set_num_threads(1);
  }

  // ---- tensor pool: steady-state hit rate over 5 shapes; pooled vs fresh allocation ----------
  {
    const Shape shapes[5] = {{32, 512}, {32, 24}, {64, 168}, {1, 512}, {128, 128}};
    TensorPool pool;
    auto cycle = [&](int iters) {
      for (int i = 0; i < iters; ++i) {
        // A layer-like pattern: two tensors live at once, of two consecutive shapes.
        PooledTensor a = pool.acquire(shapes[i % 5]);
        PooledTensor b = pool.acquire(shapes[(i + 1) % 5]);
        a.tensor().f32()[0] = 1.0f;
        b.tensor().f32()[0] = 2.0f;
      }
    };
    cycle(100);  // warm-up fills the free lists
    pool.reset_metrics();
    cycle(o.quick ? 1000 : 100000);
    const TensorPool::Metrics m = pool.metrics();
    out["pool_hit_rate"] = m.hit_rate();
    detail["pool"] = {{"hits", m.hits}, {"misses", m.misses}, {"evictions", m.evictions}, {"bytes_held", m.bytes_held}};

    const Shape* sh = shapes;  // (capturing the array itself crashes GCC 12)
    int k = 0;
    const Timing tp = measure([&] {
      PooledTensor a = pool.acquire(sh[k++ % 5]);
      a.tensor().f32()[0] = 1.0f;
    }, reps, batch_s);
    k = 0;
    std::size_t bytes[5];
    for (int i = 0; i < 5; ++i) bytes[i] = std::size_t(shapes[i].numel()) * sizeof(float);
    const std::size_t* nb = bytes;
    auto fresh = [&] {
      AlignedBuffer a(nb[k++ % 5]);
      a.as<float>()[0] = 1.0f;
    };
    const Timing tf = measure(fresh, reps, batch_s);
    out["pool_alloc_over_fresh"] = tp.median_s / tf.median_s;
    detail["pool_acquire_release"] = timing_json(tp);
    detail["fresh_aligned_alloc_free"] = timing_json(tf);
  }

  if (o.json) out["detail"] = detail;  // the spreads, for the JSON consumer
  print_result(out, o.json);
  return 0;
}

}  // namespace

Run add_bench_kernels(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_flag("--json", o->json, "Print one JSON object (named figures + a 'detail' object)");
  app.add_flag("--quick", o->quick, "Few repetitions (smoke test; figures are not meaningful)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads for the SGEMM figure (0 = all hardware threads)");
  return [o] { return run(*o); };
}

}  // namespace ntn::cli
