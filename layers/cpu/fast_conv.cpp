// Fast convolution: im2col + GEMM, forward and both backward passes side by side.
//
// The work is cut into tiles: m images (or, for large images, a band of output rows of one
// image) of one group. A tile's inputs are lowered into one column matrix col (R, L),
// R = Cg*KH*KW, L = the tile's output pixels (see fast_im2col.h); then
//   forward          y_g (Og, L)   = w_g (Og, R) * col
//   backward data    col           = w_g^T (R, Og) * gy_g (Og, L),  gx += col2im(col)
//                    (for stride 1: a forward convolution of gy, see data_grad_is_forward_conv)
//   backward filter  gw_g (Og, R) += gy_g (Og, L) * col^T
// (3x3 stride-1 convolutions with enough channels take the Winograd F(2x2, 3x3) path
// instead, see fast_winograd.h, and with them their stride-1 data gradient; par.winograd
// off keeps them on im2col.)
// A tile of one image reads and writes its rows of y[n] (an (O, Ho*Wo) matrix) in place;
// a tile of m > 1 images gathers / scatters the (Og, L) operand through a scratch matrix.
// Small images are grouped until a GEMM is wide enough to run near peak; large ones are
// cut into bands so that the column matrix stays near the size of a core's L2 cache. So
// the scratch is bounded whatever the batch (a K-stacked gradient has K*N images).
//
// Threads: when there are enough tiles, they run side by side, each on whichever thread is
// free, with single-threaded GEMM (no synchronization; the filter gradient gets one partial
// sum per thread; the bands of one image's data gradient stay on one thread, as they add
// into overlapping input rows). Otherwise the tiles run one after another with im2col,
// GEMM (split by rows) and col2im each split over the threads.
#include <algorithm>
#include <cstring>

#include "layers/cpu/dispatch.h"
#include "layers/cpu/fast.h"
#include "layers/cpu/fast_gemm.h"
#include "layers/cpu/fast_im2col.h"
#include "layers/cpu/fast_parallel.h"
#include "layers/cpu/fast_winograd.h"
#include "layers/relu_rule.h"

namespace sv::fast {

namespace {
constexpr int64_t kMinColumns = 512;            // GEMM width that runs near peak
constexpr int64_t kMaxScratchBytes = 16 << 20;  // column matrix of a multi-image tile
constexpr int64_t kBandBytes = 1 << 20;         // column matrix of a band (about one L2)
constexpr int64_t kBandAboveBytes = 4 << 20;    // an image lowered whole below this size

// How a batch is cut: chunks of up to nb images, each image in `bands` bands of `band`
// output rows (one band of Ho rows when nb > 1). Side by side, `workers` threads take
// units (chunks, or single bands when bands may run apart) as they become free, each with
// inner.threads = 1; otherwise one worker runs every tile with inner = all threads.
struct Plan {
  int64_t nb, band, bands, chunks;
  bool bands_apart;
  int workers;
  Parallel outer, inner;  // threads for the tiles, and within a tile
};
// bands_independent: tiles of one image may run at the same time (not so for the data
// gradient, whose bands add into overlapping input rows).
Plan make_plan(const ConvGeom& g, size_t elem, const Parallel& par, bool bands_independent) {
  const int threads = par.threads;
  const int64_t P = g.out_plane(), row_bytes = g.rows() * static_cast<int64_t>(elem);
  const int64_t image_bytes = std::max<int64_t>(1, row_bytes * P);
  Plan pl;
  pl.nb = std::max<int64_t>(1, (kMinColumns + P - 1) / P);
  pl.nb = std::min(pl.nb, std::max<int64_t>(1, kMaxScratchBytes / image_bytes));
  pl.nb = std::clamp<int64_t>(pl.nb, 1, std::max<int64_t>(1, (g.N + threads - 1) / threads));
  pl.band = g.Ho;
  if (pl.nb == 1 && !g.pointwise() && image_bytes > kBandAboveBytes) {
    const int64_t cols = std::max(kMinColumns, kBandBytes / row_bytes);
    pl.band = std::clamp<int64_t>((cols + g.Wo - 1) / g.Wo, 1, g.Ho);
  }
  pl.bands = (g.Ho + pl.band - 1) / pl.band;
  pl.chunks = (g.N + pl.nb - 1) / pl.nb;
  pl.bands_apart = bands_independent && pl.bands > 1;
  const int64_t units = pl.bands_apart ? pl.chunks * pl.bands : pl.chunks;
  const int64_t macs = g.N * g.O * g.rows() * P;
  const bool side_by_side = threads > 1 && units >= threads && macs >= threads * par.min_macs;
  if (!side_by_side && !bands_independent) {  // one image at a time, split inside: no bands
    pl.band = g.Ho;
    pl.bands = 1;
  }
  pl.workers = side_by_side ? threads : 1;
  pl.outer = side_by_side ? par : par.serial();
  pl.inner = side_by_side ? par.serial() : par;
  return pl;
}

// Images [n0, n0+m) and output rows [oh0, oh1) (all rows when m > 1).
struct Tile {
  int64_t n0, m, oh0, oh1;
  int64_t columns(const ConvGeom& g) const { return m * (oh1 - oh0) * g.Wo; }
};

// Runs body(tile, worker) over every tile of the plan; worker in [0, workers) names the
// thread's scratch.
template <class Body>
void for_each_tile(const Plan& pl, const ConvGeom& g, Body&& body) {
  auto tile = [&](int64_t c, int64_t b) {
    const int64_t n0 = c * pl.nb, oh0 = b * pl.band;
    return Tile{n0, std::min(pl.nb, g.N - n0), oh0, std::min(g.Ho, oh0 + pl.band)};
  };
  auto chunk = [&](int64_t c, int worker) {
    for (int64_t b = 0; b < pl.bands; ++b) body(tile(c, b), worker);
  };
  if (pl.workers == 1) {
    for (int64_t c = 0; c < pl.chunks; ++c) chunk(c, 0);
  } else if (pl.bands_apart) {
    parallel_dynamic(pl.outer, pl.chunks * pl.bands,
                     [&](int64_t u, int worker) { body(tile(u / pl.bands, u % pl.bands), worker); });
  } else {
    parallel_dynamic(pl.outer, pl.chunks, chunk);
  }
}

// Per worker: a column matrix (R, L) and an (Og, L) matrix for the widest tile.
template <class T>
class Scratch {
 public:
  Scratch(const ConvGeom& g, const Plan& pl) {
    const int64_t L = pl.nb * pl.band * g.Wo;
    col_size_ = g.rows() * L;
    mat_size_ = pl.nb > 1 ? g.Og * L : 0;
    buf_ = pl.outer.empty({pl.workers * (col_size_ + mat_size_)}, dtype_of<T>());
  }
  T* col(int w) const { return buf_.data<T>() + w * (col_size_ + mat_size_); }
  T* mat(int w) const { return col(w) + col_size_; }

 private:
  int64_t col_size_, mat_size_;
  Tensor buf_;
};

// The column matrix (R, L) of a tile of group grp: in place for a pointwise conv of one
// image, else lowered into col. Returns the matrix and sets its row stride.
template <class T>
const T* columns(const ConvGeom& g, const T* X, const Tile& t, int64_t grp, T* col, const Parallel& par, int64_t& ld) {
  const int64_t HW = g.in_plane();
  const T* x0 = X + (t.n0 * g.C + grp * g.Cg) * HW;
  if (g.pointwise() && t.m == 1) {  // output row oh is input row oh
    ld = HW;
    return x0 + t.oh0 * g.W;
  }
  const ConvGeom b = band_geom(g, t.oh0, t.oh1);
  ld = t.columns(g);
  parallel_for(par, g.rows(), par.elements_grain(ld), [&](int64_t r0, int64_t r1) {
    for (int64_t i = 0; i < t.m; ++i) im2col(x0 + i * g.C * HW, b, col + i * b.out_plane(), ld, r0, r1);
  });
  return col;
}

// Group grp of a tile of a (N, O, Ho*Wo) tensor as an (Og, L) matrix: in place for one
// image, else gathered into mat. Returns the matrix and sets its row stride.
template <class T>
const T* group_rows(const ConvGeom& g, const T* Y, const Tile& t, int64_t grp, T* mat, int64_t& ld) {
  const int64_t P = g.out_plane();
  if (t.m == 1) {
    ld = P;
    return Y + (t.n0 * g.O + grp * g.Og) * P + t.oh0 * g.Wo;
  }
  ld = t.m * P;
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < t.m; ++i)
      std::memcpy(mat + o * ld + i * P, Y + ((t.n0 + i) * g.O + grp * g.Og + o) * P, P * sizeof(T));
  return mat;
}

// The inverse of group_rows for m > 1: mat (Og, m*P) into group grp of the tile's images.
template <class T>
void scatter_rows(const ConvGeom& g, const T* mat, const Tile& t, int64_t grp, T* Y) {
  const int64_t P = g.out_plane();
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < t.m; ++i)
      std::memcpy(Y + ((t.n0 + i) * g.O + grp * g.Og + o) * P, mat + (o * t.m + i) * P, P * sizeof(T));
}

// A stride-1 convolution's data gradient is itself a stride-1 convolution: of gy with the
// kernel flipped in space and transposed in channels, padded by dil*(k-1) - pad on each
// side (the "full" convolution). Run through the forward path, its GEMM sums over
// Og*KH*KW instead of Og, and gx is written once instead of added into by col2im.
bool data_grad_is_forward_conv(const ConvGeom& g) {
  const Conv2dParams& p = g.p;
  return !g.pointwise() && p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= p.dil_h * (g.KH - 1) &&
         p.pad_w <= p.dil_w * (g.KW - 1);
}

// w (O, Cg, KH, KW) -> (C, Og, KH, KW): wt[grp*Cg + c, o, kh, kw] = w[grp*Og + o, c, KH-1-kh, KW-1-kw]
template <class T>
Tensor flip_transpose(const Parallel& par, const ConvGeom& g, const Tensor& w) {
  Tensor wt = par.empty({g.C, g.Og, g.KH, g.KW}, w.dtype());
  const T* W = w.data<T>();
  T* WT = wt.data<T>();
  const int64_t KK = g.KH * g.KW;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t o = 0; o < g.Og; ++o)
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int64_t k = 0; k < KK; ++k)
          WT[((grp * g.Cg + c) * g.Og + o) * KK + k] = W[((grp * g.Og + o) * g.Cg + c) * KK + (KK - 1 - k)];
  return wt;
}

void check_grad_shape(const Tensor& gy, const ConvGeom& g) {
  const Shape ys{g.N, g.O, g.Ho, g.Wo};
  SV_CHECK(gy.shape() == ys, ShapeError,
           "conv2d backward: gradient " + shape_str(gy.shape()) + " does not match output " + shape_str(ys));
}
}  // namespace

Tensor conv2d_forward(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                      bool relu) {
  if (winograd_applies(par, x.shape(), w.shape(), p)) return conv2d_winograd(par, x, w, b, p, relu);
  const ConvGeom g = conv_geom(x.shape(), w.shape(), p);
  const SingleThreadedBlas blas;
  return dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    Tensor y = par.empty({g.N, g.O, g.Ho, g.Wo}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    const int64_t P = g.out_plane(), R = g.rows();
    const Plan pl = make_plan(g, sizeof(T), par, true);
    const Scratch<T> s(g, pl);
    for_each_tile(pl, g, [&](const Tile& t, int wk) {
      const int64_t L = t.columns(g);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldc;
        const T* col = columns(g, X, t, grp, s.col(wk), pl.inner, ldc);
        const T* A = Wt + grp * g.Og * R;  // (Og, R)
        if (t.m == 1) {
          T* out = Y + (t.n0 * g.O + grp * g.Og) * P + t.oh0 * g.Wo;
          gemm_rows(pl.inner, false, false, g.Og, L, R, T(1), A, R, col, ldc, T(0), out, P, par.k_slice);
        } else {
          gemm_rows(pl.inner, false, false, g.Og, L, R, T(1), A, R, col, ldc, T(0), s.mat(wk), L, par.k_slice);
          scatter_rows(g, s.mat(wk), t, grp, Y);
        }
      }
      if (B || relu)  // the epilogue, while the tile is in cache
        for (int64_t i = t.n0; i < t.n0 + t.m; ++i)
          for (int64_t o = 0; o < g.O; ++o) {
            T* row = Y + (i * g.O + o) * P + t.oh0 * g.Wo;
            const T bo = B ? B[o] : T(0);
            const int64_t n = (t.oh1 - t.oh0) * g.Wo;
            if (relu)
              for (int64_t j = 0; j < n; ++j) row[j] = relu_value(row[j] + bo);
            else
              for (int64_t j = 0; j < n; ++j) row[j] += bo;
          }
    });
    return y;
  });
}

Tensor conv2d_backward_data(const Parallel& par, const Tensor& gy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p) {
  const ConvGeom g = conv_geom(x_shape, w.shape(), p);
  check_grad_shape(gy, g);
  if (data_grad_is_forward_conv(g)) {
    Conv2dParams full = p;
    full.pad_h = p.dil_h * static_cast<int>(g.KH - 1) - p.pad_h;
    full.pad_w = p.dil_w * static_cast<int>(g.KW - 1) - p.pad_w;
    const Tensor wt = dispatch_float(w, "conv2d", [&](auto tag) { return flip_transpose<decltype(tag)>(par, g, w); });
    return conv2d_forward(par, gy, wt, Tensor(), full);
  }
  const SingleThreadedBlas blas;
  return dispatch_float(gy, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    Tensor gx = par.zeros(x_shape, gy.dtype());
    const T *G = gy.data<T>(), *Wt = w.data<T>();
    T* GX = gx.data<T>();
    const int64_t R = g.rows(), HW = g.in_plane();
    const Plan pl = make_plan(g, sizeof(T), par, false);
    const Scratch<T> s(g, pl);
    for_each_tile(pl, g, [&](const Tile& t, int wk) {
      const int64_t L = t.columns(g);
      const ConvGeom b = band_geom(g, t.oh0, t.oh1);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldg;
        const T* gyg = group_rows(g, G, t, grp, s.mat(wk), ldg);
        const T* A = Wt + grp * g.Og * R;  // (Og, R), used transposed
        T* gx0 = GX + (t.n0 * g.C + grp * g.Cg) * HW;
        if (g.pointwise() && t.m == 1) {  // the column matrix is these rows of gx itself
          gemm_rows(pl.inner, true, false, R, L, g.Og, T(1), A, R, gyg, ldg, T(0), gx0 + t.oh0 * g.W, HW, par.k_slice);
          continue;
        }
        T* col = s.col(wk);
        gemm_rows(pl.inner, true, false, R, L, g.Og, T(1), A, R, gyg, ldg, T(0), col, L, par.k_slice);
        const int64_t grain = pl.inner.elements_grain(g.KH * g.KW * L);
        parallel_for(pl.inner, g.Cg, grain, [&](int64_t c0, int64_t c1) {
          for (int64_t i = 0; i < t.m; ++i) col2im(col + i * b.out_plane(), L, b, gx0 + i * g.C * HW, c0, c1);
        });
      }
    });
    return gx;
  });
}

Tensor conv2d_backward_filter(const Parallel& par, const Tensor& x, const Tensor& gy, const Shape& w_shape,
                              const Conv2dParams& p) {
  const ConvGeom g = conv_geom(x.shape(), w_shape, p);
  check_grad_shape(gy, g);
  const SingleThreadedBlas blas;
  return dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.data<T>(), *G = gy.data<T>();
    const int64_t R = g.rows(), WN = g.O * R;
    const Plan pl = make_plan(g, sizeof(T), par, true);
    const Scratch<T> s(g, pl);
    Tensor partial = par.zeros({pl.workers, WN}, x.dtype());  // (workers, O*R): a gw per worker
    T* GWs = partial.data<T>();
    for_each_tile(pl, g, [&](const Tile& t, int wk) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldg, ldc;
        const T* gyg = group_rows(g, G, t, grp, s.mat(wk), ldg);
        const T* col = columns(g, X, t, grp, s.col(wk), pl.inner, ldc);
        gemm_rows(pl.inner, false, true, g.Og, R, t.columns(g), T(1), gyg, ldg, col, ldc, T(1),
                  GWs + wk * WN + grp * g.Og * R, R, /*kc=*/0);
      }
    });
    Tensor gw = partial.slice0(0, 1).reshape(w_shape);
    T* GW = gw.data<T>();
    for (int wk = 1; wk < pl.workers; ++wk)
      for (int64_t i = 0; i < WN; ++i) GW[i] += GWs[wk * WN + i];
    return gw;
  });
}

}  // namespace sv::fast
