// run_chunked and deterministic mode's chunk sizes (fixed_chunks.h).
#include "backends/cuda/fixed_chunks.h"

#include <algorithm>

namespace sv::cuda {

namespace {
bool aligned256(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 255) == 0; }
}  // namespace

int64_t invariant_images_per_call(int64_t x_per, int64_t y_per) {
  const int64_t per = std::max<int64_t>({x_per, y_per, 1}), most = int64_t(1) << 22;
  int64_t b = 1;
  while (b < 64 && 2 * b * per <= most) b *= 2;
  return b;
}

void run_chunked(CudaBackend& be, const float* in, int64_t in_per, float* out, int64_t out_per, int64_t N,
                    int64_t chunk, bool pad, const ChunkCall& call) {
  SV_CHECK(chunk > 0, Error, "run_chunked: chunk of " + std::to_string(chunk) + " items");
  Tensor stage_in, stage_out;  // (chunk * in_per), (chunk * out_per): made on first need
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n = std::min(chunk, N - n0);
    const float* ip = in + n0 * in_per;
    float* op = out + n0 * out_per;
    if (!pad || (n == chunk && aligned256(ip) && aligned256(op))) {
      call(n, ip, op);
      continue;
    }
    if (!stage_in.defined()) {
      stage_in = be.empty({chunk * in_per}, DType::F32);
      stage_out = be.empty({chunk * out_per}, DType::F32);
    }
    float* si = fptr(stage_in);
    const size_t in_bytes = static_cast<size_t>(n * in_per) * sizeof(float);
    if (in_bytes) SV_CUDA_CHECK(cudaMemcpyAsync(si, ip, in_bytes, cudaMemcpyDeviceToDevice, be.stream()));
    if (n < chunk)
      SV_CUDA_CHECK(cudaMemsetAsync(si + n * in_per, 0, static_cast<size_t>((chunk - n) * in_per) * sizeof(float),
                                    be.stream()));
    be.launched();
    call(chunk, si, fptr(stage_out));
    const size_t out_bytes = static_cast<size_t>(n * out_per) * sizeof(float);
    if (out_bytes)
      SV_CUDA_CHECK(cudaMemcpyAsync(op, fptr(stage_out), out_bytes, cudaMemcpyDeviceToDevice, be.stream()));
    be.launched();
  }
}

}  // namespace sv::cuda
