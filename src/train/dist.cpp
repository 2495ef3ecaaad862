#include "ntn/dist.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"

#ifdef NTN_HAVE_MPI
#include <mpi.h>
#endif

namespace ntn::dist {

bool built_with_mpi() {
#ifdef NTN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

namespace {
// Slice s of n elements cut into `ranks` slices (the reduce-scatter's ownership of the slab).
std::pair<std::size_t, std::size_t> slice(std::size_t n, int s, int ranks) {
  return {n * std::size_t(s) / std::size_t(ranks), n * std::size_t(s + 1) / std::size_t(ranks)};
}

// Sum in part order into out: out = p0, then out = out + p_c for c = 1.. (the trainer's order).
void sum_in_order(const float* const* p, std::size_t parts, std::size_t n, float* out) {
  if (parts == 0) return;
  if (out != p[0]) std::memcpy(out, p[0], n * sizeof(float));
  const KernelTable& k = kernels();
  for (std::size_t c = 1; c < parts; ++c) k.f32_add(out, p[c], out, n);
}
}  // namespace

#ifdef NTN_HAVE_MPI
namespace {
void finalize_at_exit() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Finalize();
}

// One collective's point-to-point messages: post them with recv(peer) / send(peer, bytes) (each
// returns the MPI_Request to fill), then wait() for all of them, polling, for at most the
// communicator's timeout; on a timeout the job ends naming the ranks whose messages never arrived
// (ranks that never took what was sent are named only when every receive arrived).
class Requests {
 public:
  Requests(Comm& c, std::uint64_t& sent, std::size_t expected) : c_(c), sent_(sent) {
    reqs_.reserve(expected);
    peers_.reserve(expected);
    recvs_.reserve(expected);
  }
  MPI_Request* recv(int peer) { return add(peer, 1); }
  MPI_Request* send(int peer, std::size_t bytes) {
    sent_ += bytes;
    return add(peer, 0);
  }
  void wait(const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    unsigned spins = 0;
    for (;;) {
      int done = 0;
      MPI_Testall(int(reqs_.size()), reqs_.data(), &done, MPI_STATUSES_IGNORE);
      if (done) return;
      // Poll hard (the transfer progresses only inside MPI calls, and a rank that sleeps delays
      // its peers), yielding the core to another rank when oversubscribed; after a second of
      // waiting (a rank far behind, or gone), sleep between polls.
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (++spins > 16) {
        if (waited < 1.0)
          std::this_thread::yield();
        else
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (waited <= c_.timeout()) continue;
      std::vector<int> late[2];  // [0]: receives missing, [1]: sends not taken
      for (std::size_t i = 0; i < reqs_.size(); ++i) {
        int flag = 1;
        if (reqs_[i] != MPI_REQUEST_NULL) MPI_Test(&reqs_[i], &flag, MPI_STATUS_IGNORE);
        auto& v = late[recvs_[i] ? 0 : 1];
        if (!flag && std::find(v.begin(), v.end(), peers_[i]) == v.end()) v.push_back(peers_[i]);
      }
      const std::vector<int>& who = late[0].empty() ? late[1] : late[0];
      if (who.empty()) return;  // it all arrived meanwhile (this process was stopped, not its peers)
      std::string names;
      for (int r : who) names += cat(names.empty() ? "" : ", ", r);
      c_.abort(cat("rank ", c_.rank(), ": no answer from rank", who.size() > 1 ? "s " : " ", names, " in the ",
                   what, " for ", c_.timeout(), " s: ", who.size() > 1 ? "they died or hang" : "it died or hangs",
                   " (raise the limit with --dist-timeout)"));
    }
  }

 private:
  MPI_Request* add(int peer, char is_recv) {
    reqs_.emplace_back(MPI_REQUEST_NULL);
    peers_.push_back(peer);
    recvs_.push_back(is_recv);
    return &reqs_.back();  // filled by the MPI call that asked for it, before the next add()
  }
  Comm& c_;
  std::uint64_t& sent_;
  std::vector<MPI_Request> reqs_;
  std::vector<int> peers_;
  std::vector<char> recvs_;
};
}  // namespace
#endif

Comm& world() {
  static Comm* w = [] {
    auto* c = new Comm;  // never destroyed: MPI is finalised at exit
#ifdef NTN_HAVE_MPI
    if (launched_by_mpi()) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
      MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
      std::atexit(finalize_at_exit);
    }
#endif
    return c;
  }();
  return *w;
}

Comm& self() {
  static Comm* s = new Comm;  // rank 0 of 1
  return *s;
}

void Comm::set_timeout(double seconds) {
  NTN_CHECK(seconds > 0 && seconds <= 1e7, "the collective timeout must be in (0, 1e7] seconds (got ",
            seconds, ")");
  timeout_s_ = seconds;
}

void Comm::abort(const std::string& message, int code) {
  std::fprintf(stderr, "ntneural: error: %s\n", message.c_str());
  std::fflush(stderr);
#ifdef NTN_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

std::pair<std::size_t, std::size_t> Comm::slice(std::size_t n) const { return ntn::dist::slice(n, rank_, size_); }

void Comm::ordered_sum(std::size_t parts, const float* const* local, std::size_t n, float* out) {
  reduce_scatter(parts, local, n, out);
  all_gather(out, n);
}

void Comm::reduce_scatter(std::size_t parts, const float* const* local, std::size_t n, float* out) {
  const auto [c0, c1] = owned(parts);
  if (size_ == 1) {
    sum_in_order(local, parts, n, out);
    return;
  }
#ifdef NTN_HAVE_MPI
  NTN_CHECK(n * parts / std::size_t(size_) + n < std::size_t(INT_MAX), "all-reduce of ", n, " x ", parts,
            " floats: too large for one message");
  const int R = size_;
  // Slice s of each of my parts goes to rank s; I receive slice `rank` of every part, in part
  // order (ranks own ascending contiguous parts), and sum it in that order.
  const auto [m0, m1] = slice(n);
  const std::size_t mine = m1 - m0, local_parts = c1 - c0;
  send_.resize(local_parts > 1 ? n * local_parts : 0);
  recv_.resize(mine * parts);
  Requests rq(*this, bytes_sent_, 2 * std::size_t(R));
  for (int s = 0; s < R; ++s) {  // receives first
    const auto [q0, q1] = owned_by(s, parts);
    if (q1 == q0 || s == rank_) continue;
    MPI_Irecv(recv_.data() + q0 * mine, int((q1 - q0) * mine), MPI_FLOAT, s, 1, MPI_COMM_WORLD, rq.recv(s));
  }
  std::size_t off = 0;
  for (int s = 0; s < R; ++s) {  // slice s of my parts, contiguous in part order, to rank s
    const auto [a, b] = ntn::dist::slice(n, s, R);
    const float* src = local_parts == 1 ? local[0] + a : send_.data() + off;  // one part: its slice as it is
    if (s == rank_ || local_parts == 0) continue;  // my own slices are summed where they are
    if (local_parts > 1)
      for (std::size_t i = 0; i < local_parts; ++i)
        std::memcpy(send_.data() + off + i * (b - a), local[i] + a, (b - a) * sizeof(float));
    MPI_Isend(src, int(local_parts * (b - a)), MPI_FLOAT, s, 1, MPI_COMM_WORLD, rq.send(s, local_parts * (b - a) * 4));
    off += local_parts * (b - a);
  }
  rq.wait("gradient reduce-scatter");
  const float* p[limits::kMicroBatches.hi];
  NTN_CHECK(parts <= limits::kMicroBatches.hi, "reduce-scatter of ", parts, " parts: at most ",
            limits::kMicroBatches.hi);
  for (std::size_t c = 0; c < parts; ++c)
    p[c] = c >= c0 && c < c1 ? local[c - c0] + m0 : recv_.data() + c * mine;
  sum_in_order(p, parts, mine, out + m0);
#else
  (void)c0;
  (void)c1;
  NTN_CHECK(false, "built without MPI");
#endif
}

void Comm::all_gather(float* data, std::size_t n) {
  if (size_ == 1) return;
#ifdef NTN_HAVE_MPI
  NTN_CHECK(n < std::size_t(INT_MAX), "all-gather of ", n, " floats: too large for one message");
  const auto [m0, m1] = slice(n);
  Requests rq(*this, bytes_sent_, 2 * std::size_t(size_));
  for (int s = 0; s < size_; ++s) {
    if (s == rank_) continue;
    const auto [a, b] = ntn::dist::slice(n, s, size_);
    MPI_Irecv(data + a, int(b - a), MPI_FLOAT, s, 2, MPI_COMM_WORLD, rq.recv(s));
  }
  for (int s = 0; s < size_; ++s)
    if (s != rank_) MPI_Isend(data + m0, int(m1 - m0), MPI_FLOAT, s, 2, MPI_COMM_WORLD, rq.send(s, (m1 - m0) * 4));
  rq.wait("all-gather");
#else
  (void)data;
  (void)n;
  NTN_CHECK(false, "built without MPI");
#endif
}

void Comm::gather_parts(std::size_t parts, const double* local, double* out) {
  const auto [c0, c1] = owned(parts);
  if (size_ == 1) {
    std::copy(local, local + parts, out);
    return;
  }
#ifdef NTN_HAVE_MPI
  std::copy(local, local + (c1 - c0), out + c0);
  Requests rq(*this, bytes_sent_, 2 * std::size_t(size_));
  for (int s = 0; s < size_; ++s) {
    const auto [q0, q1] = owned_by(s, parts);
    if (s != rank_ && q1 != q0) MPI_Irecv(out + q0, int(q1 - q0), MPI_DOUBLE, s, 3, MPI_COMM_WORLD, rq.recv(s));
  }
  for (int s = 0; s < size_; ++s)
    if (s != rank_ && c1 != c0)
      MPI_Isend(out + c0, int(c1 - c0), MPI_DOUBLE, s, 3, MPI_COMM_WORLD, rq.send(s, (c1 - c0) * sizeof(double)));
  rq.wait("loss gather");
#else
  (void)c0;
  (void)c1;
#endif
}

void Comm::broadcast(void* data, std::size_t bytes) {
  if (size_ == 1) return;
#ifdef NTN_HAVE_MPI
  NTN_CHECK(bytes < std::size_t(INT_MAX), "broadcast of ", bytes, " bytes: too large for one message");
  Requests rq(*this, bytes_sent_, std::size_t(size_));
  if (rank_ == 0) {
    for (int s = 1; s < size_; ++s) MPI_Isend(data, int(bytes), MPI_BYTE, s, 4, MPI_COMM_WORLD, rq.send(s, bytes));
  } else {
    MPI_Irecv(data, int(bytes), MPI_BYTE, 0, 4, MPI_COMM_WORLD, rq.recv(0));
  }
  rq.wait("broadcast");
#endif
}

std::vector<std::string> Comm::gather_to_root(const std::string& mine) {
  std::vector<std::string> out;
  if (size_ == 1) {
    out.push_back(mine);
    return out;
  }
#ifdef NTN_HAVE_MPI
  NTN_CHECK(mine.size() < std::size_t(INT_MAX), "rank ", rank_, ": ", mine.size(),
            " bytes of results: too large for one message");
  // Sizes first (one message each), then the blobs.
  std::uint64_t n = mine.size();
  std::vector<std::uint64_t> sizes(std::size_t(size_), 0);
  {
    Requests rq(*this, bytes_sent_, std::size_t(size_));
    if (rank_ == 0) {
      for (int s = 1; s < size_; ++s)
        MPI_Irecv(&sizes[std::size_t(s)], 1, MPI_UINT64_T, s, 5, MPI_COMM_WORLD, rq.recv(s));
    } else {
      MPI_Isend(&n, 1, MPI_UINT64_T, 0, 5, MPI_COMM_WORLD, rq.send(0, sizeof n));
    }
    rq.wait("gather of the results");
  }
  Requests rq(*this, bytes_sent_, std::size_t(size_));
  if (rank_ == 0) {
    out.resize(std::size_t(size_));
    out[0] = mine;
    for (int s = 1; s < size_; ++s) {
      out[std::size_t(s)].resize(sizes[std::size_t(s)]);
      MPI_Irecv(out[std::size_t(s)].data(), int(sizes[std::size_t(s)]), MPI_BYTE, s, 6, MPI_COMM_WORLD, rq.recv(s));
    }
  } else {
    MPI_Isend(mine.data(), int(mine.size()), MPI_BYTE, 0, 6, MPI_COMM_WORLD, rq.send(0, mine.size()));
  }
  rq.wait("gather of the results");
#endif
  return out;
}

void Comm::barrier() {
  if (size_ == 1) return;
  char token = 0;
  broadcast(&token, 1);
  double one = 1, all[1024];
  if (size_ <= 1024) gather_parts(std::size_t(size_), &one, all);  // every rank hears from every rank
}

}  // namespace ntn::dist
