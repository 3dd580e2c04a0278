// Engine build flags: shape lists, the min/opt/max profile, layer precisions, workspace sizes and precision flags
// parsed into BuildOptions, with the usage errors for bad syntax.
#include "tools/kiln/build_args.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::cli {
namespace {

void expect_usage(const Status& s, const std::vector<std::string>& needles) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUsage) << s.message();
  for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' in " << s.message();
}

TEST(BuildArgs, ShapeLists) {
  auto m = parse_shape_list("--shapes", {"input:1x3x224x224,mask:2x7", "ids:0:16"});
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ(m->at("input"), (Dims{1, 3, 224, 224}));
  EXPECT_EQ(m->at("mask"), (Dims{2, 7}));
  EXPECT_EQ(m->at("ids:0"), (Dims{16}));  // split at the last ':'
  for (const char* bad : {"1x3x224", ":1x3", "x:1xq", "x:1x-3", "x:1xx3", "x:"}) {
    auto b = parse_shape_list("--minShapes", {bad});
    expect_usage(b.status(), {"--minShapes", bad});
  }
  expect_usage(parse_shape_list("--shapes", {"x:1", "x:2"}).status(), {"'x' twice"});
  auto empty = parse_shape_list("--shapes", {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(BuildArgs, ProfileTriple) {
  auto p = parse_profile({"input:1x3x224x224,aux:1x4"}, {"input:8x3x224x224,aux:2x4"}, {"input:16x3x256x256,aux:4x4"});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->min.at("input"), (Dims{1, 3, 224, 224}));
  EXPECT_EQ(p->opt.at("input"), (Dims{8, 3, 224, 224}));
  EXPECT_EQ(p->max.at("input"), (Dims{16, 3, 256, 256}));
  EXPECT_EQ(p->max.at("aux"), (Dims{4, 4}));

  expect_usage(parse_profile({"x:8x3"}, {"x:4x3"}, {"x:16x3"}).status(),
               {"input 'x' dim 0", "min 8, opt 4, max 16", "min <= opt <= max"});
  expect_usage(parse_profile({"x:1x3"}, {"x:4x3"}, {"x:16x2"}).status(), {"input 'x' dim 1", "max 2"});
  expect_usage(parse_profile({"x:1x3"}, {"x:4x3x1"}, {"x:16x3"}).status(), {"rank 2", "3 in --optShapes"});
  expect_usage(parse_profile({"x:1"}, {"x:4"}, {}).status(), {"all three"});
  expect_usage(parse_profile({"x:1"}, {"x:4,y:2"}, {"x:8,y:2"}).status(), {"--optShapes gives input 'y'"});
  expect_usage(parse_profile({"x:1,y:1"}, {"x:4"}, {"x:8"}).status(), {"--minShapes gives input 'y'"});
}

TEST(BuildArgs, LayerPrecisions) {
  auto m = parse_layer_precisions({"conv1:fp32,fc:fp16", "attn:0:bf16"});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, (std::map<std::string, std::string>{{"conv1", "fp32"}, {"fc", "fp16"}, {"attn:0", "bf16"}}));
  expect_usage(parse_layer_precisions({"conv1:int8"}).status(), {"'int8' is not one of fp32, fp16, bf16"});
  expect_usage(parse_layer_precisions({"conv1"}).status(), {"'conv1' is not NODE:PRECISION"});
  expect_usage(parse_layer_precisions({"a:fp32,a:fp16"}).status(), {"'a' twice"});
}

TEST(BuildArgs, InputValues) {
  auto v = parse_input_values({"k:3", "axes:0,-1;scales:1,1,2.5,1e1", "in:put:inf"});
  ASSERT_TRUE(v.ok()) << v.status().message();
  ASSERT_EQ(v->size(), 4u);
  EXPECT_EQ(v->at("k"), (std::vector<double>{3}));
  EXPECT_EQ(v->at("axes"), (std::vector<double>{0, -1}));
  EXPECT_EQ(v->at("scales"), (std::vector<double>{1, 1, 2.5, 10}));
  EXPECT_TRUE(std::isinf(v->at("in:put")[0]));  // split at the last ':'
  for (const char* bad : {"k", ":3", "k:", "k:1,,2", "k:x", "k:1.5e"}) {
    auto b = parse_input_values({bad});
    expect_usage(b.status(), {"--inputValues"});
  }
  expect_usage(parse_input_values({"k:1", "k:2"}).status(), {"'k' twice"});
}

TEST(BuildArgs, IoFormats) {
  auto f = parse_io_formats("--inputIOFormats", {"fp16:chw,fp32", "bf16:linear"});
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*f, (std::vector<std::string>{"fp16", "fp32", "bf16"}));
  expect_usage(parse_io_formats("--inputIOFormats", {"int8:chw"}).status(),
               {"--inputIOFormats 'int8:chw'", "type 'int8' is not one of fp32, fp16, bf16"});
  expect_usage(parse_io_formats("--outputIOFormats", {"fp16:hwc8"}).status(),
               {"--outputIOFormats 'fp16:hwc8'", "format 'hwc8' is not supported"});
}

TEST(BuildArgs, MemPoolSize) {
  const std::pair<const char*, size_t> good[] = {{"workspace:1024", size_t{1024} << 20},
                                                 {"workspace:2G", size_t{2} << 30},
                                                 {"workspace:512K", size_t{512} << 10},
                                                 {"workspace:100B", 100},
                                                 {"workspace:0.5G", size_t{512} << 20},
                                                 {"64", size_t{64} << 20},
                                                 {"64m", size_t{64} << 20},
                                                 {"workspace:0", 0}};
  for (const auto& [spec, bytes] : good) {
    auto n = parse_mem_pool_size(spec);
    ASSERT_TRUE(n.ok()) << spec << ": " << n.status().message();
    EXPECT_EQ(*n, bytes) << spec;
  }
  for (const char* bad : {"workspace:", "workspace:-1", "workspace:12Q", "workspace:abc", "", "workspace: 5",
                          "workspace:1e30G", "workspace:nan"})
    expect_usage(parse_mem_pool_size(bad).status(), {"--memPoolSize"});
  expect_usage(parse_mem_pool_size("dlaSRAM:1").status(), {"only the workspace pool"});
}

TEST(BuildArgs, PrecisionFlags) {
  BuildFlags f;
  EXPECT_EQ(precision_from_flags(f).value(), "fp32");
  f.fp16 = true;
  EXPECT_EQ(precision_from_flags(f).value(), "fp16");
  f.bf16 = true;
  expect_usage(precision_from_flags(f).status(), {"--fp16 and --bf16", "choose one"});
  BuildFlags t;
  t.tf32 = true;
  EXPECT_EQ(precision_from_flags(t).value(), "tf32");
}

TEST(BuildArgs, FlagsIntoBuildOptions) {
  BuildFlags f;
  f.bf16 = true;
  f.shapes = {"input:4x3x32x32"};
  f.layer_precisions = {"fc:fp32"};
  f.mem_pool_size = "workspace:64";
  f.timing_cache_file = "cache.bin";
  f.no_tune = true;
  f.optimization_level = 5;
  f.input_io_formats = {"fp16:chw"};
  f.input_values = {"k:3"};
  f.simulate_int8 = true;
  auto o = build_options_from_flags(f);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->precision, "bf16");
  EXPECT_EQ(o->shapes.at("input"), (Dims{4, 3, 32, 32}));
  EXPECT_TRUE(o->profiles.empty());
  EXPECT_EQ(o->layer_precisions.at("fc"), "fp32");
  EXPECT_EQ(o->workspace_bytes, size_t{64} << 20);
  EXPECT_EQ(o->timing_cache_file, "cache.bin");
  EXPECT_FALSE(o->tune);
  EXPECT_EQ(o->optimization_level, 5);
  EXPECT_EQ(o->input_io_formats, (std::vector<std::string>{"fp16"}));
  EXPECT_EQ(o->input_values.at("k"), (std::vector<double>{3}));
  EXPECT_FALSE(o->int8_kernels);  // --simulateInt8

  BuildFlags d;
  d.min_shapes = {"x:1x8"};
  d.opt_shapes = {"x:4x8"};
  d.max_shapes = {"x:8x8"};
  auto od = build_options_from_flags(d);
  ASSERT_TRUE(od.ok()) << od.status().message();
  ASSERT_EQ(od->profiles.size(), 1u);
  EXPECT_EQ(od->profiles[0].opt.at("x"), (Dims{4, 8}));
  EXPECT_TRUE(od->shapes.empty());
  EXPECT_EQ(od->workspace_bytes, size_t{256} << 20);  // the default stays
  EXPECT_TRUE(od->tune);
  EXPECT_TRUE(od->int8_kernels);  // INT8 convs unless --simulateInt8

  d.shapes = {"x:2x8"};
  expect_usage(build_options_from_flags(d).status(), {"cannot be combined"});
}

}  // namespace
}  // namespace kiln::cli
