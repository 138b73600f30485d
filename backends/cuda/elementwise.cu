// Elementwise kernels: add, axpy, scale, mul_tiled (K-tiled factor), interpolate (the IG
// batch), relu forward and backward (K-tiled mask), add + relu.
//
// Each is a functor run by map4 (map4.cuh); it uses 16-byte loads and stores when the
// host found every pointer 16-byte aligned (and a tiled operand's period a multiple of 4),
// scalar accesses otherwise. K-tiled operands are read at index i % per: the saved
// (N, ...) tensor is never copied K times.
#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/map4.cuh"
#include "autodiff/relu_rule.h"

namespace sv::cuda {

namespace {

// i % per, in 32 bits when the whole range fits (a 64-bit remainder costs far more)
__device__ __forceinline__ int64_t wrap(int64_t i, int64_t per, bool small) {
  if (per == 0) return i;
  return small ? static_cast<int64_t>(static_cast<uint32_t>(i) % static_cast<uint32_t>(per)) : i % per;
}

// y[i] = Op(a[i], b[i % per]); y may alias a.
template <class Op>
struct Binary {
  const float* a;
  const float* b;
  float* y;
  int64_t per;  // period of b (0 when b is not tiled)
  bool vec;
  bool small;  // every index fits in 32 bits
  Op op;
  __device__ void one(int64_t i) const { y[i] = op(a[i], b[wrap(i, per, small)]); }
  __device__ void four(int64_t i) const {
    if (vec) {
      float4 u = load4(a + i), v = load4(b + wrap(i, per, small));
      store4(y + i, make_float4(op(u.x, v.x), op(u.y, v.y), op(u.z, v.z), op(u.w, v.w)));
    } else {
      for (int k = 0; k < 4; ++k) one(i + k);
    }
  }
};

template <class Op>
struct Unary {
  const float* a;
  float* y;
  bool vec;
  Op op;
  __device__ void one(int64_t i) const { y[i] = op(a[i]); }
  __device__ void four(int64_t i) const {
    if (vec) {
      float4 u = load4(a + i);
      store4(y + i, make_float4(op(u.x), op(u.y), op(u.z), op(u.w)));
    } else {
      for (int k = 0; k < 4; ++k) one(i + k);
    }
  }
};

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct AxpyOp {  // y + alpha * x
  float alpha;
  __device__ float operator()(float y, float x) const { return y + alpha * x; }
};
struct MulOp {
  __device__ float operator()(float g, float m) const { return g * m; }
};
struct ReluMaskOp {  // gradient passes where the output is positive
  __device__ float operator()(float g, float y) const { return relu_passes(y) ? g : 0.f; }
};
struct ScaleOp {
  float s;
  __device__ float operator()(float x) const { return s * x; }
};
struct ReluOp {
  __device__ float operator()(float x) const { return relu_value(x); }
};
struct AddReluOp {
  __device__ float operator()(float a, float b) const { return relu_value(a + b); }
};

// out[s*per + i] = x0[i] + t[s] * (x1[i] - x0[i])
struct Interp {
  const float* x0;
  const float* x1;
  const float* t;  // (T) on the device
  float* y;
  int64_t per;
  bool vec;
  __device__ void one(int64_t j) const {
    int64_t s = j / per, i = j - s * per;
    float a = x0[i];
    y[j] = a + t[s] * (x1[i] - a);
  }
  __device__ void four(int64_t j) const {
    if (vec) {
      int64_t s = j / per, i = j - s * per;
      float ts = t[s];
      float4 a = load4(x0 + i), b = load4(x1 + i);
      store4(y + j, make_float4(a.x + ts * (b.x - a.x), a.y + ts * (b.y - a.y), a.z + ts * (b.z - a.z),
                                a.w + ts * (b.w - a.w)));
    } else {
      for (int k = 0; k < 4; ++k) one(j + k);
    }
  }
};

template <class Op>
void binary(CudaBackend& be, const Tensor& a, const Tensor& b, Tensor& y, Op op) {
  const int64_t n = y.numel(), per = b.numel() == n ? 0 : b.numel();
  const bool vec = aligned16(a.raw()) && aligned16(b.raw()) && aligned16(y.raw()) && per % 4 == 0;
  const bool small = n < (int64_t(1) << 32);
  launch_map4(be, n, Binary<Op>{fptr(a), fptr(b), fptr(y), per, vec, small, op});
}

template <class Op>
void unary(CudaBackend& be, const Tensor& a, Tensor& y, Op op) {
  const bool vec = aligned16(a.raw()) && aligned16(y.raw());
  launch_map4(be, y.numel(), Unary<Op>{fptr(a), fptr(y), vec, op});
}

}  // namespace

Tensor CudaBackend::do_add(const Tensor& a, const Tensor& b) {
  check_cuda_f32(a, "add", "a");
  check_cuda_f32(b, "add", "b");
  check_same_shape(a, b, "add");
  Tensor y = empty(a.shape(), DType::F32);
  binary(*this, a, b, y, AddOp{});
  return y;
}

void CudaBackend::do_axpy_(Tensor& y, const Tensor& x, double alpha) {
  check_cuda_f32(y, "axpy", "y");
  check_cuda_f32(x, "axpy", "x");
  SV_CHECK(y.numel() == x.numel(), ShapeError, "axpy: " + shape_str(y.shape()) + " vs " + shape_str(x.shape()));
  binary(*this, y, x, y, AxpyOp{static_cast<float>(alpha)});
}

Tensor CudaBackend::do_scale(const Tensor& x, double s) {
  check_cuda_f32(x, "scale", "x");
  Tensor y = empty(x.shape(), DType::F32);
  unary(*this, x, y, ScaleOp{static_cast<float>(s)});
  return y;
}

Tensor CudaBackend::do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) {
  check_cuda_f32(g, "mul", "gradient");
  check_cuda_f32(m, "mul", "factor");
  check_stacked(g.shape(), m.shape(), K, "mul");
  Tensor y = empty(g.shape(), DType::F32);
  binary(*this, g, m, y, MulOp{});
  return y;
}

Tensor CudaBackend::do_interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  check_cuda_f32(x0, "interpolate", "x0");
  check_cuda_f32(x1, "interpolate", "x1");
  check_same_shape(x0, x1, "interpolate");
  SV_CHECK(x0.ndim() >= 1, ShapeError, "interpolate: inputs must have a batch dimension");
  const int64_t T = static_cast<int64_t>(t.size()), per = x0.numel();
  Tensor y = empty(fold_k(x0.shape(), T), DType::F32);
  if (T == 0 || per == 0) return y;
  Tensor th = Tensor::empty({T}, DType::F32);
  for (int64_t s = 0; s < T; ++s) th.data<float>()[s] = static_cast<float>(t[s]);
  Tensor td = upload(th);
  const bool vec = aligned16(x0.raw()) && aligned16(x1.raw()) && aligned16(y.raw()) && per % 4 == 0;
  launch_map4(*this, y.numel(), Interp{fptr(x0), fptr(x1), fptr(td), fptr(y), per, vec});
  return y;
}

Tensor CudaBackend::do_relu_forward(const Tensor& x) {
  check_cuda_f32(x, "relu", "input");
  Tensor y = empty(x.shape(), DType::F32);
  unary(*this, x, y, ReluOp{});
  return y;
}

Tensor CudaBackend::do_add_relu(const Tensor& a, const Tensor& b) {
  check_cuda_f32(a, "add_relu", "a");
  check_cuda_f32(b, "add_relu", "b");
  check_same_shape(a, b, "add_relu");
  Tensor y = empty(a.shape(), DType::F32);
  binary(*this, a, b, y, AddReluOp{});
  return y;
}

void CudaBackend::do_add_relu_(Tensor& a, const Tensor& b) {
  check_cuda_f32(a, "add_relu", "a");
  check_cuda_f32(b, "add_relu", "b");
  check_same_shape(a, b, "add_relu");
  binary(*this, a, b, a, AddReluOp{});
}

Tensor CudaBackend::do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K) {
  check_cuda_f32(gy, "relu backward", "gradient");
  check_cuda_f32(y, "relu backward", "output");
  check_stacked(gy.shape(), y.shape(), K, "relu backward");
  Tensor gx = empty(gy.shape(), DType::F32);
  binary(*this, gy, y, gx, ReluMaskOp{});
  return gx;
}

}  // namespace sv::cuda
