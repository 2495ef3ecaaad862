// Result cache for serving (the origin report's "preprocessing cache", target >= 90% hits): many
// strategies ask for the forecast of the same symbol at the same tick, so the second request
// onwards is a copy instead of a forward pass.
//
// A bounded LRU keyed by (model key, series, input window). The key is hashed, but a hit also
// compares the whole stored key, so a hash collision can never return another window's
// forecast. Memory is allocated once at construction (capacity entries of L codes + H*Q
// outputs); get/put never allocate. Thread-safe: one spin lock around the probe and the copy
// (the hash is computed outside it).
//
// tolerance > 0 quantises each input value to round(x / tolerance) before hashing and
// comparing: windows whose values all fall in the same cells share an entry, so a hit may
// return the forecast of a window that differs by up to `tolerance` (absolute, input units) in
// each value - bounded by that difference times the model's sensitivity. Values too large for
// a 32-bit cell index (|x| / tolerance >= 2^31) are not cached (counted as misses).
//
// Intended usage:
//   ntn::ForecastCache cache(p.input_size(), p.output_size(), {.capacity = 4096});
//   bool hit = ntn::predict_cached(p, cache, x, y, series);
//   auto m = cache.metrics();   // hits, misses, evictions, hit_rate()
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ntn/pool.h"
#include "ntn/predictor.h"

namespace ntn {

class ForecastCache {
 public:
  struct Config {
    std::size_t capacity = 4096;  // entries kept (least recently used evicted)
    float tolerance = 0.0f;       // 0: exact windows
  };
  struct Metrics {
    std::uint64_t hits = 0, misses = 0, evictions = 0, inserts = 0;
    std::size_t size = 0;
    double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
  };

  // window: input values per key (L); out: floats per forecast (H * Q).
  ForecastCache(std::size_t window, std::size_t out) : ForecastCache(window, out, Config{}) {}
  ForecastCache(std::size_t window, std::size_t out, Config c);
  // On a hit copies the stored forecast to y and returns true.
  bool get(std::uint64_t model_key, std::size_t series, const float* x, float* y);
  // Stores (or refreshes) the forecast y of window x.
  void put(std::uint64_t model_key, std::size_t series, const float* x, const float* y);
  Metrics metrics() const;
  void clear();
  std::size_t bytes() const;

 private:
  struct Key {
    std::uint64_t hash = 0;
    bool ok = false;  // false: not cacheable (value out of the tolerance grid's range)
  };
  Key make_key(std::uint64_t model_key, std::size_t series, const float* x) const;
  std::uint32_t code(float v) const;
  bool same(std::int32_t e, std::uint64_t model_key, std::size_t series, const float* x) const;
  std::int32_t find_locked(const Key& k, std::uint64_t model_key, std::size_t series, const float* x) const;
  void unlink(std::int32_t e);
  void push_front(std::int32_t e);
  void erase_slot(std::size_t slot);

  std::size_t L_, out_;
  Config cfg_;
  float inv_tol_ = 0;
  std::size_t mask_;                     // slots - 1 (slots: power of two >= 2 capacity)
  std::vector<std::int32_t> slots_;      // entry index or -1
  std::vector<std::uint32_t> codes_;     // (capacity, L)
  std::vector<float> values_;            // (capacity, out)
  std::vector<std::uint64_t> hash_, model_;
  std::vector<std::size_t> series_;
  std::vector<std::int32_t> prev_, next_;  // LRU list: head = most recent
  std::int32_t head_ = -1, tail_ = -1;
  std::size_t size_ = 0;
  Metrics m_;
  mutable SpinLock mu_;
};

// predict through the cache: a hit copies, a miss runs p.predict and stores the result.
bool predict_cached(Predictor& p, ForecastCache& c, const float* x, float* y,
                    std::size_t series = Predictor::kNoSeries);

}  // namespace ntn
