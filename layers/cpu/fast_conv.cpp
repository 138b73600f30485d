// Fast convolution: im2col + GEMM, forward and both backward passes side by side.
//
// Per group, a chunk of m images is lowered into one column matrix col (R, m*P),
// R = Cg*KH*KW, P = Ho*Wo (see fast_im2col.h); then
//   forward          y_g (Og, m*P)  = w_g (Og, R) * col
//   backward data    col            = w_g^T (R, Og) * gy_g (Og, m*P),  gx += col2im(col)
//   backward filter  gw_g (Og, R)  += gy_g (Og, m*P) * col^T
// With m = 1 the GEMM reads and writes the images in place (y[n] is (O, P) row-major);
// with m > 1 the (Og, m*P) operand is gathered / scattered through a scratch matrix.
// m grows until a GEMM is wide enough to run near peak, bounded so that the scratch stays
// small whatever the batch (a K-stacked gradient has K*N images).
//
// Threads: when the batch gives every thread a chunk, the chunks run side by side, one
// thread each, with single-threaded GEMM (no synchronization inside a chunk; the filter
// gradient gets one partial sum per thread). Otherwise the chunks run one after another
// with im2col, GEMM (split by rows) and col2im each split over the threads.
#include <algorithm>
#include <cstring>

#include "layers/cpu/dispatch.h"
#include "layers/cpu/fast.h"
#include "layers/cpu/fast_gemm.h"
#include "layers/cpu/fast_im2col.h"
#include "layers/cpu/fast_parallel.h"

namespace sv::fast {

namespace {
constexpr int64_t kMinColumns = 512;            // GEMM width that runs near peak
constexpr int64_t kMaxScratchBytes = 16 << 20;  // column matrix per thread

// How a batch of N images is cut: chunks of up to nb images, run by `workers` threads side
// by side (each with inner = 1 thread), or by one worker with inner = all threads.
struct ChunkPlan {
  int64_t nb, chunks;
  int workers, inner;
};
ChunkPlan plan_chunks(const ConvGeom& g, size_t elem, int threads) {
  const int64_t P = g.out_plane(), per_image = std::max<int64_t>(1, g.rows() * P * static_cast<int64_t>(elem));
  int64_t nb = std::max<int64_t>(1, (kMinColumns + P - 1) / P);
  nb = std::min(nb, std::max<int64_t>(1, kMaxScratchBytes / per_image));
  nb = std::clamp<int64_t>(nb, 1, std::max<int64_t>(1, (g.N + threads - 1) / threads));
  const int64_t chunks = (g.N + nb - 1) / nb;
  const int64_t macs = g.N * g.O * g.rows() * P;
  const bool side_by_side = threads > 1 && chunks >= threads && macs >= threads * kMinMacsPerThread;
  return {nb, chunks, side_by_side ? threads : 1, side_by_side ? 1 : threads};
}

// Runs body(n0, m, worker) over the chunks of the plan; worker in [0, workers) names the
// thread's scratch.
template <class Body>
void for_each_chunk(const ChunkPlan& c, int64_t N, Body&& body) {
  auto run = [&](int64_t c0, int64_t c1, int worker) {
    for (int64_t i = c0; i < c1; ++i) body(i * c.nb, std::min(c.nb, N - i * c.nb), worker);
  };
  if (c.workers == 1) {
    run(0, c.chunks, 0);
    return;
  }
  parallel_for(c.workers, c.workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w)
      run(c.chunks * w / c.workers, c.chunks * (w + 1) / c.workers, static_cast<int>(w));
  });
}

// Per worker: a column matrix (R, nb*P) and an (Og, nb*P) matrix.
template <class T>
class Scratch {
 public:
  Scratch(const ConvGeom& g, const ChunkPlan& c)
      : col_size_(g.rows() * c.nb * g.out_plane()), mat_size_(g.Og * c.nb * g.out_plane()) {
    buf_ = Tensor::empty({c.workers * (col_size_ + mat_size_)}, dtype_of<T>());
  }
  T* col(int w) const { return buf_.data<T>() + w * (col_size_ + mat_size_); }
  T* mat(int w) const { return col(w) + col_size_; }

 private:
  int64_t col_size_, mat_size_;
  Tensor buf_;
};

// The column matrix of images [n0, n0+m), group grp: in place for a pointwise conv of one
// image, else lowered into col (R, m*P). Returns the matrix and sets its row stride.
template <class T>
const T* columns(const ConvGeom& g, const T* X, int64_t n0, int64_t m, int64_t grp, T* col, int threads, int64_t& ld) {
  const int64_t P = g.out_plane(), HW = g.in_plane();
  if (g.pointwise() && m == 1) {
    ld = HW;
    return X + (n0 * g.C + grp * g.Cg) * HW;
  }
  ld = m * P;
  parallel_for(threads, g.rows(), grain_for(ld, kMinElementsPerThread), [&](int64_t r0, int64_t r1) {
    for (int64_t i = 0; i < m; ++i) im2col(X + ((n0 + i) * g.C + grp * g.Cg) * HW, g, col + i * P, ld, r0, r1);
  });
  return col;
}

// Group grp of images [n0, n0+m) of a (N, O, P) tensor as an (Og, m*P) matrix: in place for
// one image, else gathered into mat. Returns the matrix and sets its row stride.
template <class T>
const T* group_rows(const ConvGeom& g, const T* Y, int64_t n0, int64_t m, int64_t grp, T* mat, int64_t& ld) {
  const int64_t P = g.out_plane();
  if (m == 1) {
    ld = P;
    return Y + (n0 * g.O + grp * g.Og) * P;
  }
  ld = m * P;
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(mat + o * ld + i * P, Y + ((n0 + i) * g.O + grp * g.Og + o) * P, P * sizeof(T));
  return mat;
}

// The inverse of group_rows for m > 1: mat (Og, m*P) into group grp of images [n0, n0+m).
template <class T>
void scatter_rows(const ConvGeom& g, const T* mat, int64_t n0, int64_t m, int64_t grp, T* Y) {
  const int64_t P = g.out_plane();
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(Y + ((n0 + i) * g.O + grp * g.Og + o) * P, mat + o * m * P + i * P, P * sizeof(T));
}

void check_grad_shape(const Tensor& gy, const ConvGeom& g) {
  const Shape ys{g.N, g.O, g.Ho, g.Wo};
  SV_CHECK(gy.shape() == ys, ShapeError,
           "conv2d backward: gradient " + shape_str(gy.shape()) + " does not match output " + shape_str(ys));
}
}  // namespace

Tensor conv2d_forward(int threads, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  const ConvGeom g = conv_geom(x.shape(), w.shape(), p);
  const SingleThreadedBlas blas;
  return dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::empty({g.N, g.O, g.Ho, g.Wo}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    const int64_t P = g.out_plane(), R = g.rows();
    const ChunkPlan plan = plan_chunks(g, sizeof(T), threads);
    const Scratch<T> s(g, plan);
    for_each_chunk(plan, g.N, [&](int64_t n0, int64_t m, int wk) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldc;
        const T* col = columns(g, X, n0, m, grp, s.col(wk), plan.inner, ldc);
        const T* A = Wt + grp * g.Og * R;  // (Og, R)
        T* out = m == 1 ? Y + (n0 * g.O + grp * g.Og) * P : s.mat(wk);
        gemm_rows(plan.inner, false, false, g.Og, m * P, R, T(1), A, R, col, ldc, T(0), out, m * P);
        if (m > 1) scatter_rows(g, out, n0, m, grp, Y);
      }
      if (B)
        for (int64_t i = n0 * g.O; i < (n0 + m) * g.O; ++i) {
          T* plane = Y + i * P;
          const T bias = B[i % g.O];
          for (int64_t j = 0; j < P; ++j) plane[j] += bias;
        }
    });
    return y;
  });
}

Tensor conv2d_backward_data(int threads, const Tensor& gy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p) {
  const ConvGeom g = conv_geom(x_shape, w.shape(), p);
  check_grad_shape(gy, g);
  const SingleThreadedBlas blas;
  return dispatch_float(gy, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    Tensor gx = Tensor::zeros(x_shape, gy.dtype());
    const T *G = gy.data<T>(), *Wt = w.data<T>();
    T* GX = gx.data<T>();
    const int64_t P = g.out_plane(), R = g.rows(), HW = g.in_plane();
    const ChunkPlan plan = plan_chunks(g, sizeof(T), threads);
    const Scratch<T> s(g, plan);
    for_each_chunk(plan, g.N, [&](int64_t n0, int64_t m, int wk) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldg;
        const T* gyg = group_rows(g, G, n0, m, grp, s.mat(wk), ldg);
        const T* A = Wt + grp * g.Og * R;  // (Og, R), used transposed
        if (g.pointwise() && m == 1) {     // the column matrix is gx[n0] itself
          gemm_rows(plan.inner, true, false, R, P, g.Og, T(1), A, R, gyg, ldg, T(0), GX + (n0 * g.C + grp * g.Cg) * HW,
                    HW);
          continue;
        }
        T* col = s.col(wk);
        gemm_rows(plan.inner, true, false, R, m * P, g.Og, T(1), A, R, gyg, ldg, T(0), col, m * P);
        const int64_t grain = grain_for(g.KH * g.KW * m * P, kMinElementsPerThread);
        parallel_for(plan.inner, g.Cg, grain, [&](int64_t c0, int64_t c1) {
          for (int64_t i = 0; i < m; ++i)
            col2im(col + i * P, m * P, g, GX + ((n0 + i) * g.C + grp * g.Cg) * HW, c0, c1);
        });
      }
    });
    return gx;
  });
}

Tensor conv2d_backward_filter(int threads, const Tensor& x, const Tensor& gy, const Shape& w_shape,
                              const Conv2dParams& p) {
  const ConvGeom g = conv_geom(x.shape(), w_shape, p);
  check_grad_shape(gy, g);
  const SingleThreadedBlas blas;
  return dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.data<T>(), *G = gy.data<T>();
    const int64_t P = g.out_plane(), R = g.rows(), WN = g.O * R;
    const ChunkPlan plan = plan_chunks(g, sizeof(T), threads);
    const Scratch<T> s(g, plan);
    Tensor partial = Tensor::zeros({plan.workers, WN}, x.dtype());  // (workers, O*R): a gw per worker
    T* GWs = partial.data<T>();
    for_each_chunk(plan, g.N, [&](int64_t n0, int64_t m, int wk) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldg, ldc;
        const T* gyg = group_rows(g, G, n0, m, grp, s.mat(wk), ldg);
        const T* col = columns(g, X, n0, m, grp, s.col(wk), plan.inner, ldc);
        gemm_rows(plan.inner, false, true, g.Og, R, m * P, T(1), gyg, ldg, col, ldc, T(1),
                  GWs + wk * WN + grp * g.Og * R, R);
      }
    });
    Tensor gw = partial.slice0(0, 1).reshape(w_shape);
    T* GW = gw.data<T>();
    for (int wk = 1; wk < plan.workers; ++wk)
      for (int64_t i = 0; i < WN; ++i) GW[i] += GWs[wk * WN + i];
    return gw;
  });
}

}  // namespace sv::fast
