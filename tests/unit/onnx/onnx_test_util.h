// Helpers for the ONNX importer/writer tests: test-data paths, temporary folders and small models built
// with the generated protobuf classes (so the tests do not depend on the writer under test).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx_test {

inline const std::string kTestData = "/usr/share/libonnx-testdata/data";
inline std::string test_model(const std::string& c) { return kTestData + "/" + c + "/model.onnx"; }

#define KILN_SKIP_WITHOUT_TEST_DATA()                                                           \
  do {                                                                                          \
    if (!std::filesystem::exists(::kiln::onnx_test::kTestData))                                 \
      GTEST_SKIP() << "ONNX test data not installed (scripts/setup installs libonnx-testdata)"; \
  } while (0)

// A fresh folder under $TMPDIR, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln_onnx_test_XXXXXX").string();
    path_ = ::mkdtemp(&tmpl[0]) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// dims: a value >= 0 is dim_value, -1 an unset dim, -2 dim_param "batch".
inline void set_tensor_type(onnx::ValueInfoProto* vi, const std::string& name, int elem,
                            std::initializer_list<int64_t> dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  shape->clear_dim();
  for (int64_t d : dims) {
    auto* dp = shape->add_dim();
    if (d >= 0) dp->set_dim_value(d);
    if (d == -2) dp->set_dim_param("batch");
  }
}

inline onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::initializer_list<std::string> ins,
                                 std::initializer_list<std::string> outs, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

// x: float[batch,4] -> Relu -> y: float[batch,4], opset `opset` of the default domain.
inline onnx::ModelProto relu_model(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("relu");
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {-2, 4});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {-2, 4});
  add_node(g, "Relu", {"x"}, {"y"}, "relu");
  return m;
}

inline onnx::TensorProto* add_float_initializer(onnx::GraphProto* g, const std::string& name,
                                                std::initializer_list<int64_t> dims, const std::vector<float>& v) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(v.data(), v.size() * sizeof(float));
  return t;
}

inline std::string serialized(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

// Import from memory without inference or the supported-op check (ops land on main separately).
inline ImportOptions structure_only() {
  ImportOptions o;
  o.infer_shapes = false;
  o.require_supported_ops = false;
  return o;
}

inline Expected<std::unique_ptr<Graph>> import(const onnx::ModelProto& m, const ImportOptions& o = structure_only(),
                                               const std::string& base_dir = "") {
  const std::string s = serialized(m);
  return load_onnx_from_bytes(s.data(), s.size(), base_dir, o);
}

}  // namespace kiln::onnx_test
