#include <cmath>
#include <cstring>
#include <mutex>

#include "ntn/error.h"
#include "ntn/forecast_cache.h"

namespace ntn {

ForecastCache::ForecastCache(std::size_t window, std::size_t out, Config c) : L_(window), out_(out), cfg_(c) {
  NTN_CHECK(c.capacity > 0 && c.capacity < (1u << 30), "forecast cache: capacity must be in [1, 2^30) (got ",
            c.capacity, ")");
  NTN_CHECK(c.tolerance >= 0.0f && std::isfinite(c.tolerance), "forecast cache: tolerance must be >= 0 (got ",
            c.tolerance, ")");
  inv_tol_ = c.tolerance > 0.0f ? 1.0f / c.tolerance : 0.0f;
  std::size_t slots = 1;
  while (slots < 2 * c.capacity) slots <<= 1;
  mask_ = slots - 1;
  slots_.assign(slots, -1);
  codes_.resize(c.capacity * L_);
  values_.resize(c.capacity * out_);
  hash_.resize(c.capacity);
  model_.resize(c.capacity);
  series_.resize(c.capacity);
  prev_.assign(c.capacity, -1);
  next_.assign(c.capacity, -1);
}

std::size_t ForecastCache::bytes() const {
  return slots_.size() * 4 + codes_.size() * 4 + values_.size() * 4 + hash_.size() * 8 * 2 + series_.size() * 8 +
         prev_.size() * 8;
}

std::uint32_t ForecastCache::code(float v) const {
  if (inv_tol_ == 0.0f) {
    std::uint32_t b;
    std::memcpy(&b, &v, 4);
    return b;
  }
  return std::uint32_t(std::int32_t(std::nearbyint(v * inv_tol_)));
}

// 4 independent multiply-xor lanes over the codes (no serial dependency through one lane),
// folded with the model key and series at the end.
ForecastCache::Key ForecastCache::make_key(std::uint64_t model_key, std::size_t series, const float* x) const {
  Key k;
  if (inv_tol_ != 0.0f)
    for (std::size_t i = 0; i < L_; ++i)
      if (!(std::fabs(x[i] * inv_tol_) < 2147483520.0f)) return k;  // off the int32 grid (or NaN)
  constexpr std::uint64_t m = 0x9E3779B97F4A7C15ull;
  std::uint64_t h[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
  std::size_t i = 0;
  for (; i + 4 <= L_; i += 4)
    for (int j = 0; j < 4; ++j) {
      h[j] = (h[j] ^ code(x[i + std::size_t(j)])) * m;
      h[j] ^= h[j] >> 29;
    }
  for (; i < L_; ++i) h[0] = ((h[0] ^ code(x[i])) * m) ^ (h[0] >> 29);
  std::uint64_t r = (h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7) ^ model_key ^ (std::uint64_t(series) * m)) * m;
  r ^= r >> 32;
  k.hash = r;
  k.ok = true;
  return k;
}

bool ForecastCache::same(std::int32_t e, std::uint64_t model_key, std::size_t series, const float* x) const {
  if (model_[std::size_t(e)] != model_key || series_[std::size_t(e)] != series) return false;
  const std::uint32_t* c = codes_.data() + std::size_t(e) * L_;
  for (std::size_t i = 0; i < L_; ++i)
    if (c[i] != code(x[i])) return false;
  return true;
}

std::int32_t ForecastCache::find_locked(const Key& k, std::uint64_t model_key, std::size_t series,
                                        const float* x) const {
  for (std::size_t s = k.hash & mask_;; s = (s + 1) & mask_) {
    const std::int32_t e = slots_[s];
    if (e < 0) return -1;
    if (hash_[std::size_t(e)] == k.hash && same(e, model_key, series, x)) return e;
  }
}

void ForecastCache::unlink(std::int32_t e) {
  const std::int32_t p = prev_[std::size_t(e)], n = next_[std::size_t(e)];
  (p >= 0 ? next_[std::size_t(p)] : head_) = n;
  (n >= 0 ? prev_[std::size_t(n)] : tail_) = p;
}

void ForecastCache::push_front(std::int32_t e) {
  prev_[std::size_t(e)] = -1;
  next_[std::size_t(e)] = head_;
  if (head_ >= 0) prev_[std::size_t(head_)] = e;
  head_ = e;
  if (tail_ < 0) tail_ = e;
}

// Linear probing with backward-shift deletion: no tombstones, probe lengths stay short.
void ForecastCache::erase_slot(std::size_t slot) {
  std::size_t hole = slot;
  for (std::size_t s = (slot + 1) & mask_;; s = (s + 1) & mask_) {
    const std::int32_t e = slots_[s];
    if (e < 0) break;
    const std::size_t home = hash_[std::size_t(e)] & mask_;
    // Move e into the hole if its home is not cyclically within (hole, s].
    if (((s - home) & mask_) >= ((s - hole) & mask_)) {
      slots_[hole] = e;
      hole = s;
    }
  }
  slots_[hole] = -1;
}

bool ForecastCache::get(std::uint64_t model_key, std::size_t series, const float* x, float* y) {
  const Key k = make_key(model_key, series, x);
  std::lock_guard<SpinLock> g(mu_);
  const std::int32_t e = k.ok ? find_locked(k, model_key, series, x) : -1;
  if (e < 0) {
    ++m_.misses;
    return false;
  }
  ++m_.hits;
  std::memcpy(y, values_.data() + std::size_t(e) * out_, out_ * sizeof(float));
  if (head_ != e) {
    unlink(e);
    push_front(e);
  }
  return true;
}

void ForecastCache::put(std::uint64_t model_key, std::size_t series, const float* x, const float* y) {
  const Key k = make_key(model_key, series, x);
  if (!k.ok) return;
  std::lock_guard<SpinLock> g(mu_);
  std::int32_t e = find_locked(k, model_key, series, x);
  if (e >= 0) {  // refresh
    std::memcpy(values_.data() + std::size_t(e) * out_, y, out_ * sizeof(float));
    unlink(e);
    push_front(e);
    return;
  }
  if (size_ < cfg_.capacity) {
    e = std::int32_t(size_++);
  } else {  // evict the least recently used entry
    e = tail_;
    for (std::size_t s = hash_[std::size_t(e)] & mask_;; s = (s + 1) & mask_)
      if (slots_[s] == e) {
        erase_slot(s);
        break;
      }
    unlink(e);
    ++m_.evictions;
  }
  hash_[std::size_t(e)] = k.hash;
  model_[std::size_t(e)] = model_key;
  series_[std::size_t(e)] = series;
  std::uint32_t* c = codes_.data() + std::size_t(e) * L_;
  for (std::size_t i = 0; i < L_; ++i) c[i] = code(x[i]);
  std::memcpy(values_.data() + std::size_t(e) * out_, y, out_ * sizeof(float));
  std::size_t s = k.hash & mask_;
  while (slots_[s] >= 0) s = (s + 1) & mask_;
  slots_[s] = e;
  push_front(e);
  ++m_.inserts;
}

ForecastCache::Metrics ForecastCache::metrics() const {
  std::lock_guard<SpinLock> g(mu_);
  Metrics m = m_;
  m.size = size_;
  return m;
}

void ForecastCache::clear() {
  std::lock_guard<SpinLock> g(mu_);
  std::fill(slots_.begin(), slots_.end(), -1);
  head_ = tail_ = -1;
  size_ = 0;
  m_ = {};
}

bool predict_cached(Predictor& p, ForecastCache& c, const float* x, float* y, std::size_t series) {
  if (c.get(p.model_key(), series, x, y)) return true;
  p.predict(x, y, series);
  c.put(p.model_key(), series, x, y);
  return false;
}

}  // namespace ntn
