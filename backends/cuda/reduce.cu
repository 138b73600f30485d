// Reductions: sum_all, sum_blocks (K per-block sums of a K-stacked tensor), their
// backward broadcast_blocks, and channel_sum (bias / beta gradients). Sums accumulate in
// double with a fixed order (see channel_reduce.cuh), like the CPU reference.
#include "backends/cuda/channel_reduce.cuh"

namespace sv::cuda {

namespace {
struct ValueOf {
  const float* x;
  __device__ double2 operator()(int64_t j, int64_t) const { return make_double2(x[j], 0.0); }
};
struct StoreBlock {  // out[k] for (K, 1, 1, M) views
  float* out;
  __device__ void operator()(int64_t k, int64_t, double2 s) const { out[k] = static_cast<float>(s.x); }
};
struct StoreChannel {  // out[c] for (1, N, C, R) views
  float* out;
  __device__ void operator()(int64_t, int64_t c, double2 s) const { out[c] = static_cast<float>(s.x); }
};

// out[k*M + i] = g[k] * s
__global__ void broadcast_blocks_kernel(const float* g, int64_t M, int64_t n, double s, float* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride)
    out[j] = static_cast<float>(static_cast<double>(g[j / M]) * s);
}
}  // namespace

Tensor CudaBackend::do_sum_blocks(const Tensor& x, int64_t K) {
  check_cuda_f32(x, "sum_blocks", "input");
  SV_CHECK(K > 0 && x.numel() % K == 0, ShapeError,
           "sum_blocks: " + shape_str(x.shape()) + " is not " + std::to_string(K) + " equal blocks");
  Tensor y = empty({K}, DType::F32);
  segment_sums(*this, SegView{K, 1, 1, x.numel() / K}, ValueOf{fptr(x)}, StoreBlock{fptr(y)});
  return y;
}

Tensor CudaBackend::do_sum_all(const Tensor& x) { return do_sum_blocks(x.reshape({x.numel()}), 1).reshape({}); }

Tensor CudaBackend::do_broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K) {
  check_cuda_f32(g, "broadcast_blocks", "input");
  SV_CHECK(M >= 0 && g.numel() == K, ShapeError,
           "broadcast_blocks: " + shape_str(g.shape()) + " is not one value for each of K = " + std::to_string(K) +
               " blocks of " + std::to_string(M));
  Tensor y = empty({K * M}, DType::F32);
  if (K * M == 0) return y;
  broadcast_blocks_kernel<<<grid_for(K * M, kThreads), kThreads, 0, stream()>>>(fptr(g), M, K * M, s, fptr(y));
  launched();
  return y;
}

Tensor CudaBackend::do_channel_sum(const Tensor& gy) {
  check_cuda_f32(gy, "channel_sum", "input");
  SV_CHECK(gy.ndim() == 4 || gy.ndim() == 2, ShapeError,
           "channel_sum: expected (N,C,H,W) or (N,C), got " + shape_str(gy.shape()));
  const int64_t C = gy.dim(1), R = gy.ndim() == 4 ? gy.dim(2) * gy.dim(3) : 1;
  Tensor s = empty({C}, DType::F32);
  if (gy.numel() == 0) {
    if (C) SV_CUDA_CHECK(cudaMemsetAsync(s.raw(), 0, s.nbytes(), stream()));
    return s;
  }
  segment_sums(*this, SegView{1, gy.dim(0), C, R}, ValueOf{fptr(gy)}, StoreChannel{fptr(s)});
  return s;
}

}  // namespace sv::cuda
