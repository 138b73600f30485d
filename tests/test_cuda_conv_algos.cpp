// CudaConvAlgorithms: every cuDNN convolution algorithm, in every math mode the backend
// may pick, against the CPU reference, on shapes of torchvision's CNNs (the 7x7 stride-2
// stem, a 3x3, a strided 1x1). The backend's search (backends/cuda/conv.cpp) picks among these by
// speed alone, so each one it may pick must be accurate: full float32 within 1e-4 and TF32
// within 5e-3 of the largest reference magnitude. CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
// (which lets cuDNN compute float32 in half precision) is measured and printed, and must
// never be chosen by the backend. Skipped, saying why, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backends/factory.h"
#include "tests/gradcheck.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/handles.h"
#endif

namespace sv::test {
namespace {

#ifdef SHAREDVIS_HAVE_CUDA
using namespace sv::cuda;

struct Shapes {
  Shape x, w;
  Conv2dParams p;
};

// One kind of convolution (0 forward, 1 backward data, 2 backward filter) with one algorithm
// and math mode; the error against ref, or a negative number when cuDNN does not support it.
double run_algo(cudnnHandle_t h, int kind, int algo, cudnnMathType_t math, const Shapes& s, const Shape& ys,
                const Tensor& in0, const Tensor& in1, const Tensor& ref) {
  TensorDesc xd, yd;
  FilterDesc wd;
  ConvDesc cd;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  SV_CUDA_CHECK(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(s.x[0]), i(s.x[1]), i(s.x[2]),
                                           i(s.x[3])));
  SV_CUDA_CHECK(
      cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])));
  SV_CUDA_CHECK(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(s.w[0]), i(s.w[1]), i(s.w[2]),
                                           i(s.w[3])));
  SV_CUDA_CHECK(cudnnSetConvolution2dDescriptor(cd, s.p.pad_h, s.p.pad_w, s.p.stride_h, s.p.stride_w, s.p.dil_h,
                                                s.p.dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  SV_CUDA_CHECK(cudnnSetConvolutionGroupCount(cd, s.p.groups));
  SV_CUDA_CHECK(cudnnSetConvolutionMathType(cd, math));
  size_t ws = 0;
  cudnnStatus_t st =
      kind == 0   ? cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, cudnnConvolutionFwdAlgo_t(algo), &ws)
      : kind == 1 ? cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, yd, cd, xd,
                                                                 cudnnConvolutionBwdDataAlgo_t(algo), &ws)
                  : cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd, yd, cd, wd,
                                                                   cudnnConvolutionBwdFilterAlgo_t(algo), &ws);
  if (st != CUDNN_STATUS_SUCCESS || ws > (size_t(1) << 30)) return -1;
  void *wsp = nullptr, *out = nullptr;
  SV_CUDA_CHECK(cudaMalloc(&out, ref.nbytes()));
  if (ws) SV_CUDA_CHECK(cudaMalloc(&wsp, ws));
  const float one = 1.f, zero = 0.f;
  st = kind == 0 ? cudnnConvolutionForward(h, &one, xd, in0.raw(), wd, in1.raw(), cd, cudnnConvolutionFwdAlgo_t(algo),
                                           wsp, ws, &zero, yd, out)
       : kind == 1 ? cudnnConvolutionBackwardData(h, &one, wd, in0.raw(), yd, in1.raw(), cd,
                                                  cudnnConvolutionBwdDataAlgo_t(algo), wsp, ws, &zero, xd, out)
                   : cudnnConvolutionBackwardFilter(h, &one, xd, in0.raw(), yd, in1.raw(), cd,
                                                    cudnnConvolutionBwdFilterAlgo_t(algo), wsp, ws, &zero, wd, out);
  Tensor got = Tensor::empty(ref.shape(), DType::F32);
  const cudaError_t e = cudaDeviceSynchronize();
  if (st == CUDNN_STATUS_SUCCESS && e == cudaSuccess)
    SV_CUDA_CHECK(cudaMemcpy(got.raw(), out, ref.nbytes(), cudaMemcpyDeviceToHost));
  cudaFree(out);
  if (wsp) cudaFree(wsp);
  cudaGetLastError();
  if (st != CUDNN_STATUS_SUCCESS || e != cudaSuccess) return -1;
  return normalized_error(got, ref);
}
#endif

TEST(CudaConvAlgorithms, EveryAlgorithmTheSearchMayPickIsAccurate) {
  if (!cuda_available()) GTEST_SKIP() << no_cuda_reason();
#ifdef SHAREDVIS_HAVE_CUDA
  auto gpu = make_test_gpu();
  auto cpu = make_cpu_backend(true);
  CudnnHandle h;
  const std::vector<Shapes> shapes{{{2, 3, 61, 57}, {16, 3, 7, 7}, conv_params(2, 2, 3, 3, 1, 1, 1)},
                                   {{4, 64, 28, 28}, {64, 64, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 1)},
                                   {{2, 32, 14, 14}, {64, 32, 1, 1}, conv_params(2, 2, 0, 0, 1, 1, 1)}};
  const char* kinds[] = {"forward", "backward data", "backward filter"};
  const int counts[] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};
  const std::pair<cudnnMathType_t, double> maths[] = {
      {CUDNN_FMA_MATH, 1e-4}, {CUDNN_TENSOR_OP_MATH, 5e-3}, {CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, -1}};
  uint64_t seed = 4000;
  for (const Shapes& s : shapes) {
    const Tensor x = randn(s.x, seed++, DType::F32), w = randn(s.w, seed++, DType::F32);
    const Shape ys = conv2d_out_shape(s.x, s.w, s.p);
    const Tensor gy = randn(ys, seed++, DType::F32);
    const Tensor refs[] = {cpu->conv2d_forward(x, w, Tensor(), s.p), cpu->conv2d_backward_data(gy, w, s.x, s.p, 1),
                           cpu->conv2d_backward_filter(x, gy, s.w, s.p)};
    const Tensor xd = gpu->upload(x), wd = gpu->upload(w), gyd = gpu->upload(gy);
    gpu->synchronize();
    const Tensor in0[] = {xd, wd, xd}, in1[] = {wd, gyd, gyd};
    for (int kind = 0; kind < 3; ++kind)
      for (int algo = 0; algo < counts[kind]; ++algo)
        for (const auto& [math, tol] : maths) {
          const double err = run_algo(h, kind, algo, math, s, ys, in0[kind], in1[kind], refs[kind]);
          if (err < 0) continue;
          std::printf("x %s w %s %-15s algo %d math %d: max error %.2e of max |ref|\n", shape_str(s.x).c_str(),
                      shape_str(s.w).c_str(), kinds[kind], algo, static_cast<int>(math), err);
          if (tol > 0) {
            EXPECT_LE(err, tol) << kinds[kind] << " algo " << algo << " math " << math << " x " << shape_str(s.x);
          }
        }
  }
#endif
}

}  // namespace
}  // namespace sv::test
