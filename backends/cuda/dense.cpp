// linear: forward and both backward passes through cuBLAS SGEMM, side by side.
// Our tensors are row-major; cuBLAS is column-major, where a row-major (r, c) matrix is a
// column-major (c, r) one, its transpose. So each row-major product C = A B is issued as
// the column-major product C^T = B^T A^T:
//   forward      y (N,O)  = x (N,I) w^T      ->  y^T  = op_T(w) x^T        gemm(T, N, O, N, I)
//   data grad    gx (N,I) = gy (N,O) w       ->  gx^T = w^T gy^T           gemm(N, N, I, N, O)
//   weight grad  gw (O,I) = gy^T (O,N) x     ->  gw^T = x^T op_T(gy^T)     gemm(N, T, I, O, N)
// Full float32 math (CUBLAS_DEFAULT_MATH set on the handle); atomics are off, so results
// are deterministic. The bias is added by our channel kernel after the GEMM.
// In deterministic mode the forward and data-gradient GEMMs run on fixed blocks of 32
// rows (the last padded with zero rows), so that a row's outputs do not depend on how many
// rows share its call (batch invariance, fixed_chunks.h). The weight gradient sums over
// the batch and stays one GEMM.
#include <climits>

#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/fixed_chunks.h"

namespace sv::cuda {

namespace {
int as_int(int64_t v, const char* op) {
  SV_CHECK(v <= INT_MAX, ShapeError, std::string(op) + ": dimension " + std::to_string(v) + " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}
// Rows of x (or gy) per GEMM: the whole batch, or in deterministic mode fixed blocks of
// kInvariantRows, the last one padded (fixed_chunks.h): a lone row (N = 1) would meet
// another kernel than the same row among 64.
int64_t rows_per_gemm(const CudaOptions& o, int64_t N) { return o.deterministic ? kInvariantRows : N; }
}  // namespace

Tensor CudaBackend::do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_cuda_f32(x, "linear", "input");
  check_cuda_f32(w, "linear", "weight");
  check_ndim(x, 2, "linear", "input");
  check_ndim(w, 2, "linear", "weight");
  SV_CHECK(x.dim(1) == w.dim(1), ShapeError,
           "linear: input " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()));
  const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
  Tensor y = empty({N, O}, DType::F32);
  if (y.numel() == 0) return y;
  if (I == 0) {
    SV_CUDA_CHECK(cudaMemsetAsync(y.raw(), 0, y.nbytes(), stream()));
  } else {
    const float one = 1.f, zero = 0.f;
    const auto gemm = [&](int64_t n, const float* xp, float* yp) {  // y (n,O) = x (n,I) w^T
      SV_CUDA_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, as_int(O, "linear"), as_int(n, "linear"),
                                as_int(I, "linear"), &one, fptr(w), as_int(I, "linear"), xp, as_int(I, "linear"),
                                &zero, yp, as_int(O, "linear")));
      launched();
    };
    run_chunked(*this, fptr(x), I, fptr(y), O, N, rows_per_gemm(opt_, N), opt_.deterministic, gemm);
  }
  launched();
  if (b.defined()) add_channel_bias_(*this, y, b);
  return y;
}

Tensor CudaBackend::do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape&, int64_t) {
  check_cuda_f32(gy, "linear backward", "gradient");
  check_cuda_f32(w, "linear backward", "weight");
  check_ndim(gy, 2, "linear backward", "gradient");
  check_ndim(w, 2, "linear backward", "weight");
  SV_CHECK(gy.dim(1) == w.dim(0), ShapeError,
           "linear backward: gradient " + shape_str(gy.shape()) + " does not match weight " + shape_str(w.shape()));
  const int64_t N = gy.dim(0), O = w.dim(0), I = w.dim(1);
  Tensor gx = empty({N, I}, DType::F32);
  if (gx.numel() == 0) return gx;
  if (O == 0) {
    SV_CUDA_CHECK(cudaMemsetAsync(gx.raw(), 0, gx.nbytes(), stream()));
  } else {
    const float one = 1.f, zero = 0.f;
    const auto gemm = [&](int64_t n, const float* gyp, float* gxp) {  // gx (n,I) = gy (n,O) w
      SV_CUDA_CHECK(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, as_int(I, "linear"), as_int(n, "linear"),
                                as_int(O, "linear"), &one, fptr(w), as_int(I, "linear"), gyp, as_int(O, "linear"),
                                &zero, gxp, as_int(I, "linear")));
      launched();
    };
    run_chunked(*this, fptr(gy), O, fptr(gx), I, N, rows_per_gemm(opt_, N), opt_.deterministic, gemm);
  }
  launched();
  return gx;
}

Tensor CudaBackend::do_linear_backward_weight(const Tensor& x, const Tensor& gy) {
  check_cuda_f32(x, "linear backward", "input");
  check_cuda_f32(gy, "linear backward", "gradient");
  check_ndim(x, 2, "linear backward", "input");
  check_ndim(gy, 2, "linear backward", "gradient");
  SV_CHECK(x.dim(0) == gy.dim(0), ShapeError,
           "linear backward: input " + shape_str(x.shape()) + " and gradient " + shape_str(gy.shape()) +
               " have different batch sizes");
  const int64_t N = x.dim(0), I = x.dim(1), O = gy.dim(1);
  Tensor gw = empty({O, I}, DType::F32);
  if (gw.numel() == 0) return gw;
  if (N == 0) {
    SV_CUDA_CHECK(cudaMemsetAsync(gw.raw(), 0, gw.nbytes(), stream()));
  } else {
    const float one = 1.f, zero = 0.f;
    SV_CUDA_CHECK(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, as_int(I, "linear"), as_int(O, "linear"),
                              as_int(N, "linear"), &one, fptr(x), as_int(I, "linear"), fptr(gy), as_int(O, "linear"),
                              &zero, fptr(gw), as_int(I, "linear")));
  }
  launched();
  return gw;
}

}  // namespace sv::cuda
