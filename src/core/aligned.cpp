#include "ntn/aligned.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "ntn/error.h"

namespace ntn {

namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kPage = 4096, kMapMin = ~std::size_t(0);  // ASan checks heap blocks only
#else
constexpr std::size_t kPage = 4096, kMapMin = std::size_t(1) << 20;
#endif
constexpr std::size_t kHuge = std::size_t(2) << 20;  // x86-64 transparent huge page

// Length of the mapping of an n-byte slab: whole huge pages from 2 MiB on (for a lazy slab the
// tail is only address space); aligned_free recomputes it from the size alone.
std::size_t map_len(std::size_t n) { return n >= kHuge ? round_up(n, kHuge) : round_up(n, kPage); }

// A 2 MiB-aligned anonymous mapping of len bytes (len a multiple of kHuge), or nullptr.
void* map_huge_aligned(std::size_t len) {
  void* raw = ::mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto r = reinterpret_cast<std::uintptr_t>(raw), a = round_up(r, kHuge);
  if (a > r) ::munmap(raw, a - r);
  if (a + len < r + len + kHuge) ::munmap(reinterpret_cast<void*>(a + len), r + kHuge - a);
  return reinterpret_cast<void*>(a);
}
}  // namespace

// Slabs of 1 MiB and more (weights, packed weights, optimizer state, big activations) are
// anonymous mappings, populated up front unless lazy: the kernel zero-fills and maps all their
// pages in one call instead of one page fault per 4 KiB at first touch (each fault costs
// microseconds on a VM). Eager slabs of 2 MiB and more are also 2 MiB-aligned and advised as
// transparent huge pages: 512 times fewer pages to fault and map (5 MB of packed NHITS
// weights: 1.7-1.9 ms of population with 4 KiB pages on this VM, ~0.4 ms with huge pages).
// Lazy slabs keep 4 KiB pages, so that touching a few values maps a few pages, not 2 MiB.
void* aligned_alloc_bytes(std::size_t bytes, bool lazy) {
  const std::size_t n = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  if (n >= kMapMin) {
    const std::size_t len = map_len(n);
    void* p = len >= kHuge && !lazy ? map_huge_aligned(len) : nullptr;
    if (p) {
      ::madvise(p, len, MADV_HUGEPAGE);  // advisory: without THP the pages are simply 4 KiB
#ifdef MADV_POPULATE_WRITE
      if (::madvise(p, len, MADV_POPULATE_WRITE) == 0) return p;
#endif
      for (std::size_t o = 0; o < len; o += kPage) static_cast<volatile char*>(p)[o] = 0;  // kernels < 5.14
      return p;
    }
    // Small or lazy slabs, or no room for the 2 MiB of alignment slack: a plain mapping.
    p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (lazy ? 0 : MAP_POPULATE), -1, 0);
    NTN_CHECK(p != MAP_FAILED, "out of memory: could not map ", n, " bytes (", double(n) / double(1u << 30),
              " GiB); lower the batch, the window or the widths");
    return p;
  }
  void* p = std::aligned_alloc(kAlign, n);
  NTN_CHECK(p != nullptr, "out of memory: could not allocate ", n, " bytes");
  return p;
}

void* aligned_alloc_zeroed(std::size_t bytes) {
  const std::size_t n = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  void* p = aligned_alloc_bytes(bytes, /*lazy=*/true);
  if (n < kMapMin) std::memset(p, 0, n);  // fresh anonymous mappings are already zero
  return p;
}

void aligned_free(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  const std::size_t n = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  if (n >= kMapMin)
    ::munmap(p, map_len(n));
  else
    std::free(p);
}

AlignedBuffer AlignedBuffer::zeroed(std::size_t bytes) {
  AlignedBuffer b;
  b.data_ = aligned_alloc_zeroed(bytes);
  b.bytes_ = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  return b;
}

AlignedBuffer::AlignedBuffer(std::size_t bytes)
    : data_(aligned_alloc_bytes(bytes)), bytes_(round_up(bytes == 0 ? kAlign : bytes, kAlign)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    aligned_free(data_, bytes_);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void* Arena::alloc_bytes(std::size_t bytes) {
  const std::size_t n = round_up(bytes, kAlign);
  NTN_CHECK(used_ + n <= capacity_, "arena exhausted: request of ", bytes, " bytes with ",
            capacity_ - used_, " of ", capacity_, " left; size the arena from the plan");
  void* p = static_cast<char*>(slab_.data()) + used_;
  used_ += n;
  if (used_ > high_water_) high_water_ = used_;
  return p;
}

void Arena::reset(std::size_t mark) {
  NTN_CHECK(mark <= used_, "arena reset to mark ", mark, " beyond the ", used_, " bytes in use");
  used_ = mark;
}

}  // namespace ntn
