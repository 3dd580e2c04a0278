// The CUDA elementwise lowerings' host-side decisions, checked without a GPU: output dtype and layout,
// the conversions they ask for, views, planning at configure, and refusals with kUnsupported.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include <memory>

#include "cuda/layer.h"
#include "ops/fused.h"

namespace kiln::cuda {
namespace {

struct Conversion {
  size_t input;
  DType dtype;
  Layout layout;
};

// A node plus a LowerContext whose converter records requests and applies them to the descriptors,
// as the builder does.
struct Lowering {
  Node node;
  std::unique_ptr<LowerContext> ctx;
  std::vector<Conversion> conversions;

  Lowering(const std::string& op, Precision p, std::vector<TensorDesc> inputs, int opset = 17,
           const std::string& domain = "") {
    node.op_type = op;
    node.name = "n";
    node.opset = opset;
    node.domain = domain;
    node.inputs.assign(inputs.size(), nullptr);
    node.outputs.assign(1, nullptr);
    ctx = std::make_unique<LowerContext>(node, p);
    ctx->inputs = std::move(inputs);
    ctx->outputs.resize(1);
    ctx->constants_.assign(ctx->inputs.size(), nullptr);
    ctx->convert_ = [this](size_t i, DType dtype, Layout layout) {
      conversions.push_back({i, dtype, layout});
      ctx->inputs[i].dtype = dtype;
      ctx->inputs[i].layout = layout;
      return Status::Ok();
    };
  }

  Expected<std::unique_ptr<Layer>> lower() {
    const CudaLoweringDef* def = CudaLoweringRegistry::instance().find(node.op_type, node.domain);
    if (!def) return unsupported("no lowering registered for " + node.op_type);
    return def->make(*ctx);
  }

  // Configures `layer` with the final input descriptors and output 0 of `out_shape`.
  Status configure(Layer& layer, const Shape& out_shape) {
    ConfigureContext cc;
    cc.inputs = ctx->inputs;
    TensorDesc out = ctx->outputs[0];
    out.shape = out_shape;
    cc.outputs = {out};
    return layer.configure(cc);
  }
};

TensorDesc desc(DType t, Shape s, Layout l = Layout::kRowMajor) { return TensorDesc{t, std::move(s), l}; }

TEST(ElementwiseLowering, EveryOpIsRegistered) {
  for (const char* op : {"Relu",
                         "LeakyRelu",
                         "PRelu",
                         "Clip",
                         "Sigmoid",
                         "HardSigmoid",
                         "HardSwish",
                         "Tanh",
                         "Exp",
                         "Log",
                         "Sqrt",
                         "Reciprocal",
                         "Neg",
                         "Abs",
                         "Erf",
                         "Floor",
                         "Ceil",
                         "Round",
                         "Sin",
                         "Cos",
                         "Softplus",
                         "Elu",
                         "Selu",
                         "Gelu",
                         "Mish",
                         "Sign",
                         "Not",
                         "Identity",
                         "Dropout",
                         "Add",
                         "Sub",
                         "Mul",
                         "Div",
                         "Pow",
                         "Max",
                         "Min",
                         "Sum",
                         "Mean",
                         "Equal",
                         "Less",
                         "Greater",
                         "LessOrEqual",
                         "GreaterOrEqual",
                         "And",
                         "Or",
                         "Xor",
                         "Where",
                         "Mod",
                         "Cast",
                         "CastLike"})
    EXPECT_NE(CudaLoweringRegistry::instance().find(op), nullptr) << op;
  EXPECT_NE(CudaLoweringRegistry::instance().find("FusedElementwise", kKilnDomain), nullptr);
}

TEST(ElementwiseLowering, NhwcActivationPlusConstantBias) {
  Tensor bias = Tensor::create(DType::kFloat32, {8, 1, 1}).value();
  Lowering l("Add", Precision::kFP16,
             {desc(DType::kFloat16, {2, 8, 5, 7}, Layout::kNHWC), desc(DType::kFloat32, {8, 1, 1})});
  l.ctx->constants_[1] = &bias;
  auto layer = l.lower();
  ASSERT_TRUE(layer.ok()) << layer.status().to_string();
  EXPECT_EQ(l.ctx->outputs[0].dtype, DType::kFloat16);
  EXPECT_EQ(l.ctx->outputs[0].layout, Layout::kNHWC);
  ASSERT_EQ(l.conversions.size(), 1u);  // the float32 constant, wanted in float16, row-major
  EXPECT_EQ(l.conversions[0].input, 1u);
  EXPECT_EQ(l.conversions[0].dtype, DType::kFloat16);
  EXPECT_EQ(l.conversions[0].layout, Layout::kRowMajor);
  ASSERT_TRUE(l.configure(**layer, {2, 8, 5, 7}).ok());
  EXPECT_EQ((*layer)->tactic(), "kernel:strided");
}

TEST(ElementwiseLowering, UnaryKeepsLayoutAndRunsFlat) {
  Lowering l("Sigmoid", Precision::kBF16, {desc(DType::kBFloat16, {2, 8, 5, 7}, Layout::kNHWC)});
  auto layer = l.lower();
  ASSERT_TRUE(layer.ok()) << layer.status().to_string();
  EXPECT_EQ(l.ctx->outputs[0].dtype, DType::kBFloat16);
  EXPECT_EQ(l.ctx->outputs[0].layout, Layout::kNHWC);
  ASSERT_TRUE(l.configure(**layer, {2, 8, 5, 7}).ok());
  EXPECT_EQ((*layer)->tactic(), "kernel:flat");
}

TEST(ElementwiseLowering, OutputLayoutFollowsTheFullShapeInput) {
  // The NHWC input is the broadcast one: the output (shape of the row-major input) stays row-major.
  Lowering l("Mul", Precision::kFP16,
             {desc(DType::kFloat16, {1, 8, 1, 1}, Layout::kNHWC), desc(DType::kFloat16, {2, 8, 5, 7})});
  ASSERT_TRUE(l.lower().ok());
  EXPECT_EQ(l.ctx->outputs[0].layout, Layout::kRowMajor);
}

TEST(ElementwiseLowering, ComparisonGivesBoolAndIntegersStayExact) {
  Lowering less("Less", Precision::kFP32, {desc(DType::kFloat32, {3, 4}), desc(DType::kFloat32, {4})});
  ASSERT_TRUE(less.lower().ok());
  EXPECT_EQ(less.ctx->outputs[0].dtype, DType::kBool);
  Lowering add("Add", Precision::kFP16, {desc(DType::kInt64, {3, 4}), desc(DType::kInt64, {1})});
  ASSERT_TRUE(add.lower().ok());
  EXPECT_EQ(add.ctx->outputs[0].dtype, DType::kInt64);
  EXPECT_TRUE(add.conversions.empty());
  Lowering relu("Relu", Precision::kFP32, {desc(DType::kInt32, {5})});
  ASSERT_TRUE(relu.lower().ok());
  EXPECT_EQ(relu.ctx->outputs[0].dtype, DType::kInt32);
}

TEST(ElementwiseLowering, RefusalsNameTheProblem) {
  Lowering exp("Exp", Precision::kFP32, {desc(DType::kInt64, {5})});
  EXPECT_EQ(exp.lower().status().code(), StatusCode::kUnsupported);
  Lowering mixed("Add", Precision::kFP32, {desc(DType::kFloat32, {5}), desc(DType::kInt64, {5})});
  EXPECT_EQ(mixed.lower().status().code(), StatusCode::kInvalidInput);
  Lowering f64("Sigmoid", Precision::kFP32, {desc(DType::kFloat64, {5})});
  EXPECT_EQ(f64.lower().status().code(), StatusCode::kUnsupported);
  Lowering pow_int("Pow", Precision::kFP32, {desc(DType::kInt64, {5}), desc(DType::kInt64, {5})});
  EXPECT_EQ(pow_int.lower().status().code(), StatusCode::kUnsupported);
  Lowering pow_dyn("Pow", Precision::kFP32, {desc(DType::kFloat32, {5}), desc(DType::kInt64, {5})});
  EXPECT_EQ(pow_dyn.lower().status().code(), StatusCode::kUnsupported);  // run-time integer exponent
  Lowering and_f("And", Precision::kFP32, {desc(DType::kFloat32, {5}), desc(DType::kFloat32, {5})});
  EXPECT_EQ(and_f.lower().status().code(), StatusCode::kUnsupported);
  std::vector<TensorDesc> nine(9, desc(DType::kFloat32, {5}));
  Lowering sum9("Sum", Precision::kFP32, nine);
  EXPECT_EQ(sum9.lower().status().code(), StatusCode::kUnsupported);
  Lowering gelu("Gelu", Precision::kFP32, {desc(DType::kFloat32, {5})}, 20);
  gelu.node.attrs["approximate"] = Attribute::make_string("erf");
  EXPECT_EQ(gelu.lower().status().code(), StatusCode::kInvalidInput);
}

TEST(ElementwiseLowering, ClipLimitsMustBeConstantScalars) {
  Tensor lo = Tensor::scalar(-1.f), pair = Tensor::from_vector<float>({2}, {0.f, 1.f});
  Lowering ok("Clip", Precision::kFP16, {desc(DType::kFloat16, {4}), desc(DType::kFloat32, {})}, 13);
  ok.ctx->constants_[1] = &lo;
  ASSERT_TRUE(ok.lower().ok());
  EXPECT_TRUE(ok.ctx->constant_taken(1));
  Lowering dynamic("Clip", Precision::kFP32, {desc(DType::kFloat32, {4}), desc(DType::kFloat32, {})}, 13);
  EXPECT_EQ(dynamic.lower().status().code(), StatusCode::kUnsupported);
  Lowering wide("Clip", Precision::kFP32, {desc(DType::kFloat32, {4}), desc(DType::kFloat32, {2})}, 13);
  wide.ctx->constants_[1] = &pair;
  EXPECT_EQ(wide.lower().status().code(), StatusCode::kInvalidInput);
}

TEST(ElementwiseLowering, ViewsAndCasts) {
  Lowering id("Identity", Precision::kFP16, {desc(DType::kFloat16, {2, 8, 5, 7}, Layout::kNHWC)});
  ASSERT_TRUE(id.lower().ok());
  EXPECT_TRUE(id.ctx->output_aliases_input());
  EXPECT_EQ(id.ctx->outputs[0].layout, Layout::kNHWC);

  Lowering same("Cast", Precision::kFP16, {desc(DType::kFloat16, {4})});
  same.node.attrs["to"] = Attribute::make_int(static_cast<int64_t>(DType::kFloat32));
  ASSERT_TRUE(same.lower().ok());
  EXPECT_TRUE(same.ctx->output_aliases_input());  // float32 is stored as float16 here anyway

  Lowering narrow("Cast", Precision::kFP32, {desc(DType::kFloat32, {4})});
  narrow.node.attrs["to"] = Attribute::make_int(static_cast<int64_t>(DType::kFloat16));
  ASSERT_TRUE(narrow.lower().ok());
  EXPECT_FALSE(narrow.ctx->output_aliases_input());  // rounds through float16
  EXPECT_EQ(narrow.ctx->outputs[0].dtype, DType::kFloat32);

  Lowering to_int("Cast", Precision::kFP16, {desc(DType::kFloat16, {2, 8, 5, 7}, Layout::kNHWC)});
  to_int.node.attrs["to"] = Attribute::make_int(static_cast<int64_t>(DType::kInt64));
  ASSERT_TRUE(to_int.lower().ok());
  EXPECT_EQ(to_int.ctx->outputs[0].dtype, DType::kInt64);
  EXPECT_EQ(to_int.ctx->outputs[0].layout, Layout::kNHWC);

  Lowering f64("Cast", Precision::kFP32, {desc(DType::kFloat32, {4})});
  f64.node.attrs["to"] = Attribute::make_int(static_cast<int64_t>(DType::kFloat64));
  EXPECT_EQ(f64.lower().status().code(), StatusCode::kUnsupported);
}

TEST(ElementwiseLowering, FusedElementwiseChecksItsOps) {
  Lowering l("FusedElementwise", Precision::kFP16, {desc(DType::kFloat16, {4})}, 1, kKilnDomain);
  l.node.attrs["ops"] = Attribute::make_strings({"Relu", "Clip"});
  l.node.attrs["alphas"] = Attribute::make_floats({0.f, 0.f});
  l.node.attrs["betas"] = Attribute::make_floats({0.f, 6.f});
  ASSERT_TRUE(l.lower().ok());
  l.node.attrs["ops"] = Attribute::make_strings({"Relu", "Softsign"});
  EXPECT_EQ(l.lower().status().code(), StatusCode::kUnsupported);
  l.node.attrs["ops"] = Attribute::make_strings({"Relu"});
  EXPECT_EQ(l.lower().status().code(), StatusCode::kInvalidInput);  // list lengths differ
}

}  // namespace
}  // namespace kiln::cuda
#endif
