// conv2d through cuDNN: forward, backward-data and backward-filter side by side.
//
// Plans: the first call for a shape (kind, input, weight, parameters) builds its
// descriptors and chooses its algorithm; later calls reuse the plan. Algorithms are
// chosen by timing every candidate once on the call's own operands (cudnnFind*Ex, with a
// scratch workspace of at most CudaOptions::workspace_limit), or by cuDNN's heuristics
// (cudnnGet*_v7) when find_algorithms is off. A candidate qualifies if it succeeded, fits
// the workspace limit, is deterministic when the backend is, uses no TF32 when TF32 is
// off, and never converts to half precision (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION). Among
// measured candidates within 3% of the fastest (timing noise), the one with the smallest
// workspace wins (the workspace is device memory held while the op runs). Each call takes
// its workspace from the caching allocator and drops it once enqueued; every request is
// rounded up to the largest so far, so one cached block serves all plans.
//
// cuDNN's legacy API takes tensors of fewer than 2^31 elements, so a batch whose input or
// output is larger is run in chunks of images (backward-filter accumulates with beta = 1).
// Bias (forward) is added by our channel kernel; its gradient is channel_sum.
//
// Deterministic mode (CudaOptions::deterministic; the backend's constructor also turns
// TF32, timing and the fused conv + bias + ReLU off) is batch invariant: forward and
// backward-data run on chunks of a fixed number of images, chosen from one image's size
// (invariant_images_per_call), the batch's last chunk padded with zero images
// (fixed_chunks.h); each chunk shape's algorithm is cuDNN's first deterministic full-float32
// one by its heuristics (cudnnGet*_v7): a rule of the shape, the device and the cuDNN
// version, never of a timing. Every image thus meets one algorithm, one kernel, one shape.
// Backward-filter sums over the batch: deterministic, not per image.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <numeric>
#include <vector>

#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/fixed_chunks.h"

namespace sv::cuda {

namespace {

int to_int(int64_t v) { return static_cast<int>(v); }

ConvKey make_key(ConvKind kind, const Shape& x, const Shape& w, const Conv2dParams& p) {
  return {static_cast<int>(kind), to_int(x[0]), to_int(x[1]), to_int(x[2]), to_int(x[3]), to_int(w[0]), to_int(w[2]),
          to_int(w[3]), p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups};
}

bool is_tf32(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

// Index of the chosen result, or -1 when none qualifies.
template <class Perf>
int choose(const std::vector<Perf>& r, int n, const CudaOptions& o, bool measured) {
  std::vector<int> ok;
  for (int i = 0; i < n; ++i) {
    if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > o.workspace_limit) continue;
    if (o.deterministic && r[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (!o.tf32 && is_tf32(r[i].mathType)) continue;
    // ALLOW_CONVERSION lets cuDNN compute a float32 convolution in half precision: never.
    if (r[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    ok.push_back(i);
  }
  if (ok.empty()) return -1;
  if (!measured) return ok.front();  // heuristics list the expected fastest first
  float fastest = r[ok.front()].time;
  for (int i : ok) fastest = std::min(fastest, r[i].time);
  int best = -1;
  for (int i : ok) {
    if (r[i].time > fastest * 1.03f) continue;
    if (best < 0 || r[i].memory < r[best].memory || (r[i].memory == r[best].memory && r[i].time < r[best].time))
      best = i;
  }
  return best;
}

// A scratch device buffer for the algorithm search: as large as the limit allows and the
// device has free, released right after the search (once per shape, not per call).
class SearchWorkspace {
 public:
  SearchWorkspace(size_t limit, CachingAllocator& alloc) {
    size_t free = 0, total = 0;
    SV_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    const size_t margin = size_t(256) << 20;
    if (free < limit + margin) {
      alloc.release_cached();
      SV_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    }
    size_t want = std::min(limit, free > margin ? free - margin : 0);
    while (want > 0 && cudaMalloc(&p_, want) != cudaSuccess) {
      cudaGetLastError();
      p_ = nullptr;
      want /= 2;
    }
    size_ = p_ ? want : 0;
  }
  ~SearchWorkspace() {
    if (p_) cudaFree(p_);
  }
  SearchWorkspace(const SearchWorkspace&) = delete;
  SearchWorkspace& operator=(const SearchWorkspace&) = delete;
  void* get() const { return p_; }
  size_t size() const { return size_; }

 private:
  void* p_ = nullptr;
  size_t size_ = 0;
};

// Fills plan.algo and plan.workspace for one kind. Returns false when nothing qualified.
struct Search {
  cudnnHandle_t h;
  const CudaOptions& o;
  CachingAllocator& alloc;
  ConvPlan& plan;
  const void* in0;  // forward: x, backward-data: w, backward-filter: x
  const void* in1;  // forward: w, backward-data: gy, backward-filter: gy
  void* out;        // forward: y, backward-data: gx, backward-filter: gw

  template <class Perf>
  bool finish(const std::vector<Perf>& r, int n, bool measured) {
    int i = choose(r, n, o, measured);
    if (i < 0) return false;
    plan.algo = static_cast<int>(r[i].algo);
    plan.measured = measured;
    plan.math = r[i].mathType;
    plan.time_ms = measured ? r[i].time : -1;
    if (o.log_plans) {  // every successful candidate: algo/math time ms, workspace MiB
      char buf[96];
      for (int j = 0; j < n; ++j) {
        if (r[j].status != CUDNN_STATUS_SUCCESS) continue;
        std::snprintf(buf, sizeof buf, " %d/%d %.3f ms %.1f MiB;", static_cast<int>(r[j].algo),
                      static_cast<int>(r[j].mathType), measured ? r[j].time : -1.f, r[j].memory / 1048576.0);
        plan.candidates += buf;
      }
    }
    if (o.tf32) SV_CUDA_CHECK(cudnnSetConvolutionMathType(plan.conv, r[i].mathType));
    return true;
  }

  bool forward() {
    int max = 0;
    SV_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> r(std::max(max, 1));
    int n = 0;
    if (o.find_algorithms) {
      SearchWorkspace ws(o.workspace_limit, alloc);
      SV_CUDA_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, plan.x, in0, plan.w, in1, plan.conv, plan.y, out, max,
                                                           &n, r.data(), ws.get(), ws.size()));
    } else {
      SV_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv, plan.y, max, &n, r.data()));
    }
    if (!finish(r, n, o.find_algorithms)) {
      plan.algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // deterministic, no workspace
      SV_CUDA_CHECK(cudnnSetConvolutionMathType(plan.conv, CUDNN_FMA_MATH));
    }
    SV_CUDA_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan.x, plan.w, plan.conv, plan.y,
                                                          static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo),
                                                          &plan.workspace));
    return true;
  }

  bool backward_data() {
    int max = 0;
    SV_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> r(std::max(max, 1));
    int n = 0;
    if (o.find_algorithms) {
      SearchWorkspace ws(o.workspace_limit, alloc);
      SV_CUDA_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan.w, in0, plan.y, in1, plan.conv, plan.x, out,
                                                                max, &n, r.data(), ws.get(), ws.size()));
    } else {
      SV_CUDA_CHECK(
          cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w, plan.y, plan.conv, plan.x, max, &n, r.data()));
    }
    if (!finish(r, n, o.find_algorithms)) {
      plan.algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;  // deterministic
      SV_CUDA_CHECK(cudnnSetConvolutionMathType(plan.conv, CUDNN_FMA_MATH));
    }
    SV_CUDA_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y, plan.conv, plan.x,
                                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo),
                                                               &plan.workspace));
    return true;
  }

  bool backward_filter() {
    int max = 0;
    SV_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> r(std::max(max, 1));
    int n = 0;
    if (o.find_algorithms) {
      SearchWorkspace ws(o.workspace_limit, alloc);
      SV_CUDA_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, plan.x, in0, plan.y, in1, plan.conv, plan.w, out,
                                                                  max, &n, r.data(), ws.get(), ws.size()));
    } else {
      SV_CUDA_CHECK(
          cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x, plan.y, plan.conv, plan.w, max, &n, r.data()));
    }
    if (!finish(r, n, o.find_algorithms)) {
      plan.algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;  // deterministic
      SV_CUDA_CHECK(cudnnSetConvolutionMathType(plan.conv, CUDNN_FMA_MATH));
    }
    SV_CUDA_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, plan.x, plan.y, plan.conv, plan.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algo),
        &plan.workspace));
    return true;
  }
};

// Images per cuDNN call: every chunk's input and output stay under 2^31 elements, and
// every chunk starts 16-byte aligned (a multiple of 4 floats from the tensor's start).
int64_t images_per_call(const Shape& x, const Shape& y) {
  const int64_t px = x[1] * x[2] * x[3], py = y[1] * y[2] * y[3];
  const int64_t per = std::max<int64_t>({px, py, 1});
  const int64_t step = std::max<int64_t>(1, std::min<int64_t>(x[0], INT_MAX / per));
  if (step == x[0]) return step;
  const int64_t q = std::lcm(4 / std::gcd(px, int64_t(4)), 4 / std::gcd(py, int64_t(4)));  // 1, 2 or 4
  return step >= q ? step / q * q : step;
}

Shape with_batch(Shape s, int64_t n) {
  s[0] = n;
  return s;
}

void check_conv_operand(const CudaBackend& be, const Tensor& t, const char* op, const char* what) {
  be.check_cuda_f32(t, op, what);
  check_ndim(t, 4, op, what);
}

}  // namespace

cudnnMathType_t CudaBackend::conv_math() const { return opt_.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

ConvPlan& CudaBackend::conv_plan(ConvKind kind, const Shape& x, const Shape& w, const Shape& y,
                                 const Conv2dParams& p, const void* in0, const void* in1, void* out) {
  const ConvKey key = make_key(kind, x, w, p);
  auto it = conv_plans_.find(key);
  if (it != conv_plans_.end()) return *it->second;
  auto plan = std::make_unique<ConvPlan>();
  SV_CUDA_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(x[0]), to_int(x[1]),
                                           to_int(x[2]), to_int(x[3])));
  SV_CUDA_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(y[0]), to_int(y[1]),
                                           to_int(y[2]), to_int(y[3])));
  SV_CUDA_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(w[0]), to_int(w[1]),
                                           to_int(w[2]), to_int(w[3])));
  SV_CUDA_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  SV_CUDA_CHECK(cudnnSetConvolutionGroupCount(plan->conv, p.groups));
  SV_CUDA_CHECK(cudnnSetConvolutionMathType(plan->conv, conv_math()));
  Search search{cudnn_, opt_, *alloc_, *plan, in0, in1, out};
  switch (kind) {
    case ConvKind::Forward: search.forward(); break;
    case ConvKind::BackwardData: search.backward_data(); break;
    case ConvKind::BackwardFilter: search.backward_filter(); break;
  }
  launched();
  if (opt_.log_plans) {
    static const char* kinds[] = {"forward", "backward data", "backward filter"};
    std::fprintf(stderr,
                 "sharedvis cuda: conv %-15s x %s w %s stride %d pad %d groups %d: algo %d, math %d, workspace "
                 "%.1f MiB, %.3f ms (%s); candidates:%s\n",
                 kinds[static_cast<int>(kind)], shape_str(x).c_str(), shape_str(w).c_str(), p.stride_h, p.pad_h,
                 p.groups, plan->algo, static_cast<int>(plan->math), plan->workspace / 1048576.0, plan->time_ms,
                 plan->measured ? "measured" : "heuristic or fallback", plan->candidates.c_str());
  }
  return *conv_plans_.emplace(key, std::move(plan)).first->second;
}

namespace {
// cuDNN wants 16-byte aligned operands; a slice0 view may not be. Copies only then.
Tensor aligned_operand(CudaBackend& be, const Tensor& t) {
  if ((reinterpret_cast<uintptr_t>(t.raw()) & 15) == 0) return t;
  Tensor c = be.empty(t.shape(), t.dtype());
  be.copy_(c, t);
  return c;
}
}  // namespace

Tensor CudaBackend::do_conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b, const Conv2dParams& p) {
  check_conv_operand(*this, x_in, "conv2d", "input");
  check_conv_operand(*this, w_in, "conv2d", "weight");
  const Shape ys = conv2d_out_shape(x_in.shape(), w_in.shape(), p);
  // Fixed chunks (deterministic mode) stage any chunk that is not 256-byte aligned.
  const bool fixed = opt_.deterministic;
  Tensor x = fixed ? x_in : aligned_operand(*this, x_in), w = aligned_operand(*this, w_in);
  Tensor y = empty(ys, DType::F32);
  const int64_t px = x.dim(1) * x.dim(2) * x.dim(3), py = ys[1] * ys[2] * ys[3];
  const int64_t chunk = fixed ? invariant_images_per_call(px, py) : images_per_call(x.shape(), ys);
  const float one = 1.f, zero = 0.f;
  const auto call = [&](int64_t n, const float* xp, float* yp) {
    ConvPlan& plan = conv_plan(ConvKind::Forward, with_batch(x.shape(), n), w.shape(), with_batch(ys, n), p, xp,
                               fptr(w), yp);
    const std::shared_ptr<void> ws = workspace(plan.workspace);
    SV_CUDA_CHECK(cudnnConvolutionForward(cudnn_, &one, plan.x, xp, plan.w, fptr(w), plan.conv,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), ws.get(), plan.workspace,
                                          &zero, plan.y, yp));
    launched();
  };
  run_chunked(*this, fptr(x), px, fptr(y), py, x.dim(0), chunk, fixed, call);
  if (b.defined()) add_channel_bias_(*this, y, b);
  return y;
}

Tensor CudaBackend::do_conv2d_relu_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b,
                                        const Conv2dParams& p) {
  check_conv_operand(*this, x_in, "conv2d", "input");
  check_conv_operand(*this, w_in, "conv2d", "weight");
  const Shape ys = conv2d_out_shape(x_in.shape(), w_in.shape(), p);
  // One cuDNN call: y = relu(conv(x, w) + b), with cudnnConvolutionBiasActivationForward's
  // z term switched off (alpha2 = 0; z aliases y). Only for one chunk and 16-byte aligned
  // bias; the first call per plan finds out whether cuDNN supports the plan's algorithm.
  if (opt_.fused_conv && b.defined() && images_per_call(x_in.shape(), ys) == x_in.dim(0) &&
      (reinterpret_cast<uintptr_t>(b.raw()) & 15) == 0) {
    check_cuda_f32(b, "conv2d", "bias");
    SV_CHECK(b.numel() == ys[1], ShapeError,
             "conv2d: bias " + shape_str(b.shape()) + " does not match " + std::to_string(ys[1]) + " output channels");
    Tensor x = aligned_operand(*this, x_in), w = aligned_operand(*this, w_in);
    Tensor y = empty(ys, DType::F32);
    ConvPlan& plan = conv_plan(ConvKind::Forward, x.shape(), w.shape(), ys, p, fptr(x), fptr(w), fptr(y));
    if (plan.fused < 0)
      SV_CUDA_CHECK(cudnnSetTensor4dDescriptor(plan.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, to_int(ys[1]), 1, 1));
    if (plan.fused != 0) {
      const float one = 1.f, zero = 0.f;
      const std::shared_ptr<void> ws = workspace(plan.workspace);
      const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
          cudnn_, &one, plan.x, fptr(x), plan.w, fptr(w), plan.conv, static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo),
          ws.get(), plan.workspace, &zero, plan.y, fptr(y), plan.bias, fptr(b), relu_, plan.y, fptr(y));
      if (st == CUDNN_STATUS_SUCCESS) {
        plan.fused = 1;
        launched();
        return y;
      }
      SV_CHECK(plan.fused < 0 && st == CUDNN_STATUS_NOT_SUPPORTED, DeviceError,
               std::string("cudnnConvolutionBiasActivationForward failed: ") + cudnnGetErrorString(st));
      plan.fused = 0;  // not for this algorithm: the unfused path from now on
    }
  }
  Tensor y = conv2d_forward(x_in, w_in, Tensor(), p);
  add_channel_bias_(*this, y, b, /*relu=*/true);
  return y;
}

Tensor CudaBackend::do_conv2d_backward_data(const Tensor& gy_in, const Tensor& w_in, const Shape& x_in,
                                            const Conv2dParams& p, int64_t K) {
  const Shape x_shape = fold_k(x_in, K);  // the gradient's
  check_conv_operand(*this, gy_in, "conv2d backward", "gradient");
  check_conv_operand(*this, w_in, "conv2d backward", "weight");
  const Shape ys = conv2d_grad_shape(gy_in.shape(), x_shape, w_in.shape(), p);
  const bool fixed = opt_.deterministic;
  Tensor gy = fixed ? gy_in : aligned_operand(*this, gy_in), w = aligned_operand(*this, w_in);
  Tensor gx = empty(x_shape, DType::F32);
  const int64_t px = x_shape[1] * x_shape[2] * x_shape[3], py = ys[1] * ys[2] * ys[3];
  const int64_t chunk = fixed ? invariant_images_per_call(px, py) : images_per_call(x_shape, ys);
  const float one = 1.f, zero = 0.f;
  const auto call = [&](int64_t n, const float* gyp, float* gxp) {
    ConvPlan& plan = conv_plan(ConvKind::BackwardData, with_batch(x_shape, n), w.shape(), with_batch(ys, n), p,
                               fptr(w), gyp, gxp);
    const std::shared_ptr<void> ws = workspace(plan.workspace);
    SV_CUDA_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, plan.w, fptr(w), plan.y, gyp, plan.conv,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), ws.get(),
                                               plan.workspace, &zero, plan.x, gxp));
    launched();
  };
  run_chunked(*this, fptr(gy), py, fptr(gx), px, x_shape[0], chunk, fixed, call);
  return gx;
}

Tensor CudaBackend::do_conv2d_backward_filter(const Tensor& x_in, const Tensor& gy_in, const Shape& w_shape,
                                           const Conv2dParams& p) {
  check_conv_operand(*this, x_in, "conv2d backward", "input");
  check_conv_operand(*this, gy_in, "conv2d backward", "gradient");
  const Shape ys = conv2d_grad_shape(gy_in.shape(), x_in.shape(), w_shape, p);
  Tensor x = aligned_operand(*this, x_in), gy = aligned_operand(*this, gy_in);
  Tensor gw = empty(w_shape, DType::F32);
  const int64_t N = x.dim(0), step = images_per_call(x.shape(), ys);
  if (N == 0) {
    SV_CUDA_CHECK(cudaMemsetAsync(gw.raw(), 0, gw.nbytes(), stream()));
    return gw;
  }
  // With several chunks the search must not overwrite the partial sum in gw.
  Tensor scratch = step < N ? empty(w_shape, DType::F32) : gw;
  const float one = 1.f, zero = 0.f;
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t n = std::min(step, N - n0);
    const float* xp = fptr(x) + n0 * x.dim(1) * x.dim(2) * x.dim(3);
    const float* gyp = fptr(gy) + n0 * ys[1] * ys[2] * ys[3];
    ConvPlan& plan = conv_plan(ConvKind::BackwardFilter, with_batch(x.shape(), n), w_shape, with_batch(ys, n), p, xp,
                               gyp, fptr(scratch));
    const std::shared_ptr<void> ws = workspace(plan.workspace);
    SV_CUDA_CHECK(cudnnConvolutionBackwardFilter(cudnn_, &one, plan.x, xp, plan.y, gyp, plan.conv,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algo), ws.get(),
                                                 plan.workspace, n0 == 0 ? &zero : &one, plan.w, fptr(gw)));
    launched();
  }
  return gw;
}

}  // namespace sv::cuda
