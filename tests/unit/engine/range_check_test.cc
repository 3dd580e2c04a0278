// The FP16 range check: which layers' FP32 values overflow, flush to zero or go subnormal in FP16.
#include "engine/range_check.h"

#include <gtest/gtest.h>

#include "../passes/pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

// x -> *1e5 (up) -> Relu (relu) -> *1e-13 (down) -> *1e3 (mid) -> *1e3 (back): with max|x| = 3 the values
// are 3e5 (> 65504: overflow), 3e5 (overflow), 3e-8 (< 2^-24 = 5.96e-8: flush), 3e-5 (< 2^-14 = 6.1e-5:
// subnormal) and 3e-2 (fine).
std::unique_ptr<Graph> chain(bool symbolic_batch) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 4});
  if (symbolic_batch) x->shape.dims[0] = Dim::sym("batch");
  Value *a = value(*g, "a"), *b = value(*g, "b"), *c = value(*g, "c"), *d = value(*g, "d"), *e = value(*g, "e");
  node(*g, "Mul", "up", {x, init(*g, "k_up", {}, {1e5f})}, {a});
  node(*g, "Relu", "relu", {a}, {b});
  node(*g, "Mul", "down", {b, init(*g, "k_down", {}, {1e-13f})}, {c});
  node(*g, "Mul", "mid", {c, init(*g, "k_mid", {}, {1e3f})}, {d});
  node(*g, "Mul", "back", {d, init(*g, "k_back", {}, {1e3f})}, {e});
  mark_output(*g, e);
  Status s = infer_shapes(*g);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return g;
}

TensorMap feeds_max3() {
  TensorMap f;
  f["x"] = Tensor::from_vector<float>({2, 4}, {1.f, -2.f, 0.5f, 3.f, 0.25f, -1.f, 2.f, 0.f});
  return f;
}

TEST(RangeCheck, ClassifiesEachLayerByHand) {
  auto g = chain(false);
  auto report = check_fp16_ranges(*g, feeds_max3());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->checked_values, 5);
  ASSERT_EQ(report->findings.size(), 4u);
  EXPECT_EQ(report->findings[0].node, "up");
  EXPECT_EQ(report->findings[0].kind, RangeKind::kOverflow);
  EXPECT_DOUBLE_EQ(report->findings[0].max_abs, 3e5);
  EXPECT_EQ(report->findings[1].node, "relu");
  EXPECT_EQ(report->findings[1].kind, RangeKind::kOverflow);
  EXPECT_EQ(report->findings[2].node, "down");
  EXPECT_EQ(report->findings[2].kind, RangeKind::kFlushToZero);
  EXPECT_NEAR(report->findings[2].max_abs, 3e-8, 1e-14);
  EXPECT_EQ(report->findings[3].node, "mid");
  EXPECT_EQ(report->findings[3].kind, RangeKind::kSubnormal);
  EXPECT_NEAR(report->findings[3].max_abs, 3e-5, 1e-11);
  const auto w = report->warnings();
  ASSERT_EQ(w.size(), 3u);  // one per kind, naming its first layer
  EXPECT_NE(w[0].find("overflow"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("'up' (Mul)"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("2 layers in all"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("'down'"), std::string::npos) << w[1];
  EXPECT_NE(w[1].find("flushes to zero"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find("'mid'"), std::string::npos) << w[2];
  EXPECT_EQ(report->suggested_layer_precisions(), "up:fp32,relu:fp32,down:fp32,mid:fp32");
}

TEST(RangeCheck, SkipsLayersNotInFp16AndFlagsNonFinite) {
  auto g = chain(false);
  auto report = check_fp16_ranges(*g, feeds_max3(), [](const std::string& n) { return n != "up" && n != "relu"; });
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->findings.size(), 2u);
  EXPECT_EQ(report->findings[0].node, "down");
  TensorMap inf = feeds_max3();
  inf["x"].data<float>()[3] = INFINITY;
  report = check_fp16_ranges(*g, inf);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->findings[0].kind, RangeKind::kNonFinite);
  EXPECT_NE(report->warnings()[0].find("already inf/NaN in FP32"), std::string::npos);
}

TEST(RangeCheck, NothingToSayWhenValuesFit) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 4});
  Value* y = value(*g, "y");
  node(*g, "Relu", "relu", {x}, {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto report = check_fp16_ranges(*g, feeds_max3());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->findings.empty());
  EXPECT_TRUE(report->warnings().empty());
  EXPECT_EQ(report->checked_values, 1);
}

TEST(RangeCheck, FeedsUseBatchOneAndRefuseHugeInputs) {
  auto g = chain(true);
  auto feeds = range_check_feeds(*g, {}, 0, 1 << 20);
  ASSERT_TRUE(feeds.ok()) << feeds.status().to_string();
  EXPECT_EQ(feeds->at("x").shape(), (Shape{1, 4}));
  auto big = range_check_feeds(*g, {}, 0, 3);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(big.status().message().find("exceed 3 elements"), std::string::npos) << big.status().message();
}

TEST(RangeCheck, ForBuildHonoursPrecisionAndPinnedLayers) {
  auto g = chain(true);
  BuildOptions o;
  o.precision = "fp32";
  auto none = fp16_range_check_for_build(*g, o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->checked_values, 0);  // nothing runs in FP16: nothing checked
  o.precision = "fp16";
  o.layer_precisions = {{"up", "fp32"}, {"relu", "fp32"}};
  auto r = fp16_range_check_for_build(*g, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->checked_values, 3);
  EXPECT_NE(r->feeds.find("float32[1x4]"), std::string::npos) << r->feeds;
  // Random inputs in [-1, 1): down = relu(1e5 x) * 1e-13 is at most 1e-8, below FP16's smallest subnormal.
  ASSERT_FALSE(r->findings.empty());
  EXPECT_EQ(r->findings[0].node, "down");
  EXPECT_EQ(r->findings[0].kind, RangeKind::kFlushToZero);
  o.precision = "bf16";
  o.layer_precisions = {{"mid", "fp16"}};
  r = fp16_range_check_for_build(*g, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->checked_values, 1);  // only the layer pinned to fp16
}

}  // namespace
}  // namespace kiln
