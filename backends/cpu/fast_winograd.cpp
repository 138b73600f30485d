// Winograd F(2x2, 3x3) convolution on the CPU (the scheme: fast_winograd.h).
//
// Layouts: U (16, O, C), and per block of nt tiles V (16, C, nt) and M (16, O, nt), so that
// M_xi = U_xi * V_xi is a plain row-major GEMM and both transforms of a block read and
// write runs of consecutive tiles. A block is a list of segments (runs of tiles along one
// tile row). The input transform of a segment first copies the 4 input rows it needs into
// zero-padded buffers, split into even and odd columns, so that the loop over its tiles
// has no bounds checks and only unit strides; the transformed values of up to kChunk tiles
// go through a local (16, kChunk) array. Both keep the loops vectorizable (checked with
// -fopt-info-vec: with strided loads or 16 stores of unknown distance GCC gave up, and the
// scalar input transform took half the time of a 64-channel conv).
//
// Accuracy: the filter transform sums in double and rounds once (in float its roundings
// added to the input gradient's error against float64 on trained weights; it runs once per
// call, on the weights). The input and output transforms stay in float: in double the
// input one gained nothing measurable, and the output one cost up to 13% of a 64-channel
// convolution for a small gain (docs/accuracy.md).
#include "backends/cpu/fast_winograd.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "autodiff/dispatch.h"
#include "backends/cpu/fast_gemm.h"
#include "backends/cpu/fast_im2col.h"
#include "autodiff/relu_rule.h"

namespace sv::fast {

namespace {
constexpr int64_t kMinChannels = 16;         // in and out: below, im2col's deeper GEMM wins
constexpr int64_t kBlockTiles = 128;         // GEMM width: OpenBLAS packs U_xi once per GEMM
constexpr int64_t kMaxBlockBytes = 8 << 20;  // V and M of one block, for very many channels
constexpr int64_t kMinBlockTiles = 16;
constexpr int64_t kMaxBlockTiles = 512;      // bounds the row buffers of a segment
// Small images share a block in slots of a multiple of this many tile columns: so that an
// image's columns meet the same GEMM micro-kernel lanes in every slot (with unaligned slots,
// OpenBLAS 0.3.21 gave an image different last bits in different slots; aligned to 16, the
// AVX-512 kernels' width, no slot differed in any conv shape tried).
constexpr int64_t kSlotAlign = 16;

// Sizes of the tiling: th x tw tiles of 2x2 outputs per image.
struct WinoGeom {
  int64_t N, C, H, W, O, Ho, Wo, pad_h, pad_w, th, tw;
  int64_t tiles() const { return N * th * tw; }
};

WinoGeom wino_geom(const ConvGeom& g) {
  return {g.N, g.C, g.H, g.W, g.O, g.Ho, g.Wo, g.p.pad_h, g.p.pad_w, (g.Ho + 1) / 2, (g.Wo + 1) / 2};
}

// A run of tiles along one tile row: image n, tile row ty, tile columns [tx0, tx1); its
// first tile is column j0 of its block's V and M.
struct Segment {
  int64_t n, ty, tx0, tx1, j0;
  int64_t length() const { return tx1 - tx0; }
};

// How the tiles are grouped into blocks, from the layer's geometry alone (never from N or
// the thread count), so that each image's 16 GEMMs have the same shapes whatever else is
// in its batch (batch invariance, fast_gemm.h):
// - small images (at most half a block of tiles each, their tiles near a multiple of
//   kSlotAlign): `images` whole images per block, each
//   in a slot of `slot` tile columns (its tiles rounded up to kSlotAlign); the block is
//   always max_tiles = images * slot columns wide, the columns of slot padding and of the
//   images a batch's last block lacks are zero (their outputs are not written);
// - otherwise: `rows` whole tile rows of one image per block (pieces == 1), or, when a tile
//   row alone is too long, each tile row cut into `pieces` runs of up to `piece` tiles;
//   per_image blocks per image.
struct Blocking {
  int64_t images, slot, rows, pieces, piece, per_image, blocks, max_tiles;
};

Blocking make_blocking(const WinoGeom& g, size_t elem) {
  const int64_t per_tile = 16 * (g.C + g.O) * static_cast<int64_t>(elem);
  const int64_t target =
      std::clamp(std::min(kBlockTiles, kMaxBlockBytes / per_tile), kMinBlockTiles, kMaxBlockTiles);
  const int64_t slot = (g.th * g.tw + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  Blocking bl;
  bl.images = 1;
  bl.slot = 0;
  if (2 * slot <= target && 8 * slot <= 9 * g.th * g.tw) {  // padding costs little (7x7 outputs: none)
    bl.images = target / slot;
    bl.slot = slot;
    bl.rows = g.th;
    bl.pieces = 1;
    bl.piece = g.tw;
    bl.per_image = 1;
    bl.blocks = (g.N + bl.images - 1) / bl.images;
    bl.max_tiles = bl.images * slot;
    return bl;
  }
  if (g.tw <= target) {
    bl.rows = std::min(g.th, target / g.tw);
    bl.pieces = 1;
    bl.piece = g.tw;
    bl.per_image = (g.th + bl.rows - 1) / bl.rows;
    bl.max_tiles = bl.rows * g.tw;
  } else {
    bl.rows = 1;
    bl.pieces = (g.tw + target - 1) / target;
    bl.piece = (g.tw + bl.pieces - 1) / bl.pieces;
    bl.per_image = g.th * bl.pieces;
    bl.max_tiles = bl.piece;
  }
  bl.blocks = g.N * bl.per_image;
  return bl;
}

// Calls f(segment) for each segment of block `block`, in the order of their columns j0;
// returns the block's tile columns (the GEMM width; with several images per block, padding
// included).
template <class F>
int64_t for_each_segment(const WinoGeom& g, const Blocking& bl, int64_t block, F&& f) {
  if (bl.images > 1) {
    const int64_t n0 = block * bl.images, n1 = std::min(g.N, n0 + bl.images);
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t ty = 0; ty < g.th; ++ty) f(Segment{n, ty, 0, g.tw, (n - n0) * bl.slot + ty * g.tw});
    return bl.max_tiles;
  }
  const int64_t n = block / bl.per_image, b = block % bl.per_image;
  if (bl.pieces > 1) {
    const int64_t ty = b / bl.pieces, tx0 = (b % bl.pieces) * bl.piece;
    const Segment s{n, ty, tx0, std::min(g.tw, tx0 + bl.piece), 0};
    f(s);
    return s.length();
  }
  const int64_t ty0 = b * bl.rows, ty1 = std::min(g.th, ty0 + bl.rows);
  for (int64_t ty = ty0; ty < ty1; ++ty) f(Segment{n, ty, 0, g.tw, (ty - ty0) * g.tw});
  return (ty1 - ty0) * g.tw;
}

int64_t block_tiles(const WinoGeom& g, const Blocking& bl, int64_t block) {
  return for_each_segment(g, bl, block, [](const Segment&) {});
}

// Up to kChunk results of each of the 16 transformed values go through a local (16, kChunk)
// array before they are copied out to their 16 rows (V, U): with 16 output streams of
// unknown distance the loops would not vectorize.
constexpr int64_t kChunk = 64;

// U[xi][o][c] = (G g G^T)[xi / 4][xi % 4] for g = w[o, c] (3x3), outputs [o0, o1). The 9
// taps of w[o] are first transposed into wt (9, C), so the loop over c runs on unit strides.
template <class T>
void filter_transform(const T* w, int64_t O, int64_t C, int64_t o0, int64_t o1, T* __restrict wt, T* U) {
  using A = double;  // the transform's sums, rounded once to T
  const A h = 0.5;
  T out[16][kChunk];
  for (int64_t o = o0; o < o1; ++o) {
    const T* wo = w + o * C * 9;
    for (int64_t c = 0; c < C; ++c)
      for (int k = 0; k < 9; ++k) wt[k * C + c] = wo[c * 9 + k];
    for (int64_t c0 = 0; c0 < C; c0 += kChunk) {
      const int64_t m = std::min(kChunk, C - c0);
      for (int64_t j = 0; j < m; ++j) {
        const int64_t c = c0 + j;
        A t[4][3];  // G g
        for (int k = 0; k < 3; ++k) {
          const A g0 = wt[k * C + c], g1 = wt[(3 + k) * C + c], g2 = wt[(6 + k) * C + c];
          t[0][k] = g0;
          t[1][k] = h * (g0 + g1 + g2);
          t[2][k] = h * (g0 - g1 + g2);
          t[3][k] = g2;
        }
        for (int i = 0; i < 4; ++i) {  // (G g) G^T
          out[4 * i + 0][j] = static_cast<T>(t[i][0]);
          out[4 * i + 1][j] = static_cast<T>(h * (t[i][0] + t[i][1] + t[i][2]));
          out[4 * i + 2][j] = static_cast<T>(h * (t[i][0] - t[i][1] + t[i][2]));
          out[4 * i + 3][j] = static_cast<T>(t[i][2]);
        }
      }
      for (int xi = 0; xi < 16; ++xi) std::memcpy(U + (xi * O + o) * C + c0, out[xi], m * sizeof(T));
    }
  }
}

// Input row ih of channel plane xc at columns iw0 + 2k (into even[k]) and iw0 + 2k + 1
// (into odd[k]) for k < n; zero outside the image.
template <class T>
void split_row(const T* xc, int64_t H, int64_t W, int64_t ih, int64_t iw0, int64_t n, T* even, T* odd) {
  if (ih < 0 || ih >= H) {
    std::fill(even, even + n, T(0));
    std::fill(odd, odd + n, T(0));
    return;
  }
  const T* row = xc + ih * W;
  int64_t k0 = 0, k1 = n;  // both columns inside the image for k in [k0, k1)
  while (k0 < n && iw0 + 2 * k0 < 0) ++k0;
  while (k1 > k0 && iw0 + 2 * (k1 - 1) + 1 >= W) --k1;
  auto at = [&](int64_t iw) { return iw >= 0 && iw < W ? row[iw] : T(0); };
  for (int64_t k = 0; k < k0; ++k) {
    even[k] = at(iw0 + 2 * k);
    odd[k] = at(iw0 + 2 * k + 1);
  }
  for (int64_t k = k0; k < k1; ++k) {
    even[k] = row[iw0 + 2 * k];
    odd[k] = row[iw0 + 2 * k + 1];
  }
  for (int64_t k = k1; k < n; ++k) {
    even[k] = at(iw0 + 2 * k);
    odd[k] = at(iw0 + 2 * k + 1);
  }
}

// The input transform of m consecutive tiles of one channel. rows holds the tiles' 4
// input rows split into even and odd columns, row i's at rows + 2i*n (even) and
// rows + (2i+1)*n (odd): tile t covers even[t], odd[t], even[t+1], odd[t+1] of each row,
// so every access has a unit stride. out[xi][col + t] = (B^T d B)[xi / 4][xi % 4].
template <class T>
void input_tiles(int64_t m, const T* __restrict rows, int64_t n, T (*__restrict out)[kChunk], int64_t col) {
  const T *e0 = rows, *o0 = rows + n, *e1 = rows + 2 * n, *o1 = rows + 3 * n;
  const T *e2 = rows + 4 * n, *o2 = rows + 5 * n, *e3 = rows + 6 * n, *o3 = rows + 7 * n;
  for (int64_t t = 0; t < m; ++t) {
    // B^T d: b<i><k> = row i, column k; the columns of d are even[t], odd[t], even[t+1], odd[t+1]
    const T b00 = e0[t] - e2[t], b01 = o0[t] - o2[t], b02 = e0[t + 1] - e2[t + 1], b03 = o0[t + 1] - o2[t + 1];
    const T b10 = e1[t] + e2[t], b11 = o1[t] + o2[t], b12 = e1[t + 1] + e2[t + 1], b13 = o1[t + 1] + o2[t + 1];
    const T b20 = e2[t] - e1[t], b21 = o2[t] - o1[t], b22 = e2[t + 1] - e1[t + 1], b23 = o2[t + 1] - o1[t + 1];
    const T b30 = e1[t] - e3[t], b31 = o1[t] - o3[t], b32 = e1[t + 1] - e3[t + 1], b33 = o1[t + 1] - o3[t + 1];
    T* v = &out[0][col + t];  // (B^T d) B
    v[0 * kChunk] = b00 - b02;
    v[1 * kChunk] = b01 + b02;
    v[2 * kChunk] = b02 - b01;
    v[3 * kChunk] = b01 - b03;
    v[4 * kChunk] = b10 - b12;
    v[5 * kChunk] = b11 + b12;
    v[6 * kChunk] = b12 - b11;
    v[7 * kChunk] = b11 - b13;
    v[8 * kChunk] = b20 - b22;
    v[9 * kChunk] = b21 + b22;
    v[10 * kChunk] = b22 - b21;
    v[11 * kChunk] = b21 - b23;
    v[12 * kChunk] = b30 - b32;
    v[13 * kChunk] = b31 + b32;
    v[14 * kChunk] = b32 - b31;
    v[15 * kChunk] = b31 - b33;
  }
}

// V[xi][c][j] for the block's tiles j and channels [c0, c1). Per channel, the tiles of all
// the block's segments are gathered kChunk at a time before they are copied out to V.
template <class T>
void input_transform(const WinoGeom& g, const T* X, const Blocking& bl, int64_t block, int64_t nt, int64_t c0,
                     int64_t c1, T* V) {
  std::array<T, 8 * (kMaxBlockTiles + 1)> rows;
  T out[16][kChunk];
  const int64_t ld = g.C * nt;
  for (int64_t c = c0; c < c1; ++c) {
    T* vc = V + c * nt;
    int64_t done = 0, filled = 0;  // tiles copied out to V, and waiting in out
    auto flush = [&] {
      for (int xi = 0; xi < 16; ++xi) std::memcpy(vc + xi * ld + done, out[xi], filled * sizeof(T));
      done += filled;
      filled = 0;
    };
    auto zeros_to = [&](int64_t j) {  // slot padding and missing images: zero columns up to j
      flush();
      for (int xi = 0; xi < 16; ++xi) std::fill(vc + xi * ld + done, vc + xi * ld + j, T(0));
      done = j;
    };
    for_each_segment(g, bl, block, [&](const Segment& s) {
      if (s.j0 > done + filled) zeros_to(s.j0);
      const int64_t len = s.length(), n = len + 1, iw0 = 2 * s.tx0 - g.pad_w, ih0 = 2 * s.ty - g.pad_h;
      const T* xc = X + (s.n * g.C + c) * g.H * g.W;
      for (int i = 0; i < 4; ++i)
        split_row(xc, g.H, g.W, ih0 + i, iw0, n, rows.data() + 2 * i * n, rows.data() + (2 * i + 1) * n);
      for (int64_t t0 = 0; t0 < len;) {
        const int64_t m = std::min(kChunk - filled, len - t0);
        input_tiles(m, rows.data() + t0, n, out, filled);
        filled += m;
        t0 += m;
        if (filled == kChunk) flush();
      }
    });
    zeros_to(nt);
  }
}

// y = A^T m A (+ bias), then max(y, 0) if relu, for the segment's tiles, output channels
// [o0, o1); the outputs of a partial tile that fall outside (Ho, Wo) are dropped.
template <class T>
void output_transform(const WinoGeom& g, const T* M, const Segment& s, int64_t nt, int64_t o0, int64_t o1,
                      const T* bias, bool relu, T* Y) {
  const int64_t len = s.length(), ON = g.O * nt, oh0 = 2 * s.ty, ow0 = 2 * s.tx0;
  const int64_t cols = std::min(g.Wo - ow0, 2 * len), out_rows = std::min<int64_t>(2, g.Ho - oh0);
  std::array<T, 2 * (2 * kMaxBlockTiles)> buf;
  T *r0 = buf.data(), *r1 = r0 + 2 * len;
  for (int64_t o = o0; o < o1; ++o) {
    const T* m = M + o * nt + s.j0;
    const T bo = bias ? bias[o] : T(0);
    for (int64_t t = 0; t < len; ++t) {
      T p[2][4];  // A^T m
      for (int k = 0; k < 4; ++k) {
        const T m0 = m[k * ON + t], m1 = m[(4 + k) * ON + t], m2 = m[(8 + k) * ON + t], m3 = m[(12 + k) * ON + t];
        p[0][k] = m0 + m1 + m2;
        p[1][k] = m1 - m2 - m3;
      }
      r0[2 * t] = p[0][0] + p[0][1] + p[0][2] + bo;  // (A^T m) A
      r0[2 * t + 1] = p[0][1] - p[0][2] - p[0][3] + bo;
      r1[2 * t] = p[1][0] + p[1][1] + p[1][2] + bo;
      r1[2 * t + 1] = p[1][1] - p[1][2] - p[1][3] + bo;
    }
    if (relu)
      for (int64_t j = 0; j < 4 * len; ++j) r0[j] = relu_value(r0[j]);  // r0, r1: 4*len values
    T* y = Y + ((s.n * g.O + o) * g.Ho + oh0) * g.Wo + ow0;
    std::memcpy(y, r0, cols * sizeof(T));
    if (out_rows == 2) std::memcpy(y + g.Wo, r1, cols * sizeof(T));
  }
}

// One block: input transform into V, 16 GEMMs into M, output transform into Y; each step
// split over inner.threads (one thread when blocks run side by side).
template <class T>
void run_block(const WinoGeom& g, const Blocking& bl, int64_t block, const T* X, const T* U, const T* bias, bool relu,
               T* V, T* M, T* Y, const Parallel& inner) {
  const int64_t nt = block_tiles(g, bl, block);
  parallel_for(inner, g.C, inner.elements_grain(16 * nt), [&](int64_t c0, int64_t c1) {
    input_transform(g, X, bl, block, nt, c0, c1, V);
  });
  parallel_for(inner, 16, inner.macs_grain(g.O * g.C * nt), [&](int64_t x0, int64_t x1) {
    for (int64_t xi = x0; xi < x1; ++xi)
      gemm(false, false, g.O, nt, g.C, T(1), U + xi * g.O * g.C, g.C, V + xi * g.C * nt, nt, T(0), M + xi * g.O * nt,
           nt, inner.k_slice);
  });
  parallel_for(inner, g.O, inner.elements_grain(16 * nt), [&](int64_t o0, int64_t o1) {
    for_each_segment(g, bl, block, [&](const Segment& s) { output_transform(g, M, s, nt, o0, o1, bias, relu, Y); });
  });
}
}  // namespace

bool winograd_applies(const Parallel& par, const Shape& x, const Shape& w, const Conv2dParams& p) {
  return par.winograd && x.size() == 4 && w.size() == 4 && p.groups == 1 && w[2] == 3 && w[3] == 3 &&
         p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && p.pad_h >= 0 && p.pad_h <= 2 &&
         p.pad_w >= 0 && p.pad_w <= 2 && x[1] >= kMinChannels && w[0] >= kMinChannels;
}

Tensor conv2d_winograd(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                       bool relu) {
  const ConvGeom cg = conv_geom(x.shape(), w.shape(), p);
  SV_CHECK(cg.groups == 1 && cg.KH == 3 && cg.KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 &&
               p.dil_w == 1 && p.pad_h >= 0 && p.pad_w >= 0,
           ShapeError, "conv2d_winograd: needs a 3x3 kernel, stride 1, dilation 1, groups 1, padding >= 0");
  const WinoGeom g = wino_geom(cg);
  const SingleThreadedBlas blas;
  return dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    Tensor y = par.empty({g.N, g.O, g.Ho, g.Wo}, x.dtype());
    if (y.numel() == 0) return y;  // no tiles (an empty batch)
    Tensor u = par.empty({16, g.O, g.C}, x.dtype()), wt = par.empty({par.threads, 9, g.C}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T *Y = y.data<T>(), *U = u.data<T>();
    // The filter transform, output channels split into o_parts ranges, each with its own wt.
    const int64_t o_grain = std::max<int64_t>(1, par.elements_grain(16 * g.C));
    const int64_t o_parts = std::clamp<int64_t>(g.O / o_grain, 1, par.threads);
    parallel_for(par, o_parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t part = p0; part < p1; ++part)
        filter_transform(Wt, g.O, g.C, g.O * part / o_parts, g.O * (part + 1) / o_parts,
                         wt.data<T>() + part * 9 * g.C, U);
    });

    const Blocking bl = make_blocking(g, sizeof(T));
    const int64_t macs = 16 * g.O * g.C * g.tiles();
    const bool side_by_side = par.threads > 1 && bl.blocks >= par.threads && macs >= par.threads * par.min_macs;
    const int workers = side_by_side ? par.threads : 1;
    const int64_t v_size = 16 * g.C * bl.max_tiles, m_size = 16 * g.O * bl.max_tiles;
    Tensor scratch = par.empty({workers * (v_size + m_size)}, x.dtype());
    auto block = [&](int64_t blk, int worker, const Parallel& inner) {
      T* V = scratch.data<T>() + worker * (v_size + m_size);
      run_block(g, bl, blk, X, U, B, relu, V, V + v_size, Y, inner);
    };
    if (side_by_side)
      parallel_dynamic(par, bl.blocks, [&](int64_t blk, int worker) { block(blk, worker, par.serial()); });
    else
      for (int64_t blk = 0; blk < bl.blocks; ++blk) block(blk, 0, par);
    return y;
  });
}

}  // namespace sv::fast
