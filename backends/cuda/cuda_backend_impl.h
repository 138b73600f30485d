// CudaBackend: the Backend interface on one CUDA device, float32.
//
// What it owns (all RAII, nothing global): a caching device allocator (shared with the
// deleters of every tensor it made, so it outlives them), one non-blocking stream that
// every kernel, cuDNN and cuBLAS call runs on, the cuDNN and cuBLAS handles bound to that
// stream, the convolution plans (descriptors + algorithm, chosen once per shape) and one
// workspace buffer grown to the largest plan's need.
//
// The methods are defined one op family per file:
//   cuda_backend.cpp  construction, memory, upload/download/copy
//   conv.cpp          conv2d forward / backward-data / backward-filter (cuDNN)
//   dense.cpp         linear forward / backward (cuBLAS)
//   elementwise.cu    add, axpy, scale, mul_tiled, interpolate, relu
//   reduce.cu         sum_all, sum_blocks, broadcast_blocks, channel_sum
//   batchnorm.cu      channel_affine, batchnorm train forward / backward
//   pool.cu           max / average / adaptive average pooling
//   softmax_xent.cu   softmax cross-entropy
#pragma once
#include <array>
#include <map>
#include <memory>
#include <string>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/device_allocator.h"
#include "backends/cuda/handles.h"

namespace sv::cuda {

// One convolution shape's cuDNN state: descriptors, the chosen algorithm and its workspace.
struct ConvPlan {
  TensorDesc x, y;  // x (N,C,H,W), y (N,O,Ho,Wo)
  FilterDesc w;     // (O,C/groups,kh,kw)
  ConvDesc conv;
  int algo = 0;     // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t of the plan's kind
  size_t workspace = 0;
  bool measured = false;  // chosen by timing (Find) rather than by heuristics
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  float time_ms = -1;     // the chosen algorithm's time in the search (measured plans)
  std::string candidates;  // with CudaOptions::log_plans: every candidate's time and workspace
  // Forward plans: whether cuDNN runs conv + bias + ReLU in one call with this algorithm
  // (-1 not tried yet, 0 no, 1 yes), and the bias descriptor (1, O, 1, 1) it needs.
  int fused = -1;
  TensorDesc bias;
};
enum class ConvKind : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };
// kind, n, c, h, w, o, kh, kw, stride h/w, pad h/w, dilation h/w, groups
using ConvKey = std::array<int, 15>;

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, const CudaOptions& options);
  ~CudaBackend() override;
  Device device() const override { return Device::CUDA; }
  std::string name() const override;

  bool holds(const Tensor& t) const override {
    return t.defined() && t.device() == Device::CUDA && t.owner() == alloc_.get();
  }
  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor zeros(const Shape& shape, DType dtype) override;
  Tensor upload(const Tensor& host) override;
  Tensor download(const Tensor& t) override;
  void copy_(Tensor& dst, const Tensor& src) override;
  void synchronize() override;

  // Every op of the table (autodiff/op.h) as of this writing has a kernel here; an op added
  // later runs on the fallback until it gets one (cuda_backend.cpp).
  bool supports_op(Op op) const override;

  // ---- for the op files
  // Argument checks (ShapeError naming the op and the argument): defined, device memory of
  // this backend (not the host's, not another backend's: its stream does not order our
  // accesses), and float32 / int32.
  void check_mine(const Tensor& t, const char* op, const char* what) const;
  void check_cuda_f32(const Tensor& t, const char* op, const char* what) const;
  void check_cuda_i32(const Tensor& t, const char* op, const char* what) const;
  cudaStream_t stream() const { return stream_.get(); }
  const CudaOptions& options() const { return opt_; }
  int device_id() const { return device_; }
  // Grid size for a grid-stride kernel over `work` items with `threads` per block.
  unsigned grid_for(int64_t work, int threads) const;
  // After every kernel launch or library call: reports errors; synchronizes in debug mode.
  void launched() const { SV_CUDA_LAUNCHED(opt_.sync, stream_.get()); }
  // A workspace for one library call, from the caching allocator: hold the block until
  // the call is enqueued, then drop it (stream order keeps its reuse safe). Every block is
  // as large as the largest request so far, so one cached block serves every call, and
  // between calls it is cache, not memory in use. Empty for 0 bytes.
  std::shared_ptr<void> workspace(size_t bytes);
  size_t workspace_size() const { return workspace_size_; }  // the largest request so far
  CachingAllocator& allocator() { return *alloc_; }

 protected:
  Tensor do_add(const Tensor& a, const Tensor& b) override;
  void do_axpy_(Tensor& y, const Tensor& x, double alpha) override;
  Tensor do_scale(const Tensor& x, double s) override;
  Tensor do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) override;
  Tensor do_interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) override;
  Tensor do_sum_all(const Tensor& x) override;
  Tensor do_sum_blocks(const Tensor& x, int64_t K) override;
  Tensor do_broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K) override;

  Tensor do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
  // One cuDNN call where cuDNN fuses it (CudaOptions::fused_conv), else cuDNN's convolution,
  // then the bias and the ReLU in one pass of our own over y.
  Tensor do_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
  Tensor do_conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                 const Conv2dParams& p, int64_t K) override;
  Tensor do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                const Conv2dParams& p) override;
  Tensor do_channel_sum(const Tensor& gy) override;

  Tensor do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) override;
  Tensor do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
                                 Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) override;
  Tensor do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma, const Tensor& invstd,
                                     int64_t K, Tensor& ggamma, Tensor& gbeta) override;

  Tensor do_relu_forward(const Tensor& x) override;
  Tensor do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K) override;
  Tensor do_add_relu(const Tensor& a, const Tensor& b) override;
  void do_add_relu_(Tensor& a, const Tensor& b) override;

  Tensor do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) override;
  Tensor do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K) override;
  Tensor do_avgpool_forward(const Tensor& x, const Pool2dParams& p) override;
  Tensor do_avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p, int64_t K) override;
  Tensor do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) override;
  Tensor do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K) override;

  Tensor do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) override;
  Tensor do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, int64_t K) override;
  Tensor do_linear_backward_weight(const Tensor& x, const Tensor& gy) override;

  Tensor do_softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) override;
  Tensor do_softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels, int64_t K) override;


 private:
  // A copy of another CUDA backend's tensor (any device), after all devices' work.
  Tensor copy_from_other_backend(const Tensor& t);
  // conv.cpp: the plan for a shape, searching for its algorithm on first use. The device
  // buffers are the call's own operands (Find runs the candidates on them); `out` may be
  // overwritten.
  ConvPlan& conv_plan(ConvKind kind, const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p,
                      const void* in0, const void* in1, void* out);
  // Tensor-core use for this backend's convolutions.
  cudnnMathType_t conv_math() const;

  int device_;
  CudaOptions opt_;
  int sm_count_ = 1;
  std::shared_ptr<CachingAllocator> alloc_;
  Stream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  ActivationDesc relu_;  // for the fused conv + bias + ReLU
  std::map<ConvKey, std::unique_ptr<ConvPlan>> conv_plans_;
  size_t workspace_size_ = 0;
};

// ---- shared by the op files
// y[n, c, ...] += b[c] in place, y (N,C,H,W) or (N,C): the bias of conv2d and linear;
// with relu, y = max(y + b[c], 0) (b may be undefined then).
void add_channel_bias_(CudaBackend& be, Tensor& y, const Tensor& b, bool relu = false);
float* fptr(const Tensor& t);  // device float pointer (nullptr for an undefined tensor)
const int32_t* iptr(const Tensor& t);

}  // namespace sv::cuda
