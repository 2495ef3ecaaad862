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
}  // namespace

// Slabs of 1 MiB and more (weights, packed weights, optimizer state, big activations) are
// mapped with MAP_POPULATE: the kernel zero-fills and maps all their pages in one call instead
// of taking one page fault per 4 KiB at first touch (each fault costs microseconds on a VM;
// loading a 5 MB model spent ~10 ms in them). Every slab is written right after allocation
// anyway, so nothing is made resident that would not have been.
void* aligned_alloc_bytes(std::size_t bytes, bool lazy) {
  const std::size_t n = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  if (n >= kMapMin) {
    void* p = ::mmap(nullptr, round_up(n, kPage), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | (lazy ? 0 : MAP_POPULATE), -1, 0);
    NTN_CHECK(p != MAP_FAILED, "out of memory: could not map ", n, " bytes");
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
    ::munmap(p, round_up(n, kPage));
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
