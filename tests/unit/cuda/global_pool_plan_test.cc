// The NHWC global pool's work split (kernels/pool.cu), checked without a GPU: pixel ranges cover the area
// exactly once, the float partials' workspace matches the split, narrow layers get packed loads and a block
// shape that keeps every thread reading, row-major pools and one-pixel inputs are not split.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cuda/kernels/pool.h"

namespace kiln::cuda {
namespace {

void expect_covers(const GlobalPoolSplit& p, int64_t n, int64_t c, int64_t area) {
  ASSERT_GE(p.splits, 1);
  EXPECT_GE(p.splits * p.per_split, area) << "the ranges reach the last pixel";
  EXPECT_LT((p.splits - 1) * p.per_split, area) << "no empty range";
  EXPECT_EQ(p.workspace_bytes, p.splits > 1 ? static_cast<size_t>(p.splits * n * c) * sizeof(float) : 0u);
}

TEST(GlobalPoolPlan, EfficientnetSeBlockIsSplitOverPixels) {
  const GlobalPoolSplit p = plan_global_pool(true, 1, 32, 112 * 112, DType::kFloat16);
  expect_covers(p, 1, 32, 112 * 112);
  EXPECT_EQ(p.lanes, 8);
  EXPECT_EQ(p.gx, 4) << "4 packs of 8 channels side by side, 64 pixel rows in flight";
  EXPECT_GT(p.splits, 1) << "one block for a whole image would leave the GPU idle";
}

TEST(GlobalPoolPlan, LanesFollowDtypeAndChannels) {
  EXPECT_EQ(plan_global_pool(true, 2, 12, 49, DType::kFloat16).lanes, 1);
  EXPECT_EQ(plan_global_pool(true, 2, 12, 49, DType::kFloat32).lanes, 4);
  const GlobalPoolSplit wide = plan_global_pool(true, 8, 1280, 49, DType::kFloat16);
  EXPECT_EQ(wide.lanes, 8);
  EXPECT_EQ(wide.gx, 32);
  expect_covers(wide, 8, 1280, 49);
  for (int64_t area : {1, 7, 57 * 55, 150 * 70, 1 << 20})
    expect_covers(plan_global_pool(true, 2, 24, area, DType::kFloat32), 2, 24, area);
}

TEST(GlobalPoolPlan, RowMajorAndSinglePixelAreNotSplit) {
  const GlobalPoolSplit rm = plan_global_pool(false, 1, 32, 112 * 112, DType::kFloat16);
  EXPECT_EQ(rm.splits, 1);
  EXPECT_EQ(rm.workspace_bytes, 0u);
  const GlobalPoolSplit one = plan_global_pool(true, 3, 40, 1, DType::kFloat16);
  EXPECT_EQ(one.splits, 1);
  EXPECT_EQ(one.workspace_bytes, 0u);
}

}  // namespace
}  // namespace kiln::cuda
#endif
