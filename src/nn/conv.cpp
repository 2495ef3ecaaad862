#include "ntn/conv.h"

#include <algorithm>
#include <cstring>

#include "ntn/error.h"
#include "ntn/fields.h"

namespace ntn::nn {

template <class T>
void CausalConv1d<T>::declare(ParamSet<T>& ps, const std::string& prefix, std::size_t in_, std::size_t out_,
                              std::size_t kernel_, std::size_t dilation_, bool bias) {
  NTN_CHECK(in_ > 0 && out_ > 0 && kernel_ > 0 && dilation_ > 0, "conv '", prefix, "': in (", in_, "), out (",
            out_, "), kernel (", kernel_, ") and dilation (", dilation_, ") must be positive");
  in = in_;
  out = out_;
  kernel = kernel_;
  dilation = dilation_;
  lin.declare(ps, prefix, mul_checked(kernel, in, "conv kernel x input channels"), out, bias,
              Role::conv_kernel);
}

template <class T>
typename CausalConv1d<T>::Cache CausalConv1d<T>::make_cache(std::size_t max_batch, std::size_t max_in,
                                                            std::size_t max_out, bool inference) const {
  Cache c;
  c.max_batch = max_batch;
  c.max_in = max_in;
  c.max_out = max_out;
  if (!direct(max_in, max_out)) {
    c.col.resize(check_tensor_size(mul_checked(max_batch, max_out, "conv rows (batch x columns)"),
                                   kernel * in, "conv input rows (batch x columns x kernel x channels)"));
    if (!inference) c.dcol.resize(c.col.size());
  }
  return c;
}

template <class T>
void CausalConv1d<T>::forward(const ParamSet<T>& ps, Cache& c, const T* x, T* y, std::size_t B,
                              std::size_t Tin, std::size_t Tout, const RunCtx& ctx) const {
  NTN_DASSERT(B <= c.max_batch && Tout <= Tin && Tin <= c.max_in && Tout <= c.max_out);
  if (direct(Tin, Tout)) {
    c.rows = x;
    lin.forward(ps, x, y, B * Tout, ctx);
    return;
  }
  // im2col: row (b, j) = [x(b, r_0) | x(b, r_1) | ... ], r_k = Tin - Tout + j - (kernel-1-k) d
  // (zeros for r_k < 0: the padding before the sequence).
  const std::size_t w = kernel * in, lag = Tin - Tout;
  T* col = c.col.data();
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < Tout; ++j) {
      T* row = col + (b * Tout + j) * w;
      for (std::size_t k = 0; k < kernel; ++k) {
        const std::size_t back = (kernel - 1 - k) * dilation;
        if (lag + j >= back)
          std::memcpy(row + k * in, x + (b * Tin + lag + j - back) * in, in * sizeof(T));
        else
          std::fill(row + k * in, row + (k + 1) * in, T(0));
      }
    }
  c.rows = col;
  lin.forward(ps, col, y, B * Tout, ctx);
}

template <class T>
void CausalConv1d<T>::backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t B,
                               std::size_t Tin, std::size_t Tout, const RunCtx& ctx) const {
  if (direct(Tin, Tout)) {
    lin.backward(ps, grads, c.rows, dy, dx, B * Tout, ctx.accumulate);
    return;
  }
  lin.backward(ps, grads, c.rows, dy, dx ? c.dcol.data() : nullptr, B * Tout, ctx.accumulate);
  if (!dx) return;
  // col2im: each gathered slice's gradient adds into the input column it came from.
  std::fill(dx, dx + B * Tin * in, T(0));
  const std::size_t w = kernel * in, lag = Tin - Tout;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < Tout; ++j) {
      const T* row = c.dcol.data() + (b * Tout + j) * w;
      for (std::size_t k = 0; k < kernel; ++k) {
        const std::size_t back = (kernel - 1 - k) * dilation;
        if (lag + j < back) continue;
        T* d = dx + (b * Tin + lag + j - back) * in;
        const T* s = row + k * in;
        for (std::size_t i = 0; i < in; ++i) d[i] += s[i];
      }
    }
}

template <class T>
void CausalConv1d<T>::step(const ParamSet<T>& ps, T* ring, std::size_t pos, const T* x, T* y, T* col,
                           const RunCtx& ctx) const {
  const std::size_t R = ring_columns();
  NTN_DASSERT(pos < R);
  std::memcpy(ring + pos * in, x, in * sizeof(T));
  if (kernel == 1) {
    lin.forward(ps, x, y, 1, ctx);
    return;
  }
  for (std::size_t k = 0; k < kernel; ++k) {
    const std::size_t back = (kernel - 1 - k) * dilation;  // < R
    std::memcpy(col + k * in, ring + ((pos + R - back) % R) * in, in * sizeof(T));
  }
  lin.forward(ps, col, y, 1, ctx);
}

template struct CausalConv1d<float>;
template struct CausalConv1d<double>;

}  // namespace ntn::nn
