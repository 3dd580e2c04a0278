// CLI positive paths: --version/--help/ops, `kiln info` and `kiln run` on ONNX test data, `kiln conformance`.
#include <nlohmann/json.hpp>

#include "compare/conformance.h"
#include "core/npy.h"
#include "onnx/importer.h"
#include "tests/cli/cli_test_util.h"

namespace kiln::clitest {
namespace {

TEST(Cli, VersionHelpAndOps) {
  auto v = kiln("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("kiln 0.", 0), 0u) << v.out;
  auto h = kiln("--help");
  EXPECT_EQ(h.code, 0);
  for (const char* cmd : {"conformance", "info", "ops", "run"}) EXPECT_NE(h.out.find(cmd), std::string::npos);
  EXPECT_NE(h.out.find("Exit codes"), std::string::npos);
  auto rh = kiln("run --help");
  EXPECT_EQ(rh.code, 0);
  EXPECT_NE(rh.out.find("Examples:"), std::string::npos) << rh.out;
  auto md = kiln("ops --markdown");
  EXPECT_EQ(md.code, 0);
  EXPECT_EQ(md.out.rfind("| Op | Domain | Since opset | CPU reference | Notes |\n|---|", 0), 0u) << md.out;
}

TEST(Cli, InfoDescribesTheReluTestModel) {
  KILN_REQUIRE_IMPORTER();
  const std::string model = relu_case() + "/model.onnx";
  auto t = kiln("info " + model);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("x     float32   [3,4,5]"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Relu"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("unsupported none"), std::string::npos) << t.out;

  auto j = kiln("info --json " + model);
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["schema"], "kiln.info/1");
  EXPECT_EQ(doc["inputs"][0]["name"], "x");
  EXPECT_EQ(doc["inputs"][0]["shape"], nlohmann::json({3, 4, 5}));
  EXPECT_EQ(doc["outputs"][0]["dtype"], "float32");
  EXPECT_EQ(doc["op_histogram"]["Relu"], 1);
  EXPECT_EQ(doc["parameters"]["count"], 0);
  EXPECT_EQ(doc["compute"]["macs"], 0);  // Relu does no multiply-accumulates
  EXPECT_TRUE(doc["unsupported_ops"].empty());
}

// An If's branches hold nodes too (ONNX's test_if: one Constant per branch): counted apart from the top graph.
TEST(Cli, InfoCountsTheOpsInsideIfBranches) {
  KILN_REQUIRE_IMPORTER();
  const std::string model = std::string(KILN_ONNX_TESTDATA) + "/node/test_if/model.onnx";
  auto j = kiln("info --json " + model);
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["op_histogram"]["If"], 1);
  EXPECT_EQ(doc["subgraph_op_histogram"]["Constant"], 2) << doc["subgraph_op_histogram"].dump();
  EXPECT_TRUE(doc["unsupported_ops"].empty());
  auto t = kiln("info " + model);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("subgraphs   2 nodes inside If branches, 1 op types"), std::string::npos) << t.out;
}

// The trainable-parameter count must equal torchvision's published figures for the zoo's copies of its
// models (BatchNorm running statistics are initializers there but not parameters).
TEST(Cli, InfoCountsParametersAsPyTorchDoes) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  for (const auto& [model, expected] : {std::pair<std::string, int64_t>{"resnet18", 11689512},
                                        std::pair<std::string, int64_t>{"mobilenet_v2", 3504872}}) {
    auto z = kiln("zoo " + model + " -o " + dir + "/" + model + ".onnx");
    ASSERT_EQ(z.code, 0) << z.err;
    auto j = kiln("info --json " + dir + "/" + model + ".onnx");
    ASSERT_EQ(j.code, 0) << j.err;
    auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["parameters"]["trainable"], expected) << model;
    EXPECT_GT(doc["parameters"]["count"].get<int64_t>(), expected) << model << ": BN statistics are initializers too";
  }
}

// Exporters share equal tensors through Identity nodes; each use is still a parameter of its layer.
TEST(Cli, InfoCountsIdentitySharedWeightsPerUse) {
  KILN_REQUIRE_IMPORTER();
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  auto add_init = [&](const std::string& name, std::vector<int64_t> dims) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) t->add_float_data(0.5f);
  };
  add_init("w", {2, 2, 1, 1});  // 4, used by conv1 directly and by conv2 through Identity
  add_init("ones", {2});        // BN scale and (through Identity) BN var
  add_init("zeros", {2});       // BN bias and BN mean
  auto node = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
  };
  node("Identity", {"w"}, "w_alias");
  node("Identity", {"ones"}, "ones_alias");
  node("Conv", {"x", "w"}, "c1");
  node("Conv", {"c1", "w_alias"}, "c2");
  node("BatchNormalization", {"c2", "ones", "zeros", "zeros", "ones_alias"}, "y");
  auto io = [&](onnx::ValueInfoProto* v, const std::string& name) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 2, 3, 3}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  io(g->add_input(), "x");
  io(g->add_output(), "y");
  const std::string path = scratch_dir() + "/shared.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    ASSERT_TRUE(m.SerializeToOstream(&f));
  }
  auto j = kiln("info --json " + path);
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  // conv1 w (4) + conv2 w through Identity (4) + BN scale (2) + BN bias (2); mean/var are not parameters.
  EXPECT_EQ(doc["parameters"]["trainable"], 12);
  EXPECT_EQ(doc["parameters"]["count"], 8);  // 4 + 2 + 2 elements stored
}

TEST(Cli, RunReproducesTheTestDataOutput) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  auto input = load_tensor_pb(relu_case() + "/test_data_set_0/input_0.pb");
  auto expected = load_tensor_pb(relu_case() + "/test_data_set_0/output_0.pb");
  ASSERT_TRUE(input.ok() && expected.ok());
  ASSERT_TRUE(write_npy(dir + "/x.npy", *input).ok());
  auto r =
      kiln("run " + relu_case() + "/model.onnx --backend cpu --input x=" + dir + "/x.npy --output-dir " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("output 'y'  float32[3x4x5]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nan 0  inf 0"), std::string::npos) << r.out;
  auto y = read_npy(dir + "/out/y.npy");
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  Status same = compare_tensors(*y, *expected, Tolerance(), "y");
  EXPECT_TRUE(same.ok()) << same.message();
}

TEST(Cli, RandomInputsAreSeededAndSaved) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir(), model = relu_case() + "/model.onnx";
  for (const char* sub : {"a", "b", "c"}) {
    const std::string seed = std::string(sub) == "c" ? "8" : "7";
    auto r = kiln("run " + model + " --seed " + seed + " --output-dir " + dir + "/" + sub);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("from random (seed " + seed + ")"), std::string::npos) << r.out;
  }
  EXPECT_EQ(slurp(dir + "/a/y.npy"), slurp(dir + "/b/y.npy"));
  EXPECT_NE(slurp(dir + "/a/y.npy"), slurp(dir + "/c/y.npy"));
  // The saved inputs are uniform in [-1, 1) and y = max(x, 0) elementwise.
  auto in = read_npz(dir + "/a/inputs.npz");
  auto y = read_npy(dir + "/a/y.npy");
  ASSERT_TRUE(in.ok() && y.ok());
  ASSERT_EQ(in->size(), 1u);
  EXPECT_EQ((*in)[0].first, "x");
  const Tensor& x = (*in)[0].second;
  ASSERT_EQ(x.numel(), 60);
  int negatives = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
    negatives += v < 0;
    EXPECT_EQ(y->data<float>()[i], v > 0 ? v : 0.0f);
  }
  EXPECT_GT(negatives, 10);
  // Replaying the saved inputs gives the same outputs.
  auto replay = kiln("run " + model + " --inputs " + dir + "/a/inputs.npz --output-dir " + dir + "/d");
  ASSERT_EQ(replay.code, 0) << replay.err;
  EXPECT_EQ(slurp(dir + "/a/y.npy"), slurp(dir + "/d/y.npy"));
}

TEST(Cli, ConformanceRunsOneCaseAndChecksTheExpectList) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  auto r =
      kiln("conformance " + std::string(KILN_ONNX_TESTDATA) + " --filter node/test_relu --json " + dir + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n1 passed, 0 failed, 0 skipped\n"), std::string::npos) << r.out;
  auto doc = nlohmann::json::parse(slurp(dir + "/r.json"));
  EXPECT_EQ(doc["schema"], "kiln.conformance/1");
  EXPECT_EQ(doc["cases"][0]["id"], "node/test_relu");
  EXPECT_EQ(doc["cases"][0]["status"], "passed");

  std::ofstream(dir + "/ok.txt") << "node/test_relu\n";
  EXPECT_EQ(kiln("conformance --filter node/test_relu --expect-pass " + dir + "/ok.txt").code, 0);
  std::ofstream(dir + "/bad.txt") << "node/test_relu\nnode/test_relu_but_missing\n";
  auto bad = kiln("conformance --filter node/test_relu --expect-pass " + dir + "/bad.txt");
  EXPECT_EQ(bad.code, 4) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("node/test_relu_but_missing (not found in the test data)"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace kiln::clitest
