// decompose_conv_transpose: constant-weight ConvTranspose becomes Conv (+ DepthToSpace for kernel == stride,
// + zero insertion and Pad/Slice otherwise) and computes what the ConvTranspose kernel computes, checked on the
// CPU reference before and after the pass over strides, pads, dilations, groups, output_padding,
// output_shape, auto_pad, 1-D and 3-D windows.
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

struct Case {
  const char* label;
  Shape x, w;
  std::vector<int64_t> strides, pads, dilations, output_padding, output_shape;
  int64_t group = 1;
  const char* auto_pad = nullptr;
  bool bias = true;
  const char* expect_op = "Conv";  // the op that ends up writing the output
};

class DecomposeConvTranspose : public ::testing::TestWithParam<Case> {};

TEST_P(DecomposeConvTranspose, SameOutputsAsTheConvTransposeKernel) {
  const Case& c = GetParam();
  auto g = new_graph(17);
  Value* x = input(*g, "x", c.x);
  std::vector<Value*> in = {x, random_init(*g, "w", c.w, 5)};
  if (c.bias) in.push_back(random_init(*g, "b", {c.w[1] * c.group}, 6));
  Value* y = value(*g, "y");
  Node* n = node(*g, "ConvTranspose", "up", in, {y});
  if (!c.strides.empty()) n->attrs["strides"] = Attribute::make_ints(c.strides);
  if (!c.pads.empty()) n->attrs["pads"] = Attribute::make_ints(c.pads);
  if (!c.dilations.empty()) n->attrs["dilations"] = Attribute::make_ints(c.dilations);
  if (!c.output_padding.empty()) n->attrs["output_padding"] = Attribute::make_ints(c.output_padding);
  if (!c.output_shape.empty()) n->attrs["output_shape"] = Attribute::make_ints(c.output_shape);
  if (c.auto_pad) n->attrs["auto_pad"] = Attribute::make_string(c.auto_pad);
  if (c.group != 1) n->attrs["group"] = Attribute::make_int(c.group);
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_conv_transpose, 9), 1) << c.label;
  EXPECT_EQ(count_ops(*g, "ConvTranspose"), 0) << c.label;
  ASSERT_NE(g->outputs[0]->producer, nullptr);
  EXPECT_EQ(g->outputs[0]->name, "y");
  EXPECT_EQ(g->outputs[0]->producer->op_type, c.expect_op) << c.label << "\n" << print_graph(*g);
}

INSTANTIATE_TEST_SUITE_P(
    Windows, DecomposeConvTranspose,
    ::testing::Values(
        Case{"unet k2 s2", {2, 4, 3, 5}, {4, 3, 2, 2}, {2, 2}, {}, {}, {}, {}, 1, nullptr, true, "DepthToSpace"},
        Case{"k3 s3 no bias", {1, 2, 2, 2}, {2, 5, 3, 3}, {3, 3}, {}, {}, {}, {}, 1, nullptr, false, "DepthToSpace"},
        Case{"stride 1", {1, 3, 4, 4}, {3, 2, 3, 3}, {}, {}, {}, {}, {}},
        Case{"k3 s2 p1 op1", {2, 3, 4, 5}, {3, 2, 3, 3}, {2, 2}, {1, 1, 1, 1}, {}, {1, 1}, {}},
        Case{"k4 s2 p1 (DCGAN)", {1, 4, 3, 3}, {4, 3, 4, 4}, {2, 2}, {1, 1, 1, 1}, {}, {}, {}},
        Case{"asymmetric pads crop", {1, 2, 5, 4}, {2, 2, 3, 2}, {1, 2}, {2, 0, 1, 1}, {}, {}, {}},
        Case{"dilation 2", {1, 2, 4, 4}, {2, 3, 3, 3}, {2, 1}, {}, {2, 2}, {}, {}},
        Case{"groups 2", {1, 4, 3, 3}, {4, 3, 3, 3}, {2, 2}, {}, {}, {}, {}, 2},
        Case{"depthwise k2 s2 (groups = C)", {1, 3, 3, 3}, {3, 1, 2, 2}, {2, 2}, {}, {}, {}, {}, 3},
        Case{"output_shape", {1, 2, 3, 3}, {2, 2, 3, 3}, {2, 2}, {}, {}, {}, {8, 8}},
        Case{"SAME_UPPER", {1, 2, 3, 4}, {2, 2, 3, 3}, {2, 2}, {}, {}, {}, {}, 1, "SAME_UPPER"},
        Case{"SAME_LOWER", {1, 2, 3, 4}, {2, 2, 4, 4}, {2, 2}, {}, {}, {}, {}, 1, "SAME_LOWER"},
        Case{"1-D", {2, 3, 7}, {3, 4, 3}, {2}, {1, 0}, {}, {1}, {}},
        Case{"3-D", {1, 2, 2, 3, 2}, {2, 2, 2, 2, 2}, {2, 1, 2}, {}, {}, {}, {}}),
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

TEST(DecomposeConvTransposePass, LeavesRuntimeWeightsAlone) {
  auto g = new_graph(17);
  Value *x = input(*g, "x", {1, 2, 3, 3}), *w = input(*g, "w", {2, 2, 2, 2}), *y = value(*g, "y");
  node(*g, "ConvTranspose", "up", {x, w}, {y})->attrs["strides"] = Attribute::make_ints({2, 2});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_conv_transpose), 0);
  EXPECT_EQ(count_ops(*g, "ConvTranspose"), 1);
}

TEST(DecomposeConvTransposePass, RunsInTheStandardPipelineWithBatchNormFolded) {
  auto g = new_graph(17);
  Value* x = input(*g, "x", {1, 3, 4, 4});
  Value *t = value(*g, "t"), *y = value(*g, "y");
  node(*g, "ConvTranspose", "up", {x, random_init(*g, "w", {3, 4, 2, 2}, 1)}, {t})->attrs["strides"] =
      Attribute::make_ints({2, 2});
  node(*g, "BatchNormalization", "bn",
       {t, random_init(*g, "s", {4}, 2, 0.5f, 2.f), random_init(*g, "bb", {4}, 3), random_init(*g, "m", {4}, 4),
        random_init(*g, "v", {4}, 5, 0.5f, 2.f)},
       {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  TensorMap feeds = random_feeds(*g, 3);
  auto before = run_cpu(*g, feeds);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(optimize_graph(*g).ok());
  EXPECT_EQ(count_ops(*g, "ConvTranspose"), 0) << print_graph(*g);
  auto after = run_cpu(*g, feeds);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  expect_close(*before, *after);
}

}  // namespace
}  // namespace kiln
