// Pooling: max (with indices), average (torch's divisor rules) and adaptive average,
// forward and backward side by side. torch semantics, as the CPU reference:
// - max: padding is -inf (padded taps are skipped), the first maximum wins, NaN
//   propagates; indices hold the flat h*W+w of the chosen input in its plane.
// - avg: the window is clipped to the input plus padding for the divisor (count_include_pad)
//   and to the input for the sum.
// - adaptive avg: bin i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)).
//
// Backward passes gather where the geometry is known (avg, adaptive avg: one thread per
// input element sums the windows that cover it, in the reference's order). Max-pool
// backward knows only the indices, so it scatters: one warp owns one (K-stacked) plane,
// zeroes it, then walks the plane's outputs 32 at a time in order; lanes that hit the
// same input are combined by the lowest lane (in lane order) before one add. No atomics:
// the result is deterministic. The (N,C,Ho,Wo) indices are K-tiled over gy (K*N,C,Ho,Wo).
#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/kernel_util.cuh"

namespace sv::cuda {

namespace {

struct PoolGeom {
  int64_t planes, H, W, Ho, Wo;
  int kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};

PoolGeom geom(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return {y[0] * y[1], x[2], x[3], y[2], y[3], p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
          p.count_include_pad};
}

__global__ void maxpool_forward_kernel(const float* x, PoolGeom g, float* y, int32_t* idx) {
  const int64_t n = g.planes * g.Ho * g.Wo, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += stride) {
    const int64_t ow = o % g.Wo, oh = (o / g.Wo) % g.Ho, pl = o / (g.Wo * g.Ho);
    const float* X = x + pl * g.H * g.W;
    float best = -INFINITY;
    int64_t arg = -1;
    for (int a = 0; a < g.kh; ++a) {
      const int64_t ih = oh * g.sh - g.ph + a;
      if (ih < 0 || ih >= g.H) continue;
      for (int b = 0; b < g.kw; ++b) {
        const int64_t iw = ow * g.sw - g.pw + b;
        if (iw < 0 || iw >= g.W) continue;
        const float v = X[ih * g.W + iw];
        if (arg < 0 || v > best || isnan(v)) {
          best = v;
          arg = ih * g.W + iw;
        }
      }
    }
    y[o] = best;
    idx[o] = static_cast<int32_t>(arg);
  }
}

// One warp per plane of gx; see the file comment.
__global__ void maxpool_backward_kernel(const float* gy, const int32_t* idx, int64_t planes, int64_t idx_planes,
                                        int64_t plane_out, int64_t plane_in, float* gx) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t pl = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; pl < planes; pl += warps) {
    float* G = gx + pl * plane_in;
    for (int64_t j = lane; j < plane_in; j += 32) G[j] = 0.f;
    __syncwarp();
    const float* gyp = gy + pl * plane_out;
    const int32_t* ip = idx + (pl % idx_planes) * plane_out;
    for (int64_t base = 0; base < plane_out; base += 32) {
      const int64_t j = base + lane;
      const int t = j < plane_out ? ip[j] : -1;
      const float v = j < plane_out ? gyp[j] : 0.f;
      const unsigned same = __match_any_sync(0xffffffffu, t);
      const bool leader = __ffs(same) - 1 == lane;
      const int rounds = __reduce_max_sync(0xffffffffu, __popc(same));
      unsigned rest = same;
      float s = 0.f;
      for (int r = 0; r < rounds; ++r) {
        const int src = rest ? __ffs(rest) - 1 : lane;
        const float w = __shfl_sync(0xffffffffu, v, src);
        if (rest) {
          s += w;
          rest &= rest - 1;
        }
      }
      if (leader && t >= 0 && t < plane_in) G[t] += s;
      __syncwarp();
    }
  }
}

struct Window {
  int64_t h0, h1, w0, w1;
  float divisor;
};
// torch's avg_pool2d window and divisor for output (oh, ow)
__device__ Window avg_window(int64_t oh, int64_t ow, const PoolGeom& g) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0));
  w0 = max(w0, int64_t(0));
  h1 = min(h1, g.H);
  w1 = min(w1, g.W);
  const int64_t div = g.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, static_cast<float>(div)};
}

__global__ void avgpool_forward_kernel(const float* x, PoolGeom g, float* y) {
  const int64_t n = g.planes * g.Ho * g.Wo, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += stride) {
    const int64_t ow = o % g.Wo, oh = (o / g.Wo) % g.Ho, pl = o / (g.Wo * g.Ho);
    const float* X = x + pl * g.H * g.W;
    const Window a = avg_window(oh, ow, g);
    float s = 0.f;
    for (int64_t ih = a.h0; ih < a.h1; ++ih)
      for (int64_t iw = a.w0; iw < a.w1; ++iw) s += X[ih * g.W + iw];
    y[o] = s / a.divisor;
  }
}

// first output index whose window [o*s - p, o*s - p + k) can contain i
__device__ int64_t first_window(int64_t i, int k, int s, int p) {
  const int64_t a = i + p - k + 1;
  return a <= 0 ? 0 : (a + s - 1) / s;
}

__global__ void avgpool_backward_kernel(const float* gy, PoolGeom g, float* gx) {
  const int64_t n = g.planes * g.H * g.W, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t iw = i % g.W, ih = (i / g.W) % g.H, pl = i / (g.W * g.H);
    const float* G = gy + pl * g.Ho * g.Wo;
    const int64_t oh0 = first_window(ih, g.kh, g.sh, g.ph), oh1 = min(g.Ho - 1, (ih + g.ph) / g.sh);
    const int64_t ow0 = first_window(iw, g.kw, g.sw, g.pw), ow1 = min(g.Wo - 1, (iw + g.pw) / g.sw);
    float s = 0.f;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const Window a = avg_window(oh, ow, g);
        if (ih >= a.h0 && ih < a.h1 && iw >= a.w0 && iw < a.w1) s += G[oh * g.Wo + ow] / a.divisor;
      }
    gx[i] = s;
  }
}

__device__ int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

__global__ void adaptive_forward_kernel(const float* x, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                        float* y) {
  const int64_t n = planes * Ho * Wo, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += stride) {
    const int64_t ow = o % Wo, oh = (o / Wo) % Ho, pl = o / (Wo * Ho);
    const float* X = x + pl * H * W;
    const int64_t h0 = bin_start(oh, H, Ho), h1 = bin_end(oh, H, Ho);
    const int64_t w0 = bin_start(ow, W, Wo), w1 = bin_end(ow, W, Wo);
    float s = 0.f;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += X[ih * W + iw];
    y[o] = s / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

__global__ void adaptive_backward_kernel(const float* gy, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                         int64_t Wo, float* gx) {
  const int64_t n = planes * H * W, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t iw = i % W, ih = (i / W) % H, pl = i / (W * H);
    const float* G = gy + pl * Ho * Wo;
    // bins containing ih: floor(ih*Ho/H) <= oh <= ceil((ih+1)*Ho/H) - 1
    const int64_t oh0 = (ih * Ho) / H, oh1 = min(Ho - 1, ((ih + 1) * Ho + H - 1) / H - 1);
    const int64_t ow0 = (iw * Wo) / W, ow1 = min(Wo - 1, ((iw + 1) * Wo + W - 1) / W - 1);
    float s = 0.f;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      const int64_t h0 = bin_start(oh, H, Ho), h1 = bin_end(oh, H, Ho);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t w0 = bin_start(ow, W, Wo), w1 = bin_end(ow, W, Wo);
        if (iw < w0 || iw >= w1) continue;
        s += G[oh * Wo + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
    gx[i] = s;
  }
}

}  // namespace

Tensor CudaBackend::do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  check_cuda_f32(x, "maxpool2d", "input");
  Shape ys = pool2d_out_shape(x.shape(), p, "maxpool2d");
  SV_CHECK(x.dim(2) * x.dim(3) <= INT32_MAX, ShapeError, "maxpool2d: plane too large for int32 indices");
  Tensor y = empty(ys, DType::F32);
  indices = empty(ys, DType::I32);
  if (y.numel() == 0) return y;
  maxpool_forward_kernel<<<grid_for(y.numel(), kThreads), kThreads, 0, stream()>>>(
      fptr(x), geom(x.shape(), ys, p), fptr(y), static_cast<int32_t*>(indices.raw()));
  launched();
  return y;
}

Tensor CudaBackend::do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_in, int64_t K) {
  const Shape x_shape = fold_k(x_in, K);  // the gradient's
  check_cuda_f32(gy, "maxpool2d backward", "gradient");
  check_cuda_i32(indices, "maxpool2d backward", "indices");
  SV_CHECK(gy.ndim() == 4 && indices.ndim() == 4 && x_shape.size() == 4, ShapeError,
           "maxpool2d backward: expected 4-d gradient, indices and input shape");
  check_stacked(gy.shape(), indices.shape(), K, "maxpool2d backward");
  SV_CHECK(x_shape[0] == gy.dim(0) && x_shape[1] == gy.dim(1), ShapeError,
           "maxpool2d backward: gradient " + shape_str(gy.shape()) + " does not match input " + shape_str(x_shape));
  Tensor gx = empty(x_shape, DType::F32);
  const int64_t planes = gy.dim(0) * gy.dim(1);
  if (gx.numel() == 0) return gx;
  const int64_t plane_out = gy.dim(2) * gy.dim(3), plane_in = x_shape[2] * x_shape[3];
  const int64_t idx_planes = indices.dim(0) * indices.dim(1);
  maxpool_backward_kernel<<<grid_for(planes * 32, kThreads), kThreads, 0, stream()>>>(
      fptr(gy), iptr(indices), planes, idx_planes, plane_out, plane_in, fptr(gx));
  launched();
  return gx;
}

Tensor CudaBackend::do_avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  check_cuda_f32(x, "avgpool2d", "input");
  Shape ys = pool2d_out_shape(x.shape(), p, "avgpool2d");
  Tensor y = empty(ys, DType::F32);
  if (y.numel() == 0) return y;
  avgpool_forward_kernel<<<grid_for(y.numel(), kThreads), kThreads, 0, stream()>>>(fptr(x), geom(x.shape(), ys, p),
                                                                                   fptr(y));
  launched();
  return y;
}

Tensor CudaBackend::do_avgpool_backward(const Tensor& gy, const Shape& x_in, const Pool2dParams& p, int64_t K) {
  check_cuda_f32(gy, "avgpool2d backward", "gradient");
  const Shape x_shape = fold_k(x_in, K);  // the gradient's
  Shape ys = pool2d_out_shape(x_shape, p, "avgpool2d");
  SV_CHECK(gy.shape() == ys, ShapeError,
           "avgpool2d backward: gradient " + shape_str(gy.shape()) + " does not match output " + shape_str(ys));
  Tensor gx = empty(x_shape, DType::F32);
  if (gx.numel() == 0) return gx;
  avgpool_backward_kernel<<<grid_for(gx.numel(), kThreads), kThreads, 0, stream()>>>(fptr(gy), geom(x_shape, ys, p),
                                                                                     fptr(gx));
  launched();
  return gx;
}

Tensor CudaBackend::do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  check_cuda_f32(x, "adaptive_avgpool2d", "input");
  check_ndim(x, 4, "adaptive_avgpool2d", "input");
  SV_CHECK(out_h > 0 && out_w > 0 && x.dim(2) > 0 && x.dim(3) > 0, ShapeError,
           "adaptive_avgpool2d: input " + shape_str(x.shape()) + " and output size (" + std::to_string(out_h) + ", " +
               std::to_string(out_w) + ") must be non-empty");
  Tensor y = empty({x.dim(0), x.dim(1), out_h, out_w}, DType::F32);
  if (y.numel() == 0) return y;
  adaptive_forward_kernel<<<grid_for(y.numel(), kThreads), kThreads, 0, stream()>>>(
      fptr(x), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), out_h, out_w, fptr(y));
  launched();
  return y;
}

Tensor CudaBackend::do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_in, int64_t K) {
  const Shape x_shape = fold_k(x_in, K);  // the gradient's
  check_cuda_f32(gy, "adaptive_avgpool2d backward", "gradient");
  check_ndim(gy, 4, "adaptive_avgpool2d backward", "gradient");
  SV_CHECK(x_shape.size() == 4 && gy.dim(0) == x_shape[0] && gy.dim(1) == x_shape[1], ShapeError,
           "adaptive_avgpool2d backward: gradient " + shape_str(gy.shape()) + " does not match input " +
               shape_str(x_shape));
  Tensor gx = empty(x_shape, DType::F32);
  if (gx.numel() == 0) return gx;
  adaptive_backward_kernel<<<grid_for(gx.numel(), kThreads), kThreads, 0, stream()>>>(
      fptr(gy), x_shape[0] * x_shape[1], x_shape[2], x_shape[3], gy.dim(2), gy.dim(3), fptr(gx));
  launched();
  return gx;
}

}  // namespace sv::cuda
