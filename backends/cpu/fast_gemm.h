// Row-major GEMM for float and double through CBLAS (OpenBLAS):
//   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// with op = transpose when ta / tb. lda, ldb, ldc are the row strides of A, B, C as stored.
//
// Threads: the fast kernels split their work over their own threads and call GEMM from each
// thread, so OpenBLAS must not start threads of its own (its pool and ours would fight
// for the cores, and concurrent multi-threaded calls serialize on OpenBLAS's lock).
// SingleThreadedBlas holds OpenBLAS at one thread for its lifetime and then restores
// the caller's setting; gemm_rows is the threaded GEMM built from single-threaded calls.
//
// Batch invariance: OpenBLAS picks its kernel and blocking by the shape of each call (on
// 0.3.21, a lone row, M = 1, comes out of another path than the same row among several, and
// a conv GEMM over the columns of several images differs in the last bits from the same
// image's GEMM alone). The callers therefore give each image (each row of a dense layer)
// calls whose shapes depend on the layer alone, never on the batch or the thread count.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "backends/cpu/fast_parallel.h"

namespace sv::fast {

// Accuracy: OpenBLAS's sgemm sums each element of C over all of K in one float
// accumulator, in order, so its rounding error grows with K (thousands in a deep
// convolution's GEMM) and, on trained weights whose products largely cancel, it made our
// float32 input gradients up to 1.9x further from float64 than PyTorch's. So gemm() with
// kc > 0 computes the float product in equal slices of at most kc along K, each summed by
// OpenBLAS in a fresh accumulator and added into C (beta = 1): no sum in order is longer
// than kc + K / kc terms. Cost: C is read and written once per slice (a few percent of a
// convolution; docs/accuracy.md has the measurements). kc comes from Parallel::k_slice
// (sliced for data gradients, whole K forward); double is left whole, and so are the weight
// gradients (kc = 0): their K is the batch's pixels, their C the whole weight matrix, too
// large to pass over once per slice.
inline void sgemm_one(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int64_t kc) {
  if (kc <= 0 || K <= kc) {
    sgemm_one(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const int64_t slices = (K + kc - 1) / kc, len = (K + slices - 1) / slices;  // equal slices
  for (int64_t k0 = 0; k0 < K; k0 += len) {
    const int64_t k = std::min(len, K - k0);
    sgemm_one(ta, tb, M, N, k, alpha, A + (ta ? k0 * lda : k0), lda, B + (tb ? k0 : k0 * ldb), ldb, k0 ? 1.0f : beta, C,
              ldc);
  }
}

inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc, int64_t /*kc*/) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

// Rows of C per GEMM call in gemm_rows: a function of the shape alone (at least 16 rows,
// about kMinMacsPerThread multiply-adds), never of the thread count or of the tuning in
// Parallel, so that each row of C comes out of a call of the same shape however many
// threads share the work.
inline int64_t gemm_row_block(int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kMinRows = 16;
  const int64_t rows = std::max(kMinRows, kMinMacsPerThread / std::max<int64_t>(N * K, 1));
  return std::clamp<int64_t>((rows + kMinRows - 1) / kMinRows * kMinRows, 1, std::max<int64_t>(M, 1));
}

// The same product with the M rows of C cut into blocks of gemm_row_block rows, one
// single-threaded GEMM call each, the blocks split over threads.
template <class T>
void gemm_rows(const Parallel& par, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int64_t kc) {
  if (M <= 0) return;
  const int64_t rows = gemm_row_block(M, N, K), blocks = (M + rows - 1) / rows;
  parallel_for(par, blocks, par.macs_grain(rows * N * K), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t m0 = b * rows;
      gemm(ta, tb, std::min(rows, M - m0), N, K, alpha, A + (ta ? m0 : m0 * lda), lda, B, ldb, beta, C + m0 * ldc,
           ldc, kc);
    }
  });
}

class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace sv::fast
