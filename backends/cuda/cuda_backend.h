// The CUDA backend (cuDNN + cuBLAS + our kernels) behind the Backend interface.
// float32 only (int32 for max-pool indices and labels). See backends/cuda/cuda_backend_impl.h.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "autodiff/backend.h"

namespace sv {

int cuda_device_count();  // 0 when no driver or no device (never throws)
// Why cuda_device_count() is 0: no device, or the runtime's error (an old driver, say),
// with the runtime and driver versions; empty when a device is present. Never throws.
std::string cuda_unavailable_reason();

// Read once, when a backend is made (never from globals afterwards).
struct CudaOptions {
  // Deterministic and batch invariant: the same inputs give bit-identical results run
  // after run, and an image's results (features, input gradients, K-stacked too) do not
  // depend on which or how many other images share its batch. Only deterministic cuDNN
  // algorithms, chosen by cuDNN's heuristics for fixed per-image chunk shapes (never by
  // timing); convolutions and linear layers run on fixed-size chunks, the last padded;
  // implies tf32 = false, find_algorithms = false, fused_conv = false. Slower: see
  // backends/cuda/README.md. Env SHAREDVIS_CUDA_DETERMINISTIC=1.
  bool deterministic = false;
  // Synchronize after every kernel launch and library call so that an asynchronous error
  // is reported at the call that caused it. Env SHAREDVIS_CUDA_SYNC=1.
  bool sync = false;
  // Allow TF32 tensor cores in convolutions (PyTorch's default for cuDNN); false keeps
  // full float32 arithmetic. GEMMs (linear) always run in float32. Env SHAREDVIS_CUDA_TF32=0|1.
  bool tf32 = true;
  // Choose convolution algorithms by timing them once per shape (cudnnFind*Ex); false:
  // cuDNN's heuristics (cudnnGet*_v7). Env SHAREDVIS_CUDA_CONV_SEARCH=find|heuristic.
  bool find_algorithms = true;
  // Largest workspace a convolution algorithm may use. Env SHAREDVIS_CUDA_WORKSPACE_MB.
  size_t workspace_limit = size_t(1) << 30;
  // conv + bias + ReLU (folded eval batchnorm) as one cuDNN call
  // (cudnnConvolutionBiasActivationForward) where cuDNN supports it for the plan's
  // algorithm; otherwise the convolution, then our bias + ReLU pass. Off by default: on an
  // H200 with cuDNN 9.19 the fused call made resnet50 features 11% slower (bench/README.md).
  // Env SHAREDVIS_CUDA_FUSED_CONV=0|1.
  bool fused_conv = false;
  // One line on stderr per convolution plan (shape, chosen algorithm, math mode, workspace,
  // measured time): what cuDNN picked. Env SHAREDVIS_CUDA_LOG_PLANS=1.
  bool log_plans = false;

  static CudaOptions from_env();
};

// make_cuda_backend(device) reads its options from the environment.
std::unique_ptr<Backend> make_cuda_backend(int device);
std::unique_ptr<Backend> make_cuda_backend(int device, const CudaOptions& options);

// Device memory held through a CUDA backend's caching allocator, in bytes.
struct CudaMemoryStats {
  size_t in_use = 0, peak_in_use = 0;      // held by live tensors and workspaces
  size_t reserved = 0, peak_reserved = 0;  // obtained from cudaMalloc (in use + cached)
  size_t workspace = 0;  // the largest convolution workspace a call has taken (in in_use during calls)
};
// Throws ValueError if be is not a CUDA backend.
CudaMemoryStats cuda_memory_stats(Backend& be);
void cuda_reset_peak_memory(Backend& be);
// Synchronizes, drops the convolution workspace and cudaFree's every cached block (like
// torch.cuda.empty_cache()). Tensors stay valid.
void cuda_release_cached_memory(Backend& be);

}  // namespace sv
