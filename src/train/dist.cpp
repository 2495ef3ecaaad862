#include "ntn/dist.h"

#include <algorithm>
#include <atomic>
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
#include <sys/statvfs.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
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
  const KernelTable& k = kernels();
  if (parts == 1) {
    if (out != p[0]) std::memcpy(out, p[0], n * sizeof(float));
    return;
  }
  k.f32_add(p[0], p[1], out, n);  // out = p0 + p1 in one pass (elementwise: out may be p0)
  for (std::size_t c = 2; c < parts; ++c) k.f32_add(out, p[c], out, n);
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

// Polls done() until it holds, for at most c.timeout() seconds: `spins` polls back to back (a
// peer just behind), then yielding the core between polls (oversubscribed ranks), and after a
// second of waiting (a rank far behind, or gone) sleeping 1 ms between them. Past the timeout the
// job ends naming the ranks late() lists; when it lists none, everything arrived meanwhile (this
// process was the one stopped, not its peers) and the wait returns.
template <class Done, class Late>
void wait_for(Comm& c, const char* what, unsigned spins, Done done, Late late) {
  const auto t0 = std::chrono::steady_clock::now();
  for (unsigned polls = 1;; ++polls) {
    if (done()) return;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (polls <= spins) {
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#endif
    } else if (waited < 1.0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (waited <= c.timeout()) continue;
    const std::vector<int> who = late();
    if (who.empty()) return;
    std::string names;
    for (int r : who) names += cat(names.empty() ? "" : ", ", r);
    c.abort(cat("rank ", c.rank(), ": no answer from rank", who.size() > 1 ? "s " : " ", names, " in the ", what,
                " for ", c.timeout(), " s: ", who.size() > 1 ? "they died or hang" : "it died or hangs",
                " (raise the limit with --dist-timeout)"));
  }
}

// Every rank's base address in a shared window (MPI_Win_allocate_shared), out.size() ranks.
template <class T>
void window_bases(MPI_Win win, std::vector<T*>& out) {
  for (std::size_t r = 0; r < out.size(); ++r) {
    MPI_Aint bytes = 0;
    int unit = 0;
    void* p = nullptr;
    MPI_Win_shared_query(win, int(r), &bytes, &unit, &p);
    out[r] = static_cast<T*>(p);
  }
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
  void clear() {
    reqs_.clear();
    peers_.clear();
    recvs_.clear();
  }
  // Lets the transfers progress (they move only inside MPI calls) without waiting.
  void test() {
    int done = 0;
    if (!reqs_.empty()) MPI_Testall(int(reqs_.size()), reqs_.data(), &done, MPI_STATUSES_IGNORE);
  }
  MPI_Request* recv(int peer) { return add(peer, 1); }
  MPI_Request* send(int peer, std::size_t bytes) {
    sent_ += bytes;
    return add(peer, 0);
  }
  void wait(const char* what) {
    // Poll hard at first: the transfer progresses only inside MPI calls, and a rank that sleeps
    // delays its peers.
    wait_for(c_, what, 16, [&] {
      int done = 0;
      MPI_Testall(int(reqs_.size()), reqs_.data(), &done, MPI_STATUSES_IGNORE);
      return done != 0;
    }, [&] {
      std::vector<int> late[2];  // [0]: receives missing, [1]: sends not taken
      for (std::size_t i = 0; i < reqs_.size(); ++i) {
        int flag = 1;
        if (reqs_[i] != MPI_REQUEST_NULL) MPI_Test(&reqs_[i], &flag, MPI_STATUS_IGNORE);
        auto& v = late[recvs_[i] ? 0 : 1];
        if (!flag && std::find(v.begin(), v.end(), peers_[i]) == v.end()) v.push_back(peers_[i]);
      }
      return late[0].empty() ? late[1] : late[0];
    });
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

// A reduce-scatter in flight. Slice s of the slab (rank s's) travels in buckets of K elements
// (at most 32 per slice, at least 64 KiB), one message per (part, bucket), sent from the part's
// gradient where it lies and received where the sum reads it: no packing copies.
#ifdef NTN_HAVE_MPI
struct Comm::Exchange {
  Exchange(Comm& c, std::uint64_t& sent) : rq(c, sent, 0) {}
  Requests rq;
  std::size_t parts = 0, n = 0, c0 = 0, c1 = 0, K = 1;
  std::vector<const float*> local;
  std::vector<std::size_t> top;     // per local part: [top, n) is final
  std::vector<std::size_t> unsent;  // per local part and rank: buckets [0, unsent) of its slice not sent
  static constexpr int kTag = 64;   // + part * 64 + bucket (< 32767, MPI's least tag bound)
};
#else
struct Comm::Exchange {
  std::size_t parts = 0, n = 0;
  std::vector<const float*> local;
};
#endif

// Shared memory between the ranks of one machine. Each rank's data region is [gather | parts]: the
// gather region holds its slice of an all-gather, the parts region its local parts of a
// reduce-scatter (written there by the trainer's backward, or copied in). Four counters per rank,
// each on its own cache line, order the steps without messages: rs_posted / ag_posted = the
// epoch whose data this rank has published, rs_read / ag_read = the epoch it has finished reading
// from its peers (a rank overwrites its region only when every peer has read the previous one).
#ifdef NTN_HAVE_MPI
struct Comm::Shared {
  enum Counter { kRsPosted = 0, kRsRead = 1, kAgPosted = 2, kAgRead = 3 };
  static constexpr std::size_t kLine = 64 / sizeof(std::uint64_t);  // counters per cache line
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Win ctl_win = MPI_WIN_NULL, data_win = MPI_WIN_NULL;
  std::vector<std::uint64_t*> ctl;  // per rank: its counters, counter i at [i * kLine]
  std::vector<float*> data;         // per rank: its data region
  std::size_t gather_cap = 0, parts_cap = 0;  // floats per rank (the same on every rank)
  std::uint64_t rs_epoch = 0, ag_epoch = 0;

  std::uint64_t load(int rank, Counter c) const {
    return std::atomic_ref<std::uint64_t>(ctl[std::size_t(rank)][c * kLine]).load(std::memory_order_acquire);
  }
  void store(int rank, Counter c, std::uint64_t v) {
    std::atomic_ref<std::uint64_t>(ctl[std::size_t(rank)][c * kLine]).store(v, std::memory_order_release);
  }
  float* gather(int rank) const { return data[std::size_t(rank)]; }
  float* parts(int rank) const { return data[std::size_t(rank)] + gather_cap; }
};
#else
struct Comm::Shared {};
#endif

Comm::~Comm() = default;

void Comm::init_shared() {
  if (shm_checked_) return;
  shm_checked_ = true;
#ifdef NTN_HAVE_MPI
  if (size_ == 1) return;
  // Every rank on this machine, and none asked for messages: the decision is every rank's (the
  // minimum over ranks), so that all of them take the same path.
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  const char* env = std::getenv("NTN_DIST_SHM");
  NTN_CHECK(!env || std::strcmp(env, "0") == 0 || std::strcmp(env, "1") == 0, "NTN_DIST_SHM is '", env,
            "': 0 (exchange messages) or 1 (shared memory between ranks of one machine, the default)");
  int want = node_size == size_ && !(env && std::strcmp(env, "0") == 0) ? 1 : 0, all = 0;
  MPI_Allreduce(&want, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all) {
    MPI_Comm_free(&node);
    return;
  }
  auto sh = std::make_unique<Shared>();
  sh->node = node;
  void* base = nullptr;
  MPI_Win_allocate_shared(MPI_Aint(4 * Shared::kLine * sizeof(std::uint64_t)), sizeof(std::uint64_t),
                          MPI_INFO_NULL, node, &base, &sh->ctl_win);
  std::memset(base, 0, 4 * Shared::kLine * sizeof(std::uint64_t));
  sh->ctl.resize(std::size_t(size_));
  window_bases(sh->ctl_win, sh->ctl);
  sh->data.assign(std::size_t(size_), nullptr);
  MPI_Barrier(MPI_COMM_WORLD);  // every rank's counters are zero before anyone reads them
  shm_ = std::move(sh);
#endif
}

bool Comm::reserve_shared(std::size_t parts, std::size_t n) {
#ifdef NTN_HAVE_MPI
  Shared& sh = *shm_;
  auto round = [](std::size_t v) { return (v + 15) / 16 * 16; };  // whole cache lines
  const std::size_t R = std::size_t(size_);
  const std::size_t gather = round((n + R - 1) / R + 1), most = (parts + R - 1) / R;  // largest slice, share
  const std::size_t part_floats = round(most * n);
  if (gather <= sh.gather_cap && part_floats <= sh.parts_cap && sh.data_win != MPI_WIN_NULL) return true;
  // Every rank computes the same sizes from the same arguments: all of them grow here together.
  // Nobody reads the old regions any more (each rank is past its previous exchanges). The regions
  // are files in MPI's backing directory (tmpfs, /dev/shm unless OMPI_MCA_osc_sm_backing_directory
  // says otherwise): one larger than its free space would fault when touched, so every rank checks
  // it and, if any finds it short, the ranks exchange messages from here on.
  const std::size_t old_bytes = sh.data_win != MPI_WIN_NULL ? (sh.gather_cap + sh.parts_cap) * sizeof(float) : 0;
  const std::size_t new_bytes = (std::max(sh.gather_cap, gather) + std::max(sh.parts_cap, part_floats)) * sizeof(float);
  const char* dir_env = std::getenv("OMPI_MCA_osc_sm_backing_directory");
  const std::string dir = dir_env && *dir_env ? dir_env : "/dev/shm";
  std::uint64_t free_bytes = UINT64_MAX;
  struct statvfs st{};
  if (statvfs(dir.c_str(), &st) == 0) free_bytes = std::uint64_t(st.f_bavail) * std::uint64_t(st.f_frsize);
  const std::uint64_t margin = 16u << 20;  // MPI's own segments live there too
  int fits = free_bytes == UINT64_MAX ||
             free_bytes + std::uint64_t(old_bytes) * R >= std::uint64_t(new_bytes) * R + margin, all = 0;
  MPI_Allreduce(&fits, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (sh.data_win != MPI_WIN_NULL) MPI_Win_free(&sh.data_win);
  if (!all) {
    if (fits == 0)
      std::fprintf(stderr, "ntneural: rank %d: %s has %.1f MB free, the shared-memory exchange needs %.1f MB: the "
                   "ranks exchange messages instead\n", rank_, dir.c_str(), double(free_bytes) / 1e6,
                   double(std::uint64_t(new_bytes) * R + margin) / 1e6);
    MPI_Win_free(&sh.ctl_win);
    MPI_Comm_free(&sh.node);
    shm_.reset();
    return false;
  }
  sh.gather_cap = std::max(sh.gather_cap, gather);
  sh.parts_cap = std::max(sh.parts_cap, part_floats);
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each rank's region on its own pages
  void* base = nullptr;
  MPI_Win_allocate_shared(MPI_Aint((sh.gather_cap + sh.parts_cap) * sizeof(float)), sizeof(float), info, sh.node,
                          &base, &sh.data_win);
  MPI_Info_free(&info);
  window_bases(sh.data_win, sh.data);
  return true;
#else
  (void)parts;
  (void)n;
  return false;
#endif
}

void Comm::await_peers(int which, std::uint64_t epoch, const char* what) {
#ifdef NTN_HAVE_MPI
  const Shared& sh = *shm_;
  const auto c = Shared::Counter(which);
  auto late = [&] {
    std::vector<int> who;
    for (int r = 0; r < size_; ++r)
      if (r != rank_ && sh.load(r, c) < epoch) who.push_back(r);
    return who;
  };
  auto done = [&] {
    for (int r = 0; r < size_; ++r)
      if (r != rank_ && sh.load(r, c) < epoch) return false;
    return true;
  };
  wait_for(*this, what, 64, done, late);
#else
  (void)which;
  (void)epoch;
  (void)what;
#endif
}

float* Comm::shared_parts(std::size_t parts, std::size_t n) {
  if (size_ == 1) return nullptr;
  init_shared();
  if (!shm_) return nullptr;
#ifdef NTN_HAVE_MPI
  if (!reserve_shared(parts, n)) return nullptr;
  return shm_->parts(rank_);
#else
  (void)parts;
  (void)n;
  return nullptr;
#endif
}

void Comm::reduce_scatter(std::size_t parts, const float* const* local, std::size_t n, float* out) {
  reduce_scatter_begin(parts, local, n);
  reduce_scatter_end(out);
}

void Comm::reduce_scatter_begin(std::size_t parts, const float* const* local, std::size_t n) {
  NTN_CHECK(parts >= 1 && parts <= limits::kMicroBatches.hi, "reduce-scatter of ", parts, " parts: 1 to ",
            limits::kMicroBatches.hi);
  const auto [c0, c1] = owned(parts);
#ifdef NTN_HAVE_MPI
  if (!exchange_) exchange_ = std::make_unique<Exchange>(*this, bytes_sent_);
#else
  if (!exchange_) exchange_ = std::make_unique<Exchange>();
#endif
  Exchange& x = *exchange_;
  x.parts = parts;
  x.n = n;
  x.local.assign(local, local + (c1 - c0));
  if (size_ == 1) return;
  init_shared();
#ifdef NTN_HAVE_MPI
  if (shm_ && reserve_shared(parts, n)) {
    // My parts region is overwritten from now on (by the caller's compute or at end): every peer
    // must have read the previous reduce-scatter's parts from it.
    await_peers(Shared::kRsRead, shm_->rs_epoch, "gradient reduce-scatter");
    ++shm_->rs_epoch;
    return;
  }
  NTN_CHECK(n < std::size_t(INT_MAX), "reduce-scatter of ", n, " floats: too large for one message");
  const int R = size_;
  x.c0 = c0;
  x.c1 = c1;
  x.K = std::max<std::size_t>(16384, (n / std::size_t(R) + 1 + 31) / 32);
  x.top.assign(c1 - c0, n);
  x.unsent.assign((c1 - c0) * std::size_t(R), 0);
  for (std::size_t i = 0; i < c1 - c0; ++i)
    for (int r = 0; r < R; ++r) {
      const auto [a, b] = ntn::dist::slice(n, r, R);
      if (r != rank_) x.unsent[i * std::size_t(R) + std::size_t(r)] = (b - a + x.K - 1) / x.K;
    }
  // I receive my slice of every part the other ranks own, bucket by bucket, in place.
  const auto [m0, m1] = slice(n);
  const std::size_t mine = m1 - m0;
  recv_.resize(mine * parts);
  x.rq.clear();
  for (int q = 0; q < R; ++q) {
    if (q == rank_) continue;
    const auto [q0, q1] = owned_by(q, parts);
    for (std::size_t c = q0; c < q1; ++c)
      for (std::size_t at = 0, k = 0; at < mine; at += x.K, ++k)
        MPI_Irecv(recv_.data() + c * mine + at, int(std::min(x.K, mine - at)), MPI_FLOAT, q,
                  Exchange::kTag + int(c * 64 + k), MPI_COMM_WORLD, x.rq.recv(q));
  }
#else
  (void)c0;
  (void)c1;
  NTN_CHECK(false, "built without MPI");
#endif
}

void Comm::reduce_scatter_ready(std::size_t part, std::size_t lo, std::size_t hi) {
  if (size_ == 1 || !exchange_ || shm_) return;
#ifdef NTN_HAVE_MPI
  Exchange& x = *exchange_;
  if (part < x.c0 || part >= x.c1 || lo >= hi) return;
  const std::size_t i = part - x.c0;
  if (hi >= x.top[i] && lo < x.top[i]) x.top[i] = lo;  // contiguous with what is final above
  send_final(i);
  x.rq.test();
#else
  (void)part;
  (void)lo;
  (void)hi;
#endif
}

void Comm::send_final(std::size_t i) {
#ifdef NTN_HAVE_MPI
  Exchange& x = *exchange_;
  const int R = size_;
  const std::size_t c = x.c0 + i;
  for (int r = 0; r < R; ++r) {
    std::size_t& left = x.unsent[i * std::size_t(R) + std::size_t(r)];
    const std::size_t a = ntn::dist::slice(x.n, r, R).first, b = ntn::dist::slice(x.n, r, R).second;
    while (left > 0 && a + (left - 1) * x.K >= x.top[i]) {
      const std::size_t k = left - 1, at = a + k * x.K, len = std::min(x.K, b - at);
      MPI_Isend(x.local[i] + at, int(len), MPI_FLOAT, r, Exchange::kTag + int(c * 64 + k), MPI_COMM_WORLD,
                x.rq.send(r, len * sizeof(float)));
      --left;
    }
  }
#else
  (void)i;
#endif
}

void Comm::reduce_scatter_end(float* out) {
  NTN_CHECK(exchange_ != nullptr, "reduce_scatter_end without reduce_scatter_begin");
  Exchange& x = *exchange_;
  if (size_ == 1) {
    sum_in_order(x.local.data(), x.parts, x.n, out);
    return;
  }
#ifdef NTN_HAVE_MPI
  const auto [m0, m1] = slice(x.n);
  const std::size_t mine = m1 - m0;
  if (shm_) {
    // Publish my parts (copying in those not written in place: the peers' slices of them), wait
    // for every peer's, and sum my slice reading each part where it lies.
    Shared& sh = *shm_;
    const auto [c0, c1] = owned(x.parts);
    float* region = sh.parts(rank_);
    for (std::size_t i = 0; i < c1 - c0; ++i) {
      float* dst = region + i * x.n;
      for (int r = 0; r < size_; ++r) {
        const auto [a, b] = ntn::dist::slice(x.n, r, size_);
        if (r == rank_) continue;
        if (x.local[i] != dst) std::memcpy(dst + a, x.local[i] + a, (b - a) * sizeof(float));
        bytes_sent_ += (b - a) * sizeof(float);  // what the peer reads of mine (the cost model's bytes)
      }
    }
    sh.store(rank_, Shared::kRsPosted, sh.rs_epoch);
    await_peers(Shared::kRsPosted, sh.rs_epoch, "gradient reduce-scatter");
    const float* p[limits::kMicroBatches.hi];
    for (int q = 0; q < size_; ++q) {
      const auto [q0, q1] = owned_by(q, x.parts);
      for (std::size_t c = q0; c < q1; ++c)
        p[c] = (q == rank_ ? x.local[c - q0] : sh.parts(q) + (c - q0) * x.n) + m0;
    }
    sum_in_order(p, x.parts, mine, out + m0);
    sh.store(rank_, Shared::kRsRead, sh.rs_epoch);
    return;
  }
  for (std::size_t i = 0; i < x.c1 - x.c0; ++i) {
    x.top[i] = 0;
    send_final(i);
  }
  x.rq.wait("gradient reduce-scatter");
  x.rq.clear();
  const float* p[limits::kMicroBatches.hi];
  for (std::size_t c = 0; c < x.parts; ++c)
    p[c] = c >= x.c0 && c < x.c1 ? x.local[c - x.c0] + m0 : recv_.data() + c * mine;
  sum_in_order(p, x.parts, mine, out + m0);
#else
  (void)out;
#endif
}

void Comm::all_gather(float* data, std::size_t n) {
  if (size_ == 1) return;
  init_shared();
#ifdef NTN_HAVE_MPI
  const auto [m0, m1] = slice(n);
  if (shm_ && reserve_shared(0, n)) {
    // My slice into my gather region (once every peer has read the previous one from it), then
    // every peer's slice out of its region.
    Shared& sh = *shm_;
    await_peers(Shared::kAgRead, sh.ag_epoch, "all-gather");
    ++sh.ag_epoch;
    std::memcpy(sh.gather(rank_), data + m0, (m1 - m0) * sizeof(float));
    bytes_sent_ += (m1 - m0) * sizeof(float) * std::size_t(size_ - 1);
    sh.store(rank_, Shared::kAgPosted, sh.ag_epoch);
    await_peers(Shared::kAgPosted, sh.ag_epoch, "all-gather");
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const auto [a, b] = ntn::dist::slice(n, r, size_);
      std::memcpy(data + a, sh.gather(r), (b - a) * sizeof(float));
    }
    sh.store(rank_, Shared::kAgRead, sh.ag_epoch);
    return;
  }
  NTN_CHECK(n < std::size_t(INT_MAX), "all-gather of ", n, " floats: too large for one message");
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
