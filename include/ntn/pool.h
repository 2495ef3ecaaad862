// Shape-aware tensor pool. The origin crate kept one list of 10 tensors of any shape and
// handed back stale tensors of the wrong shape. Here every (dtype, shape) has its own free
// list, so a pooled tensor always has exactly the requested shape.
//
// Policy: release() keeps the buffer on its shape's list unless that list already holds
// `per_shape_cap` buffers (then it is freed: an eviction). If the bytes held would exceed
// `byte_cap`, the least recently released buffers of any shape are freed first (evictions).
// acquire() takes the most recently released buffer of that shape (warm in cache): a hit;
// otherwise it allocates: a miss. Contents of a pooled tensor are unspecified (not zeroed).
// All methods are thread-safe (one spin lock: the critical sections are a hash lookup and a
// vector push/pop, shorter than a futex round trip). acquire/release are O(1) and allocate nothing in
// steady state; an eviction for the byte cap scans the shapes once (rare by construction).
//
// Intended usage:
//   ntn::TensorPool pool;                                    // caps: 100 per shape, 256 MiB
//   {
//     ntn::PooledTensor h = pool.acquire({32, 512});         // (B, H)
//     float* p = h.tensor().f32();
//   }                                                        // returned to the pool here
//   auto m = pool.metrics();                                 // hits, misses, evictions, bytes
#pragma once

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ntn/aligned.h"
#include "ntn/tensor.h"

namespace ntn {

class TensorPool;

// Test-and-test-and-set lock for very short critical sections; yields when contended.
class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire))
      while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Move-only handle: owns a buffer while alive, gives it back to its pool when destroyed.
class PooledTensor {
 public:
  PooledTensor() = default;
  PooledTensor(PooledTensor&& o) noexcept;
  PooledTensor& operator=(PooledTensor&& o) noexcept;
  PooledTensor(const PooledTensor&) = delete;
  PooledTensor& operator=(const PooledTensor&) = delete;
  ~PooledTensor() { release(); }

  const Tensor& tensor() const { return view_; }
  void release();  // returns the buffer now; the handle becomes empty

 private:
  friend class TensorPool;

// Test-and-test-and-set lock for very short critical sections; yields when contended.
class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire))
      while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};
  PooledTensor(TensorPool* pool, void* list, AlignedBuffer buf, const Tensor& view)
      : pool_(pool), list_(list), buf_(std::move(buf)), view_(view) {}
  TensorPool* pool_ = nullptr;
  void* list_ = nullptr;  // the free list of this shape (map nodes are stable): no re-hashing
  AlignedBuffer buf_;
  Tensor view_;
};

class TensorPool {
 public:
  struct Config {
    std::size_t per_shape_cap = 100;     // buffers kept per (dtype, shape)
    std::size_t byte_cap = 256u << 20;   // bytes kept over all shapes
  };
  struct Metrics {
    std::uint64_t hits = 0;       // acquire served from a free list
    std::uint64_t misses = 0;     // acquire that had to allocate
    std::uint64_t evictions = 0;  // buffers freed by a cap instead of kept
    std::size_t bytes_held = 0;   // bytes on the free lists now
    std::size_t buffers_held = 0;
    double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
  };

  TensorPool() : TensorPool(Config{}) {}
  explicit TensorPool(Config cfg) : cfg_(cfg) {}
  ~TensorPool();
  TensorPool(const TensorPool&) = delete;
  TensorPool& operator=(const TensorPool&) = delete;

  PooledTensor acquire(const Shape& shape, DType dt = DType::f32);
  Metrics metrics() const;
  void reset_metrics();  // counters to zero; buffers stay
  void clear();          // frees every held buffer (not counted as evictions)

 private:
  friend class PooledTensor;
  struct Key {
    DType dtype;
    Shape shape;
    bool operator==(const Key& o) const { return dtype == o.dtype && shape == o.shape; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Held {
    AlignedBuffer buf;
    std::uint64_t tick;  // release order, for least-recently-released eviction
  };
  // Per shape: oldest first, most recent last. Vectors keep their capacity, so steady-state
  // release/acquire never allocates. Keys are never erased (clear() empties the lists), so a
  // handle may keep a pointer to its list.
  using FreeMap = std::unordered_map<Key, std::vector<Held>, KeyHash>;

  void give_back(void* list, AlignedBuffer buf);
  void evict_oldest_locked();

  Config cfg_;
  mutable SpinLock mu_;
  FreeMap free_;
  std::uint64_t tick_ = 0;
  Metrics m_;
};

}  // namespace ntn
