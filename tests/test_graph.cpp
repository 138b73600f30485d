#include "tests/gradcheck.h"

namespace sv::test {

TEST(GradCheck, ConvReluPoolLinear) {
  Conv2dParams cp;
  cp.stride_h = 2;
  cp.pad_h = cp.pad_w = 1;
  Pool2dParams pp;
  pp.kernel_h = pp.kernel_w = 2;
  pp.stride_h = pp.stride_w = 2;
  gradcheck(
      [&](Graph&, const std::vector<Var>& in) {
        Var y = conv2d(in[0], in[1], in[2], cp);
        y = relu(y);
        y = avgpool2d(y, pp);
        return linear(flatten(y), in[3], Var{});
      },
      {randn({2, 3, 7, 6}, 1), randn({4, 3, 3, 3}, 2), randn({4}, 3), randn({5, 4 * 2 * 3}, 4)});
}

}  // namespace sv::test
