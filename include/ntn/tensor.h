// Tensor views: a pointer, a dtype, a shape and strides (in elements). A view never owns
// memory; storage comes from an AlignedBuffer, an Arena slab or the TensorPool.
//
// Intended usage:
//   ntn::AlignedBuffer buf(ntn::Shape{32, 168}.numel() * sizeof(float));
//   ntn::Tensor x = ntn::Tensor::contiguous(buf.as<float>(), {32, 168});   // (B, L)
//   ntn::Tensor row = x.select(0, 3);                                     // (L)
//   ntn::Tensor win = x.narrow(1, 144, 24);                               // (B, 24), strided
//   float v = x.at<float>({3, 10});
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "ntn/error.h"

namespace ntn {

// f32 is the compute type. f16, bf16 and i8 are storage types reserved for low-precision weights.
enum class DType : std::uint8_t { f32 = 0, f16 = 1, i8 = 2, bf16 = 3 };

std::size_t dtype_size(DType dt);
const char* dtype_name(DType dt);

inline constexpr int kMaxRank = 6;

// A shape of rank 0..6. Dimensions are non-negative.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  Shape(const std::int64_t* dims, int rank);

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[i]; }
  std::int64_t& operator[](int i) { return dims_[i]; }
  std::int64_t numel() const;
  const std::int64_t* data() const { return dims_.data(); }
  std::string str() const;  // "(32, 168)"

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // A row-major contiguous view of `data` with the given shape.
  static Tensor contiguous(void* data, const Shape& shape, DType dt = DType::f32);

  void* data() const { return data_; }
  template <class T>
  T* ptr() const { return static_cast<T*>(data_); }
  float* f32() const;  // checked: dtype must be f32
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t stride(int i) const { return strides_[i]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  // Views (no copy). Each checks its arguments and throws ntn::Error on misuse.
  Tensor select(int dim, std::int64_t index) const;                      // drops `dim`
  Tensor narrow(int dim, std::int64_t start, std::int64_t length) const;  // keeps `dim`
  Tensor transpose(int d0, int d1) const;
  Tensor reshape(const Shape& shape) const;  // contiguous tensors only

  std::int64_t offset(std::initializer_list<std::int64_t> idx) const;  // element offset
  template <class T>
  T& at(std::initializer_list<std::int64_t> idx) const { return ptr<T>()[offset(idx)]; }

 private:
  void* data_ = nullptr;
  Shape shape_;
  std::array<std::int64_t, kMaxRank> strides_{};
  DType dtype_ = DType::f32;
};

}  // namespace ntn
