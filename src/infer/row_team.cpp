#include "infer/row_team.h"

#include <chrono>

#include "ntn/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NTN_PAUSE() _mm_pause()
#else
#define NTN_PAUSE() ((void)0)
#endif

namespace ntn {

namespace {
// How long a helper spins after a job before it sleeps: longer than the gaps between the layers
// of one forecast and between back-to-back forecasts, short enough not to hold a core when idle.
constexpr auto kSpin = std::chrono::microseconds(200);
}  // namespace

RowTeam::RowTeam(std::size_t helpers) {
  helpers_.reserve(helpers);
  for (std::size_t i = 0; i < helpers; ++i) helpers_.emplace_back([this] { helper_loop(); });
}

RowTeam::~RowTeam() {
  stop_.store(true);
  state_.fetch_add(std::uint64_t(1) << 32);  // a new generation: spinning helpers see it
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    sleep_cv_.notify_all();
  }
  for (auto& t : helpers_) t.join();
}

bool RowTeam::claim_and_run(std::uint64_t gen) {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint64_t parts = (s >> 16) & 0xffffu, part = s & 0xffffu;
    if (s >> 32 != gen || part >= parts) return false;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // The claim read the job's publication (or a claim after it): the function is this job's,
      // and it stays valid until this part is done (run() waits for it).
      (*job_.load(std::memory_order_relaxed))(std::size_t(part));
      return true;
    }
  }
}

void RowTeam::helper_loop() {
  // Generation 0 is the constructor's, not state_'s value when this thread first runs: a team
  // that runs a job, or is destroyed, before its helper is scheduled must still be seen by it.
  std::uint64_t seen = 0;
  for (;;) {
    // Spin for a new generation, then sleep on the job word.
    std::uint64_t s = state_.load(std::memory_order_acquire);
    const auto t0 = std::chrono::steady_clock::now();
    unsigned n = 0;
    while (s >> 32 == seen) {
      NTN_PAUSE();
      if (++n % 256 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) {
        // (Not std::atomic::wait: libstdc++ 12 can miss the wake-up of a 64-bit word's waiter.)
        // seq_cst on sleepers_ and on the job's publication: either run() sees a sleeper and
        // notifies under the lock, or this check sees the new generation.
        std::unique_lock<std::mutex> lock(sleep_mu_);
        sleepers_.fetch_add(1);
        sleep_cv_.wait(lock, [&] { return state_.load() >> 32 != seen || stop_.load(); });
        sleepers_.fetch_sub(1);
      }
      s = state_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = s >> 32;
    std::size_t mine = 0;
    while (claim_and_run(seen)) ++mine;
    if (mine) done_.fetch_add(mine, std::memory_order_acq_rel);
  }
}

void RowTeam::run(std::size_t parts, FunctionRef<void(std::size_t)> f) {
  if (parts == 0) return;
  ++jobs_;
  NTN_CHECK(parts <= 0xffff, "RowTeam: at most 65535 parts (got ", parts, ")");
  // The previous job's parts are all claimed and done: nobody reads these until the release
  // store below publishes the new generation (a claim on an older one fails its CAS). Part 0 is
  // the caller's from the start (next = 1): no contended claim on the caller's side.
  job_.store(&f, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const std::uint64_t gen = ((state_.load(std::memory_order_relaxed) >> 32) + 1) & 0xffffffffu;
  state_.store(gen << 32 | std::uint64_t(parts) << 16 | 1u);  // seq_cst: see helper_loop's sleep
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    sleep_cv_.notify_all();
  }
  f(0);
  std::size_t mine = 1;
  while (claim_and_run(gen)) ++mine;
  while (done_.load(std::memory_order_acquire) < parts - mine) NTN_PAUSE();
}

}  // namespace ntn
