// A team of spinning helper threads that share the parts of one small job with its caller: the
// output rows of a batch-1 dense layer, split so one forecast uses more than one core.
//
// run(parts, f) publishes the job and then claims parts itself like any helper (one CAS on a word
// that holds the job's generation, its parts and the next unclaimed one), so a helper that is asleep or
// late costs nothing but the work it does not take: the caller does every part nobody else
// claimed, then waits only for the parts a helper is still running. Helpers spin for a while
// after each job (a forecast is a burst of layers) and then sleep on a condition variable, woken
// by the next job. No allocation after construction. Which thread runs a part never changes its
// result (each part writes its own rows).
//
// Intended usage (one team per calling thread; run() is not reentrant):
//   RowTeam team(1);                       // the caller + 1 helper = 2 cores
//   team.run(2, [&](std::size_t part) { ...rows of part... });
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "ntn/parallel.h"

namespace ntn {

class RowTeam {
 public:
  explicit RowTeam(std::size_t helpers);
  ~RowTeam();
  RowTeam(const RowTeam&) = delete;
  RowTeam& operator=(const RowTeam&) = delete;

  std::size_t threads() const { return helpers_.size() + 1; }  // helpers + the caller
  std::uint64_t jobs() const { return jobs_; }                 // run() calls so far (the caller's count)
  void run(std::size_t parts, FunctionRef<void(std::size_t)> f);

 private:
  using Job = FunctionRef<void(std::size_t)>;
  void helper_loop();
  bool claim_and_run(std::uint64_t gen);  // one part of job `gen`; false when it has none left

  // generation << 32 | parts << 16 | next unclaimed part: a claim is one CAS on the whole word,
  // so it can only take a part of the job it read (an older generation's CAS fails).
  alignas(64) std::atomic<std::uint64_t> state_{0};
  alignas(64) std::atomic<std::size_t> done_{0};  // parts finished in the current job
  std::atomic<const Job*> job_{nullptr};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<bool> stop_{false};
  std::uint64_t jobs_ = 0;
  std::vector<std::thread> helpers_;
};

}  // namespace ntn
