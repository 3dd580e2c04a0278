// .npy/.npz reading and writing against hand-built byte strings (the NumPy format spec) and an archive
// written by Python's zipfile module (deflate + force_zip64, as numpy.savez_compressed does).
#include "core/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace kiln {
namespace {

// A v1 .npy image: magic, version, little-endian header length, dict padded so data starts at 64k.
std::string npy_v1(const std::string& dict, const std::string& data, int pad_to = 64) {
  std::string d = dict;
  size_t total = 10 + d.size() + 1;
  d.append((pad_to - total % pad_to) % pad_to, ' ');
  d += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(d.size() & 0xff);
  out += static_cast<char>(d.size() >> 8);
  return out + d + data;
}

std::string le_floats(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), 4);
  return s;
}

TEST(Npy, DecodesFloat32Matrix) {
  const std::string file =
      npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le_floats({1, 2, 3, -4, 5.5f, 0.25f}));
  auto t = npy_decode(file.data(), file.size(), "m.npy");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{2, 3}));
  EXPECT_FLOAT_EQ(t->data<float>()[3], -4.0f);
  EXPECT_FLOAT_EQ(t->data<float>()[4], 5.5f);
}

TEST(Npy, DecodesScalarBoolAndIntegers) {
  auto scalar = npy_v1("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", std::string("\x2a\0\0\0\0\0\0\0", 8));
  auto s = npy_decode(scalar.data(), scalar.size(), "s.npy");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->rank(), 0);
  EXPECT_EQ(s->data<int64_t>()[0], 42);

  // Nonzero bool bytes other than 1 are normalised to 1.
  auto b = npy_v1("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x01\x07", 3));
  auto bt = npy_decode(b.data(), b.size(), "b.npy");
  ASSERT_TRUE(bt.ok()) << bt.status().to_string();
  EXPECT_EQ(bt->dtype(), DType::kBool);
  EXPECT_EQ(bt->data<uint8_t>()[2], 1);

  auto u = npy_v1("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (2L, 1L)}", std::string("\xff\x03", 2));
  auto ut = npy_decode(u.data(), u.size(), "u.npy");
  ASSERT_TRUE(ut.ok()) << ut.status().to_string();
  EXPECT_EQ(ut->dtype(), DType::kUint8);
  EXPECT_EQ(ut->data<uint8_t>()[0], 255);

  auto h = npy_v1("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", std::string("\x00\x3c", 2));
  auto ht = npy_decode(h.data(), h.size(), "h.npy");
  ASSERT_TRUE(ht.ok());
  EXPECT_EQ(ht->dtype(), DType::kFloat16);
  EXPECT_FLOAT_EQ(ht->get_as_double(0), 1.0);
}

TEST(Npy, DecodesVersion2And3Headers) {
  for (char version : {'\x02', '\x03'}) {
    std::string dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
    size_t total = 12 + dict.size() + 1;
    dict.append((64 - total % 64) % 64, ' ');
    dict += '\n';
    std::string file("\x93NUMPY", 6);
    file += version;
    file += '\0';
    for (int i = 0; i < 4; ++i) file += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
    file += dict + std::string("\xfe\xff\x05\x00", 4);
    auto t = npy_decode(file.data(), file.size(), "v.npy");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->dtype(), DType::kInt16);
    EXPECT_EQ(t->data<int16_t>()[0], -2);
    EXPECT_EQ(t->data<int16_t>()[1], 5);
  }
}

TEST(Npy, RejectsMalformedFilesNamingThem) {
  struct Case {
    std::string bytes;
    StatusCode code;
    const char* needle;
  };
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const Case cases[] = {
      {"PK\x03\x04 not npy at all", StatusCode::kInvalidInput, "magic"},
      {npy_v1(good_dict, le_floats({1})), StatusCode::kInvalidInput, "truncated"},
      {npy_v1(good_dict, le_floats({1, 2, 3})), StatusCode::kInvalidInput, "needs 8"},
      {npy_v1("{'descr': '<f4', 'shape': (2,), }", le_floats({1, 2})), StatusCode::kInvalidInput, "fortran_order"},
      {npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,-1), }", ""), StatusCode::kInvalidInput,
       "malformed"},
      {npy_v1("['descr']", ""), StatusCode::kInvalidInput, "malformed"},
      {npy_v1("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
       StatusCode::kUnsupported, "'<c8'"},
      {npy_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')),
       StatusCode::kUnsupported, "big-endian"},
      {npy_v1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", le_floats({1, 2, 3, 4})),
       StatusCode::kUnsupported, "Fortran"},
      {npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }", ""),
       StatusCode::kInvalidInput, "overflows"},
      {npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", le_floats({1})),
       StatusCode::kInvalidInput, "truncated"},
  };
  for (const auto& c : cases) {
    auto t = npy_decode(c.bytes.data(), c.bytes.size(), "bad.npy");
    ASSERT_FALSE(t.ok()) << c.needle;
    EXPECT_EQ(t.status().code(), c.code) << t.status().message();
    EXPECT_NE(t.status().message().find("bad.npy"), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.needle), std::string::npos) << t.status().message();
  }
  // A header length pointing past the end of the file.
  std::string cut = npy_v1(good_dict, le_floats({1, 2})).substr(0, 30);
  auto t = npy_decode(cut.data(), cut.size(), "cut.npy");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("truncated"), std::string::npos) << t.status().message();
}

TEST(Npy, EncodesExactlyWhatNumPyWrites) {
  Tensor t = Tensor::from_vector<float>({3}, {1.0f, -2.0f, 0.5f});
  auto bytes = npy_encode(t);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", le_floats({1, -2, 0.5f})));
  EXPECT_EQ(bytes->size() % 16, 12u);  // 64-byte header + 12 data bytes

  Tensor s = Tensor::scalar<int32_t>(7);
  auto sb = npy_encode(s);
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(*sb, npy_v1("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", std::string("\x07\0\0\0", 4)));

  Tensor b = Tensor::from_vector<bool>({2, 1}, {true, false});
  auto bb = npy_encode(b);
  ASSERT_TRUE(bb.ok());
  EXPECT_EQ(*bb, npy_v1("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 1), }", std::string("\x01\x00", 2)));

  auto bf = npy_encode(Tensor::create(DType::kBFloat16, {2}).value());
  ASSERT_FALSE(bf.ok());
  EXPECT_EQ(bf.status().code(), StatusCode::kUnsupported);
}

TEST(Npy, FileRoundTripIsAtomicAndExact) {
  const std::string path = ::testing::TempDir() + "kiln_npy_test_" + std::to_string(::getpid()) + ".npy";
  Tensor t = Tensor::from_vector<int64_t>({2, 2}, {1, -2, 3, int64_t{1} << 40});
  ASSERT_TRUE(write_npy(path, t).ok());
  EXPECT_NE(access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);  // no temp file left
  auto back = read_npy(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->shape(), t.shape());
  EXPECT_EQ(back->data<int64_t>()[3], int64_t{1} << 40);
  std::remove(path.c_str());

  auto missing = read_npy(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

// Written by Python's zipfile: 'a.npy' deflated (float32 [[1, -2.5], [3.25, 0]]) and 'b.npy' stored
// (int64 [7, -1, 2^40]), both with zip64 local headers like numpy.savez_compressed produces.
const char kPythonNpz[] =
    "\x50\x4b\x03\x04\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x50\x91\x23\xa1\x12\xff\xff\xff\xff\xff\xff\xff\xff\x05\x00"
    "\x14\x00\x61\x2e\x6e\x70\x79\x01\x00\x10\x00\x90\x00\x00\x00\x00\x00\x00\x00\x55\x00\x00\x00\x00\x00\x00\x00\x9b"
    "\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c\x5c\xa4\x6e\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e"
    "\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a"
    "\x46\x3a\x0a\x46\x9a\x3a\x0a\xb5\x0a\x64\x03\x2e\x06\x86\x06\x7b\x06\x06\x85\x03\x0c\x0c\x01\x0e\x0c\x40\x00\x00"
    "\x50\x4b\x03\x04\x2d\x00\x00\x00\x00\x00\x00\x00\x21\x50\x61\x06\xeb\xa1\xff\xff\xff\xff\xff\xff\xff\xff\x05\x00"
    "\x14\x00\x62\x2e\x6e\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00\x98\x00\x00\x00\x00\x00\x00\x00\x93"
    "\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63\x72\x27\x3a\x20\x27\x3c\x69\x38\x27\x2c\x20\x27\x66"
    "\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68\x61\x70\x65"
    "\x27\x3a\x20\x28\x33\x2c\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x07\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff"
    "\xff\xff\xff\x00\x00\x00\x00\x00\x01\x00\x00\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x50\x91"
    "\x23\xa1\x12\x55\x00\x00\x00\x90\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00"
    "\x00\x61\x2e\x6e\x70\x79\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x00\x00\x00\x00\x21\x50\x61\x06\xeb\xa1\x98\x00"
    "\x00\x00\x98\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x8c\x00\x00\x00\x62\x2e\x6e\x70"
    "\x79\x50\x4b\x05\x06\x00\x00\x00\x00\x02\x00\x02\x00\x66\x00\x00\x00\x5b\x01\x00\x00\x00\x00";

TEST(Npz, ReadsDeflatedAndStoredMembersFromPythonZipfile) {
  auto z = npz_decode(kPythonNpz, sizeof(kPythonNpz) - 1, "py.npz");
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  ASSERT_EQ(z->size(), 2u);
  EXPECT_EQ((*z)[0].first, "a");
  EXPECT_EQ((*z)[0].second.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ((*z)[0].second.data<float>()[1], -2.5f);
  EXPECT_FLOAT_EQ((*z)[0].second.data<float>()[2], 3.25f);
  EXPECT_EQ((*z)[1].first, "b");
  EXPECT_EQ((*z)[1].second.dtype(), DType::kInt64);
  EXPECT_EQ((*z)[1].second.data<int64_t>()[2], int64_t{1} << 40);
}

TEST(Npz, DetectsCorruptionNamingTheFileAndMember) {
  std::string bytes(kPythonNpz, sizeof(kPythonNpz) - 1);
  bytes[60] = static_cast<char>(bytes[60] ^ 0x55);  // inside a.npy's deflate stream
  auto z = npz_decode(bytes.data(), bytes.size(), "flip.npz");
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(z.status().message().find("flip.npz: member 'a.npy'"), std::string::npos) << z.status().message();

  std::string cut = std::string(kPythonNpz, sizeof(kPythonNpz) - 1).substr(0, 200);
  auto c = npz_decode(cut.data(), cut.size(), "cut.npz");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cut.npz: not a valid .npz"), std::string::npos) << c.status().message();
}

TEST(Npz, WriteThenReadRoundTrip) {
  NamedTensors in;
  in.emplace_back("input.1", Tensor::from_vector<float>({1, 2}, {0.5f, -1.0f}));
  in.emplace_back("mask", Tensor::from_vector<bool>({3}, {true, false, true}));
  auto bytes = npz_encode(in);
  ASSERT_TRUE(bytes.ok());
  // Local header of the first member: signature, stored method, name length 11 ("input.1.npy").
  EXPECT_EQ(bytes->substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_EQ(bytes->substr(30, 11), "input.1.npy");
  auto out = npz_decode(bytes->data(), bytes->size(), "rt.npz");
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].first, "input.1");
  EXPECT_FLOAT_EQ((*out)[0].second.data<float>()[1], -1.0f);
  EXPECT_EQ((*out)[1].first, "mask");
  EXPECT_EQ((*out)[1].second.data<uint8_t>()[1], 0);
}

}  // namespace
}  // namespace kiln
