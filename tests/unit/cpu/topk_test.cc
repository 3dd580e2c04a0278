// ArgMax/ArgMin/TopK and NonMaxSuppression CPU kernels against hand-computed values.
#include <gtest/gtest.h>

#include "single_node.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }
Tensor i64(const Shape& s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(s, v); }

std::vector<Tensor> run(const std::string& op, int opset, std::vector<Tensor> in,
                        std::map<std::string, Attribute> attrs, size_t outputs = 1, size_t feeds = 1) {
  SingleNode s{op, opset, std::move(attrs), std::move(in), feeds, outputs};
  auto r = run_single(s);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : std::vector<Tensor>(outputs);
}

TEST(CpuArg, MaxKeepdimsAndSelectLast) {
  Tensor x = f32({2, 3}, {1, 5, 5, 7, 2, 7});
  Tensor first = run("ArgMax", 13, {x}, {{"axis", Attribute::make_int(1)}})[0];
  EXPECT_EQ(first.shape(), (Shape{2, 1}));
  EXPECT_EQ(values_of<int64_t>(first), (std::vector<int64_t>{1, 0}));
  Tensor last =
      run("ArgMax", 13, {x}, {{"axis", Attribute::make_int(1)}, {"select_last_index", Attribute::make_int(1)}})[0];
  EXPECT_EQ(values_of<int64_t>(last), (std::vector<int64_t>{2, 2}));
}

TEST(CpuArg, MinAxis0NoKeepdimsInt32) {
  Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 5, 5, 7, 2, 7});
  Tensor y = run("ArgMin", 13, {x}, {{"keepdims", Attribute::make_int(0)}})[0];
  EXPECT_EQ(y.shape(), (Shape{3}));
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{0, 1, 0}));
}

TEST(CpuTopK, LargestTiesTakeLowerIndexFirst) {
  auto out = run("TopK", 11, {f32({1, 4}, {1, 3, 3, 2}), i64({1}, {2})}, {}, 2);
  EXPECT_EQ(out[0].shape(), (Shape{1, 2}));
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{3, 3}));
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{1, 2}));
}

TEST(CpuTopK, SmallestAlongAxis0) {
  // Columns [4,1,3] and [0,9,2]; the 2 smallest of each, sorted ascending.
  auto out = run("TopK", 11, {f32({3, 2}, {4, 0, 1, 9, 3, 2}), i64({1}, {2})},
                 {{"axis", Attribute::make_int(0)}, {"largest", Attribute::make_int(0)}}, 2);
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{1, 0, 3, 2}));
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{1, 0, 2, 2}));
}

TEST(CpuTopK, KAttributeBeforeOpset10AndIntegers) {
  auto out = run("TopK", 9, {i64({5}, {5, -1, 7, 7, 0})}, {{"k", Attribute::make_int(3)}}, 2);
  EXPECT_EQ(values_of<int64_t>(out[0]), (std::vector<int64_t>{7, 7, 5}));
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{2, 3, 0}));
}

TEST(CpuTopK, KLargerThanAxisIsAnError) {
  auto r = run_single(SingleNode{"TopK", 11, {}, {f32({3}, {1, 2, 3}), i64({1}, {4})}, 1, 2});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
}

// The ONNX operator documentation's example: boxes 0-2 overlap heavily, 3-4 overlap, 5 is alone.
Tensor corner_boxes() {
  return f32({1, 6, 4},
             {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f, 0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101});
}
Tensor six_scores() { return f32({1, 1, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f}); }

TEST(CpuNms, SuppressByIou) {
  Tensor y = run("NonMaxSuppression", 11,
                 {corner_boxes(), six_scores(), i64({1}, {3}), f32({1}, {0.5f}), f32({1}, {0.f})}, {}, 1, 2)[0];
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
}

TEST(CpuNms, CenterPointBoxesAndScoreThreshold) {
  Tensor boxes = f32({1, 6, 4}, {0.5f, 0.5f,  1, 1, 0.5f, 0.6f,  1, 1, 0.5f, 0.4f,   1, 1,
                                 0.5f, 10.5f, 1, 1, 0.5f, 10.6f, 1, 1, 0.5f, 100.5f, 1, 1});
  Tensor y = run("NonMaxSuppression", 11, {boxes, six_scores(), i64({1}, {3}), f32({1}, {0.5f}), f32({1}, {0.4f})},
                 {{"center_point_box", Attribute::make_int(1)}}, 1, 2)[0];
  // Box 5 (score 0.3) falls under the score threshold.
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{0, 0, 3, 0, 0, 0}));
}

TEST(CpuNms, LimitAndTwoClassesAndDefaults) {
  Tensor scores = f32({1, 2, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f, 0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f});
  Tensor y = run("NonMaxSuppression", 11, {corner_boxes(), scores, i64({1}, {2}), f32({1}, {0.5f})}, {}, 1, 2)[0];
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{0, 0, 3, 0, 0, 0, 0, 1, 3, 0, 1, 0}));
  // max_output_boxes_per_class omitted = 0: nothing is selected.
  Tensor none = run("NonMaxSuppression", 11, {corner_boxes(), six_scores()}, {}, 1, 2)[0];
  EXPECT_EQ(none.shape(), (Shape{0, 3}));
}

}  // namespace
}  // namespace kiln::testing
