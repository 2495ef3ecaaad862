#include "ntn/parallel.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace ntn {
namespace {
std::atomic<int> g_threads{0};  // 0 = not set yet: use the OpenMP default
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

void set_num_threads(int n) {
  if (n <= 0) n = hardware_threads();
  g_threads.store(n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void set_blas_threads(int n) { openblas_set_num_threads(n <= 0 ? hardware_threads() : n); }
int blas_threads() { return openblas_get_num_threads(); }

void parallel_for(std::size_t n, std::size_t grain, FunctionRef<void(std::size_t, std::size_t)> f) {
  if (n == 0) return;
  grain = std::max<std::size_t>(grain, 1);
  const std::size_t c = std::min<std::size_t>(std::size_t(num_threads()), (n + grain - 1) / grain);
  if (c <= 1 || omp_in_parallel()) {
    f(0, n);
    return;
  }
#pragma omp parallel num_threads(int(c))
  {
    const std::size_t i = std::size_t(omp_get_thread_num());
    const std::size_t t = std::size_t(omp_get_num_threads());
    // If the runtime gave fewer threads than asked, each takes chunks i, i+t, ...
    for (std::size_t k = i; k < c; k += t) f(k * n / c, (k + 1) * n / c);
  }
}

void parallel_chunks(std::size_t chunks, FunctionRef<void(std::size_t)> f) {
  if (chunks == 0) return;
  const int t = std::min<int>(num_threads(), int(chunks));
  if (t <= 1 || omp_in_parallel()) {
    for (std::size_t k = 0; k < chunks; ++k) f(k);
    return;
  }
#pragma omp parallel for num_threads(t) schedule(static, 1)
  for (std::size_t k = 0; k < chunks; ++k) f(k);
}

}  // namespace ntn
