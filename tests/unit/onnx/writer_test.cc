// The ONNX writer: round trips through the importer, external data files, symbolic dims, atomicity.
#include <cstring>

#include "onnx_test_util.h"

namespace kiln {
namespace {
using namespace onnx_test;

// Structure and initializer bytes of two graphs must match exactly.
void expect_same_graph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    EXPECT_EQ(a.inputs[i]->name, b.inputs[i]->name);
    EXPECT_EQ(a.inputs[i]->dtype, b.inputs[i]->dtype);
    EXPECT_EQ(a.inputs[i]->shape.to_string(), b.inputs[i]->shape.to_string());
  }
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    EXPECT_EQ(a.outputs[i]->name, b.outputs[i]->name);
    EXPECT_EQ(a.outputs[i]->shape.to_string(), b.outputs[i]->shape.to_string());
  }
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (size_t i = 0; i < a.initializers.size(); ++i) {
    const Tensor& ta = *a.initializers[i]->constant;
    const Tensor& tb = *b.initializers[i]->constant;
    EXPECT_EQ(a.initializers[i]->name, b.initializers[i]->name);
    ASSERT_EQ(ta.describe(), tb.describe());
    EXPECT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << a.initializers[i]->name;
  }
  ASSERT_EQ(a.nodes().size(), b.nodes().size());
  for (size_t i = 0; i < a.nodes().size(); ++i) {
    const Node& na = *a.nodes()[i];
    const Node& nb = *b.nodes()[i];
    EXPECT_EQ(na.name, nb.name);
    EXPECT_EQ(na.op_type, nb.op_type);
    EXPECT_EQ(na.opset, nb.opset);
    ASSERT_EQ(na.inputs.size(), nb.inputs.size());
    for (size_t k = 0; k < na.inputs.size(); ++k)
      EXPECT_EQ(na.inputs[k] ? na.inputs[k]->name : "", nb.inputs[k] ? nb.inputs[k]->name : "");
    ASSERT_EQ(na.attrs.size(), nb.attrs.size());
    for (const auto& [k, attr] : na.attrs) {
      const Attribute* other = nb.attr(k);
      ASSERT_NE(other, nullptr) << k;
      EXPECT_EQ(attr.type, other->type);
      EXPECT_EQ(attr.ints, other->ints);
      EXPECT_EQ(attr.i, other->i);
      EXPECT_EQ(attr.f, other->f);
      EXPECT_EQ(attr.s, other->s);
    }
  }
}

TEST(WriterTest, RoundTripTestDataModels) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  TempDir dir;
  for (const char* c : {"pytorch-converted/test_Conv2d", "node/test_constant", "node/test_clip_default_inbounds",
                        "pytorch-converted/test_BatchNorm2d_eval"}) {
    SCOPED_TRACE(c);
    auto a = load_onnx(test_model(c), structure_only());
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_TRUE(write_onnx(**a, dir.file("m.onnx")).ok());
    auto b = load_onnx(dir.file("m.onnx"), structure_only());
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    expect_same_graph(**a, **b);
    EXPECT_EQ((*b)->producer_name, "kiln");
  }
}

TEST(WriterTest, ConstantAttributeTensorRoundTrips) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  auto a = load_onnx(test_model("node/test_constant"), structure_only());
  ASSERT_TRUE(a.ok());
  auto bytes = serialize_onnx(**a);
  ASSERT_TRUE(bytes.ok());
  auto b = load_onnx_from_bytes(bytes->data(), bytes->size(), "", structure_only());
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const Tensor& ta = (*a)->nodes()[0]->attr("value")->t;
  const Tensor& tb = (*b)->nodes()[0]->attr("value")->t;
  EXPECT_EQ(ta.to_float_vector(), tb.to_float_vector());
}

TEST(WriterTest, ExternalDataAndSymbolicDims) {
  TempDir dir;
  Graph g;
  g.name = "tiny";
  g.opset_imports[""] = 13;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), Dim(8)})).value();
  x->is_graph_input = true;
  g.inputs.push_back(x);
  std::vector<float> wv(8 * 4);
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = 0.25f * static_cast<float>(i);
  g.add_initializer("w", Tensor::from_vector<float>({8, 4}, wv)).value();
  g.add_initializer("b", Tensor::from_vector<float>({4}, {1, 2, 3, 4})).value();
  Value* y = g.add_value("y", DType::kFloat32, SymShape({Dim::sym("N"), Dim(4)})).value();
  Value* z = g.add_value("z", DType::kFloat32, SymShape({Dim::sym("N"), Dim(4)})).value();
  g.add_node("MatMul", "mm", {x, g.find_value("w")}, {y});
  g.add_node("Add", "add", {y, g.find_value("b")}, {z});
  z->is_graph_output = true;
  g.outputs.push_back(z);

  WriteOptions o;
  o.external_threshold = 64;  // w (128 bytes) goes out, b (16 bytes) stays inline
  ASSERT_TRUE(write_onnx(g, dir.file("tiny.onnx"), o).ok());
  ASSERT_TRUE(std::filesystem::exists(dir.file("tiny.onnx.data")));
  EXPECT_EQ(std::filesystem::file_size(dir.file("tiny.onnx.data")), 128u);
  // Nothing but the two files: the temporary files were renamed.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 2);

  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(read_bytes(dir.file("tiny.onnx"))));
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.graph().initializer(0).data_location(), onnx::TensorProto::EXTERNAL);
  EXPECT_FALSE(m.graph().initializer(0).has_raw_data());
  EXPECT_EQ(m.graph().initializer(1).raw_data().size(), 16u);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(m.graph().value_info_size(), 1);  // y

  auto back = load_onnx(dir.file("tiny.onnx"), structure_only());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_graph(g, **back);
  EXPECT_EQ((*back)->find_value("w")->constant->to_float_vector(), wv);
  EXPECT_EQ((*back)->find_value("y")->shape.to_string(), "[N,4]");
  EXPECT_EQ((*back)->opset(), 13);
}

TEST(WriterTest, SubgraphAttributeCannotBeWritten) {
  onnx::ModelProto m = relu_model();
  auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  auto g = import(m);
  ASSERT_TRUE(g.ok());
  auto s = serialize_onnx(**g);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("'body'"), std::string::npos);
}

TEST(WriterTest, UnwritableFolder) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({Dim(1)})).value();
  g.inputs.push_back(x);
  g.outputs.push_back(x);
  Status s = write_onnx(g, "/nonexistent/kiln/out.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/kiln/out.onnx"), std::string::npos);
}

}  // namespace
}  // namespace kiln
