// Shape rules of the tensor-manipulation ops: symbolic dims through PyTorch-style shape subgraphs, static
// shapes against hand-computed ones, and errors on invalid attributes.
#include <gtest/gtest.h>

#include "ops/tensor_util.h"
#include "tests/unit/ops/tensor_test_util.h"

namespace kiln {
namespace {
using namespace testing_util;

std::string shape_of(Graph& g, const std::string& name) { return g.find_value(name)->shape.to_string(); }

TEST(TensorShapeRules, PyTorchFlattenChainKeepsBatchSymbolic) {
  // x:[N,2048,1,1] -> Shape -> Gather(0) -> Unsqueeze(0) -> Concat([-1]) -> Reshape: [N,2048].
  GraphBuilder b(13);
  Value* x = b.input("x", DType::kFloat32, {S("N"), 2048, 1, 1});
  b.node("Shape", {x}, {"shape"});
  b.node("Gather", {b.v("shape"), b.ints("zero", {0}, true)}, {"batch"}, {{"axis", I(0)}});
  b.node("Unsqueeze", {b.v("batch"), b.ints("axes", {0})}, {"batch1"});
  b.node("Concat", {b.v("batch1"), b.ints("minus1", {-1})}, {"target"}, {{"axis", I(0)}});
  b.node("Reshape", {x, b.v("target")}, {"y"});
  b.output("y");
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "batch"), "[]");
  EXPECT_EQ(shape_of(b.g, "target"), "[2]");
  ASSERT_TRUE(b.v("target")->dims_value.has_value());
  EXPECT_EQ(b.v("target")->dims_value->at(0), S("N"));
  EXPECT_EQ(literal_value(b.v("target")->dims_value->at(1)), std::optional<int64_t>(-1));
  EXPECT_EQ(shape_of(b.g, "y"), "[N,2048]");

  // And the kernels agree at run time with N = 3.
  Tensor in = Tensor::create(DType::kFloat32, {3, 2048, 1, 1}).value();
  auto r = run_cpu(b.g, {{"x", in}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("y").shape(), (Shape{3, 2048}));
}

TEST(TensorShapeRules, ReshapeSolvesMinusOneSymbolically) {
  GraphBuilder b(14);
  Value* x = b.input("x", DType::kFloat32, {S("N"), S("T"), 8, 4});
  b.node("Reshape", {x, b.ints("s1", {0, 0, -1})}, {"a"});     // [N,T,32]
  b.node("Reshape", {x, b.ints("s2", {-1, 32})}, {"b"});       // N*T unknown: ?
  b.node("Reshape", {x, b.ints("s3", {0, -1, 4})}, {"c"});     // T*8: unknown
  b.node("Reshape", {x, b.ints("s4", {0, 0, 2, -1})}, {"d"});  // 16
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "a"), "[N,T,32]");
  EXPECT_EQ(shape_of(b.g, "b"), "[?,32]");
  EXPECT_EQ(shape_of(b.g, "c"), "[N,?,4]");
  EXPECT_EQ(shape_of(b.g, "d"), "[N,T,2,16]");
}

TEST(TensorShapeRules, ReshapeErrors) {
  GraphBuilder b(14);
  Value* x = b.input("x", DType::kFloat32, {2, 3});
  b.node("Reshape", {x, b.ints("s", {-1, -1})}, {"y"});
  Status s = infer_shapes(b.g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("more than one -1"), std::string::npos) << s.message();

  GraphBuilder c(14);
  Value* x2 = c.input("x", DType::kFloat32, {2, 3});
  c.node("Reshape", {x2, c.ints("s", {4, -1})}, {"y"});
  EXPECT_EQ(infer_shapes(c.g).code(), StatusCode::kInvalidInput);
}

TEST(TensorShapeRules, ShapeStartEndAndSliceOfShapeFeedExpand) {
  GraphBuilder b(15);
  Value* x = b.input("x", DType::kFloat32, {S("B"), 3, S("H"), S("W")});
  b.node("Shape", {x}, {"hw"}, {{"start", I(-2)}});
  Value* z = b.input("z", DType::kFloat32, {1, 1, 1});
  b.node("Shape", {x}, {"all"});
  b.node("Slice", {b.v("all"), b.ints("st", {0}), b.ints("en", {1})}, {"bdim"});
  b.node("Concat", {b.v("bdim"), b.ints("one", {1}), b.v("hw")}, {"target"}, {{"axis", I(0)}});
  b.node("Expand", {z, b.v("target")}, {"e"});
  b.node("ConstantOfShape", {b.v("target")}, {"c"});
  b.node("Tile", {z, b.ints("reps", {1, 5, 2})}, {"t"});
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "hw"), "[2]");
  EXPECT_EQ(SymShape(*b.v("hw")->dims_value).to_string(), "[H,W]");
  EXPECT_EQ(shape_of(b.g, "e"), "[B,1,H,W]");
  EXPECT_EQ(shape_of(b.g, "c"), "[B,1,H,W]");
  EXPECT_EQ(b.v("c")->dtype, DType::kFloat32);
  EXPECT_EQ(shape_of(b.g, "t"), "[1,5,2]");
}

TEST(TensorShapeRules, StaticShapeFoldsToConstant) {
  GraphBuilder b(13);
  Value* x = b.input("x", DType::kFloat32, {2, 3, 4});
  b.node("Shape", {x}, {"s"});
  b.node("Size", {x}, {"n"});
  ASSERT_TRUE(infer_shapes(b.g).ok());
  ASSERT_TRUE(b.v("s")->constant.has_value());
  EXPECT_EQ(b.v("s")->constant->to_int64_vector(), (std::vector<int64_t>{2, 3, 4}));
  ASSERT_TRUE(b.v("n")->constant.has_value());
  EXPECT_EQ(b.v("n")->constant->get_as_int64(0), 24);
}

TEST(TensorShapeRules, SqueezeUnsqueezeFlattenTranspose) {
  GraphBuilder b(11);  // axes as attributes
  Value* x = b.input("x", DType::kFloat16, {S("N"), 1, 5, 1});
  b.node("Squeeze", {x}, {"sq"}, {{"axes", Is({1, -1})}});
  b.node("Unsqueeze", {b.v("sq")}, {"un"}, {{"axes", Is({0, 3})}});
  b.node("Flatten", {x}, {"fl"}, {{"axis", I(2)}});
  b.node("Flatten", {x}, {"fl0"}, {{"axis", I(0)}});
  b.node("Transpose", {x}, {"tr"}, {{"perm", Is({2, 0, 3, 1})}});
  b.node("Transpose", {x}, {"rev"});
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "sq"), "[N,5]");
  EXPECT_EQ(shape_of(b.g, "un"), "[1,N,5,1]");
  EXPECT_EQ(shape_of(b.g, "fl"), "[N,5]");
  EXPECT_EQ(shape_of(b.g, "fl0"), "[1,?]");
  EXPECT_EQ(shape_of(b.g, "tr"), "[5,N,1,1]");
  EXPECT_EQ(shape_of(b.g, "rev"), "[1,5,1,N]");
  EXPECT_EQ(b.v("tr")->dtype, DType::kFloat16);
}

TEST(TensorShapeRules, InvalidAttributesNameTheProblem) {
  {
    GraphBuilder b(13);
    Value* x = b.input("x", DType::kFloat32, {2, 3});
    b.node("Squeeze", {x, b.ints("ax", {0})}, {"y"});
    Status s = infer_shapes(b.g);
    EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
    EXPECT_NE(s.message().find("Squeeze"), std::string::npos) << s.message();
  }
  {
    GraphBuilder b(13);
    Value* x = b.input("x", DType::kFloat32, {2, 3});
    b.node("Transpose", {x}, {"y"}, {{"perm", Is({0, 0})}});
    EXPECT_EQ(infer_shapes(b.g).code(), StatusCode::kInvalidInput);
  }
  {
    GraphBuilder b(13);
    Value* x = b.input("x", DType::kFloat32, {2, 3});
    Value* y = b.input("y", DType::kFloat32, {4, 3});
    b.node("Concat", {x, y}, {"z"}, {{"axis", I(1)}});
    EXPECT_EQ(infer_shapes(b.g).code(), StatusCode::kInvalidInput);
  }
  {
    GraphBuilder b(13);
    Value* x = b.input("x", DType::kFloat32, {1, 3, 4, 4});
    b.node("Pad", {x, b.ints("p", {0, 0, 1, 1, 0, 0, 1, 1})}, {"z"}, {{"mode", Str("mirror")}});
    EXPECT_EQ(infer_shapes(b.g).code(), StatusCode::kUnsupported);
  }
  {
    GraphBuilder b(13);
    Value* x = b.input("x", DType::kFloat32, {1, 6, 4, 4});
    b.node("DepthToSpace", {x}, {"z"}, {{"blocksize", I(2)}});
    EXPECT_EQ(infer_shapes(b.g).code(), StatusCode::kInvalidInput);
  }
}

TEST(TensorShapeRules, ConcatSplitSlicePadShapes) {
  GraphBuilder b(18);
  Value* x = b.input("x", DType::kFloat32, {S("N"), 7, 10});
  Value* y = b.input("y", DType::kFloat32, {S("N"), 3, 10});
  b.node("Concat", {x, y}, {"cat"}, {{"axis", I(1)}});
  b.node("Split", {x}, {"s0", "s1", "s2"}, {{"axis", I(1)}, {"num_outputs", I(3)}});
  b.node("Slice",
         {x, b.ints("st", {-1, 1}), b.ints("en", {INT64_MIN, 100}), b.ints("ax", {2, 1}), b.ints("sp", {-3, 2})},
         {"sl"});
  b.node("Pad", {x, b.ints("pads", {1, 2, -3, 0, 2, 0})}, {"pd"});
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "cat"), "[N,10,10]");
  EXPECT_EQ(shape_of(b.g, "s0"), "[N,3,10]");
  EXPECT_EQ(shape_of(b.g, "s2"), "[N,1,10]");
  EXPECT_EQ(shape_of(b.g, "sl"), "[N,3,4]");  // axis 1: 1,3,5 ; axis 2: 9,6,3,0
  EXPECT_EQ(shape_of(b.g, "pd"), "[?,11,7]");
}

TEST(TensorShapeRules, GatherFamilyAndGenerators) {
  GraphBuilder b(13);
  Value* d = b.input("d", DType::kFloat32, {S("N"), 5, 6});
  Value* i = b.input("i", DType::kInt64, {2, 3});
  b.node("Gather", {d, i}, {"g"}, {{"axis", I(1)}});
  Value* nd = b.input("nd", DType::kInt64, {S("N"), 4, 1});
  b.node("GatherND", {d, nd}, {"gnd"}, {{"batch_dims", I(1)}});
  b.node("NonZero", {d}, {"nz"});
  Value* idx = b.input("idx", DType::kInt32, {S("N"), 2});
  b.node("OneHot", {idx, b.ints("depth", {10}, true), b.init("vals", Tensor::from_vector<float>({2}, {0, 1}))}, {"oh"},
         {{"axis", I(1)}});
  b.node("Range", {b.ints("r0", {10}, true), b.ints("r1", {1}, true), b.ints("r2", {-3}, true)}, {"rg"});
  ASSERT_TRUE(infer_shapes(b.g).ok());
  EXPECT_EQ(shape_of(b.g, "g"), "[N,2,3,6]");
  EXPECT_EQ(shape_of(b.g, "gnd"), "[N,4,6]");
  EXPECT_EQ(shape_of(b.g, "nz"), "[3,?]");
  EXPECT_EQ(shape_of(b.g, "oh"), "[N,10,2]");
  EXPECT_EQ(shape_of(b.g, "rg"), "[3]");  // 10, 7, 4
}

}  // namespace
}  // namespace kiln
