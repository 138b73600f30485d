// The decomposition panels of a pair drawn on the pair's scale (issue #10): a panel whose
// maps are weaker than the pair's shared map shows them weaker, and states both scales.
#include <gtest/gtest.h>

#include "apps/report/figures.h"

namespace sv::test {

TEST(Figures, PanelOnItsPairsScale) {
  // Two (1, 2, 2) saliencies with maximum 4. On their own scale (clip percentile 100) the
  // strongest pixel is 1; on a scale twice as large (a pair whose shared map is twice as
  // strong) it is 1/2. Gray over black: the pixel is 255 · 0.75 m · m.
  const Tensor sa = Tensor::from_vector(std::vector<float>{0, 1, 2, 4}, {1, 2, 2});
  const Tensor sb = Tensor::from_vector(std::vector<float>{0, 0, 1, 2}, {1, 2, 2});
  HeatmapOptions opt;
  opt.smooth = 0;
  opt.clip_percentile = 100;
  opt.colormap = Colormap::Gray;
  const Rgb black{2, 2, std::vector<uint8_t>(12, 0)};
  const PairOverlays own = pair_overlays(sa, sb, black, black, opt);
  EXPECT_DOUBLE_EQ(own.scale, 4.0);
  EXPECT_DOUBLE_EQ(own.own_scale, 4.0);
  EXPECT_EQ(own.a.px[3 * 3], 191);  // 255 · 0.75 · 1 · 1
  const PairOverlays at = pair_overlays_at(sa, sb, black, black, opt, 8.0);
  EXPECT_DOUBLE_EQ(at.scale, 8.0);
  EXPECT_DOUBLE_EQ(at.own_scale, 4.0);
  EXPECT_EQ(at.a.px[3 * 3], 48);  // 255 · 0.75 · 0.5 · 0.5 = 47.8
}

}  // namespace sv::test
