// Per-channel maps: channel_affine (eval-mode batchnorm, its backward, conv/linear bias)
// and train-mode batchnorm forward and backward side by side.
//
// Train forward: pass 1 sums x per channel (mean), pass 2 sums (x - mean)^2 (biased and
// unbiased variance, invstd), pass 3 writes xhat and y; statistics in double as in the
// CPU reference. Train backward with gy K-stacked over xhat (N,C,H,W): one pass sums
// sum(gy) and sum(gy * xhat) per (block k, channel), one pass writes
//   gx = gamma*invstd/M * (M*gy - sum(gy) - xhat*sum(gy*xhat)),  M = N*H*W,
// reading xhat at the index within its block (never copied K times).
#include "backends/cuda/channel_reduce.cuh"
#include "backends/cuda/map4.cuh"
#include "autodiff/channel_view.h"
#include "autodiff/relu_rule.h"

namespace sv::cuda {

namespace {

void check_per_channel(const CudaBackend& be, const Tensor& v, int64_t C, const char* op, const char* what) {
  be.check_cuda_f32(v, op, what);
  SV_CHECK(v.numel() == C, ShapeError,
           std::string(op) + ": " + what + " has shape " + shape_str(v.shape()) + ", expected (" + std::to_string(C) +
               ",)");
}

// y = x * a[c] + b[c], then max(y, 0) if relu; a or b null means 1 or 0. y may alias x.
struct Affine {
  const float* x;
  const float* a;
  const float* b;
  float* y;
  int64_t C, R;
  bool vec;    // R % 4 == 0 and aligned: a group of four lies in one channel
  bool small;  // every index fits in 32 bits: cheaper divisions
  bool relu;
  __device__ float map(float v, int64_t c) const {
    float s = a ? v * a[c] : v;
    s = b ? s + b[c] : s;
    return relu ? relu_value(s) : s;
  }
  // plane p = i / R and channel c = p % C of element i
  __device__ void locate(int64_t i, int64_t& p, int64_t& c) const {
    if (small) {
      const uint32_t q = static_cast<uint32_t>(i) / static_cast<uint32_t>(R);
      p = q;
      c = q % static_cast<uint32_t>(C);
    } else {
      p = i / R;
      c = p % C;
    }
  }
  __device__ void one(int64_t i) const {
    int64_t p, c;
    locate(i, p, c);
    y[i] = map(x[i], c);
  }
  __device__ void four(int64_t i) const {
    int64_t p, c;
    locate(i, p, c);
    int64_t rem = i - p * R;
    if (vec) {
      float4 v = load4(x + i);
      store4(y + i, make_float4(map(v.x, c), map(v.y, c), map(v.z, c), map(v.w, c)));
      return;
    }
    for (int k = 0; k < 4; ++k, ++rem) {
      if (rem == R) {
        rem = 0;
        c = c + 1 == C ? 0 : c + 1;
      }
      y[i + k] = map(x[i + k], c);
    }
  }
};

void launch_affine(CudaBackend& be, const Tensor& x, const float* a, const float* b, Tensor& y, bool relu = false) {
  ChannelView v = channel_view(x, "channel_affine");
  const bool vec = v.R % 4 == 0 && aligned16(x.raw()) && aligned16(y.raw());
  const bool small = x.numel() < (int64_t(1) << 32);
  launch_map4(be, x.numel(), Affine{fptr(x), a, b, fptr(y), v.C, v.R, vec, small, relu});
}

// ---- train forward
struct ValueOf {
  const float* x;
  __device__ double2 operator()(int64_t j, int64_t) const { return make_double2(x[j], 0.0); }
};
struct SquaredDeviation {
  const float* x;
  const double* mean;
  int64_t C, R;
  __device__ double2 operator()(int64_t j, int64_t) const {
    double d = static_cast<double>(x[j]) - mean[(j / R) % C];
    return make_double2(d * d, 0.0);
  }
};
struct StoreMean {
  double* mean_d;
  float* mean;
  double M;
  __device__ void operator()(int64_t, int64_t c, double2 s) const {
    mean_d[c] = s.x / M;
    mean[c] = static_cast<float>(s.x / M);
  }
};
struct StoreVariance {
  double* invstd_d;
  float* invstd;
  float* var_unbiased;
  double M, eps;
  __device__ void operator()(int64_t, int64_t c, double2 s) const {
    double is = 1.0 / sqrt(s.x / M + eps);
    invstd_d[c] = is;
    invstd[c] = static_cast<float>(is);
    var_unbiased[c] = static_cast<float>(s.x / (M - 1));
  }
};

__global__ void bn_train_forward_kernel(const float* x, const double* mean, const double* invstd, const float* gamma,
                                        const float* beta, int64_t n, int64_t C, int64_t R, float* xhat, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t c = (i / R) % C;
    const float xh = static_cast<float>((static_cast<double>(x[i]) - mean[c]) * invstd[c]);
    xhat[i] = xh;
    y[i] = gamma[c] * xh + beta[c];
  }
}

// ---- train backward
struct GradSums {  // (gy, gy * xhat) with xhat K-tiled
  const float* gy;
  const float* xhat;
  int64_t block;
  __device__ double2 operator()(int64_t j, int64_t k) const {
    double g = gy[j];
    return make_double2(g, g * xhat[j - k * block]);
  }
};
struct StoreSums {
  double2* sums;  // (K, C)
  int64_t C;
  __device__ void operator()(int64_t k, int64_t c, double2 s) const { sums[k * C + c] = s; }
};

__global__ void bn_train_backward_kernel(const float* gy, const float* xhat, const float* gamma, const float* invstd,
                                         const double2* sums, int64_t n, int64_t block, int64_t C, int64_t R, double M,
                                         float* gx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t k = j / block, i = j - k * block, c = (i / R) % C;
    const double2 s = sums[k * C + c];
    const double f = static_cast<double>(gamma[c]) * invstd[c] / M;
    gx[j] = static_cast<float>(f * (M * gy[j] - s.x - static_cast<double>(xhat[i]) * s.y));
  }
}

// ggamma[c] = sum_k sum(gy*xhat)[k,c], gbeta[c] = sum_k sum(gy)[k,c], in k order
__global__ void bn_param_grads_kernel(const double2* sums, int64_t K, int64_t C, float* ggamma, float* gbeta) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float gg = 0.f, gb = 0.f;
  for (int64_t k = 0; k < K; ++k) {
    gg += static_cast<float>(sums[k * C + c].y);
    gb += static_cast<float>(sums[k * C + c].x);
  }
  ggamma[c] = gg;
  gbeta[c] = gb;
}

}  // namespace

void add_channel_bias_(CudaBackend& be, Tensor& y, const Tensor& b, bool relu) {
  ChannelView v = channel_view(y, "bias");
  if (b.defined()) check_per_channel(be, b, v.C, "bias", "bias");
  if (b.defined() || relu) launch_affine(be, y, nullptr, b.defined() ? fptr(b) : nullptr, y, relu);
}

Tensor CudaBackend::do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  check_cuda_f32(x, "channel_affine", "input");
  ChannelView v = channel_view(x, "channel_affine");
  check_per_channel(*this, a, v.C, "channel_affine", "scale");
  if (b.defined()) check_per_channel(*this, b, v.C, "channel_affine", "shift");
  Tensor y = empty(x.shape(), DType::F32);
  launch_affine(*this, x, fptr(a), b.defined() ? fptr(b) : nullptr, y);
  return y;
}

Tensor CudaBackend::do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                            Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  check_cuda_f32(x, "batchnorm2d", "input");
  ChannelView v = channel_view(x, "batchnorm2d");
  check_per_channel(*this, gamma, v.C, "batchnorm2d", "weight");
  check_per_channel(*this, beta, v.C, "batchnorm2d", "bias");
  const double M = static_cast<double>(v.N * v.R);
  SV_CHECK(M > 0, ShapeError, "batchnorm2d: empty input " + shape_str(x.shape()));
  mean = empty({v.C}, DType::F32);
  var_unbiased = empty({v.C}, DType::F32);
  invstd = empty({v.C}, DType::F32);
  xhat = empty(x.shape(), DType::F32);
  Tensor y = empty(x.shape(), DType::F32);
  Tensor mean_d = empty({v.C}, DType::F64), invstd_d = empty({v.C}, DType::F64);
  auto* md = static_cast<double*>(mean_d.raw());
  auto* isd = static_cast<double*>(invstd_d.raw());
  const SegView sv{1, v.N, v.C, v.R};
  segment_sums(*this, sv, ValueOf{fptr(x)}, StoreMean{md, fptr(mean), M});
  segment_sums(*this, sv, SquaredDeviation{fptr(x), md, v.C, v.R},
               StoreVariance{isd, fptr(invstd), fptr(var_unbiased), M, eps});
  bn_train_forward_kernel<<<grid_for(x.numel(), kThreads), kThreads, 0, stream()>>>(
      fptr(x), md, isd, fptr(gamma), fptr(beta), x.numel(), v.C, v.R, fptr(xhat), fptr(y));
  launched();
  return y;
}

Tensor CudaBackend::do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                                const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta) {
  check_cuda_f32(gy, "batchnorm2d backward", "gradient");
  check_cuda_f32(xhat, "batchnorm2d backward", "xhat");
  check_stacked(gy.shape(), xhat.shape(), K, "batchnorm2d backward");
  ChannelView v = channel_view(xhat, "batchnorm2d backward");
  check_per_channel(*this, gamma, v.C, "batchnorm2d backward", "weight");
  check_per_channel(*this, invstd, v.C, "batchnorm2d backward", "invstd");
  const double M = static_cast<double>(v.N * v.R);
  const int64_t block = xhat.numel();
  Tensor gx = empty(gy.shape(), DType::F32);
  ggamma = empty({v.C}, DType::F32);
  gbeta = empty({v.C}, DType::F32);
  Tensor sums_t = empty({K * v.C * 2}, DType::F64);
  auto* sums = static_cast<double2*>(sums_t.raw());
  segment_sums(*this, SegView{K, v.N, v.C, v.R}, GradSums{fptr(gy), fptr(xhat), block}, StoreSums{sums, v.C});
  if (gy.numel())
    bn_train_backward_kernel<<<grid_for(gy.numel(), kThreads), kThreads, 0, stream()>>>(
        fptr(gy), fptr(xhat), fptr(gamma), fptr(invstd), sums, gy.numel(), block, v.C, v.R, M, fptr(gx));
  launched();
  if (v.C)
    bn_param_grads_kernel<<<static_cast<unsigned>((v.C + kThreads - 1) / kThreads), kThreads, 0, stream()>>>(
        sums, K, v.C, fptr(ggamma), fptr(gbeta));
  launched();
  return gx;
}

}  // namespace sv::cuda
