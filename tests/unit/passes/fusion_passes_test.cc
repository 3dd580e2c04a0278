// BatchNormalization folding, Conv / Gemm epilogue fusion and elementwise chain fusion on small graphs,
// each checked against the unoptimized graph on the CPU reference and, where small, by hand.
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

// BN parameters for `c` channels, all constant, variances positive.
void add_bn(Graph& g, const std::string& name, Value* in, Value* out, int64_t c, uint64_t seed) {
  Value* gamma = random_init(g, name + "_g", {c}, seed, 0.5f, 2.f);
  Value* beta = random_init(g, name + "_b", {c}, seed + 1);
  Value* mean = random_init(g, name + "_m", {c}, seed + 2);
  Value* var = random_init(g, name + "_v", {c}, seed + 3, 0.1f, 3.f);
  Node* bn = node(g, "BatchNormalization", name, {in, gamma, beta, mean, var}, {out});
  bn->attrs["epsilon"] = Attribute::make_float(1e-3f);
}

TEST(PassFoldBatchNorm, HandComputedSingleChannel) {
  auto g = new_graph();
  Value* x = input(*g, "x", {1, 1, 1, 2});
  Value* w = init(*g, "w", {1, 1, 1, 1}, {2.f});
  Value* b = init(*g, "b", {1}, {1.f});
  Value *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "Conv", "conv", {x, w, b}, {c});
  // scale = 3 / sqrt(3 + 1) = 1.5; W' = 3; B' = (1 - 1) * 1.5 + 0.5 = 0.5
  Node* bn = node(
      *g, "BatchNormalization", "bn",
      {c, init(*g, "g", {1}, {3.f}), init(*g, "be", {1}, {0.5f}), init(*g, "m", {1}, {1.f}), init(*g, "v", {1}, {3.f})},
      {y});
  bn->attrs["epsilon"] = Attribute::make_float(1.f);
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fold_batchnorm), 1);
  ASSERT_EQ(g->nodes().size(), 1u);
  const Node& conv = *g->nodes()[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.output(0)->name, "y");
  EXPECT_FLOAT_EQ(conv.input(1)->constant->data<float>()[0], 3.f);
  EXPECT_FLOAT_EQ(conv.input(2)->constant->data<float>()[0], 0.5f);
}

TEST(PassFoldBatchNorm, ConvWithoutBiasAndGroupedConvTranspose) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 4, 5, 5});
  Value *c1 = value(*g, "c1"), *y1 = value(*g, "y1"), *c2 = value(*g, "c2"), *y2 = value(*g, "y2");
  node(*g, "Conv", "conv", {x, random_init(*g, "w1", {6, 2, 3, 3}, 1)}, {c1})->attrs["group"] = Attribute::make_int(2);
  add_bn(*g, "bn1", c1, y1, 6, 10);
  Node* ct = node(*g, "ConvTranspose", "convt",
                  {y1, random_init(*g, "w2", {6, 2, 2, 2}, 2), random_init(*g, "b2", {6}, 3)}, {c2});
  ct->attrs["group"] = Attribute::make_int(3);
  ct->attrs["strides"] = Attribute::make_ints({2, 2});
  add_bn(*g, "bn2", c2, y2, 6, 20);
  mark_output(*g, y2);
  EXPECT_EQ(run_and_compare(*g, fold_batchnorm), 2);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
}

TEST(PassFoldBatchNorm, GemmTransB) {
  auto g = new_graph();
  Value* x = input(*g, "x", {3, 4});
  Value *c = value(*g, "c"), *y = value(*g, "y");
  Node* gemm = node(*g, "Gemm", "fc", {x, random_init(*g, "w", {5, 4}, 1), random_init(*g, "b", {5}, 2)}, {c});
  gemm->attrs["transB"] = Attribute::make_int(1);
  gemm->attrs["beta"] = Attribute::make_float(0.5f);
  add_bn(*g, "bn", c, y, 5, 3);
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fold_batchnorm), 1);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
}

TEST(PassFoldBatchNorm, NotFoldedWhenConvOutputHasTwoConsumers) {
  auto g = new_graph();
  Value* x = input(*g, "x", {1, 2, 3, 3});
  Value *c = value(*g, "c"), *y = value(*g, "y"), *r = value(*g, "r");
  node(*g, "Conv", "conv", {x, random_init(*g, "w", {2, 2, 1, 1}, 1)}, {c});
  add_bn(*g, "bn", c, y, 2, 5);
  node(*g, "Relu", "relu", {c}, {r});
  mark_output(*g, y);
  mark_output(*g, r);
  EXPECT_EQ(run_and_compare(*g, fold_batchnorm), 0);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
}

TEST(PassFuseConv, HandComputedResidualRelu) {
  auto g = new_graph();
  Value* x = input(*g, "x", {1, 1, 1, 3});
  Value* z = input(*g, "z", {1, 1, 1, 3});
  Value *c = value(*g, "c"), *s = value(*g, "s"), *y = value(*g, "y");
  node(*g, "Conv", "conv", {x, init(*g, "w", {1, 1, 1, 1}, {2.f}), init(*g, "b", {1}, {-1.f})}, {c});
  node(*g, "Add", "res", {z, c}, {s});
  node(*g, "Relu", "relu", {s}, {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  EXPECT_EQ(fuse_conv(*g).value(), 1);
  ASSERT_TRUE(infer_shapes(*g).ok());
  ASSERT_EQ(g->nodes().size(), 1u);
  EXPECT_EQ(g->nodes()[0]->op_type, "FusedConv");
  EXPECT_EQ(g->nodes()[0]->domain, "kiln");
  TensorMap feeds{{"x", Tensor::from_vector<float>({1, 1, 1, 3}, {-2.f, 0.5f, 3.f})},
                  {"z", Tensor::from_vector<float>({1, 1, 1, 3}, {1.f, 1.f, -10.f})}};
  auto out = run_cpu(*g, feeds);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  // relu(2x - 1 + z): relu(-4), relu(1), relu(-5)
  EXPECT_EQ(out->at("y").to_float_vector(), (std::vector<float>{0.f, 1.f, 0.f}));
}

// Conv -> Add(per-channel constant) -> Add(residual) -> activation, for each supported activation.
std::unique_ptr<Graph> conv_chain(const std::string& act) {
  auto g = new_graph(14);  // HardSwish is opset 14
  Value* x = input(*g, "x", {2, 3, 6, 6});
  Value* z = input(*g, "z", {2, 4, 6, 6});
  Value *c = value(*g, "c"), *b = value(*g, "b"), *s = value(*g, "s"), *y = value(*g, "y");
  Node* conv = node(*g, "Conv", "conv", {x, random_init(*g, "w", {4, 3, 3, 3}, 1)}, {c});
  conv->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  node(*g, "Add", "bias", {c, random_init(*g, "cb", {4, 1, 1}, 2)}, {b});
  node(*g, "Add", "res", {b, z}, {s});
  if (act == "SiLU") {
    Value* sig = value(*g, "sig");
    node(*g, "Sigmoid", "sigmoid", {s}, {sig});
    node(*g, "Mul", "mul", {sig, s}, {y});
  } else if (act == "Clip") {
    node(*g, "Clip", "clip", {s, init(*g, "lo", {}, {0.f}), init(*g, "hi", {}, {0.5f})}, {y});
  } else {
    Node* a = node(*g, act, "act", {s}, {y});
    if (act == "LeakyRelu") a->attrs["alpha"] = Attribute::make_float(0.2f);
  }
  mark_output(*g, y);
  return g;
}

TEST(PassFuseConv, EveryActivationMatchesUnfused) {
  for (const char* act : {"Relu", "Clip", "Sigmoid", "SiLU", "HardSwish", "LeakyRelu"}) {
    SCOPED_TRACE(act);
    auto g = conv_chain(act);
    EXPECT_EQ(run_and_compare(*g, fuse_conv), 1);
    EXPECT_EQ(g->nodes().size(), 1u);
    ASSERT_EQ(count_ops(*g, "kiln.FusedConv"), 1);
    const Node& f = *g->nodes()[0];
    EXPECT_EQ(f.attr_string("activation", "").value(), act);
    EXPECT_EQ(f.inputs.size(), 4u);  // X, W, folded bias, residual
    EXPECT_EQ(f.output(0)->name, "y");
  }
}

TEST(PassFuseConv, IntermediateGraphOutputBlocksFusion) {
  auto g = conv_chain("Relu");
  Value* s = g->find_value("s");
  mark_output(*g, s);  // the pre-activation sum is needed too: only conv + bias + residual fuse
  EXPECT_EQ(run_and_compare(*g, fuse_conv), 1);
  EXPECT_EQ(count_ops(*g, "Relu"), 1);
  EXPECT_EQ(g->find_value("s")->producer->op_type, "FusedConv");
  EXPECT_EQ(g->find_value("s")->producer->attr_string("activation", "x").value(), "");
}

TEST(PassFuseGemm, MatMulBiasReluAndGemmSigmoid) {
  auto g = new_graph();
  Value* x = input(*g, "x", {3, 4});
  Value *m = value(*g, "m"), *a = value(*g, "a"), *r = value(*g, "r"), *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "MatMul", "mm", {x, random_init(*g, "w", {4, 5}, 1)}, {m});
  node(*g, "Add", "bias", {random_init(*g, "b", {5}, 2), m}, {a});
  node(*g, "Relu", "relu", {a}, {r});
  Node* gemm = node(*g, "Gemm", "fc", {r, random_init(*g, "w2", {2, 5}, 3), random_init(*g, "b2", {2}, 4)}, {c});
  gemm->attrs["transB"] = Attribute::make_int(1);
  gemm->attrs["alpha"] = Attribute::make_float(0.7f);
  node(*g, "Sigmoid", "sig", {c}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fuse_gemm), 2);
  EXPECT_EQ(count_ops(*g, "kiln.FusedGemm"), 2);
  EXPECT_EQ(g->nodes().size(), 2u);
}

TEST(PassFuseGemm, BatchedMatMulLeftAlone) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 3, 4});
  Value *m = value(*g, "m"), *y = value(*g, "y");
  node(*g, "MatMul", "mm", {x, random_init(*g, "w", {4, 5}, 1)}, {m});
  node(*g, "Relu", "relu", {m}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fuse_gemm), 0);
  EXPECT_EQ(count_ops(*g, "MatMul"), 1);
}

TEST(PassFuseElementwise, ChainBecomesOneNode) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 8});
  Value *a = value(*g, "a"), *b = value(*g, "b"), *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "Tanh", "t", {x}, {a});
  node(*g, "LeakyRelu", "l", {a}, {b})->attrs["alpha"] = Attribute::make_float(0.3f);
  node(*g, "HardSigmoid", "h", {b}, {c});
  node(*g, "Sigmoid", "s", {c}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fuse_elementwise), 1);
  ASSERT_EQ(g->nodes().size(), 1u);
  const Attribute* ops = g->nodes()[0]->attr("ops");
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->strings, (std::vector<std::string>{"Tanh", "LeakyRelu", "HardSigmoid", "Sigmoid"}));
}

TEST(PassFuseElementwise, BranchingValueNotFused) {
  auto g = new_graph();
  Value* x = input(*g, "x", {4});
  Value *a = value(*g, "a"), *b = value(*g, "b"), *c = value(*g, "c");
  node(*g, "Tanh", "t", {x}, {a});
  node(*g, "Relu", "r", {a}, {b});
  node(*g, "Sigmoid", "s", {a}, {c});
  mark_output(*g, b);
  mark_output(*g, c);
  EXPECT_EQ(run_and_compare(*g, fuse_elementwise), 0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {
using namespace testing_passes;

TEST(PassFoldBatchNorm, Float16WeightsStayFloat16) {
  auto g = new_graph();
  Value* x = g->add_value("x", DType::kFloat16, SymShape::from({1, 1, 1, 2})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  auto half = [&](const std::string& n, float v) {
    Tensor t = Tensor::create(DType::kFloat16, {1}).value();
    t.data<uint16_t>()[0] = float_to_half(v);
    return g->add_initializer(n, std::move(t)).value();
  };
  Tensor w = Tensor::create(DType::kFloat16, {1, 1, 1, 1}).value();
  w.data<uint16_t>()[0] = float_to_half(2.f);
  Value* wv = g->add_initializer("w", std::move(w)).value();
  Value *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "Conv", "conv", {x, wv}, {c});
  // scale = 3 / sqrt(3 + 1) = 1.5: W' = 3, B' = 0.5 - 1 * 1.5 = -1
  node(*g, "BatchNormalization", "bn", {c, half("g", 3.f), half("b", 0.5f), half("m", 1.f), half("v", 3.f)}, {y})
      ->attrs["epsilon"] = Attribute::make_float(1.f);
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  EXPECT_EQ(fold_batchnorm(*g).value(), 1);
  const Node& conv = *g->nodes()[0];
  ASSERT_EQ(conv.input(1)->constant->dtype(), DType::kFloat16);
  EXPECT_EQ(half_to_float(conv.input(1)->constant->data<uint16_t>()[0]), 3.f);
  EXPECT_EQ(half_to_float(conv.input(2)->constant->data<uint16_t>()[0]), -1.f);
}

}  // namespace
}  // namespace kiln
