// Data-parallel training over processes: the ranks of an MPI job (Debian's OpenMPI), or one rank.
//
// A global batch of B rows is cut into C micro-batches (TrainConfig::micro_batches) whatever the
// ranks; rank r of N computes the gradients of micro-batches [C r / N, C (r + 1) / N). The sum of
// the C gradients is formed in one fixed order, ((g0 + g1) + g2) + ..., by the rank that owns each
// slice of the parameter slab (a reduce-scatter of the micro-batches' slices); that rank updates
// its slice of the parameters and an all-gather hands the updated slices to every rank: every
// rank ends with the bits one process gets from the same batch, partition and seed, for any
// N <= C. Only the launching rank 0 writes files and prints.
//
// Built with MPI when CMake finds it (NTN_HAVE_MPI); MPI starts only in a process launched by
// mpirun / srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in its environment), so a plain run
// never touches it. Ranks that share one machine (all of them: MPI_COMM_TYPE_SHARED) exchange the
// gradient sum and the all-gather through MPI shared memory (MPI_Win_allocate_shared): each rank
// reads its peers' slices where they lie, with no message and no copy through the kernel; across
// machines, or with NTN_DIST_SHM=0 in the environment, point-to-point messages. The bits are the
// same either way. Collectives time out (Comm::set_timeout, default 300 s): a rank that died or
// hangs ends the job with a message naming it instead of a silent hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ntn::dist {

class Comm {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // The parts [first, last) of `parts` this rank owns (contiguous, in rank order, sizes differing
  // by at most one; empty when parts < size for some ranks).
  std::pair<std::size_t, std::size_t> owned(std::size_t parts) const { return owned_by(rank_, parts); }
  std::pair<std::size_t, std::size_t> owned_by(int rank, std::size_t parts) const {
    return {parts * std::size_t(rank) / std::size_t(size_),
            parts * std::size_t(rank + 1) / std::size_t(size_)};
  }

  // This rank's slice [first, last) of an n-element slab (contiguous, in rank order): the part of
  // every gradient sum this rank forms, and of the parameters it updates.
  std::pair<std::size_t, std::size_t> slice(std::size_t n) const;
  // out (n floats, on every rank) = ((p0 + p1) + p2) + ... over the `parts` arrays of n floats;
  // local[i] is this rank's part owned(parts).first + i. Bitwise the same for every size().
  // It is reduce_scatter then all_gather.
  void ordered_sum(std::size_t parts, const float* const* local, std::size_t n, float* out);
  // The same sum, formed only on this rank's slice(n) of out (the rest of out is left as it is).
  // It is reduce_scatter_begin then reduce_scatter_end.
  void reduce_scatter(std::size_t parts, const float* const* local, std::size_t n, float* out);
  // The same in three calls, so that the exchange overlaps the computation of the parts: begin
  // posts every receive (local[i] must stay valid until end); ready(part, lo, hi) says elements
  // [lo, hi) of this rank's part `part` (0 .. parts - 1) are final, which sends the buckets of
  // every rank's slice above the lowest element final since the top of the slab (the order a
  // backward pass finishes them in; other reports are sent at end); end sends the rest, waits
  // and sums this rank's slice into out. The sum is the same bits whenever the buckets left.
  // Calls from the thread that called begin only (MPI_THREAD_FUNNELED).
  void reduce_scatter_begin(std::size_t parts, const float* const* local, std::size_t n);
  void reduce_scatter_ready(std::size_t part, std::size_t lo, std::size_t hi);
  void reduce_scatter_end(float* out);
  // Where this rank's local parts of a reduce-scatter of `parts` parts of n floats can be written
  // so that the exchange reads them in place (part owned(parts).first + i at the result + i * n),
  // or nullptr when the ranks exchange messages. Every rank calls it, with the same arguments (it
  // may grow the shared memory, a collective); valid until the next call of it, reduce_scatter*
  // or all_gather with a larger n.
  float* shared_parts(std::size_t parts, std::size_t n);
  // Whether the ranks exchange through shared memory (known after the first exchange).
  bool shared_memory() const { return shm_ != nullptr; }
  // data (n floats): every rank's slice(n) of it to every rank.
  void all_gather(float* data, std::size_t n);
  // Every rank's values of `parts` doubles, in part order (this rank gives owned(parts)).
  void gather_parts(std::size_t parts, const double* local, double* out);
  // Root's bytes to every rank.
  void broadcast(void* data, std::size_t bytes);
  // Every rank's blob on rank 0 (out[r] = rank r's; other ranks get an empty vector).
  std::vector<std::string> gather_to_root(const std::string& mine);
  void barrier();

  // Seconds a collective waits for the other ranks before ending the job (> 0).
  void set_timeout(double seconds);
  double timeout() const { return timeout_s_; }
  // Ends every rank of the job with this message (MPI_Abort; a plain exit for one rank).
  [[noreturn]] void abort(const std::string& message, int code = 2);

  // Bytes this rank has sent in collectives so far (the scaling cost model's input).
  std::uint64_t bytes_sent() const { return bytes_sent_; }

  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

 private:
  struct Exchange;  // a reduce-scatter in flight (dist.cpp)
  struct Shared;    // the shared-memory windows and their counters (dist.cpp)
  // Sets up shared memory on the first exchange when every rank is on this machine (collective).
  void init_shared();
  // Grows the shared regions to hold a gather of n floats and `parts` parts of n (0: the gather
  // only), the same on every rank (collective). False, with shared memory dropped for good, when
  // its backing directory lacks the space on any rank: the ranks exchange messages instead.
  bool reserve_shared(std::size_t parts, std::size_t n);
  // Waits until every other rank's counter `which` reaches `epoch` (timeout: ends the job).
  void await_peers(int which, std::uint64_t epoch, const char* what);
  // Sends local part i's buckets that lie wholly in its final range, top bucket first.
  void send_final(std::size_t i);
  friend Comm& world();
  friend Comm& self();
  Comm() = default;
  int rank_ = 0, size_ = 1;
  double timeout_s_ = 300;
  std::uint64_t bytes_sent_ = 0;
  std::vector<float> recv_;  // reused between steps (no allocation after the first)
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<Shared> shm_;
  bool shm_checked_ = false;
};

// The job's ranks: MPI's world when this process was launched by an MPI launcher (MPI starts on
// the first call), else one rank. Finalised at exit.
Comm& world();
// One rank alone, whatever the launcher: for work that each rank does by itself (a model per
// series, a search candidate), never exchanging anything.
Comm& self();
// Whether this binary was built with MPI, and whether this process was launched by mpirun/srun.
bool built_with_mpi();
bool launched_by_mpi();

}  // namespace ntn::dist
