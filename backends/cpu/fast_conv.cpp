// Fast convolution: im2col + GEMM, forward and both backward passes side by side.
//
// The work is cut into tiles: a fixed number of small images (each in a slot of columns
// aligned to 16, or forward, where that padding would cost too much, a slot of pixel rows),
// one image, or for a large image a band of its output rows, of one group. A tile's inputs
// are lowered into one column matrix col (R, L),
// R = Cg*KH*KW, L = the tile's output pixels (see fast_im2col.h); then
//   forward          y_g (Og, L)   = w_g (Og, R) * col
//   backward data    col           = w_g^T (R, Og) * gy_g (Og, L),  gx += col2im(col)
//                    (for stride 1: a forward convolution of gy, see data_grad_is_forward_conv)
//   backward filter  gw_g (Og, R) += gy_g (Og, L) * col^T
// (3x3 stride-1 convolutions with enough channels take the Winograd F(2x2, 3x3) path
// instead, see fast_winograd.h, and with them their stride-1 data gradient; par.winograd
// off keeps them on im2col.)
// A tile of one image reads and writes its rows of y[n] (an (O, Ho*Wo) matrix) in place; a
// tile of nb > 1 slots gathers / scatters the (Og, L) operand through a scratch matrix.
// Small images are grouped until a GEMM is wide enough to amortize OpenBLAS's packing of
// the weights (anew in every call); large ones are cut into bands so that the column
// matrix stays near the size of a core's L2 cache. So the scratch is bounded whatever the
// batch (a K-stacked gradient has K*N images).
//
// Batch invariance: nb, the slots, the bands and so every GEMM's shape follow from the
// layer's geometry alone; the batch's last chunk keeps all nb slots, the missing images'
// columns zero, as are the padding columns that round each slot up to kSlotAlign. So an
// image's columns always come out of a call of the same shape, at an offset that is a
// multiple of 16 (gemm_rows cuts the rows the same way whatever the threads, fast_gemm.h),
// and its output is bitwise the same whatever its batch and the thread count (pixel rows:
// see there why their calls may vary in size). Before, nb
// followed N and the thread count, and OpenBLAS's result for an image's columns changed in
// the last bits with the width of the call (a lone small image, for one, meets its
// small-matrix kernel) and with the image's offset in it: enough to flip a tied max-pool
// window. With 16-aligned slots, no slot differed from another in any conv shape tried
// on OpenBLAS 0.3.21 (AVX-512 kernels, 16 floats wide); tests/test_batch_invariance.cpp
// holds it for whole models.
//
// Threads: when there are enough tiles, they run side by side, each on whichever thread is
// free, with single-threaded GEMM (no synchronization; the filter gradient gets one partial
// sum per thread; the bands of one image's data gradient stay on one thread, as they add
// into overlapping input rows). Otherwise the tiles run one after another with im2col,
// GEMM (split by rows) and col2im each split over the threads.
#include <algorithm>
#include <cstring>

#include "autodiff/dispatch.h"
#include "backends/cpu/fast.h"
#include "backends/cpu/fast_gemm.h"
#include "backends/cpu/fast_im2col.h"
#include "backends/cpu/fast_parallel.h"
#include "backends/cpu/fast_winograd.h"
#include "autodiff/relu_rule.h"

namespace sv::fast {

namespace {
constexpr int64_t kGroupColumns = 192;          // small images are grouped up to this GEMM width
constexpr int64_t kGroupRows = 384;             // the same in pixel rows (8 images of 7x7)
constexpr int64_t kSlotAlign = 16;              // columns of an image's slot: a multiple of this
constexpr int64_t kMaxScratchBytes = 16 << 20;  // column matrix of a multi-image tile
constexpr int64_t kBandBytes = 1 << 20;         // column matrix of a band (about one L2)
constexpr int64_t kBandAboveBytes = 4 << 20;    // an image lowered whole below this size
constexpr int64_t kMinColumns = 512;            // a band's least width
constexpr int64_t kPixelRowsMinMacs = 1 << 22;  // least multiply-adds of one image's pixel-rows GEMM call

// How a batch is cut, from the layer's geometry alone (never from N or the thread count):
// chunks of nb image slots of `slot` columns each (small images), or each image alone in
// `bands` bands of `band` output rows. pixel_rows: the forward GEMM of a chunk is
// transposed, y^T (L, Og) = col^T (L, R) * w_g^T (R, Og), a slot is an image's P pixel
// rows, no padding, and the last chunk holds only the images it has (see "Pixel rows").
// Side by side, `workers` threads take units (chunks, or single bands when bands may run
// apart) as they become free, each with inner.threads = 1; otherwise one worker runs every
// tile with inner = all threads. Either way the tiles, and so the GEMM shapes, are the
// same (with pixel rows, a tile's GEMM may be cut at its slots).
struct Plan {
  int64_t nb, slot, band, bands, chunks;
  bool bands_apart, pixel_rows;
  int workers;
  Parallel outer, inner;  // threads for the tiles, and within a tile
};
// The least K of the GEMM calls that gemm() (fast_gemm.h) makes for a product over K in
// slices of at most kc: its last slice.
int64_t shortest_slice(int64_t K, int64_t kc) {
  if (kc <= 0 || K <= kc) return K;
  const int64_t slices = (K + kc - 1) / kc, len = (K + slices - 1) / slices;
  return K - (slices - 1) * len;
}

// bands_independent: tiles of one image may run at the same time (not so for the data
// gradient, whose bands add into overlapping input rows). rows_ok: the caller can run a
// pixel_rows plan (the forward pass). Pixel rows are for float only: the probe (see
// "Pixel rows") checked OpenBLAS's sgemm, not its dgemm.
Plan make_plan(const ConvGeom& g, size_t elem, const Parallel& par, bool bands_independent, bool rows_ok = false) {
  const int threads = par.threads;
  const int64_t P = g.out_plane(), row_bytes = g.rows() * static_cast<int64_t>(elem);
  Plan pl;
  pl.slot = (P + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  // Grouped in column slots only when their padding costs little (a 7x7 image in a
  // 64-column slot did 30% more work, slower than a GEMM of its own); else, forward, in
  // slots of pixel rows, which need no padding.
  bool group = P < kGroupColumns && 8 * pl.slot <= 9 * P;
  pl.pixel_rows = !group && rows_ok && elem == sizeof(float) && P < kGroupColumns &&
                  P * g.Og * shortest_slice(g.rows(), par.k_slice) >= kPixelRowsMinMacs;
  if (pl.pixel_rows) {
    pl.slot = P;
    group = true;
  }
  const int64_t slot_bytes = std::max<int64_t>(1, row_bytes * pl.slot);
  const int64_t width = pl.pixel_rows ? kGroupRows : kGroupColumns;
  pl.nb = group ? (width + pl.slot - 1) / pl.slot : 1;
  pl.nb = std::min(pl.nb, std::max<int64_t>(1, kMaxScratchBytes / slot_bytes));
  if (pl.nb == 1) {
    pl.slot = P;
    pl.pixel_rows = false;
  }
  pl.band = g.Ho;
  if (pl.nb == 1 && !g.pointwise() && row_bytes * P > kBandAboveBytes) {
    const int64_t cols = std::max(kMinColumns, kBandBytes / row_bytes);
    pl.band = std::clamp<int64_t>((cols + g.Wo - 1) / g.Wo, 1, g.Ho);
  }
  pl.bands = (g.Ho + pl.band - 1) / pl.band;
  pl.chunks = (g.N + pl.nb - 1) / pl.nb;
  pl.bands_apart = bands_independent && pl.bands > 1;
  const int64_t units = pl.bands_apart ? pl.chunks * pl.bands : pl.chunks;
  const int64_t macs = pl.chunks * pl.nb * g.O * g.rows() * pl.slot;
  const bool side_by_side = threads > 1 && units >= threads && macs >= threads * par.min_macs;
  pl.workers = side_by_side ? threads : 1;
  pl.outer = side_by_side ? par : par.serial();
  pl.inner = side_by_side ? par.serial() : par;
  return pl;
}

// Images [n0, n0+m) in slots [0, slots) of `slot` columns (m < slots in the batch's last
// chunk, except with pixel rows: there slots = m) and output rows [oh0, oh1) (all rows
// when in slots).
struct Tile {
  int64_t n0, m, slots, slot, oh0, oh1;
  bool pixel_rows;
  bool in_slots() const { return slots > 1 || pixel_rows; }
  int64_t columns(const ConvGeom& g) const { return in_slots() ? slots * slot : (oh1 - oh0) * g.Wo; }
};

// Runs body(tile, worker) over every tile of the plan; worker in [0, workers) names the
// thread's scratch.
template <class Body>
void for_each_tile(const Plan& pl, const ConvGeom& g, Body&& body) {
  auto tile = [&](int64_t c, int64_t b) {
    const int64_t n0 = c * pl.nb, oh0 = b * pl.band, m = std::min(pl.nb, g.N - n0);
    return Tile{n0, m, pl.pixel_rows ? m : pl.nb, pl.slot, oh0, std::min(g.Ho, oh0 + pl.band), pl.pixel_rows};
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
    const int64_t L = pl.nb > 1 ? pl.nb * pl.slot : pl.band * g.Wo;
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

// Zero, in rows [r0, r1) of a (rows, slots*slot) matrix, every column that holds no image
// pixel: each slot's padding past P, and the slots of images a last chunk lacks.
template <class T>
void zero_gaps(T* a, int64_t r0, int64_t r1, const Tile& t, int64_t P) {
  const int64_t ld = t.slots * t.slot;
  for (int64_t r = r0; r < r1; ++r) {
    T* row = a + r * ld;
    for (int64_t i = 0; i < t.m; ++i) std::fill(row + i * t.slot + P, row + (i + 1) * t.slot, T(0));
    std::fill(row + t.m * t.slot, row + ld, T(0));
  }
}

// The column matrix (R, L) of a tile of group grp: in place for a pointwise conv of one
// image, else lowered into col. Returns the matrix and sets its row stride.
template <class T>
const T* columns(const ConvGeom& g, const T* X, const Tile& t, int64_t grp, T* col, const Parallel& par, int64_t& ld) {
  const int64_t HW = g.in_plane();
  const T* x0 = X + (t.n0 * g.C + grp * g.Cg) * HW;
  if (g.pointwise() && !t.in_slots()) {  // output row oh is input row oh
    ld = HW;
    return x0 + t.oh0 * g.W;
  }
  const ConvGeom b = band_geom(g, t.oh0, t.oh1);
  ld = t.columns(g);
  parallel_for(par, g.rows(), par.elements_grain(ld), [&](int64_t r0, int64_t r1) {
    for (int64_t i = 0; i < t.m; ++i) im2col(x0 + i * g.C * HW, b, col + i * t.slot, ld, r0, r1);
    if (t.in_slots()) zero_gaps(col, r0, r1, t, g.out_plane());
  });
  return col;
}

// Group grp of a tile of a (N, O, Ho*Wo) tensor as an (Og, L) matrix: in place for one
// image slot, else gathered into mat (gaps zero). Returns the matrix and sets its row stride.
template <class T>
const T* group_rows(const ConvGeom& g, const T* Y, const Tile& t, int64_t grp, T* mat, int64_t& ld) {
  const int64_t P = g.out_plane();
  if (!t.in_slots()) {
    ld = P;
    return Y + (t.n0 * g.O + grp * g.Og) * P + t.oh0 * g.Wo;
  }
  ld = t.slots * t.slot;
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < t.m; ++i)
      std::memcpy(mat + o * ld + i * t.slot, Y + ((t.n0 + i) * g.O + grp * g.Og + o) * P, P * sizeof(T));
  zero_gaps(mat, 0, g.Og, t, P);
  return mat;
}

// The inverse of group_rows for slots > 1: mat (Og, slots*slot) into group grp of the tile's images.
template <class T>
void scatter_rows(const ConvGeom& g, const T* mat, const Tile& t, int64_t grp, T* Y) {
  const int64_t P = g.out_plane(), ld = t.slots * t.slot;
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t i = 0; i < t.m; ++i)
      std::memcpy(Y + ((t.n0 + i) * g.O + grp * g.Og + o) * P, mat + o * ld + i * t.slot, P * sizeof(T));
}

// Pixel rows: the forward GEMM of a tile of whole images, transposed so that the pixels
// are the rows of the product, c (L, Og) = col^T (L, R) * w_g^T (R, Og), L = slots * P,
// image i in rows [i*P, (i+1)*P). Why an image's rows come out bitwise the same whatever
// the tile (how many images, which slot) and the threads: a row-major call with both
// operands transposed reaches OpenBLAS (column-major inside) as c^T = w_g * col, "TT",
// with the pixels as the columns of c^T. Above its small-matrix threshold (M*N*K > 100^3
// in OpenBLAS's SkylakeX permit; here a switch between 0.94M and 1.57M was measured) a
// call goes through the blocked driver: K cut into blocks by K alone, each element summed
// over a block in one FMA chain, in order, and added into c (alpha = 1); an element's
// column, and how many columns the call has, do not enter that arithmetic (so the
// driver's source reads, and so the probe below found). Below the threshold the
// small-matrix kernel takes over, and its result differed from the blocked driver's for
// K = 600 and 2000 (not for K <= 576: presumably where the driver cuts K). So pixel rows
// are used only where one image's call (P rows, the shortest K slice of gemm()) has at
// least kPixelRowsMinMacs multiply-adds, 4x the threshold, and every call holds whole
// images: a tile's images may be cut into calls of any number of whole slots; on one
// thread one call per tile (the weights packed once for its images: the point of
// grouping), on several the slots split over them.
// Measured (bench/gemm_position_probe.cpp), OpenBLAS 0.3.21 (Cooperlake kernels), 1 and
// 2 OpenBLAS threads: a 49-pixel image's rows at every slot of calls of 1 to 8 images, the
// other slots zero or random, and across those call sizes, bitwise the same for Og x R =
// 512 x 4608, 2048 x 1024, 2048 x 512, 512 x 2048 (ResNet-50's 7x7 layers), 64 x 576,
// 100 x 300 (also with slots of 50..64 rows); 32 x 600 and 8 x 2000 differed between one
// image (below the threshold) and two or more. tests/test_batch_invariance.cpp
// (SevenBySevenConvs) checks 7x7-output convs above the threshold.
template <class T>
void pixel_rows_gemm(const ConvGeom& g, const Tile& t, const T* w, const T* col, int64_t ldc, T* out,
                     const Parallel& par, int64_t kc) {
  const int64_t R = g.rows();
  parallel_for(par, t.slots, par.macs_grain(t.slot * g.Og * R), [&](int64_t s0, int64_t s1) {
    const int64_t r0 = s0 * t.slot;
    gemm(true, true, (s1 - s0) * t.slot, g.Og, R, T(1), col + r0, ldc, w, R, T(0), out + r0 * g.Og, g.Og, kc);
  });
}

// c (slots*slot, Og) of pixel_rows_gemm into group grp of the tile's images of y (N, O, P),
// 16 channels at a time: c read a cache line per pixel (a column at a time, its stride of
// Og floats would map every pixel to the same L1 set).
template <class T>
void transpose_out(const ConvGeom& g, const T* c, const Tile& t, int64_t grp, T* Y) {
  constexpr int64_t kBlock = 16;
  const int64_t P = g.out_plane();
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t o0 = 0; o0 < g.Og; o0 += kBlock) {
      const int64_t o1 = std::min(g.Og, o0 + kBlock);
      T* y = Y + ((t.n0 + i) * g.O + grp * g.Og) * P;
      const T* src = c + i * t.slot * g.Og;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t o = o0; o < o1; ++o) y[o * P + p] = src[p * g.Og + o];
    }
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
    const Plan pl = make_plan(g, sizeof(T), par, true, /*rows_ok=*/true);
    const Scratch<T> s(g, pl);
    for_each_tile(pl, g, [&](const Tile& t, int wk) {
      const int64_t L = t.columns(g);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        int64_t ldc;
        const T* col = columns(g, X, t, grp, s.col(wk), pl.inner, ldc);
        const T* A = Wt + grp * g.Og * R;  // (Og, R)
        if (t.pixel_rows) {
          pixel_rows_gemm(g, t, A, col, ldc, s.mat(wk), pl.inner, par.k_slice);
          transpose_out(g, s.mat(wk), t, grp, Y);
        } else if (t.slots == 1) {
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
  conv2d_grad_shape(gy.shape(), x_shape, w.shape(), p);
  const ConvGeom g = conv_geom(x_shape, w.shape(), p);
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
        if (g.pointwise() && !t.in_slots()) {  // the column matrix is these rows of gx itself
          gemm_rows(pl.inner, true, false, R, L, g.Og, T(1), A, R, gyg, ldg, T(0), gx0 + t.oh0 * g.W, HW, par.k_slice);
          continue;
        }
        T* col = s.col(wk);
        gemm_rows(pl.inner, true, false, R, L, g.Og, T(1), A, R, gyg, ldg, T(0), col, L, par.k_slice);
        const int64_t grain = pl.inner.elements_grain(g.KH * g.KW * L);
        parallel_for(pl.inner, g.Cg, grain, [&](int64_t c0, int64_t c1) {
          for (int64_t i = 0; i < t.m; ++i) col2im(col + i * t.slot, L, b, gx0 + i * g.C * HW, c0, c1);
        });
      }
    });
    return gx;
  });
}

Tensor conv2d_backward_filter(const Parallel& par, const Tensor& x, const Tensor& gy, const Shape& w_shape,
                              const Conv2dParams& p) {
  conv2d_grad_shape(gy.shape(), x.shape(), w_shape, p);
  const ConvGeom g = conv_geom(x.shape(), w_shape, p);
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
