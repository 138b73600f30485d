// RAII owners of CUDA streams, cuDNN and cuBLAS handles and cuDNN descriptors.
// Each owns exactly one handle, is movable and not copyable, and destroys its handle in
// the destructor (errors there are ignored: destructors never throw).
#pragma once
#include <utility>

#include "backends/cuda/check.h"

namespace sv::cuda {

// Owner of a handle H created by Create(&h) and destroyed by Destroy(h).
template <class H, auto Create, auto Destroy>
class Owned {
 public:
  Owned() { SV_CUDA_CHECK(Create(&h_)); }
  ~Owned() {
    if (h_) Destroy(h_);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      if (h_) Destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  H get() const { return h_; }
  operator H() const { return h_; }

 private:
  H h_ = nullptr;
};

inline cudaError_t create_stream(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
inline cudaError_t create_event(cudaEvent_t* e) { return cudaEventCreate(e); }

using Stream = Owned<cudaStream_t, create_stream, cudaStreamDestroy>;
using Event = Owned<cudaEvent_t, create_event, cudaEventDestroy>;
using CudnnHandle = Owned<cudnnHandle_t, cudnnCreate, cudnnDestroy>;
using CublasHandle = Owned<cublasHandle_t, cublasCreate, cublasDestroy>;
using TensorDesc = Owned<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc = Owned<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc =
    Owned<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;
using PoolingDesc = Owned<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;
using ActivationDesc =
    Owned<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor, cudnnDestroyActivationDescriptor>;

// Makes `device` current for the scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    SV_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) SV_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int now = prev_;
    if (cudaGetDevice(&now) == cudaSuccess && now != prev_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

}  // namespace sv::cuda
