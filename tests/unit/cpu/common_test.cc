// Broadcast walking and half widening of the shared CPU kernel helpers, checked against hand-computed cases.
#include <gtest/gtest.h>

#include "cpu/kernels/common.h"

namespace kiln::cpu {

TEST(CpuCommon, BroadcastOffsetsMatchNumpyRules) {
  // out [2,3]: a [2,1] broadcasts along columns, b [3] along rows.
  std::vector<std::pair<int64_t, int64_t>> seen;
  for_each_broadcast({2, 3}, {{2, 1}, {3}}, [&](int64_t, const int64_t* off) { seen.emplace_back(off[0], off[1]); });
  std::vector<std::pair<int64_t, int64_t>> want = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}};
  EXPECT_EQ(seen, want);
}

TEST(CpuCommon, BroadcastScalarAndMiddleAxis) {
  std::vector<int64_t> a, b;
  // out [2,2,2]; a [2,1,2] (middle axis broadcast), b scalar.
  for_each_broadcast({2, 2, 2}, {{2, 1, 2}, {}}, [&](int64_t, const int64_t* off) {
    a.push_back(off[0]);
    b.push_back(off[1]);
  });
  EXPECT_EQ(a, (std::vector<int64_t>{0, 1, 0, 1, 2, 3, 2, 3}));
  EXPECT_EQ(b, (std::vector<int64_t>(8, 0)));
}

TEST(CpuCommon, WidenHalfRunsFloatKernelAndNarrowsBack) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat16, SymShape::from({2})).value();
  Value* y = g.add_value("y", DType::kFloat16, SymShape::from({2})).value();
  Node* n = g.add_node("Twice", "twice", {x}, {y});
  CpuKernel twice = [](KernelContext& ctx) -> Status {
    if (ctx.input(0)->dtype() != DType::kFloat32) return runtime_error("kernel saw a non-float32 input");
    Tensor out = ctx.input(0)->clone();
    for (int64_t i = 0; i < out.numel(); ++i) out.data<float>()[i] *= 2.f;
    ctx.outputs[0] = out;
    return Status::Ok();
  };
  Tensor in = convert_dtype(Tensor::from_vector<float>({2}, {1.5f, -3.f}), DType::kFloat16).value();
  KernelContext ctx{*n, {&in}, {}};
  ctx.outputs.resize(1);
  ASSERT_TRUE(widen_half(twice)(ctx).ok());
  ASSERT_EQ(ctx.outputs[0].dtype(), DType::kFloat16);
  EXPECT_FLOAT_EQ(static_cast<float>(ctx.outputs[0].get_as_double(0)), 3.f);
  EXPECT_FLOAT_EQ(static_cast<float>(ctx.outputs[0].get_as_double(1)), -6.f);
}

}  // namespace kiln::cpu
