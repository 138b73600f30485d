#include "backends/factory.h"
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

namespace sv::test {
namespace {

// add_relu(std::move(a), b) writes over a only when a is given up and nothing else shares
// its storage (a saved tensor, a view, a copy); the values are relu(a + b) either way.
TEST(AddRelu, WritesOverAnOperandOnlyWhenGivenUpAndUnshared) {
  auto be = make_cpu_backend(true);
  const Tensor a0 = randn({2, 3, 4, 4}, 70), b0 = randn({2, 3, 4, 4}, 71);
  const Tensor want = be->relu_forward(be->add(a0, b0));
  for (bool recording : {false, true}) {
    Graph g(*be, recording);
    Var b = g.input(b0.clone(), true);
    Var a = g.input(a0.clone(), true);
    const void* a_mem = a.value.raw();
    Var kept = add_relu(a, b);  // a stays the caller's: untouched
    EXPECT_NE(kept.value.raw(), a_mem);
    EXPECT_CLOSE(a.value, a0, 0, 0);
    Tensor view = a.value.slice0(0, 1);  // shared: not overwritten
    Var shared = add_relu(std::move(a), b);
    EXPECT_NE(shared.value.raw(), a_mem);
    EXPECT_CLOSE(view, a0.slice0(0, 1), 0, 0);
    Var c = g.input(a0.clone(), true);
    const void* c_mem = c.value.raw();
    Var over = add_relu(std::move(c), b);  // given up, unshared: written over
    EXPECT_EQ(over.value.raw(), c_mem);
    for (const Var* v : {&kept, &shared, &over}) EXPECT_CLOSE(v->value, want, 0, 0);
    if (recording) {  // the in-place result still differentiates: both inputs get relu's mask
      const Tensor gx = g.vjp(over, Tensor::full({1, 2, 3, 4, 4}, 1.0, DType::F64), {b})[0];
      for (int64_t i = 0; i < gx.numel(); ++i) EXPECT_EQ(gx.item(i), want.item(i % want.numel()) > 0 ? 1.0 : 0.0);
    }
  }
}

}  // namespace
}  // namespace sv::test
