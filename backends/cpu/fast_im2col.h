// im2col / col2im: the lowering that turns a convolution into one GEMM.
//
// For one image and one group, the column matrix col (Cg*KH*KW, Ho*Wo) holds in row
// r = (c*KH + kh)*KW + kw, column oh*Wo + ow the input x[c, ih, iw] under tap (kh, kw) of
// output (oh, ow), ih = oh*stride_h - pad_h + kh*dil_h (likewise iw), or 0 in the padding.
// Then  y (Og, Ho*Wo) = w (Og, Cg*KH*KW) * col,  and the data gradient is
// col2im(w^T * gy), which adds every column entry back onto the input pixel it came from.
// Several images can share one column matrix side by side: the row stride ldcol is then
// nb*Ho*Wo and image i starts at column i*Ho*Wo.
#pragma once
#include <cstdint>

#include "autodiff/backend.h"

namespace sv::fast {

// Sizes of one convolution, x (N,C,H,W) * w (O,C/groups,KH,KW) -> y (N,O,Ho,Wo).
struct ConvGeom {
  int64_t N, C, H, W, O, KH, KW, Ho, Wo, groups, Cg, Og;
  Conv2dParams p;
  int64_t rows() const { return Cg * KH * KW; }  // of the column matrix and of w per group
  int64_t in_plane() const { return H * W; }
  int64_t out_plane() const { return Ho * Wo; }
  // 1x1, stride 1, no padding: the column matrix of one image is the image itself.
  bool pointwise() const {
    return KH == 1 && KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};
ConvGeom conv_geom(const Shape& x, const Shape& w, const Conv2dParams& p);
// Output rows [oh0, oh1) only: the same lowering with Ho = oh1 - oh0 and the top padding
// moved down by oh0 * stride_h (it may become negative: the band starts inside the image).
ConvGeom band_geom(const ConvGeom& g, int64_t oh0, int64_t oh1);

// Rows [r0, r1) of the column matrix of x_group (Cg,H,W) into col (rows, ldcol).
template <class T>
void im2col(const T* x_group, const ConvGeom& g, T* col, int64_t ldcol, int64_t r0, int64_t r1);

// gx_group (Cg,H,W) += col2im(col) for input channels [c0, c1) (rows c*KH*KW ..).
// Channels own disjoint rows and pixels, so disjoint channel ranges may run in parallel.
template <class T>
void col2im(const T* col, int64_t ldcol, const ConvGeom& g, T* gx_group, int64_t c0, int64_t c1);

}  // namespace sv::fast
