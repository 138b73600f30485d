// CudaBackend: construction, options, memory, host <-> device transfers.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backends/cuda/cuda_backend_impl.h"

namespace sv {

namespace {
bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  std::string s(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw ValueError(std::string(name) + "=" + s + ": expected 0 or 1");
}
}  // namespace

CudaOptions CudaOptions::from_env() {
  CudaOptions o;
  o.deterministic = env_flag("SHAREDVIS_CUDA_DETERMINISTIC", o.deterministic);
  o.sync = env_flag("SHAREDVIS_CUDA_SYNC", o.sync);
  o.tf32 = env_flag("SHAREDVIS_CUDA_TF32", o.tf32);
  o.fused_conv = env_flag("SHAREDVIS_CUDA_FUSED_CONV", o.fused_conv);
  o.log_plans = env_flag("SHAREDVIS_CUDA_LOG_PLANS", o.log_plans);
  if (const char* v = std::getenv("SHAREDVIS_CUDA_CONV_SEARCH"); v && *v) {
    std::string s(v);
    SV_CHECK(s == "find" || s == "heuristic", ValueError,
             "SHAREDVIS_CUDA_CONV_SEARCH=" + s + ": expected find or heuristic");
    o.find_algorithms = s == "find";
  }
  if (const char* v = std::getenv("SHAREDVIS_CUDA_WORKSPACE_MB"); v && *v) {
    char* end = nullptr;
    long long mb = std::strtoll(v, &end, 10);
    SV_CHECK(end && *end == 0 && mb >= 0, ValueError,
             std::string("SHAREDVIS_CUDA_WORKSPACE_MB=") + v + ": expected a number of MiB >= 0");
    o.workspace_limit = static_cast<size_t>(mb) << 20;
  }
  return o;
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the "no driver" error
    return 0;
  }
  return n;
}

std::string cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  if (e == cudaSuccess && n > 0) return "";
  if (e == cudaSuccess || e == cudaErrorNoDevice) return "no CUDA device is present";
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  cudaGetLastError();
  return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
         "); CUDA runtime " + std::to_string(runtime) + ", driver supports " + std::to_string(driver) +
         (driver == 0 ? " (no driver installed)" : "");
}

std::unique_ptr<Backend> make_cuda_backend(int device) { return make_cuda_backend(device, CudaOptions::from_env()); }

std::unique_ptr<Backend> make_cuda_backend(int device, const CudaOptions& options) {
  const int n = cuda_device_count();
  SV_CHECK(n > 0, DeviceError, "the CUDA backend needs a CUDA device: " + cuda_unavailable_reason());
  SV_CHECK(device >= 0 && device < n, DeviceError,
           "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " present)");
  return std::make_unique<cuda::CudaBackend>(device, options);
}

namespace {
cuda::CudaBackend& as_cuda(Backend& be) {
  auto* c = dynamic_cast<cuda::CudaBackend*>(&be);
  SV_CHECK(c != nullptr, ValueError, "backend " + be.name() + " is not a CUDA backend");
  return *c;
}
}  // namespace

CudaMemoryStats cuda_memory_stats(Backend& be) {
  cuda::CudaBackend& c = as_cuda(be);
  MemoryStats s = c.allocator().stats();
  return {s.in_use, s.peak_in_use, s.reserved, s.peak_reserved, c.workspace_size()};
}
void cuda_reset_peak_memory(Backend& be) { as_cuda(be).allocator().reset_peaks(); }
void cuda_release_cached_memory(Backend& be) {
  cuda::CudaBackend& c = as_cuda(be);
  c.synchronize();
  c.allocator().release_cached();
}

namespace cuda {

float* fptr(const Tensor& t) { return t.defined() ? static_cast<float*>(t.raw()) : nullptr; }
const int32_t* iptr(const Tensor& t) { return static_cast<const int32_t*>(t.raw()); }

namespace {
// Makes `device` current before the stream and handles are created on it.
int select_device(int device) {
  SV_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

// Deterministic mode chooses convolution algorithms by cuDNN's heuristics, not by timing
// (a timed choice may differ between runs), in full float32, without the fused
// conv + bias + ReLU (one call per whole batch): see conv.cpp.
CudaOptions effective(CudaOptions o) {
  if (o.deterministic) {
    o.tf32 = false;
    o.find_algorithms = false;
    o.fused_conv = false;
  }
  return o;
}
}  // namespace

CudaBackend::CudaBackend(int device, const CudaOptions& options)
    : device_(select_device(device)), opt_(effective(options)), alloc_(make_device_allocator(device)) {
  SV_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_));
  SV_CUDA_CHECK(cudnnSetStream(cudnn_, stream_));
  SV_CUDA_CHECK(cublasSetStream(cublas_, stream_));
  // Full float32 GEMMs (no TF32), like PyTorch's default for matmul.
  SV_CUDA_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
  SV_CUDA_CHECK(cublasSetAtomicsMode(cublas_, CUBLAS_ATOMICS_NOT_ALLOWED));
  // NaN propagates through the fused ReLU, as through max(x, 0) in IEEE arithmetic.
  SV_CUDA_CHECK(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_.get());  // never throws; tensors may outlive the stream
  cudaGetLastError();
}

bool CudaBackend::supports_op(Op op) const {
  return op_in(op, {Op::Add, Op::Axpy, Op::Scale, Op::MulTiled, Op::Interpolate, Op::SumAll, Op::SumBlocks,
                    Op::BroadcastBlocks, Op::Conv2dForward, Op::Conv2dReluForward, Op::Conv2dBackwardData,
                    Op::Conv2dBackwardFilter, Op::ChannelSum, Op::ChannelAffine, Op::BatchnormTrainForward,
                    Op::BatchnormTrainBackward, Op::ReluForward, Op::AddRelu, Op::ReluBackward, Op::MaxpoolForward,
                    Op::MaxpoolBackward, Op::AvgpoolForward, Op::AvgpoolBackward, Op::AdaptiveAvgpoolForward,
                    Op::AdaptiveAvgpoolBackward, Op::LinearForward, Op::LinearBackwardData, Op::LinearBackwardWeight,
                    Op::SoftmaxXentForward, Op::SoftmaxXentBackward});
}

std::string CudaBackend::name() const {
  std::string n = "cuda:" + std::to_string(device_);
  if (opt_.deterministic) n += " deterministic";
  if (!opt_.tf32) n += " fp32";
  return n;
}

unsigned CudaBackend::grid_for(int64_t work, int threads) const {
  int64_t blocks = (work + threads - 1) / threads;
  int64_t cap = static_cast<int64_t>(sm_count_) * 32;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

std::shared_ptr<void> CudaBackend::workspace(size_t bytes) {
  if (bytes == 0) return nullptr;
  workspace_size_ = std::max(workspace_size_, bytes);
  return alloc_->allocate(workspace_size_);
}

void CudaBackend::check_mine(const Tensor& t, const char* op, const char* what) const {
  SV_CHECK(t.defined(), ShapeError, std::string(op) + ": " + what + " is undefined");
  SV_CHECK(t.device() == Device::CUDA, ShapeError,
           std::string(op) + ": " + what + " is a " + t.describe() + " tensor, the backend is " + name() +
               " (upload it first)");
  SV_CHECK(holds(t), ShapeError,
           std::string(op) + ": " + what + " (" + t.describe() + ") belongs to another CUDA backend (another device " +
               "or backend instance, whose stream does not order this one's work); download it and upload it to " +
               name());
}

void CudaBackend::check_cuda_f32(const Tensor& t, const char* op, const char* what) const {
  check_mine(t, op, what);
  SV_CHECK(t.dtype() == DType::F32, ShapeError,
           std::string(op) + ": the CUDA backend computes in float32, " + what + " is " + dtype_name(t.dtype()));
}

void CudaBackend::check_cuda_i32(const Tensor& t, const char* op, const char* what) const {
  check_mine(t, op, what);
  SV_CHECK(t.dtype() == DType::I32, ShapeError,
           std::string(op) + ": " + what + " must be int32, got " + dtype_name(t.dtype()));
}

Tensor CudaBackend::empty(const Shape& shape, DType dtype) {
  return Tensor(alloc_->allocate(shape_bytes(shape, dtype)), shape, dtype, Device::CUDA, 0, alloc_.get());
}

Tensor CudaBackend::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.nbytes()) SV_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), stream()));
  launched();
  return t;
}

Tensor CudaBackend::upload(const Tensor& host) {
  SV_CHECK(host.defined(), ShapeError, "upload: tensor is undefined");
  if (holds(host)) return host;
  if (host.device() == Device::CUDA) return copy_from_other_backend(host);
  Tensor t = empty(host.shape(), host.dtype());
  // From pageable memory: returns once the data is staged, so `host` may die right after.
  if (t.nbytes()) SV_CUDA_CHECK(cudaMemcpyAsync(t.raw(), host.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream()));
  return t;
}

Tensor CudaBackend::download(const Tensor& t) {
  SV_CHECK(t.defined(), ShapeError, "download: tensor is undefined");
  if (t.is_cpu()) return t;
  if (!holds(t)) return download(copy_from_other_backend(t));
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  if (t.nbytes()) SV_CUDA_CHECK(cudaMemcpyAsync(h.raw(), t.raw(), t.nbytes(), cudaMemcpyDeviceToHost, stream()));
  SV_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return h;
}

void CudaBackend::copy_(Tensor& dst, const Tensor& src) {
  check_mine(src, "copy", "the source");
  check_mine(dst, "copy", "the destination");
  SV_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype(), ShapeError,
           "copy: " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) + " into " + shape_str(dst.shape()) +
               " " + dtype_name(dst.dtype()));
  if (src.nbytes() && dst.raw() != src.raw())
    SV_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream()));
  launched();
}

Tensor CudaBackend::copy_from_other_backend(const Tensor& t) {
  // Its backend's stream may still be writing it: wait for every device's work first.
  int n = 0;
  SV_CUDA_CHECK(cudaGetDeviceCount(&n));
  for (int d = 0; d < n; ++d) {
    DeviceGuard guard(d);
    SV_CUDA_CHECK(cudaDeviceSynchronize());
  }
  Tensor c = empty(t.shape(), t.dtype());
  if (c.nbytes()) SV_CUDA_CHECK(cudaMemcpyAsync(c.raw(), t.raw(), c.nbytes(), cudaMemcpyDefault, stream()));
  launched();
  return c;
}

void CudaBackend::synchronize() { SV_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace cuda
}  // namespace sv
