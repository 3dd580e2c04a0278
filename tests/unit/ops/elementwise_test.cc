// Shape/type rules of the elementwise families: symbolic broadcasting, bool outputs, attribute and dtype
// checks, and dims_value propagation through Add/Sub/Mul/Div/Cast/Identity in shape subgraphs.
#include "ops/elementwise.h"

#include <gtest/gtest.h>

#include "ops/registry.h"

namespace kiln {
namespace {

Dim sym(const char* s) { return Dim::sym(s); }

// A graph under construction: inputs with declared shapes, nodes, then infer_shapes.
struct Builder {
  Graph g;
  explicit Builder(int opset = 17) { g.opset_imports[""] = opset; }
  Value* input(const std::string& name, DType t, std::vector<Dim> dims) {
    Value* v = g.add_value(name, t, SymShape(std::move(dims))).value();
    v->is_graph_input = true;
    g.inputs.push_back(v);
    return v;
  }
  Value* constant(const std::string& name, Tensor t) { return g.add_initializer(name, std::move(t)).value(); }
  Value* node(const std::string& op, std::vector<Value*> ins, std::map<std::string, Attribute> attrs = {},
              size_t n_out = 1) {
    std::vector<Value*> outs;
    for (size_t k = 0; k < n_out; ++k) outs.push_back(g.add_value(g.unique_name(op + "_out")).value());
    Node* n = g.add_node(op, "", ins, outs);
    n->attrs = std::move(attrs);
    return outs[0];
  }
  Status infer() { return infer_shapes(g); }
};

TEST(ElementwiseRules, BroadcastKeepsSymbolicDims) {
  Builder b;
  Value* x = b.input("x", DType::kFloat32, {sym("N"), 3, 1});
  Value* y = b.input("y", DType::kFloat32, {1, 4});
  Value* sum = b.node("Add", {x, y});
  Value* gt = b.node("Greater", {x, y});
  Value* relu = b.node("Relu", {sum});
  ASSERT_TRUE(b.infer().ok());
  EXPECT_EQ(sum->shape.to_string(), SymShape({sym("N"), 3, 4}).to_string());
  EXPECT_EQ(sum->dtype, DType::kFloat32);
  EXPECT_EQ(gt->dtype, DType::kBool);
  EXPECT_EQ(relu->shape.dims[0], sym("N"));
}

TEST(ElementwiseRules, BroadcastMismatchAndDtypeMismatchAreInvalid) {
  Builder b;
  b.node("Mul", {b.input("x", DType::kFloat32, {2, 3}), b.input("y", DType::kFloat32, {4})});
  Status s = b.infer();
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("Mul"), std::string::npos) << s.message();
  Builder c;
  c.node("Add", {c.input("x", DType::kFloat32, {2}), c.input("y", DType::kInt64, {2})});
  EXPECT_EQ(c.infer().code(), StatusCode::kInvalidInput);
}

TEST(ElementwiseRules, WhereAndVariadicBroadcast) {
  Builder b;
  Value* c = b.input("c", DType::kBool, {sym("N"), 1});
  Value* x = b.input("x", DType::kInt64, {5});
  Value* y = b.input("y", DType::kInt64, {});
  Value* w = b.node("Where", {c, x, y});
  Value* m = b.node("Max", {x, y, b.input("z", DType::kInt64, {2, 1})});
  ASSERT_TRUE(b.infer().ok());
  EXPECT_EQ(w->shape.to_string(), SymShape({sym("N"), 5}).to_string());
  EXPECT_EQ(w->dtype, DType::kInt64);
  EXPECT_EQ(m->shape.to_string(), SymShape({2, 5}).to_string());
}

TEST(ElementwiseRules, PReluKeepsXShapeAndChecksSlope) {
  Builder b;
  Value* out = b.node("PRelu", {b.input("x", DType::kFloat32, {sym("N"), 3, 8, 8}),
                                b.constant("slope", Tensor::from_vector<float>({3, 1, 1}, {1, 2, 3}))});
  ASSERT_TRUE(b.infer().ok());
  EXPECT_EQ(out->shape.to_string(), SymShape({sym("N"), 3, 8, 8}).to_string());
  Builder c;
  c.node("PRelu", {c.input("x", DType::kFloat32, {sym("N"), 3}),
                   c.constant("slope", Tensor::from_vector<float>({4}, {1, 2, 3, 4}))});
  EXPECT_EQ(c.infer().code(), StatusCode::kInvalidInput);
}

TEST(ElementwiseRules, AttributeChecks) {
  Builder clip(10);
  Value* x = clip.input("x", DType::kFloat32, {2});
  clip.node("Clip", {x, clip.constant("lo", Tensor::scalar<float>(0.f))});
  EXPECT_EQ(clip.infer().code(), StatusCode::kInvalidInput);  // inputs only from opset 11

  Builder mod;
  mod.node("Mod", {mod.input("a", DType::kFloat32, {2}), mod.input("b", DType::kFloat32, {2})});
  EXPECT_EQ(mod.infer().code(), StatusCode::kInvalidInput);  // floats need fmod=1

  Builder shift;
  shift.node("BitShift", {shift.input("a", DType::kUint8, {2}), shift.input("b", DType::kUint8, {2})},
             {{"direction", Attribute::make_string("UP")}});
  EXPECT_EQ(shift.infer().code(), StatusCode::kInvalidInput);

  Builder cast;
  cast.node("Cast", {cast.input("a", DType::kFloat32, {2})}, {{"to", Attribute::make_int(8)}});
  EXPECT_EQ(cast.infer().code(), StatusCode::kUnsupported);
}

TEST(ElementwiseRules, DropoutMaskDtypeFollowsOpset) {
  for (int opset : {7, 13}) {
    Builder b(opset);
    Value* out = b.node("Dropout", {b.input("x", DType::kFloat16, {sym("N"), 4})}, {}, 2);
    ASSERT_TRUE(b.infer().ok());
    Value* mask = b.g.nodes()[0]->outputs[1];
    EXPECT_EQ(out->dtype, DType::kFloat16);
    EXPECT_EQ(mask->dtype, opset < 10 ? DType::kFloat16 : DType::kBool);
    EXPECT_EQ(mask->shape.dims[0], sym("N"));
  }
}

TEST(ElementwiseRules, DimsValueArithmeticKeepsSymbolsOnlyForIdentities) {
  Builder b;
  Value* shape = b.input("shape", DType::kInt64, {2});
  shape->dims_value = std::vector<Dim>{sym("N"), 6};
  auto c = [&](const char* name, std::vector<int64_t> v) {
    return b.constant(name, Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  };
  Value* mul = b.node("Mul", {shape, c("m", {1, 2})});
  Value* div = b.node("Div", {shape, c("d", {1, 3})});
  Value* add = b.node("Add", {c("a", {0, 1}), shape});
  Value* sub = b.node("Sub", {shape, c("s", {1, 0})});
  Value* mul2 = b.node("Mul", {shape, c("m2", {2, 1})});
  Value* scalar = b.node("Mul", {shape, b.constant("one", Tensor::scalar<int64_t>(1))});
  Value* cast = b.node("Cast", {mul}, {{"to", Attribute::make_int(static_cast<int64_t>(DType::kInt32))}});
  Value* ident = b.node("Identity", {cast});
  ASSERT_TRUE(b.infer().ok());
  using V = std::vector<Dim>;
  ASSERT_TRUE(mul->dims_value);
  EXPECT_EQ(*mul->dims_value, (V{sym("N"), 12}));
  EXPECT_EQ(*div->dims_value, (V{sym("N"), 2}));
  EXPECT_EQ(*add->dims_value, (V{sym("N"), 7}));
  EXPECT_EQ(*sub->dims_value, (V{Dim(), 6}));
  EXPECT_EQ(*mul2->dims_value, (V{Dim(), 6}));
  EXPECT_EQ(*scalar->dims_value, (V{sym("N"), 6}));
  ASSERT_TRUE(ident->dims_value);
  EXPECT_EQ(*ident->dims_value, (V{sym("N"), 12}));
  EXPECT_EQ(ident->dtype, DType::kInt32);
}

TEST(ElementwiseRules, DimsValueOfScalarsAndNonIntegers) {
  Builder b;
  Value* n = b.input("n", DType::kInt64, {});
  n->dims_value = std::vector<Dim>{sym("N")};
  Value* twice = b.node("Add", {n, n});
  Value* plus0 = b.node("Add", {n, b.constant("zero", Tensor::scalar<int64_t>(0))});
  Value* f = b.input("f", DType::kFloat32, {2});
  Value* fsum = b.node("Add", {f, f});
  ASSERT_TRUE(b.infer().ok());
  ASSERT_TRUE(twice->dims_value);
  EXPECT_EQ(*twice->dims_value, std::vector<Dim>{Dim()});
  EXPECT_EQ(*plus0->dims_value, std::vector<Dim>{sym("N")});
  EXPECT_FALSE(fsum->dims_value);
}

TEST(ElementwiseRules, CombineEntriesDirectly) {
  auto r = ops::combine_entries({Dim(7), Dim(-1)}, {Dim(2)}, '/');
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0], Dim(3));
  EXPECT_FALSE((*r)[1].known());
  EXPECT_FALSE(ops::combine_entries({Dim(1), Dim(2)}, {Dim(1), Dim(2), Dim(3)}, '+'));
  EXPECT_FALSE((*ops::combine_entries({Dim(4)}, {Dim(0)}, '/'))[0].known());
}

}  // namespace
}  // namespace kiln
