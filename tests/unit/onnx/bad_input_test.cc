// Every bad model of issue 3 item 9 that concerns import: the StatusCode and a message naming the problem.
#include <random>

#include "onnx_test_util.h"
#include "ops/registry.h"

namespace kiln {
namespace {
using namespace onnx_test;

void expect_error(const Status& s, StatusCode code, std::initializer_list<const char*> fragments) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.message();
  for (const char* f : fragments)
    EXPECT_NE(s.message().find(f), std::string::npos) << "'" << f << "' not in: " << s.message();
}

Status import_status(const onnx::ModelProto& m, const ImportOptions& o = structure_only(),
                     const std::string& dir = "") {
  return import(m, o, dir).status();
}

TEST(ImporterBadInputTest, MissingFile) {
  expect_error(load_onnx("/nonexistent/kiln/model.onnx").status(), StatusCode::kInvalidInput,
               {"/nonexistent/kiln/model.onnx", "does not exist"});
}

TEST(ImporterBadInputTest, RandomBytesTextAndEmpty) {
  TempDir dir;
  std::mt19937 rng(42);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  write_bytes(dir.file("noise.onnx"), noise);
  expect_error(load_onnx(dir.file("noise.onnx")).status(), StatusCode::kInvalidInput,
               {"noise.onnx", "not an ONNX model"});
  write_bytes(dir.file("text.onnx"), "this is a text file, not a model\n");
  expect_error(load_onnx(dir.file("text.onnx")).status(), StatusCode::kInvalidInput, {"not an ONNX model"});
  write_bytes(dir.file("empty.onnx"), "");
  expect_error(load_onnx(dir.file("empty.onnx")).status(), StatusCode::kInvalidInput, {"empty"});
  expect_error(load_onnx(dir.path()).status(), StatusCode::kInvalidInput, {"not a regular file"});
}

TEST(ImporterBadInputTest, TruncatedModel) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  const std::string bytes = read_bytes(test_model("pytorch-converted/test_Conv2d"));
  ASSERT_GT(bytes.size(), 100u);
  // Cut inside the first initializer's raw_data: the length prefix runs past the end.
  for (size_t cut : {bytes.size() / 2, bytes.size() - 1}) {
    auto r = load_onnx_from_bytes(bytes.data(), cut, "", structure_only());
    expect_error(r.status(), StatusCode::kInvalidInput, {"protobuf parsing failed"});
  }
  // Every prefix either fails cleanly or imports a consistent (smaller) graph; never a crash.
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    auto r = load_onnx_from_bytes(bytes.data(), cut, "", structure_only());
    if (!r.ok()) {
      EXPECT_NE(r.status().code(), StatusCode::kOk);
    } else {
      EXPECT_TRUE(verify_graph(**r).ok());
    }
  }
}

TEST(ImporterBadInputTest, BitFlippedModel) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  const std::string bytes = read_bytes(test_model("node/test_conv_with_strides_padding"));
  // The first byte is the tag of ir_version (field 1, varint); 0xF7 is field 30 with invalid wire type 7.
  std::string flipped = bytes;
  flipped[0] = static_cast<char>(flipped[0] ^ 0xFF);
  expect_error(load_onnx_from_bytes(flipped.data(), flipped.size(), "").status(), StatusCode::kInvalidInput,
               {"not an ONNX model"});
  int failed = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit : {0, 3, 7}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      ImportOptions o;
      o.require_supported_ops = false;
      auto r = load_onnx_from_bytes(b.data(), b.size(), "", o);
      if (!r.ok()) {
        ++failed;
        EXPECT_TRUE(r.status().code() == StatusCode::kInvalidInput || r.status().code() == StatusCode::kUnsupported)
            << r.status().to_string();
        EXPECT_FALSE(r.status().message().empty());
      }
    }
  }
  EXPECT_GT(failed, 0);
}

TEST(ImporterBadInputTest, NoGraph) {
  onnx::ModelProto m = relu_model();
  m.clear_graph();
  expect_error(import_status(m), StatusCode::kInvalidInput, {"no graph"});
}

TEST(ImporterBadInputTest, OpsetNewerThanSupported) {
  expect_error(import_status(relu_model(99)), StatusCode::kUnsupported, {"opset 99", "21"});
  expect_error(import_status(relu_model(22)), StatusCode::kUnsupported, {"opset 22"});
  expect_error(import_status(relu_model(0)), StatusCode::kInvalidInput, {"invalid opset version 0"});
}

TEST(ImporterBadInputTest, UnknownOp) {
  onnx::ModelProto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_op_type("FrobnicateV2");
  ImportOptions o;
  o.infer_shapes = false;
  expect_error(import_status(m, o), StatusCode::kUnsupported, {"FrobnicateV2", "node 'relu'"});
  o.infer_shapes = true;
  expect_error(import_status(m, o), StatusCode::kUnsupported, {"FrobnicateV2", "node 'relu'"});
}

TEST(ImporterBadInputTest, Cycle) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  add_node(g, "Add", {"x", "b"}, {"a"}, "n1");
  add_node(g, "Relu", {"a"}, {"b"}, "n2");
  add_node(g, "Relu", {"a"}, {"y"}, "n3");
  expect_error(import_status(m), StatusCode::kInvalidInput, {"cycle", "node 'n"});
}

TEST(ImporterBadInputTest, DanglingInput) {
  onnx::ModelProto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_input(0, "ghost");
  expect_error(import_status(m), StatusCode::kInvalidInput, {"'ghost'", "node 'relu'", "dangling"});
}

TEST(ImporterBadInputTest, DuplicateProducerAndUnproducedOutput) {
  onnx::ModelProto m = relu_model();
  add_node(m.mutable_graph(), "Abs", {"x"}, {"y"}, "other");
  expect_error(import_status(m), StatusCode::kInvalidInput, {"'y'", "produced twice", "node 'relu'", "node 'other'"});
  onnx::ModelProto m2 = relu_model();
  add_node(m2.mutable_graph(), "Abs", {"x"}, {"x"}, "writes_input");
  expect_error(import_status(m2), StatusCode::kInvalidInput, {"'x'", "writes_input"});
  onnx::ModelProto m3 = relu_model();
  m3.mutable_graph()->mutable_output(0)->set_name("nowhere");
  expect_error(import_status(m3), StatusCode::kInvalidInput, {"graph output 'nowhere'"});
}

TEST(ImporterBadInputTest, InitializerBytesDisagreeWithShape) {
  onnx::ModelProto m = relu_model();
  auto* t = add_float_initializer(m.mutable_graph(), "weights", {2, 3}, {1, 2, 3, 4, 5});
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'weights'", "20 bytes", "24"});
  t->clear_raw_data();
  for (int k = 0; k < 5; ++k) t->add_float_data(1.f);
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'weights'", "5 values", "6"});
  t->clear_float_data();
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'weights'", "no data"});
}

TEST(ImporterBadInputTest, AbsurdDims) {
  // 10^12 float elements: refused before any allocation.
  onnx::ModelProto m = relu_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("huge");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(1000000);
  t->add_dims(1000000);
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'huge'", "limit"});
  // A product that overflows int64.
  t->clear_dims();
  for (int k = 0; k < 4; ++k) t->add_dims(int64_t{1} << 20);
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'huge'"});
  t->clear_dims();
  t->add_dims(-3);
  expect_error(import_status(m), StatusCode::kInvalidInput, {"initializer 'huge'", "negative"});
  // Declared graph input dims are checked the same way.
  onnx::ModelProto in = relu_model();
  set_tensor_type(in.mutable_graph()->mutable_input(0), "x", onnx::TensorProto::FLOAT, {1000000, 1000000});
  expect_error(import_status(in), StatusCode::kInvalidInput, {"graph input 'x'", "limit"});
  in.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_value(-1);
  expect_error(import_status(in), StatusCode::kInvalidInput, {"graph input 'x'", "negative"});
}

TEST(ImporterBadInputTest, UnsupportedTypes) {
  onnx::ModelProto m = relu_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("words");
  t->set_data_type(onnx::TensorProto::STRING);
  t->add_dims(1);
  t->add_string_data("hello");
  expect_error(import_status(m), StatusCode::kUnsupported, {"initializer 'words'", "string"});
  onnx::ModelProto seq = relu_model();
  seq.mutable_graph()->mutable_input(0)->mutable_type()->mutable_sequence_type();
  ImportOptions o;
  o.infer_shapes = false;
  expect_error(import_status(seq, o), StatusCode::kUnsupported, {"graph input 'x'", "sequence"});
}

// Found by the fuzzer: a required input given as an empty name reached a shape rule as nullptr.
TEST(ImporterBadInputTest, RequiredInputOmitted) {
  if (!OpRegistry::instance().find("Clip")) GTEST_SKIP() << "Clip is not registered on this branch";
  onnx::ModelProto m = relu_model();
  auto* n = m.mutable_graph()->mutable_node(0);
  n->set_op_type("Clip");
  n->set_input(0, "");
  n->add_input("x");  // min present, X missing
  ImportOptions o;
  expect_error(import_status(m, o), StatusCode::kInvalidInput, {"node 'relu'", "input 0 is required"});
  o.require_supported_ops = false;
  expect_error(import_status(m, o), StatusCode::kInvalidInput, {"input 0 is required"});
}

class ExternalDataTest : public ::testing::Test {
 protected:
  // A model whose initializer "w" (float[4]) lives in external data at `location`.
  onnx::ModelProto model(const std::string& location, const std::string& offset = "0",
                         const std::string& length = "16") {
    onnx::ModelProto m = relu_model();
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name("w");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", location);
    if (!offset.empty()) add("offset", offset);
    if (!length.empty()) add("length", length);
    return m;
  }
  void SetUp() override {
    std::filesystem::create_directory(dir.file("model"));
    const float w[5] = {0.f, 1.5f, -2.f, 3.25f, 4.f};
    write_bytes(dir.file("model/weights.bin"), std::string(reinterpret_cast<const char*>(w), sizeof(w)));
    write_bytes(dir.file("secret.bin"), std::string(64, 'x'));
  }
  Status load(const onnx::ModelProto& m) {
    write_bytes(dir.file("model/m.onnx"), serialized(m));
    return load_onnx(dir.file("model/m.onnx"), structure_only()).status();
  }
  TempDir dir;
};

TEST_F(ExternalDataTest, ReadsAtOffset) {
  write_bytes(dir.file("model/m.onnx"), serialized(model("weights.bin", "4", "16")));
  auto g = load_onnx(dir.file("model/m.onnx"), structure_only());
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const Tensor& w = *(*g)->find_value("w")->constant;
  EXPECT_EQ(w.to_float_vector(), (std::vector<float>{1.5f, -2.f, 3.25f, 4.f}));
}

TEST_F(ExternalDataTest, EscapingLocationsRefused) {
  expect_error(load(model("../secret.bin")), StatusCode::kInvalidInput, {"initializer 'w'", "escapes"});
  expect_error(load(model("sub/../../secret.bin")), StatusCode::kInvalidInput, {"escapes"});
  expect_error(load(model(dir.file("secret.bin"))), StatusCode::kInvalidInput, {"absolute"});
  std::filesystem::create_symlink(dir.file("secret.bin"), dir.file("model/link.bin"));
  expect_error(load(model("link.bin")), StatusCode::kInvalidInput, {"outside the model's folder"});
}

TEST_F(ExternalDataTest, MissingOrShortFile) {
  expect_error(load(model("nothere.bin")), StatusCode::kInvalidInput, {"initializer 'w'", "'nothere.bin' not found"});
  expect_error(load(model("weights.bin", "8", "16")), StatusCode::kInvalidInput, {"too short"});
  expect_error(load(model("weights.bin", "0", "12")), StatusCode::kInvalidInput, {"length 12"});
  expect_error(load(model("weights.bin", "-4", "16")), StatusCode::kInvalidInput, {"offset '-4'"});
  // From memory without a base folder, external data cannot be resolved at all.
  expect_error(import_status(model("weights.bin")), StatusCode::kInvalidInput, {"without a base folder"});
}

}  // namespace
}  // namespace kiln
