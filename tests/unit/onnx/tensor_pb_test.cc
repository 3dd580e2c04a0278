// TensorProto files (.pb of the ONNX test data): decoding every stored form, writing, and bad input.
#include "onnx_test_util.h"

namespace kiln {
namespace {
using namespace onnx_test;

Expected<Tensor> decode(const onnx::TensorProto& p) {
  std::string s;
  p.SerializeToString(&s);
  return tensor_from_pb_bytes(s.data(), s.size());
}

TEST(TensorPbTest, LoadsTestDataInput) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  auto t = load_tensor_pb(kTestData + "/node/test_conv_with_strides_padding/test_data_set_0/input_0.pb");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->describe(), "float32[1x1x7x5]");
  for (int64_t i = 0; i < 35; ++i) EXPECT_EQ(t->data<float>()[i], static_cast<float>(i));  // np.arange(35)
}

TEST(TensorPbTest, LoadsFloat16Output) {
  KILN_SKIP_WITHOUT_TEST_DATA();
  const std::string dir = kTestData + "/node/test_cast_FLOAT_to_FLOAT16/test_data_set_0/";
  auto in = load_tensor_pb(dir + "input_0.pb");
  auto out = load_tensor_pb(dir + "output_0.pb");
  ASSERT_TRUE(in.ok() && out.ok());
  EXPECT_EQ(out->describe(), "float16[3x4]");
  // The expected output is the float32 input rounded to half precision.
  for (int64_t i = 0; i < 12; ++i)
    EXPECT_EQ(out->data<uint16_t>()[i], float_to_half(in->data<float>()[i])) << "element " << i;
}

TEST(TensorPbTest, TypedFields) {
  onnx::TensorProto p;
  p.add_dims(3);
  p.set_data_type(onnx::TensorProto::INT64);
  for (int64_t v : {int64_t{-1}, int64_t{0}, int64_t{1} << 40}) p.add_int64_data(v);
  auto t = decode(p);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->to_int64_vector(), (std::vector<int64_t>{-1, 0, int64_t{1} << 40}));

  onnx::TensorProto h;  // float16 bits travel in int32_data
  h.add_dims(2);
  h.set_data_type(onnx::TensorProto::FLOAT16);
  h.add_int32_data(0x3C00);  // 1.0
  h.add_int32_data(0xC000);  // -2.0
  auto ht = decode(h);
  ASSERT_TRUE(ht.ok()) << ht.status().to_string();
  EXPECT_EQ(ht->to_float_vector(), (std::vector<float>{1.f, -2.f}));

  onnx::TensorProto b;
  b.add_dims(3);
  b.set_data_type(onnx::TensorProto::BOOL);
  for (int v : {1, 0, 1}) b.add_int32_data(v);
  auto bt = decode(b);
  ASSERT_TRUE(bt.ok());
  EXPECT_EQ(bt->to_int64_vector(), (std::vector<int64_t>{1, 0, 1}));

  onnx::TensorProto i8;
  i8.set_data_type(onnx::TensorProto::INT8);
  i8.add_dims(2);
  i8.add_int32_data(-128);
  i8.add_int32_data(127);
  EXPECT_EQ(decode(i8)->to_int64_vector(), (std::vector<int64_t>{-128, 127}));

  onnx::TensorProto d;  // a scalar double
  d.set_data_type(onnx::TensorProto::DOUBLE);
  d.add_double_data(2.5);
  auto dt = decode(d);
  ASSERT_TRUE(dt.ok());
  EXPECT_EQ(dt->rank(), 0);
  EXPECT_EQ(dt->data<double>()[0], 2.5);

  onnx::TensorProto u;
  u.set_data_type(onnx::TensorProto::UINT64);
  u.add_dims(1);
  u.add_uint64_data(~uint64_t{0});
  EXPECT_EQ(decode(u)->data<uint64_t>()[0], ~uint64_t{0});

  onnx::TensorProto bf;
  bf.set_data_type(onnx::TensorProto::BFLOAT16);
  bf.add_dims(1);
  bf.add_int32_data(0x3FC0);  // 1.5
  EXPECT_EQ(decode(bf)->to_float_vector(), (std::vector<float>{1.5f}));
}

TEST(TensorPbTest, RawDataLittleEndian) {
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::INT32);
  p.add_dims(2);
  const unsigned char raw[8] = {0x01, 0x02, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF};
  p.set_raw_data(raw, 8);
  auto t = decode(p);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->to_int64_vector(), (std::vector<int64_t>{0x0201, -1}));
  auto empty = decode([] {
    onnx::TensorProto e;
    e.set_data_type(onnx::TensorProto::FLOAT);
    e.add_dims(0);
    e.add_dims(5);
    return e;
  }());
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_EQ(empty->numel(), 0);
}

TEST(TensorPbTest, WriteAndReadBack) {
  TempDir dir;
  Tensor f = Tensor::from_vector<float>({2, 2}, {1.f, -0.5f, 3e8f, 0.f});
  ASSERT_TRUE(write_tensor_pb(f, "x", dir.file("x.pb")).ok());
  auto back = load_tensor_pb(dir.file("x.pb"));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->describe(), "float32[2x2]");
  EXPECT_EQ(back->to_float_vector(), f.to_float_vector());
  // The file is a plain TensorProto with the name and raw_data set.
  onnx::TensorProto p;
  ASSERT_TRUE(p.ParseFromString(read_bytes(dir.file("x.pb"))));
  EXPECT_EQ(p.name(), "x");
  EXPECT_EQ(p.raw_data().size(), 16u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.pb.tmp." + std::to_string(::getpid()))));
}

TEST(TensorPbTest, BadInput) {
  const std::string junk = "\xff\xff\xff\xff not a tensor";
  auto r = tensor_from_pb_bytes(junk.data(), junk.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("TensorProto"), std::string::npos);

  onnx::TensorProto s;
  s.set_name("words");
  s.set_data_type(onnx::TensorProto::STRING);
  s.add_dims(1);
  s.add_string_data("a");
  auto rs = decode(s);
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(rs.status().message().find("'words'"), std::string::npos);

  onnx::TensorProto c;
  c.set_data_type(onnx::TensorProto::COMPLEX64);
  EXPECT_EQ(decode(c).status().code(), StatusCode::kUnsupported);

  auto missing = load_tensor_pb("/nonexistent/input_0.pb");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace kiln
