// Conformance runner pieces: tolerance rule, mismatch reports, case lists, summary and JSON report.
#include "compare/conformance.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "onnx/onnx.pb.h"

namespace kiln {
namespace {

TEST(CompareTensors, AppliesAtolPlusRtolTimesExpected) {
  const Tolerance tol;  // rtol 1e-3, atol 1e-5
  Tensor e = Tensor::from_vector<float>({3}, {100.0f, 0.0f, -2.0f});
  // Allowed errors: 1e-5 + 0.1 = 0.10001, 1e-5, 1e-5 + 2e-3.
  EXPECT_TRUE(compare_tensors(Tensor::from_vector<float>({3}, {100.09f, 0.000009f, -2.00199f}), e, tol, "y").ok());
  Status s = compare_tensors(Tensor::from_vector<float>({3}, {100.2f, 0.0f, -2.0f}), e, tol, "y");
  ASSERT_EQ(s.code(), StatusCode::kAccuracy);
  EXPECT_NE(s.message().find("y: 1 of 3 elements differ"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("worst at [0]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("got 100.199997, expected 100"), std::string::npos) << s.message();
  EXPECT_FALSE(compare_tensors(Tensor::from_vector<float>({3}, {100.0f, 0.00002f, -2.0f}), e, tol, "y").ok());
}

TEST(CompareTensors, ReportsTheWorstElementByToleranceMultiple) {
  Tensor e = Tensor::from_vector<float>({2, 2}, {1000.0f, 1.0f, 0.0f, 5.0f});
  // Element 0 is off by 2 (2x its tolerance of ~1), element 2 by 1e-3 (100x its tolerance of 1e-5).
  Tensor a = Tensor::from_vector<float>({2, 2}, {1002.0f, 1.0f, 0.001f, 5.0f});
  Status s = compare_tensors(a, e, Tolerance(), "out");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2 of 4 elements differ"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("worst at [1,0]"), std::string::npos) << s.message();
}

TEST(CompareTensors, NanAndInfinityRules) {
  const float nan = std::nanf(""), inf = INFINITY;
  Tensor e = Tensor::from_vector<float>({3}, {nan, inf, -inf});
  EXPECT_TRUE(compare_tensors(Tensor::from_vector<float>({3}, {nan, inf, -inf}), e, Tolerance(), "y").ok());
  EXPECT_FALSE(compare_tensors(Tensor::from_vector<float>({3}, {0.0f, inf, -inf}), e, Tolerance(), "y").ok());
  EXPECT_FALSE(compare_tensors(Tensor::from_vector<float>({3}, {nan, inf, inf}), e, Tolerance(), "y").ok());
  Tensor finite = Tensor::from_vector<float>({1}, {1.0f});
  EXPECT_FALSE(compare_tensors(Tensor::from_vector<float>({1}, {nan}), finite, Tolerance(), "y").ok());
}

TEST(CompareTensors, IntegersExactDtypeAndShapeMustMatch) {
  Tensor e = Tensor::from_vector<int64_t>({2}, {3, 4});
  EXPECT_TRUE(compare_tensors(Tensor::from_vector<int64_t>({2}, {3, 4}), e, Tolerance(), "i").ok());
  Status s = compare_tensors(Tensor::from_vector<int64_t>({2}, {3, 5}), e, Tolerance(), "i");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("worst at [1]: got 5, expected 4"), std::string::npos) << s.message();
  Status d = compare_tensors(Tensor::from_vector<int32_t>({2}, {3, 4}), e, Tolerance(), "i");
  EXPECT_NE(d.message().find("dtype int32, expected int64"), std::string::npos) << d.message();
  Status sh = compare_tensors(Tensor::from_vector<int64_t>({1, 2}, {3, 4}), e, Tolerance(), "i");
  EXPECT_NE(sh.message().find("shape 1x2, expected 2"), std::string::npos) << sh.message();
  Tensor b = Tensor::from_vector<bool>({2}, {true, false});
  EXPECT_FALSE(compare_tensors(Tensor::from_vector<bool>({2}, {true, true}), b, Tolerance(), "b").ok());
}

std::vector<CaseResult> sample_results() {
  std::vector<CaseResult> r(4);
  r[0].test = {"node", "test_abs", "/x"};
  r[0].status = CaseStatus::kPassed;
  r[1].test = {"node", "test_foo", "/x"};
  r[1].status = CaseStatus::kSkipped;
  r[1].reason = "unsupported op Foo";
  r[2].test = {"simple", "test_bar", "/x"};
  r[2].status = CaseStatus::kFailed;
  r[2].reason = "crashed with signal 11";
  r[3].test = {"node", "test_add", "/x"};
  r[3].status = CaseStatus::kPassed;
  return r;
}

TEST(ConformanceReport, SummaryLinesAndJson) {
  const auto r = sample_results();
  EXPECT_EQ(conformance_summary(r),
            "node: 2 passed, 0 failed, 1 skipped\nsimple: 0 passed, 1 failed, 0 skipped\n"
            "2 passed, 1 failed, 1 skipped\n");
  auto j = conformance_report(r, "/data");
  EXPECT_EQ(j["schema"], "kiln.conformance/1");
  EXPECT_EQ(j["summary"]["passed"], 2);
  EXPECT_EQ(j["suites"]["simple"]["failed"], 1);
  ASSERT_EQ(j["cases"].size(), 4u);
  EXPECT_EQ(j["cases"][1]["id"], "node/test_foo");
  EXPECT_EQ(j["cases"][1]["status"], "skipped");
  EXPECT_EQ(j["cases"][1]["reason"], "unsupported op Foo");
}

TEST(ConformanceReport, ExpectPassListFindsRegressions) {
  const std::string path = ::testing::TempDir() + "kiln_expect_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream f(path);
    f << "# passing cases\nnode/test_abs\n\n  node/test_foo  \nsimple/test_bar # comment\nnode/test_gone\n";
  }
  auto ids = read_case_list(path);
  std::remove(path.c_str());
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 4u);
  EXPECT_EQ((*ids)[1], "node/test_foo");
  auto missing = expected_but_not_passed(*ids, sample_results(), "");
  ASSERT_EQ(missing.size(), 3u);
  EXPECT_EQ(missing[0], "node/test_foo (skipped: unsupported op Foo)");
  EXPECT_EQ(missing[2], "node/test_gone (not found in the test data)");
  // With a filter, only the selected ids are checked.
  EXPECT_EQ(expected_but_not_passed(*ids, sample_results(), "simple/").size(), 1u);
  EXPECT_FALSE(read_case_list("/nonexistent/list.txt").ok());
}

TEST(Conformance, DiscoversSuitesAndIsolatesABrokenCase) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / ("kiln_conf_" + std::to_string(getpid()));
  fs::create_directories(root / "node" / "test_b" / "test_data_set_0");
  fs::create_directories(root / "node" / "test_a");
  fs::create_directories(root / "node" / "not_a_case");
  fs::create_directories(root / "simple" / "test_c");
  for (const char* c : {"node/test_a", "node/test_b", "simple/test_c"})
    std::ofstream(root / c / "model.onnx") << "junk";
  auto cases = discover_cases(root.string(), "");
  ASSERT_TRUE(cases.ok()) << cases.status().to_string();
  ASSERT_EQ(cases->size(), 3u);
  EXPECT_EQ((*cases)[0].id(), "node/test_a");
  EXPECT_EQ((*cases)[2].id(), "simple/test_c");
  auto filtered = discover_cases(root.string(), "test_b");
  ASSERT_EQ(filtered->size(), 1u);
  auto one_suite = discover_cases((root / "node").string() + "/", "");
  ASSERT_EQ(one_suite->size(), 2u);
  EXPECT_EQ((*one_suite)[0].id(), "node/test_a");

  // A file that is not ONNX fails (it is not a skip) and the reason names the model file.
  CaseResult r = run_case_isolated((*cases)[0], Tolerance(), IsolationLimits{});
  EXPECT_EQ(r.status, CaseStatus::kFailed);
  EXPECT_NE(r.reason.find("model.onnx"), std::string::npos) << r.reason;

  // A case needing an 800 MB tensor fails cleanly under a 256 MiB memory limit (the child's tensor cap
  // follows the limit), while an 80 MB one runs under the same limit: the limit counts what the case maps,
  // not the several hundred MiB of libraries this (CUDA-linked) process has mapped already.
  auto write_constant_of_shape_case = [](const fs::path& dir, int64_t elements) {
    fs::create_directories(dir / "test_data_set_0");
    std::ofstream(dir / "test_data_set_0" / "output_0.pb") << "";
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    auto* shape = g->add_initializer();
    shape->set_name("shape");
    shape->set_data_type(onnx::TensorProto::INT64);
    shape->add_dims(1);
    shape->add_int64_data(elements);
    auto* n = g->add_node();
    n->set_op_type("ConstantOfShape");
    n->add_input("shape");
    n->add_output("y");
    auto* y = g->add_output();
    y->set_name("y");
    y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    std::ofstream f(dir / "model.onnx", std::ios::binary);
    m.SerializeToOstream(&f);
  };
  const fs::path big = root / "node" / "test_big", fits = root / "node" / "test_fits";
  write_constant_of_shape_case(big, 200000000);
  write_constant_of_shape_case(fits, 20000000);
  IsolationLimits small;
  small.memory_limit_mb = 256;
  CaseResult capped = run_case_isolated(ConformanceCase{"node", "test_big", big.string()}, Tolerance(), small);
  EXPECT_EQ(capped.status, CaseStatus::kFailed);
  EXPECT_NE(capped.reason.find("128 MiB limit"), std::string::npos) << capped.reason;
  // The 80 MB case computes its output and only then stops at the empty expected-output file (read after
  // the run; an empty TensorProto has no data type, which is reported as unsupported).
  CaseResult ran = run_case_isolated(ConformanceCase{"node", "test_fits", fits.string()}, Tolerance(), small);
  EXPECT_NE(ran.status, CaseStatus::kPassed) << ran.reason;
  EXPECT_EQ(ran.reason.find("limit"), std::string::npos) << ran.reason;
  EXPECT_EQ(ran.reason.find("memory"), std::string::npos) << ran.reason;
  EXPECT_NE(ran.reason.find("output_0.pb"), std::string::npos) << ran.reason;
  fs::remove_all(root);

  auto none = discover_cases("/nonexistent/dir", "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln
