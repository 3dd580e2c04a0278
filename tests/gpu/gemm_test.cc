// GPU Gemm / MatMul / kiln.FusedGemm (cuBLASLt) against the CPU reference: transposes, alpha/beta, every
// shape of C, odd and large sizes, batched and broadcast MatMul, each fused activation; fp32 and fp16.
#include <cmath>

#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

// Tolerances: FP32 rtol 1e-4 (TF32 off); the absolute term grows with sqrt(K) because rounding errors of
// a K-long dot product add up like a random walk. FP16 adds the rounding of the inputs to half.
double fp32_atol(int64_t k) { return kFp32Atol * std::sqrt(double(k)); }
double fp16_atol(int64_t k) { return 1e-3 * std::sqrt(double(k)) + kFp16Atol; }

struct GemmShape {
  int64_t m, k, n;
};

// Gemm with A fed and B constant (the usual weights), C of `c_shape` (empty vector = no C).
NodeCase gemm_case(GemmShape s, bool ta, bool tb, float alpha, float beta, const Shape* c_shape, bool c_const,
                   uint64_t seed) {
  NodeCase c;
  c.op = "Gemm";
  c.attrs = {{"transA", attr_i(ta)}, {"transB", attr_i(tb)}, {"alpha", attr_f(alpha)}, {"beta", attr_f(beta)}};
  c.inputs.push_back(random_floats(ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, seed));
  c.inputs.push_back(random_floats(tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, seed + 1));
  c.constant = {false, true, c_const};
  if (c_shape) c.inputs.push_back(random_floats(*c_shape, seed + 2));
  return c;
}

void expect_both_precisions(const NodeCase& c, int64_t k) {
  EXPECT_EQ(run_case(c, "fp32", fp32_atol(k), kFp32Rtol), "") << "fp32";
  EXPECT_EQ(run_case(c, "fp16", fp16_atol(k), kFp16Rtol), "") << "fp16";
}

TEST(GpuGemm, TransposesAlphaBetaAndEveryShapeOfC) {
  const GemmShape s{7, 33, 5};
  const Shape cs[] = {{5}, {1, 5}, {7, 5}, {}, {1}, {7, 1}, {1, 1}};
  uint64_t seed = 10;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& c_shape : cs)
        for (bool c_const : {true, false}) {
          SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) +
                       " C=" + shape_to_string(c_shape) + (c_const ? " constant" : " fed"));
          expect_both_precisions(gemm_case(s, ta, tb, 0.75f, -1.5f, &c_shape, c_const, seed += 3), s.k);
        }
}

TEST(GpuGemm, NoCAndBetaZeroAndFedB) {
  const GemmShape s{7, 33, 5};
  expect_both_precisions(gemm_case(s, false, true, 1.f, 1.f, nullptr, false, 100), s.k);
  const Shape c_shape{7, 5};
  expect_both_precisions(gemm_case(s, false, false, 2.f, 0.f, &c_shape, false, 103), s.k);  // C ignored
  NodeCase fed = gemm_case(s, true, false, 1.f, 1.f, &c_shape, false, 106);
  fed.constant = {false, false, false};  // B computed at run time
  expect_both_precisions(fed, s.k);
}

TEST(GpuGemm, LargeWithBias) {
  const GemmShape s{128, 2048, 1000};
  const Shape bias{1000};
  expect_both_precisions(gemm_case(s, false, true, 1.f, 1.f, &bias, true, 200), s.k);
}

NodeCase matmul_case(const Shape& a, const Shape& b, bool b_const, uint64_t seed) {
  NodeCase c;
  c.op = "MatMul";
  c.inputs = {random_floats(a, seed), random_floats(b, seed + 1)};
  c.constant = {false, b_const};
  return c;
}

TEST(GpuMatMul, BatchedBroadcastAndOneD) {
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {
      {{7, 33}, {33, 5}},              // plain
      {{2, 3, 7, 33}, {33, 5}},        // shared B: folded into M
      {{2, 3, 7, 33}, {2, 3, 33, 5}},  // strided batch
      {{3, 7, 33}, {2, 1, 33, 5}},     // broadcast both ways: one call per matrix
      {{1, 7, 33}, {4, 33, 5}},        // A broadcast
      {{33}, {33, 5}},                 // 1-D A
      {{2, 7, 33}, {33}},              // 1-D B
      {{33}, {33}},                    // dot product
      {{4, 9, 64}, {4, 64, 48}},       // aligned sizes (tensor-core kernels in fp16)
  };
  uint64_t seed = 300;
  for (const Case& c : cases)
    for (bool b_const : {true, false}) {
      SCOPED_TRACE(shape_to_string(c.a) + " x " + shape_to_string(c.b) + (b_const ? " (B constant)" : ""));
      expect_both_precisions(matmul_case(c.a, c.b, b_const, seed += 2), c.a.back());
    }
}

TEST(GpuFusedGemm, EveryActivationWithAndWithoutBias) {
  struct Act {
    const char* name;
    float alpha, beta;
  };
  const Act acts[] = {
      {"", 0, 0},          {"Relu", 0, 0},         {"Clip", -0.5f, 0.75f}, {"Sigmoid", 0, 0},          {"SiLU", 0, 0},
      {"HardSwish", 0, 0}, {"LeakyRelu", 0.1f, 0}, {"Tanh", 0, 0},         {"HardSigmoid", 0.2f, 0.5f}};
  const GemmShape s{7, 33, 5};
  const Shape bias{5}, full{7, 5};
  uint64_t seed = 400;
  for (const Act& a : acts)
    for (const Shape* c_shape : {static_cast<const Shape*>(nullptr), &bias, &full}) {
      SCOPED_TRACE(std::string("activation '") + a.name + "' C " + (c_shape ? shape_to_string(*c_shape) : "none"));
      NodeCase c = gemm_case(s, false, true, 1.25f, 0.5f, c_shape, true, seed += 3);
      c.op = "FusedGemm";
      c.domain = "kiln";
      c.opset = 1;
      c.attrs["activation"] = attr_s(a.name);
      c.attrs["activation_alpha"] = attr_f(a.alpha);
      c.attrs["activation_beta"] = attr_f(a.beta);
      expect_both_precisions(c, s.k);
    }
}

TEST(GpuGemm, Bf16AndTf32) {
  const GemmShape s{16, 256, 24};
  const Shape bias{24};
  NodeCase c = gemm_case(s, false, true, 1.f, 1.f, &bias, true, 500);
  // TF32 keeps 10 mantissa bits like FP16; BF16 has 7 (rounding 2^-8).
  EXPECT_EQ(run_case(c, "tf32", fp16_atol(s.k), kFp16Rtol), "");
  EXPECT_EQ(run_case(c, "bf16", 8 * fp16_atol(s.k), 8 * kFp16Rtol), "");
}

// The tuned cuBLASLt algo is stored in the plan as "lt:...,data=<8 words>" and restored exactly at load;
// the loaded engine still agrees with the CPU reference.
TEST(GpuGemm, TacticSurvivesPlanRoundTrip) {
  const GemmShape s{64, 256, 48};
  const Shape bias{48};
  const NodeCase c = gemm_case(s, false, true, 1.f, 1.f, &bias, true, 600);
  TensorMap feeds;
  auto graph = make_graph(c, feeds);
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  ASSERT_TRUE(infer_shapes(**graph).ok());
  auto want = run_cpu(**graph, feeds);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  BuildOptions opt;
  opt.precision = "fp16";
  opt.tune = true;
  auto engine = build_engine(std::move(*graph), opt);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto gemm_tactic = [](const Engine& e) {
    for (const EngineLayer& l : e.summary().layers)
      if (l.op.find("Gemm") != std::string::npos) return l.tactic;
    return std::string("no Gemm layer");
  };
  const std::string built = gemm_tactic(**engine);
  EXPECT_EQ(built.rfind("lt:algo=", 0), 0u) << built;
  ASSERT_NE(built.find("data="), std::string::npos) << built;
  const std::string path = ::testing::TempDir() + "kiln_gemm_tactic.plan";
  ASSERT_TRUE((*engine)->save(path).ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const std::string restored = gemm_tactic(**loaded);
  EXPECT_EQ(restored.substr(0, restored.find(" (")), built.substr(0, built.find(" (")));
  EXPECT_EQ(restored.find("rejected"), std::string::npos) << restored;
  auto got = run_engine(*loaded, feeds);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Diff d = diff(got->at("y0"), want->at("y0"), fp16_atol(s.k), kFp16Rtol);
  EXPECT_EQ(d.bad, 0) << "max |diff| " << d.max_abs;
}

}  // namespace
}  // namespace kiln::gputest
