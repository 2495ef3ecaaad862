#include "ntn/pool.h"

namespace ntn {

PooledTensor::PooledTensor(PooledTensor&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)), list_(o.list_), buf_(std::move(o.buf_)), view_(o.view_) {
  o.view_ = Tensor();
}

PooledTensor& PooledTensor::operator=(PooledTensor&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = std::exchange(o.pool_, nullptr);
    list_ = o.list_;
    buf_ = std::move(o.buf_);
    view_ = o.view_;
    o.view_ = Tensor();
  }
  return *this;
}

void PooledTensor::release() {
  if (pool_ != nullptr && !buf_.empty()) pool_->give_back(list_, std::move(buf_));
  pool_ = nullptr;
  view_ = Tensor();
}

std::size_t TensorPool::KeyHash::operator()(const Key& k) const noexcept {
  // FNV-1a over dtype, rank and dims.
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  mix(std::uint64_t(k.dtype));
  mix(std::uint64_t(k.shape.rank()));
  for (int i = 0; i < k.shape.rank(); ++i) mix(std::uint64_t(k.shape[i]));
  return std::size_t(h);
}

TensorPool::~TensorPool() = default;

PooledTensor TensorPool::acquire(const Shape& shape, DType dt) {
  std::vector<Held>* list;
  {
    std::lock_guard<SpinLock> lock(mu_);
    list = &free_[Key{dt, shape}];
    if (!list->empty()) {
      AlignedBuffer buf = std::move(list->back().buf);
      list->pop_back();
      m_.bytes_held -= buf.bytes();
      --m_.buffers_held;
      ++m_.hits;
      const Tensor view = Tensor::contiguous(buf.data(), shape, dt);
      return PooledTensor(this, list, std::move(buf), view);
    }
    ++m_.misses;
  }
  AlignedBuffer buf(std::size_t(shape.numel()) * dtype_size(dt));  // allocate outside the lock
  const Tensor view = Tensor::contiguous(buf.data(), shape, dt);
  return PooledTensor(this, list, std::move(buf), view);
}

void TensorPool::evict_oldest_locked() {
  // The least recently released buffer is the front of one of the lists: find the oldest front.
  std::vector<Held>* oldest = nullptr;
  for (auto& [key, list] : free_)
    if (!list.empty() && (oldest == nullptr || list.front().tick < oldest->front().tick)) oldest = &list;
  m_.bytes_held -= oldest->front().buf.bytes();
  --m_.buffers_held;
  ++m_.evictions;
  oldest->erase(oldest->begin());  // O(per_shape_cap) moves of a pointer-sized handle
}

void TensorPool::give_back(void* list_ptr, AlignedBuffer buf) {
  AlignedBuffer dropped;  // declared before the lock: freed after it is released
  std::lock_guard<SpinLock> lock(mu_);
  const std::size_t bytes = buf.bytes();
  std::vector<Held>& list = *static_cast<std::vector<Held>*>(list_ptr);
  if (list.size() >= cfg_.per_shape_cap || bytes > cfg_.byte_cap) {
    ++m_.evictions;
    dropped = std::move(buf);
    return;
  }
  while (m_.bytes_held + bytes > cfg_.byte_cap) evict_oldest_locked();
  list.push_back(Held{std::move(buf), tick_++});
  m_.bytes_held += bytes;
  ++m_.buffers_held;
}

TensorPool::Metrics TensorPool::metrics() const {
  std::lock_guard<SpinLock> lock(mu_);
  return m_;
}

void TensorPool::reset_metrics() {
  std::lock_guard<SpinLock> lock(mu_);
  m_.hits = m_.misses = m_.evictions = 0;
}

void TensorPool::clear() {
  std::lock_guard<SpinLock> lock(mu_);
  for (auto& [key, list] : free_) list.clear();  // keys stay: live handles point at their lists
  m_.bytes_held = 0;
  m_.buffers_held = 0;
}

}  // namespace ntn
