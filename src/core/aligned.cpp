#include "ntn/aligned.h"

#include <cstdlib>

#include "ntn/error.h"

namespace ntn {

void* aligned_alloc_bytes(std::size_t bytes) {
  const std::size_t n = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  void* p = std::aligned_alloc(kAlign, n);
  NTN_CHECK(p != nullptr, "out of memory: could not allocate ", n, " bytes");
  return p;
}

void aligned_free(void* p) noexcept { std::free(p); }

AlignedBuffer::AlignedBuffer(std::size_t bytes)
    : data_(aligned_alloc_bytes(bytes)), bytes_(round_up(bytes == 0 ? kAlign : bytes, kAlign)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    aligned_free(data_);
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
