// Helpers for the CLI tests: run the kiln binary capturing exit code/stdout/stderr, write small ONNX models.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "onnx/onnx.pb.h"

namespace kiln::clitest {

struct CliResult {
  int code = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh scratch directory per test.
inline std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p =
      std::filesystem::path(::testing::TempDir()) /
      ("kiln_cli_" + std::to_string(getpid()) + "_" + info->test_suite_name() + "_" + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Runs `kiln <args>` (args are passed through the shell; test paths contain no spaces).
inline CliResult kiln(const std::string& args) {
  static int counter = 0;
  const std::string base =
      ::testing::TempDir() + "kiln_cli_io_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  const std::string cmd = std::string(KILN_CLI_PATH) + " " + args + " >" + base + ".out 2>" + base + ".err";
  const int rc = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

// The error contract: exactly one line on stderr, "kiln <cmd>: error: ...", containing every needle.
inline void expect_error_line(const CliResult& r, int code, const std::string& prefix,
                              const std::vector<std::string>& needles) {
  EXPECT_EQ(r.code, code) << "stderr: " << r.err << "\nstdout: " << r.out;
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in: " << r.err;
}

// A one-node model: y = op_type(x), x float32 with the given dims (a string dim is a dim_param).
inline std::string write_one_node_model(const std::string& path, const std::string& op_type,
                                        const std::vector<std::string>& dims) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("kiln-cli-test");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("one_node");
  auto* n = g->add_node();
  n->set_op_type(op_type);
  n->set_name("the_node");
  n->add_input("x");
  n->add_output("y");
  for (const char* name : {"x", "y"}) {
    auto* v = std::string(name) == "x" ? g->add_input() : g->add_output();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* dim = shape->add_dim();
      if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0])))
        dim->set_dim_value(std::stoll(d));
      else
        dim->set_dim_param(d);
    }
  }
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
  return path;
}

inline std::string relu_case() { return std::string(KILN_ONNX_TESTDATA) + "/node/test_relu"; }

// True once the real ONNX importer is linked (before it lands on main a weak stand-in reports this).
inline bool importer_linked() {
  static const bool linked = kiln("info " + relu_case() + "/model.onnx").err.find("not linked") == std::string::npos;
  return linked;
}

#define KILN_REQUIRE_IMPORTER() \
  if (!::kiln::clitest::importer_linked()) GTEST_SKIP() << "the ONNX importer is not on main yet"

}  // namespace kiln::clitest
