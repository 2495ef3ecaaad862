// Threads: one OpenMP runtime (libgomp) shared with OpenBLAS.
//
// Partition (documented and fixed): parallel_for(n, grain, f) splits [0, n) into
//   c = min(num_threads(), ceil(n / grain)) contiguous chunks, chunk i = [i*n/c, (i+1)*n/c),
// and runs chunk i on thread i. For results that must not depend on the thread count, use
// parallel_chunks(c, f) with a c chosen from the problem (not from the thread count): chunk i
// always covers the same work, and any thread may run it.
//
// Intended usage:
//   ntn::set_num_threads(2);
//   ntn::parallel_for(rows, 64, [&](std::size_t lo, std::size_t hi) { ...rows lo..hi... });
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace ntn {

// A non-owning reference to a callable (no allocation, unlike std::function).
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Sets the threads used by parallel_for and by OpenBLAS. n <= 0 means all hardware threads.
void set_num_threads(int n);
int num_threads();
// OpenBLAS threads alone (the trainer runs BLAS single-threaded inside its micro-batches).
void set_blas_threads(int n);
int blas_threads();
int hardware_threads();

void parallel_for(std::size_t n, std::size_t grain, FunctionRef<void(std::size_t, std::size_t)> f);
void parallel_chunks(std::size_t chunks, FunctionRef<void(std::size_t)> f);

}  // namespace ntn
