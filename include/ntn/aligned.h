// Aligned storage and arenas: every buffer the library owns starts on a 64-byte boundary
// (one cache line, one AVX-512 register), so kernels may use aligned loads on tensor rows
// whose byte size is a multiple of 64.
//
// Intended usage:
//   ntn::AlignedBuffer buf(n * sizeof(float));       // owning, move-only, 64-B aligned
//   float* p = buf.as<float>();
//
//   ntn::Arena arena(1 << 20);                        // one slab, planned up front
//   float* a = arena.alloc<float>(1024);              // bump allocation, 64-B aligned
//   auto m = arena.mark(); ... arena.reset(m);        // free everything allocated after m
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ntn {

inline constexpr std::size_t kAlign = 64;

constexpr std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// Allocates `bytes` (rounded up to a multiple of 64) aligned to 64; throws ntn::Error on failure.
// Blocks of 1 MiB and more are fresh zeroed mappings: populated up front (MAP_POPULATE, one
// call instead of a page fault per 4 KiB) unless `lazy`, in which case only the pages touched
// later become resident. Smaller blocks come from the heap (contents unspecified).
void* aligned_alloc_bytes(std::size_t bytes, bool lazy = false);
// Zero-filled aligned block (a lazy mapping when large: untouched pages cost nothing).
void* aligned_alloc_zeroed(std::size_t bytes);
void aligned_free(void* p, std::size_t bytes) noexcept;  // bytes: as passed to aligned_alloc_bytes

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  // Zero-filled; large buffers are lazy mappings (pages become resident when first touched).
  static AlignedBuffer zeroed(std::size_t bytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { aligned_free(data_, bytes_); }

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const { return static_cast<T*>(data_); }
  bool empty() const { return data_ == nullptr; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// A fixed-capacity bump allocator over one aligned slab. Memory is planned: exceeding the
// capacity is API misuse and throws ntn::Error naming the request and what is left.
class Arena {
 public:
  explicit Arena(std::size_t capacity_bytes) : slab_(capacity_bytes), capacity_(capacity_bytes) {}

  void* alloc_bytes(std::size_t bytes);
  template <class T>
  T* alloc(std::size_t count) { return static_cast<T*>(alloc_bytes(count * sizeof(T))); }

  std::size_t mark() const { return used_; }
  void reset(std::size_t mark = 0);
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t high_water() const { return high_water_; }

 private:
  AlignedBuffer slab_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t high_water_ = 0;
};

}  // namespace ntn
