// Bad models through the CLI (issue item 9): each gives its documented exit code and one error line naming it.
#include <filesystem>

#include "tests/cli/cli_test_util.h"

namespace kiln::clitest {
namespace {

// y = Add(x, w) with x float32[2,3] and initializer w float32[2,3] as raw data; tests then break one thing.
onnx::ModelProto add_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("bad");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->set_name("add_node");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_dims(3);
  w->set_raw_data(std::string(24, '\0'));
  for (const char* name : {"x", "y"}) {
    auto* v = std::string(name) == "x" ? g->add_input() : g->add_output();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  }
  return m;
}

std::string save(const onnx::ModelProto& m, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
  return path;
}

class CliBadModel : public ::testing::Test {
 protected:
  void SetUp() override {
    KILN_REQUIRE_IMPORTER();
    dir_ = scratch_dir();
  }
  std::string dir_;
};

TEST_F(CliBadModel, TheUnbrokenModelRuns) {
  auto r = kiln("run " + save(add_model(), dir_ + "/ok.onnx"));
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(CliBadModel, TruncatedFile) {
  std::string bytes = add_model().SerializeAsString();
  std::ofstream(dir_ + "/cut.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error_line(kiln("info " + dir_ + "/cut.onnx"), 2, "kiln info: error: ", {dir_ + "/cut.onnx"});
}

TEST_F(CliBadModel, OpsetNewerThanSupported) {
  auto m = add_model();
  m.mutable_opset_import(0)->set_version(99);
  expect_error_line(kiln("run " + save(m, dir_ + "/new.onnx")), 3, "kiln run: error: ", {"99"});
}

TEST_F(CliBadModel, DanglingInput) {
  auto m = add_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
  expect_error_line(kiln("run " + save(m, dir_ + "/dangling.onnx")), 2, "kiln run: error: ", {"nowhere"});
}

TEST_F(CliBadModel, Cycle) {
  auto m = add_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(1, "z");  // add_node reads z, which relu_node computes from y
  auto* r = g->add_node();
  r->set_op_type("Relu");
  r->set_name("relu_node");
  r->add_input("y");
  r->add_output("z");
  expect_error_line(kiln("run " + save(m, dir_ + "/cycle.onnx")), 2, "kiln run: error: ", {"cycle"});
}

TEST_F(CliBadModel, InitializerBytesDisagreeWithShape) {
  auto m = add_model();
  m.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(20, '\0'));
  expect_error_line(kiln("info " + save(m, dir_ + "/short.onnx")), 2, "kiln info: error: ", {"'w'"});
}

TEST_F(CliBadModel, AbsurdDeclaredDims) {
  auto m = add_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->set_dims(0, 1000000);
  w->set_dims(1, 1000000);
  expect_error_line(kiln("info " + save(m, dir_ + "/huge.onnx")), 2, "kiln info: error: ", {"'w'"});
}

TEST_F(CliBadModel, ExternalDataEscapingOrMissing) {
  auto m = add_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value("../../etc/passwd");
  expect_error_line(kiln("info " + save(m, dir_ + "/escape.onnx")), 2,
                    "kiln info: error: ", {"../../etc/passwd", "escapes"});
  loc->set_value("weights.bin");
  expect_error_line(kiln("info " + save(m, dir_ + "/missing.onnx")), 2, "kiln info: error: ", {"weights.bin"});
}

}  // namespace
}  // namespace kiln::clitest
