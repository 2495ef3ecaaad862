// Google Benchmark suite for the kernels: every benchmark runs once per ISA this machine
// supports (scalar reference included), so SIMD and scalar appear side by side in one run.
// Each benchmark validates its ISA against the scalar reference before timing.
//   ./build/release/bench_kernels --benchmark_filter=zscore
//   make bench-baseline / make bench-compare   (Google Benchmark's compare.py)
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "ntn/aligned.h"
#include "ntn/kernels.h"
#include "ntn/normalize.h"
#include "ntn/parallel.h"
#include "ntn/pool.h"
#include "ntn/rng.h"

namespace {

using namespace ntn;

std::vector<float> rnd(std::size_t n, std::uint64_t stream, float lo = -2.0f, float hi = 2.0f) {
  std::vector<float> v(n);
  fill_uniform(v.data(), n, lo, hi, 2024, stream);
  return v;
}

bool validate(benchmark::State& st, const std::vector<float>& got, const std::vector<float>& want, float tol) {
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= tol * (1.0f + std::fabs(want[i])))) {
      st.SkipWithError(("validation against the scalar reference failed at " + std::to_string(i)).c_str());
      return false;
    }
  return true;
}

void set_rates(benchmark::State& st, std::size_t elems, std::size_t bytes_per_elem) {
  st.SetItemsProcessed(std::int64_t(st.iterations()) * std::int64_t(elems));
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(elems * bytes_per_elem));
}

void BM_zscore(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t n = std::size_t(st.range(0));
  const auto x = rnd(n, 1, 90, 110);
  std::vector<float> y(n), yr(n);
  auto run = [&](const KernelTable& t, float* dst) {
    const NormStats s = norm_stats(NormKind::zscore, x.data(), n, t);
    t.f32_normalize(x.data(), dst, n, float(s.center), float(s.scale));
  };
  run(k, y.data());
  run(kernels_for(Isa::scalar), yr.data());
  if (!validate(st, y, yr, 1e-4f)) return;
  for (auto _ : st) {
    run(k, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_rates(st, n, 3 * 4 + 4);  // three reads (mean, var, apply) and one write per element
}

template <class Fn>
void unary_bench(benchmark::State& st, Isa isa, Fn KernelTable::*fn, float lo, float hi, float tol) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t n = std::size_t(st.range(0));
  const auto x = rnd(n, 2, lo, hi);
  std::vector<float> y(n), yr(n);
  (k.*fn)(x.data(), y.data(), n);
  (kernels_for(Isa::scalar).*fn)(x.data(), yr.data(), n);
  if (!validate(st, y, yr, tol)) return;
  for (auto _ : st) {
    (k.*fn)(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_rates(st, n, 8);
}

void BM_add(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t n = std::size_t(st.range(0));
  const auto a = rnd(n, 3), b = rnd(n, 4);
  std::vector<float> y(n), yr(n);
  k.f32_add(a.data(), b.data(), y.data(), n);
  kernels_for(Isa::scalar).f32_add(a.data(), b.data(), yr.data(), n);
  if (!validate(st, y, yr, 0)) return;
  for (auto _ : st) {
    k.f32_add(a.data(), b.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_rates(st, n, 12);
}

void BM_relu(benchmark::State& st, Isa isa) { unary_bench(st, isa, &KernelTable::f32_relu, -2, 2, 0); }
void BM_gelu(benchmark::State& st, Isa isa) { unary_bench(st, isa, &KernelTable::f32_gelu, -6, 6, 1e-5f); }
void BM_tanh(benchmark::State& st, Isa isa) { unary_bench(st, isa, &KernelTable::f32_tanh, -6, 6, 1e-5f); }
void BM_sigmoid(benchmark::State& st, Isa isa) { unary_bench(st, isa, &KernelTable::f32_sigmoid, -6, 6, 1e-5f); }

void BM_sum(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t n = std::size_t(st.range(0));
  const auto x = rnd(n, 5);
  if (!validate(st, {k.f32_sum(x.data(), n)}, {kernels_for(Isa::scalar).f32_sum(x.data(), n)}, 1e-3f)) return;
  for (auto _ : st) benchmark::DoNotOptimize(k.f32_sum(x.data(), n));
  set_rates(st, n, 4);
}

void BM_mse(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t n = std::size_t(st.range(0));
  const auto p = rnd(n, 6), t = rnd(n, 7);
  std::vector<float> g(n), gr(n);
  k.f32_mse(p.data(), t.data(), g.data(), n);
  kernels_for(Isa::scalar).f32_mse(p.data(), t.data(), gr.data(), n);
  if (!validate(st, g, gr, 1e-5f)) return;
  for (auto _ : st) benchmark::DoNotOptimize(k.f32_mse(p.data(), t.data(), g.data(), n));
  set_rates(st, n, 12);
}

void BM_softmax(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t cols = std::size_t(st.range(0)), rows = 32;
  const auto x = rnd(rows * cols, 8, -5, 5);
  std::vector<float> y(x.size()), yr(x.size());
  k.f32_softmax(x.data(), y.data(), rows, cols);
  kernels_for(Isa::scalar).f32_softmax(x.data(), yr.data(), rows, cols);
  if (!validate(st, y, yr, 1e-5f)) return;
  for (auto _ : st) {
    k.f32_softmax(x.data(), y.data(), rows, cols);
    benchmark::DoNotOptimize(y.data());
  }
  set_rates(st, rows * cols, 8);
}

void BM_gemv_packed(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t M = std::size_t(st.range(0)), K = M;
  const auto W = rnd(M * K, 9), x = rnd(K, 10);
  std::vector<float> packed(dense_packed_size(M, K));
  f32_dense_pack(W.data(), M, K, packed.data());
  std::vector<float> y(M), yb(M);
  k.f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
  sgemv_blas(M, K, W.data(), x.data(), 0.0f, yb.data());
  if (!validate(st, y, yb, 1e-4f)) return;
  for (auto _ : st) {
    k.f32_dense(packed.data(), M, K, x.data(), K, 1, nullptr, y.data(), M);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * double(M * K) * double(st.iterations()), benchmark::Counter::kIsRate);
}

// One head of fused attention (scores, online softmax, weighted sum), the shapes of the
// Transformer of issue #13: Lq = Lk = 96 (encoder self-attention), head width 16 and 32; causal
// as a third argument. GFLOPS counts the two products (4 Lq Lk dh; causal: still the full
// square, so its rate reads twice the work done), not the exps.
void BM_attention(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t L = std::size_t(st.range(0)), dh = std::size_t(st.range(1));
  const bool causal = st.range(2) != 0;
  const auto q = rnd(L * dh, 13, -0.5f, 0.5f), kk = rnd(L * dh, 14), v = rnd(L * dh, 15);
  std::vector<float> o(L * dh), orf(L * dh), kt(L * dh);
  k.f32_attention(q.data(), dh, kk.data(), dh, v.data(), dh, o.data(), dh, L, L, dh, causal, kt.data(), nullptr);
  kernels_for(Isa::scalar).f32_attention(q.data(), dh, kk.data(), dh, v.data(), dh, orf.data(), dh, L, L, dh, causal,
                                         kt.data(), nullptr);
  if (!validate(st, o, orf, 0)) return;  // the same bits on every ISA (kernels.h)
  for (auto _ : st) {
    k.f32_attention(q.data(), dh, kk.data(), dh, v.data(), dh, o.data(), dh, L, L, dh, causal, kt.data(), nullptr);
    benchmark::DoNotOptimize(o.data());
  }
  st.counters["GFLOPS"] =
      benchmark::Counter(4.0 * double(L * L * dh) * double(st.iterations()), benchmark::Counter::kIsRate);
}

// Its backward (the weights recomputed from the forward's row statistics; dq, and dk / dv
// accumulated), same shapes; validated bitwise against the scalar ISA. GFLOPS counts the four
// products of the backward plus the recomputed scores (10 Lq Lk dh; causal: the full square).
void BM_attention_bwd(benchmark::State& st, Isa isa) {
  const KernelTable& k = kernels_for(isa);
  const std::size_t L = std::size_t(st.range(0)), dh = std::size_t(st.range(1));
  const bool causal = st.range(2) != 0;
  const auto q = rnd(L * dh, 13, -0.5f, 0.5f), kk = rnd(L * dh, 14), v = rnd(L * dh, 15), g = rnd(L * dh, 16);
  std::vector<float> o(L * dh), stats(2 * L), scratch(2 * L * dh);
  k.f32_attention(q.data(), dh, kk.data(), dh, v.data(), dh, o.data(), dh, L, L, dh, causal, scratch.data(),
                  stats.data());
  auto run = [&](const KernelTable& t, std::vector<float>& out) {
    out.assign(3 * L * dh, 0.0f);
    float *dq = out.data(), *dk = dq + L * dh, *dv = dk + L * dh;
    t.f32_attention_bwd(q.data(), dh, kk.data(), dh, v.data(), dh, o.data(), dh, g.data(), dh, stats.data(), dq, dh,
                        dk, dh, dv, dh, L, L, dh, causal, scratch.data());
  };
  std::vector<float> got, want;
  run(k, got);
  run(kernels_for(Isa::scalar), want);
  if (!validate(st, got, want, 0)) return;  // the same bits on every ISA (kernels.h)
  for (auto _ : st) {
    run(k, got);
    benchmark::DoNotOptimize(got.data());
  }
  st.counters["GFLOPS"] =
      benchmark::Counter(10.0 * double(L * L * dh) * double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_sgemv_openblas(benchmark::State& st) {
  set_num_threads(1);
  const std::size_t M = std::size_t(st.range(0)), K = M;
  const auto W = rnd(M * K, 9), x = rnd(K, 10);
  std::vector<float> y(M);
  for (auto _ : st) {
    sgemv_blas(M, K, W.data(), x.data(), 0.0f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * double(M * K) * double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_sgemm_openblas(benchmark::State& st) {
  set_num_threads(int(st.range(1)));
  const std::size_t n = std::size_t(st.range(0));
  const auto a = rnd(n * n, 11), b = rnd(n * n, 12);
  std::vector<float> c(n * n);
  for (auto _ : st) {
    sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n) * double(st.iterations()),
                                             benchmark::Counter::kIsRate);
  set_num_threads(1);
}

void BM_pool_acquire_release(benchmark::State& st) {
  TensorPool pool;
  const Shape shapes[5] = {{32, 512}, {32, 24}, {64, 168}, {1, 512}, {128, 128}};
  std::size_t i = 0;
  for (auto _ : st) {
    PooledTensor t = pool.acquire(shapes[i++ % 5]);
    benchmark::DoNotOptimize(t.tensor().data());
  }
  st.counters["hit_rate"] = pool.metrics().hit_rate();
}

void BM_fresh_aligned_alloc(benchmark::State& st) {
  const std::size_t bytes[5] = {32 * 512 * 4, 32 * 24 * 4, 64 * 168 * 4, 512 * 4, 128 * 128 * 4};
  std::size_t i = 0;
  for (auto _ : st) {
    AlignedBuffer b(bytes[i++ % 5]);
    benchmark::DoNotOptimize(b.data());
  }
}

void register_all() {
  set_num_threads(1);
  for (Isa isa : supported_isas()) {
    const std::string s = isa_name(isa);
    benchmark::RegisterBenchmark(("zscore/" + s).c_str(), BM_zscore, isa)->Arg(1024)->Arg(100000);
    benchmark::RegisterBenchmark(("add/" + s).c_str(), BM_add, isa)->Arg(1024)->Arg(100000);
    benchmark::RegisterBenchmark(("relu/" + s).c_str(), BM_relu, isa)->Arg(100000);
    benchmark::RegisterBenchmark(("gelu/" + s).c_str(), BM_gelu, isa)->Arg(100000);
    benchmark::RegisterBenchmark(("tanh/" + s).c_str(), BM_tanh, isa)->Arg(100000);
    benchmark::RegisterBenchmark(("sigmoid/" + s).c_str(), BM_sigmoid, isa)->Arg(100000);
    benchmark::RegisterBenchmark(("sum/" + s).c_str(), BM_sum, isa)->Arg(100000);
    benchmark::RegisterBenchmark(("mse/" + s).c_str(), BM_mse, isa)->Arg(1024)->Arg(100000);
    benchmark::RegisterBenchmark(("softmax/" + s).c_str(), BM_softmax, isa)->Arg(24)->Arg(512);
    benchmark::RegisterBenchmark(("gemv_packed/" + s).c_str(), BM_gemv_packed, isa)->Arg(64)->Arg(512);
    benchmark::RegisterBenchmark(("attention/" + s).c_str(), BM_attention, isa)
        ->Args({96, 16, 0})
        ->Args({96, 16, 1})
        ->Args({96, 32, 0})
        ->Args({512, 16, 0});
    benchmark::RegisterBenchmark(("attention_bwd/" + s).c_str(), BM_attention_bwd, isa)
        ->Args({96, 16, 0})
        ->Args({96, 16, 1})
        ->Args({96, 32, 0})
        ->Args({512, 16, 0});
  }
  benchmark::RegisterBenchmark("sgemv/openblas", BM_sgemv_openblas)->Arg(64)->Arg(512);
  benchmark::RegisterBenchmark("sgemm/openblas", BM_sgemm_openblas)->Args({512, 1})->Args({512, 2})->UseRealTime();
  benchmark::RegisterBenchmark("pool/acquire_release", BM_pool_acquire_release);
  benchmark::RegisterBenchmark("pool/fresh_aligned_alloc", BM_fresh_aligned_alloc);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
