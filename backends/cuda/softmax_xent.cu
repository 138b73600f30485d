// Softmax cross-entropy, forward and backward side by side.
// Forward: one block per row computes the max, the sum of exp in double, the row's
// probabilities and its negative log-likelihood; one block then averages the rows in a
// fixed order. Backward: g (K) per-block scalars -> (K*N, classes) = g[k] * (probs - onehot) / N.
#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/kernel_util.cuh"

namespace sv::cuda {

namespace {

__global__ void softmax_rows_kernel(const float* logits, const int32_t* labels, int64_t C, float* probs,
                                    double* row_loss) {
  const int64_t n = blockIdx.x;
  const float* L = logits + n * C;
  float* P = probs + n * C;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, L[c]);
  m = block_max(m);
  double z = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) z += exp(static_cast<double>(L[c] - m));
  z = block_sum(z);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) P[c] = static_cast<float>(exp(static_cast<double>(L[c] - m)) / z);
  if (threadIdx.x == 0) {
    const int32_t y = labels[n];
    row_loss[n] = (y >= 0 && y < C) ? log(z) + static_cast<double>(m) - static_cast<double>(L[y]) : NAN;
  }
}

__global__ void mean_rows_kernel(const double* row_loss, int64_t N, float* loss) {
  double s = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) s += row_loss[n];
  s = block_sum(s);
  if (threadIdx.x == 0) *loss = static_cast<float>(s / static_cast<double>(N));
}

__global__ void softmax_xent_backward_kernel(const float* g, const float* probs, const int32_t* labels, int64_t N,
                                             int64_t C, int64_t total, float* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += stride) {
    const int64_t c = j % C, row = j / C, n = row % N, k = row / N;
    const float onehot = c == labels[n] ? 1.f : 0.f;
    out[j] = g[k] * (probs[n * C + c] - onehot) / static_cast<float>(N);
  }
}

}  // namespace

Tensor CudaBackend::do_softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  check_cuda_f32(logits, "cross_entropy", "logits");
  check_cuda_i32(labels, "cross_entropy", "labels");
  check_ndim(logits, 2, "cross_entropy", "logits");
  const int64_t N = logits.dim(0), C = logits.dim(1);
  SV_CHECK(labels.numel() == N, ShapeError,
           "cross_entropy: " + std::to_string(labels.numel()) + " labels for " + std::to_string(N) + " rows");
  SV_CHECK(N > 0 && C > 0, ShapeError, "cross_entropy: empty logits " + shape_str(logits.shape()));
  SV_CHECK(N <= INT32_MAX, ShapeError, "cross_entropy: too many rows");
  probs = empty({N, C}, DType::F32);
  Tensor rows = empty({N}, DType::F64);
  Tensor loss = empty({}, DType::F32);
  softmax_rows_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream()>>>(fptr(logits), iptr(labels), C, fptr(probs),
                                                                           static_cast<double*>(rows.raw()));
  launched();
  mean_rows_kernel<<<1, 1024, 0, stream()>>>(static_cast<const double*>(rows.raw()), N, fptr(loss));
  launched();
  return loss;
}

Tensor CudaBackend::do_softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels,
                                             int64_t K) {
  check_cuda_f32(g, "cross_entropy backward", "upstream gradient");
  check_cuda_f32(probs, "cross_entropy backward", "probs");
  check_cuda_i32(labels, "cross_entropy backward", "labels");
  check_ndim(probs, 2, "cross_entropy backward", "probs");
  SV_CHECK(g.numel() == K, ShapeError, "cross_entropy backward: upstream gradient " + shape_str(g.shape()) +
                                             " is not one value for each of K = " + std::to_string(K) + " blocks");
  const int64_t N = probs.dim(0), C = probs.dim(1);
  SV_CHECK(labels.numel() == N, ShapeError, "cross_entropy backward: labels do not match probs");
  Tensor out = empty({K * N, C}, DType::F32);
  if (out.numel() == 0) return out;
  softmax_xent_backward_kernel<<<grid_for(out.numel(), kThreads), kThreads, 0, stream()>>>(
      fptr(g), fptr(probs), iptr(labels), N, C, out.numel(), fptr(out));
  launched();
  return out;
}

}  // namespace sv::cuda
