// One checked-call macro for CUDA runtime, cuDNN and cuBLAS calls.
//
//   SV_CUDA_CHECK(cudaMemcpyAsync(...));
//   SV_CUDA_CHECK(cudnnConvolutionForward(...));
//   SV_CUDA_CHECK(cublasSgemm(...));
//
// evaluates the call once; on failure it throws sv::DeviceError whose message names the
// library's error, the statement text, file, line and the current device id. The status
// type picks the library (overloads of status_ok / status_string below).
// SV_CUDA_LAUNCHED(sync, stream) goes after every kernel launch: it reports launch errors
// and, when the backend's debug switch is on (SHAREDVIS_CUDA_SYNC=1), synchronizes the
// stream so that an asynchronous fault points at the launch that caused it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "autodiff/error.h"

namespace sv::cuda {

inline bool status_ok(cudaError_t s) { return s == cudaSuccess; }
inline bool status_ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline bool status_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }

inline std::string status_string(cudaError_t s) {
  return std::string("CUDA error ") + cudaGetErrorName(s) + " (" + cudaGetErrorString(s) + ")";
}
inline std::string status_string(cudnnStatus_t s) { return std::string("cuDNN error ") + cudnnGetErrorString(s); }
inline std::string status_string(cublasStatus_t s) {
  return std::string("cuBLAS error ") + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")";
}

// Builds the message and throws; out of line of the fast path.
[[noreturn]] void throw_device_error(const std::string& what, const char* stmt, const char* file, int line);

}  // namespace sv::cuda

#define SV_CUDA_CHECK(stmt)                                                                      \
  do {                                                                                           \
    auto sv_status_ = (stmt);                                                                    \
    if (!::sv::cuda::status_ok(sv_status_))                                                      \
      ::sv::cuda::throw_device_error(::sv::cuda::status_string(sv_status_), #stmt, __FILE__, __LINE__); \
  } while (0)

#define SV_CUDA_LAUNCHED(sync, stream)                                  \
  do {                                                                  \
    SV_CUDA_CHECK(cudaGetLastError());                                  \
    if (sync) SV_CUDA_CHECK(cudaStreamSynchronize(stream));             \
  } while (0)
