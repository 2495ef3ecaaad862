#include "ntn/tensor.h"

#include <sstream>

namespace ntn {

std::size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::i8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i8: return "i8";
  }
  return "?";
}

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(dims.begin(), int(dims.size())) {}

Shape::Shape(const std::int64_t* dims, int rank) : rank_(rank) {
  NTN_CHECK(rank >= 0 && rank <= kMaxRank, "shape rank ", rank, " is outside 0..", kMaxRank);
  for (int i = 0; i < rank; ++i) {
    NTN_CHECK(dims[i] >= 0, "shape dimension ", i, " is negative (", dims[i], ")");
    dims_[i] = dims[i];
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '(';
  for (int i = 0; i < rank_; ++i) os << (i ? ", " : "") << dims_[i];
  os << ')';
  return os.str();
}

Tensor Tensor::contiguous(void* data, const Shape& shape, DType dt) {
  Tensor t;
  t.data_ = data;
  t.shape_ = shape;
  t.dtype_ = dt;
  std::int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    t.strides_[i] = s;
    s *= shape[i];
  }
  return t;
}

float* Tensor::f32() const {
  NTN_CHECK(dtype_ == DType::f32, "tensor of dtype ", dtype_name(dtype_), " used as f32");
  return static_cast<float*>(data_);
}

bool Tensor::is_contiguous() const {
  std::int64_t s = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != s) return false;
    s *= shape_[i];
  }
  return true;
}

Tensor Tensor::select(int dim, std::int64_t index) const {
  NTN_CHECK(dim >= 0 && dim < rank(), "select: dim ", dim, " out of range for shape ", shape_.str());
  NTN_CHECK(index >= 0 && index < shape_[dim], "select: index ", index, " out of range for dim ",
            dim, " of shape ", shape_.str());
  Tensor t;
  t.dtype_ = dtype_;
  t.data_ = static_cast<char*>(data_) + index * strides_[dim] * std::int64_t(dtype_size(dtype_));
  std::int64_t dims[kMaxRank];
  int r = 0;
  for (int i = 0; i < rank(); ++i) {
    if (i == dim) continue;
    dims[r] = shape_[i];
    t.strides_[r] = strides_[i];
    ++r;
  }
  t.shape_ = Shape(dims, r);
  return t;
}

Tensor Tensor::narrow(int dim, std::int64_t start, std::int64_t length) const {
  NTN_CHECK(dim >= 0 && dim < rank(), "narrow: dim ", dim, " out of range for shape ", shape_.str());
  NTN_CHECK(start >= 0 && length >= 0 && start + length <= shape_[dim], "narrow: [", start, ", ",
            start + length, ") out of range for dim ", dim, " of shape ", shape_.str());
  Tensor t = *this;
  t.data_ = static_cast<char*>(data_) + start * strides_[dim] * std::int64_t(dtype_size(dtype_));
  t.shape_[dim] = length;
  return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
  NTN_CHECK(d0 >= 0 && d0 < rank() && d1 >= 0 && d1 < rank(), "transpose: dims ", d0, ", ", d1,
            " out of range for shape ", shape_.str());
  Tensor t = *this;
  std::swap(t.shape_[d0], t.shape_[d1]);
  std::swap(t.strides_[d0], t.strides_[d1]);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  NTN_CHECK(is_contiguous(), "reshape: tensor of shape ", shape_.str(), " is not contiguous");
  NTN_CHECK(shape.numel() == numel(), "reshape: cannot view ", shape_.str(), " as ", shape.str());
  return contiguous(data_, shape, dtype_);
}

std::int64_t Tensor::offset(std::initializer_list<std::int64_t> idx) const {
  NTN_CHECK(int(idx.size()) == rank(), "index of rank ", idx.size(), " for shape ", shape_.str());
  std::int64_t off = 0;
  int i = 0;
  for (std::int64_t v : idx) {
    NTN_CHECK(v >= 0 && v < shape_[i], "index ", v, " out of range for dim ", i, " of shape ",
              shape_.str());
    off += v * strides_[i];
    ++i;
  }
  return off;
}

}  // namespace ntn
