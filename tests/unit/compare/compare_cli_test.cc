// `kiln compare` end to end through the built binary: every zoo model on the CPU reference vs ONNX Runtime
// (the independent oracle; skipped with a message when no ORT runner is installed), a deliberately wrong
// reference caught with exit 4, and the bad-input exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compare/backends.h"
#include "core/npy.h"
#include "core/random.h"
#include "cpu/executor.h"
#include "models/zoo.h"
#include "onnx/importer.h"

namespace kiln {
namespace {

struct Cli {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CompareCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterized test names hold '/'
    dir_ = ::testing::TempDir() + "kiln_compare_cli_" + std::to_string(getpid()) + "_" + name;
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
  }
  Cli kiln(const std::string& args) {
    const std::string cmd = std::string(KILN_CLI_PATH) + " " + args + " >" + dir_ + "/out 2>" + dir_ + "/err";
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir_ + "/out"), slurp(dir_ + "/err")};
  }
  std::string write_zoo(const std::string& name, models::ZooOptions o, const std::string& file) {
    auto g = models::build_zoo_model(name, o);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    if (!g.ok()) return "";
    const std::string path = dir_ + "/" + file;
    const Status s = write_onnx(**g, path);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return path;
  }
  std::string tiny(uint64_t seed = 0, const std::string& file = "tiny.onnx") {
    models::ZooOptions o;
    o.height = o.width = 16;
    o.classes = 10;
    o.seed = seed;
    return write_zoo("tiny_cnn", o, file);
  }
  nlohmann::json report() { return nlohmann::json::parse(slurp(dir_ + "/r.json")); }
  std::string dir_;
};

// Small but complete versions of each zoo model (the structure is the same at any size).
models::ZooOptions small_options(const std::string& name) {
  models::ZooOptions o;
  o.height = o.width = name == "vgg11_bn" ? 32 : name.rfind("ssd_lite", 0) == 0 ? 96 : 64;
  o.width_mult = name == "vgg11_bn" ? 0.25 : 0.5;  // vgg's classifier is 25088 x 4096 at full width
  if (name.rfind("ssd_lite", 0) != 0) o.classes = 100;
  o.nms = name == "ssd_lite_nms";
  return o;
}

class ZooVsOrt : public CompareCliTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ZooVsOrt, CpuMatchesOnnxRuntimeAtFp32Tolerances) {
  auto runner = find_ort_runner();
  if (!runner.ok()) GTEST_SKIP() << "ONNX Runtime unavailable, ort comparison skipped: " << runner.status().message();
  const std::string name = GetParam() == "ssd_lite_nms" ? "ssd_lite" : GetParam();
  const std::string model = write_zoo(name, small_options(GetParam()), "m.onnx");
  ASSERT_FALSE(model.empty());
  const Cli r = kiln("compare " + model + " --backends cpu,ort --iterations 2 --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
  const auto doc = report();
  EXPECT_EQ(doc["schema"], "kiln.compare/1");
  EXPECT_EQ(doc["backends"][1]["description"].get<std::string>().find("onnxruntime"), 0u) << doc["backends"][1];
  ASSERT_EQ(doc["pairs"].size(), 1u);
  for (const auto& o : doc["pairs"][0]["outputs"]) {
    ASSERT_TRUE(o["compared"].get<bool>()) << o;
    EXPECT_TRUE(o["passed"].get<bool>()) << o;
    EXPECT_EQ(o["mismatched"], 0) << o;
    EXPECT_GT(o["cosine"].get<double>(), 0.99999) << o;
    EXPECT_EQ(o["nan"]["backend"], o["nan"]["reference"]);
    // Two feed sets concatenated along dim 0 (NMS picks a data-dependent number of boxes per set).
    if (GetParam() != "ssd_lite_nms") {
      EXPECT_EQ(o["count"].get<int64_t>() % 2, 0) << o["name"];
    }
    if (!o["classifier"].is_null()) {
      EXPECT_DOUBLE_EQ(o["classifier"]["top1"].get<double>(), 1.0) << o;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooVsOrt,
                         ::testing::Values("tiny_cnn", "resnet18", "resnet34", "resnet50", "mobilenet_v2",
                                           "efficientnet_b0", "vgg11_bn", "ssd_lite", "ssd_lite_nms"),
                         [](const auto& info) { return info.param; });

TEST_F(CompareCliTest, EveryZooModelIsCovered) {
  std::vector<std::string> covered = {"tiny_cnn",     "resnet18",        "resnet34", "resnet50",
                                      "mobilenet_v2", "efficientnet_b0", "vgg11_bn", "ssd_lite"};
  for (const auto& m : models::zoo_models())
    EXPECT_NE(std::find(covered.begin(), covered.end(), m.name), covered.end())
        << "zoo model " << m.name << " is missing from the ZooVsOrt cases";
}

TEST_F(CompareCliTest, OptimizedGraphMatchesTheReference) {
  const std::string model = tiny();
  const Cli r = kiln("compare " + model + " --backends cpu,cpu:opt --iterations 3 --check cosine:0.9999 --json " +
                     dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto doc = report();
  EXPECT_EQ(doc["iterations"], 3);
  EXPECT_EQ(doc["inputs"]["source"], "random (seed 0..2)");
  const auto& o = doc["pairs"][0]["outputs"][0];
  EXPECT_EQ(o["shape"], nlohmann::json({3, 10}));  // [1, 10] per feed set
  EXPECT_EQ(o["count"], 30);
  int64_t total = 0;
  for (const auto& b : o["histogram"]) total += b["count"].get<int64_t>();
  EXPECT_EQ(total, o["finite"].get<int64_t>());
  EXPECT_TRUE(o["checks"][0]["passed"].get<bool>());
}

TEST_F(CompareCliTest, DifferentWeightsFailWithExit4) {
  const std::string a = tiny(0, "a.onnx"), b = tiny(1, "b.onnx");
  const Cli r = kiln("compare " + a + " --backends cpu,cpu@" + b + " --json " + dir_ + "/r.json");
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("kiln compare: error: outputs differ beyond the tolerance"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("FAILED: 0 of 1 output comparisons pass"), std::string::npos) << r.out;
  const auto doc = report();
  EXPECT_FALSE(doc["passed"].get<bool>());
  EXPECT_GT(doc["pairs"][0]["outputs"][0]["mismatched"].get<int64_t>(), 0);
  EXPECT_EQ(doc["backends"][1]["model"], b);
}

TEST_F(CompareCliTest, OrtOnAnotherModelIsCaught) {
  auto runner = find_ort_runner();
  if (!runner.ok()) GTEST_SKIP() << "ONNX Runtime unavailable, ort comparison skipped: " << runner.status().message();
  const std::string a = tiny(0, "a.onnx"), b = tiny(1, "b.onnx");
  const Cli r = kiln("compare " + a + " --backends cpu,ort@" + b);
  EXPECT_EQ(r.code, 4) << r.out << r.err;
}

// The same model with one layer's weights negated: --bisect must name that layer, with agreeing inputs.
TEST_F(CompareCliTest, BisectNamesThePerturbedLayer) {
  const std::string a = tiny(0, "a.onnx");
  auto g = load_onnx(a);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  std::vector<Node*> convs;
  for (const auto& n : (*g)->nodes())
    if (n->op_type == "Conv") convs.push_back(n.get());
  ASSERT_GE(convs.size(), 3u);
  Node* victim = convs[2];
  Value* w = victim->input(1);
  ASSERT_TRUE(w && w->is_constant());
  Tensor negated = w->constant->clone();
  for (int64_t i = 0; i < negated.numel(); ++i) negated.data<float>()[i] = -negated.data<float>()[i];
  w->constant = negated;
  ASSERT_TRUE(write_onnx(**g, dir_ + "/b.onnx").ok());

  std::vector<std::string> backends = {"cpu"};
  if (find_ort_runner().ok()) backends.push_back("ort");  // ort: the model rewritten with every value an output
  for (const std::string& backend : backends) {
    const Cli r = kiln("compare " + a + " --backends cpu," + backend + "@" + dir_ + "/b.onnx --bisect --json " + dir_ +
                       "/r.json");
    EXPECT_EQ(r.code, 4) << r.out << r.err;
    EXPECT_NE(r.out.find("first: node '" + victim->name + "' (Conv)"), std::string::npos) << r.out;
    const auto doc = report();
    const auto& first = doc["bisect"]["first"];
    EXPECT_EQ(first["node"], victim->name) << backend;
    EXPECT_EQ(first["op"], "Conv");
    EXPECT_GT(doc["bisect"]["values_compared"].get<int64_t>(), 10) << backend;
    // The data input agrees (it comes before the perturbed layer); the weight is a constant.
    EXPECT_TRUE(first["inputs"][0]["compared"].get<bool>()) << first;
    EXPECT_TRUE(first["inputs"][0]["passed"].get<bool>()) << first;
    EXPECT_FALSE(first["inputs"][1]["compared"].get<bool>()) << first;
    EXPECT_NE(doc["bisect"]["suggestion"].get<std::string>().find("first to differ while its inputs agree"),
              std::string::npos);
  }
}

TEST_F(CompareCliTest, PerturbOptionNeedsACudaBackend) {
  const Cli r = kiln("compare " + tiny() + " --backends cpu,cpu:opt --perturbLayerForTesting conv0");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("--perturbLayerForTesting applies to cuda backends"), std::string::npos) << r.err;
  EXPECT_EQ(kiln("compare --help").out.find("perturb"), std::string::npos);  // test-only: not advertised
}

TEST_F(CompareCliTest, BisectOfAgreeingBackendsFindsNothing) {
  const Cli r = kiln("compare " + tiny() + " --backends cpu,cpu:opt --bisect --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto doc = report();
  EXPECT_TRUE(doc["bisect"]["first"].is_null());
  EXPECT_EQ(doc["bisect"]["values_failed"], 0);
  EXPECT_GT(doc["bisect"]["values_compared"].get<int64_t>(), 0);                  // the values the passes keep
  EXPECT_EQ(kiln("compare " + tiny() + " --backends ort,cpu --bisect").code, 1);  // reference must be cpu
}

// kiln accuracy on 12 random samples whose labels are the CPU reference's own argmax for 8 of them and
// a wrong class for 4: top-1 must be exactly 8/12 on every backend that agrees with the reference.
TEST_F(CompareCliTest, AccuracyOnALabelledSet) {
  models::ZooOptions o;
  o.batch = Dim::sym("batch");
  o.height = o.width = 16;
  o.classes = 10;
  const std::string model = write_zoo("tiny_cnn", o, "tiny_dyn.onnx");
  auto x = random_tensor(DType::kFloat32, {12, 3, 16, 16}, 3);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(write_npz(dir_ + "/data.npz", {{"images", *x}}).ok());
  auto g = load_onnx(model);
  ASSERT_TRUE(g.ok());
  auto out = run_cpu(**g, {{(*g)->inputs[0]->name, *x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const Tensor& logits = out->at((*g)->outputs[0]->name);
  ASSERT_EQ(logits.shape(), (Shape{12, 10}));
  std::ofstream labels(dir_ + "/labels.txt");
  for (int i = 0; i < 12; ++i) {
    const float* row = logits.data<float>() + i * 10;
    const int argmax = static_cast<int>(std::max_element(row, row + 10) - row);
    labels << (i < 8 ? argmax : (argmax + 1) % 10) << "\n";
  }
  labels.close();
  std::string backends = "cpu,cpu:opt";
  if (find_ort_runner().ok()) backends += ",ort";
  const Cli r = kiln("accuracy " + model + " --dataset " + dir_ + "/data.npz --labels " + dir_ +
                     "/labels.txt --backends " + backends + " --batch 5 --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto doc = report();
  EXPECT_EQ(doc["schema"], "kiln.accuracy/1");
  EXPECT_EQ(doc["samples"], 12);
  for (const auto& b : doc["backends"]) {
    EXPECT_DOUBLE_EQ(b["top1"].get<double>(), 8.0 / 12) << b["name"];
    EXPECT_DOUBLE_EQ(b["agreement_with_reference"].get<double>(), 1.0) << b["name"];
    int64_t total = 0;
    for (const auto& row : b["confusion"])
      for (const auto& c : row) total += c.get<int64_t>();
    EXPECT_EQ(total, 12);
  }
  const Cli bad = kiln("accuracy " + model + " --dataset " + dir_ + "/data.npz --labels " + dir_ + "/nope.txt");
  EXPECT_EQ(bad.code, 2) << bad.err;
  std::ofstream(dir_ + "/short.txt") << "1\n2\n";
  const Cli shorter = kiln("accuracy " + model + " --dataset " + dir_ + "/data.npz --labels " + dir_ + "/short.txt");
  EXPECT_EQ(shorter.code, 2) << shorter.err;
  EXPECT_NE(shorter.err.find("holds 2 labels but"), std::string::npos) << shorter.err;
}

TEST_F(CompareCliTest, FailedCheckIsExit4) {
  const Cli r = kiln("compare " + tiny() + " --backends cpu,cpu --check cosine:1.5");
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("check cosine >= 1.5: 1 FAILED"), std::string::npos) << r.out;
}

TEST_F(CompareCliTest, InputsFromFilesAndDirectories) {
  const std::string model = tiny();
  auto x0 = Tensor::from_vector<float>({1, 3, 16, 16}, std::vector<float>(768, 0.25f));
  auto x1 = Tensor::from_vector<float>({1, 3, 16, 16}, std::vector<float>(768, -0.5f));
  std::filesystem::create_directories(dir_ + "/sets");
  ASSERT_TRUE(write_npz(dir_ + "/sets/a.npz", {{"input", x0}}).ok());
  ASSERT_TRUE(write_npz(dir_ + "/sets/b.npz", {{"input", x1}}).ok());
  Cli r = kiln("compare " + model + " --backends cpu,cpu:opt --inputs " + dir_ + "/sets --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(report()["iterations"], 2);
  r = kiln("compare " + model + " --backends cpu,cpu:opt --inputs " + dir_ + "/sets/a.npz --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(report()["inputs"]["source"], dir_ + "/sets/a.npz");
}

TEST_F(CompareCliTest, BadInputsGetExitCodesAndMessages) {
  const std::string model = tiny();
  Cli r = kiln("compare " + dir_ + "/missing.onnx --backends cpu,cpu:opt");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("missing.onnx"), std::string::npos) << r.err;

  r = kiln("compare " + model + " --inputs " + dir_ + "/nothing.npz");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("nothing.npz: no such file or directory"), std::string::npos) << r.err;

  ASSERT_TRUE(
      write_npz(dir_ + "/wrong.npz", {{"input", Tensor::from_vector<float>({1, 3, 8, 8}, std::vector<float>(192))}})
          .ok());
  r = kiln("compare " + model + " --backends cpu,cpu:opt --inputs " + dir_ + "/wrong.npz");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("input 'input' expects shape [1,3,16,16]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("holds 1x3x8x8"), std::string::npos) << r.err;

  ASSERT_TRUE(
      write_npz(dir_ + "/int.npz", {{"input", Tensor::from_vector<int64_t>({1, 3, 16, 16}, std::vector<int64_t>(768))}})
          .ok());
  r = kiln("compare " + model + " --backends cpu,cpu:opt --inputs " + dir_ + "/int.npz");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("expects dtype float32"), std::string::npos) << r.err;

  r = kiln("compare " + model + " --backends cpu,tensorrt");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown backend 'tensorrt' (known backends: cpu, cpu:opt, ort, cuda:fp32"), std::string::npos)
      << r.err;

  r = kiln("compare " + model + " --backends cpu");
  EXPECT_EQ(r.code, 1) << r.err;
  r = kiln("compare " + model + " --backends cpu,cpu --check cosin:0.9");
  EXPECT_EQ(r.code, 1) << r.err;

  r = kiln("compare " + model + " --backends cpu,torch");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("backend torch unavailable"), std::string::npos) << r.err;
#if !defined(KILN_WITH_CUDA)
  r = kiln("compare " + model + " --backends cpu,cuda:fp16");
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_NE(r.err.find("backend cuda:fp16 unavailable: cannot build a CUDA engine: this kiln was built without the CUDA backend"),
            std::string::npos)
      << r.err;
#endif
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// kiln accuracy against scikit-learn: tests/data/accuracy holds a seeded labelled set, the zoo model it is
// scored with, and the metrics scikit-learn computed from ONNX Runtime's logits on the GPU machine
// (make_expected.py beside them made all four). The model here must be the zoo's own, byte for byte, and
// every metric of every backend present (cpu, and ort when onnxruntime-node is installed) must match.
TEST_F(CompareCliTest, AccuracyMatchesScikitLearn) {
  const std::string d = std::string(KILN_TEST_DATA_DIR) + "/accuracy";
  const nlohmann::json want = nlohmann::json::parse(slurp(d + "/expected.json"));
  models::ZooOptions o;
  o.batch = Dim::sym("batch");
  o.height = o.width = 16;
  o.classes = 6;
  o.seed = 3;
  const std::string regenerated = write_zoo("tiny_cnn", o, "regenerated.onnx");
  ASSERT_EQ(slurp(regenerated), slurp(d + "/model.onnx")) << "the zoo's tiny_cnn changed: rerun make_expected.py";
  std::string backends = "cpu";
  if (find_ort_runner().ok()) backends += ",ort";
  const Cli r = kiln("accuracy " + d + "/model.onnx --dataset " + d + "/data.npz --labels " + d +
                     "/labels.txt --topk 3 --backends " + backends + " --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto doc = report();
  ASSERT_EQ(doc["backends"].size(), backends == "cpu" ? 1u : 2u);
  const double tol = 1e-12;
  for (const auto& b : doc["backends"]) {
    SCOPED_TRACE(b["name"].get<std::string>());
    EXPECT_NEAR(b["top1"].get<double>(), want["top1"].get<double>(), tol);
    EXPECT_NEAR(b["topk"].get<double>(), want["topk"].get<double>(), tol);
    EXPECT_EQ(b["confusion"], want["confusion"]);
    for (const char* avg : {"macro", "micro"})
      for (const char* m : {"precision", "recall", "f1"})
        EXPECT_NEAR(b[avg][m].get<double>(), want[avg][m].get<double>(), tol) << avg << " " << m;
    // ROC-AUC ranks probabilities: ties within float rounding could differ between backends, so 1e-9.
    EXPECT_NEAR(b["macro"]["roc_auc"].get<double>(), want["macro"]["roc_auc"].get<double>(), 1e-9);
    ASSERT_EQ(b["per_class"].size(), want["per_class"].size());
    for (size_t c = 0; c < want["per_class"].size(); ++c) {
      const auto& g = b["per_class"][c];
      const auto& w = want["per_class"][c];
      EXPECT_EQ(g["support"], w["support"]) << "class " << c;
      for (const char* m : {"precision", "recall", "f1"}) EXPECT_NEAR(g[m].get<double>(), w[m].get<double>(), tol) << c;
      if (w["roc_auc"].is_null())
        EXPECT_TRUE(g["roc_auc"].is_null()) << "class " << c;
      else
        EXPECT_NEAR(g["roc_auc"].get<double>(), w["roc_auc"].get<double>(), 1e-9) << "class " << c;
    }
  }
}

}  // namespace
}  // namespace kiln
