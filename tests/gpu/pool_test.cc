// GPU pooling against the CPU reference: MaxPool / AveragePool (pads incl. asymmetric, strides, dilations,
// ceil_mode, auto_pad, count_include_pad; 1-D, 2-D, 3-D; row-major and NHWC input) and global pools.
#include "gpu/movement_util.h"

namespace kiln::gputest {
namespace {

using Attrs = std::map<std::string, Attribute>;

// Runs one pool over a row-major and (for 4-D) an NHWC input in fp32 and fp16.
void check_pool(const std::string& op, const Shape& shape, const Attrs& attrs, uint64_t seed) {
  for (const std::string& p : precisions()) {
    for (bool nhwc : {false, true}) {
      if (nhwc && shape.size() != 4) continue;
      OneNode t(13);
      Tensor x = random_floats(shape, seed, -2.f, 2.f);
      Value* in = nhwc ? t.nhwc_input(x) : t.input(x);
      t.node(op, {in}, attrs);
      EXPECT_EQ(t.check(p), "") << op << " " << shape_to_string(shape) << " " << p << (nhwc ? " nhwc" : "");
    }
  }
}

TEST(GpuPool, MaxPoolStemKernel3Stride2Pad1) {
  check_pool("MaxPool", {2, 5, 17, 19},
             {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}}, 1);
}

TEST(GpuPool, MaxPoolCeilModeAsymmetricPadsDilation) {
  check_pool("MaxPool", {1, 3, 10, 13},
             {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}}, 2);
  check_pool("MaxPool", {2, 4, 11, 9},
             {{"kernel_shape", Ints({2, 3})},
              {"strides", Ints({1, 2})},
              {"pads", Ints({0, 1, 2, 0})},
              {"dilations", Ints({2, 1})}},
             3);
}

TEST(GpuPool, MaxPoolAutoPadSame) {
  check_pool("MaxPool", {1, 6, 9, 10},
             {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"auto_pad", Str("SAME_UPPER")}}, 4);
  check_pool("MaxPool", {1, 6, 9, 10},
             {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({1, 1})}, {"auto_pad", Str("SAME_LOWER")}}, 5);
}

TEST(GpuPool, AveragePoolPadsCeilAndCountIncludePad) {
  for (int64_t include : {0, 1}) {
    check_pool("AveragePool", {2, 3, 13, 11},
               {{"kernel_shape", Ints({3, 3})},
                {"strides", Ints({2, 2})},
                {"pads", Ints({1, 1, 1, 1})},
                {"count_include_pad", Int(include)}},
               6);
    // ceil_mode: the last window runs past the end padding; count_include_pad counts only up to it.
    check_pool("AveragePool", {1, 4, 10, 12},
               {{"kernel_shape", Ints({3, 3})},
                {"strides", Ints({2, 2})},
                {"pads", Ints({1, 0, 0, 1})},
                {"ceil_mode", Int(1)},
                {"count_include_pad", Int(include)}},
               7);
  }
}

TEST(GpuPool, NhwcVectorPath) {
  // C a multiple of 8: the NHWC kernel loads 16 bytes (4 float32 / 8 float16 channels) per tap.
  check_pool("MaxPool", {2, 16, 9, 11},
             {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}}, 18);
  for (int64_t include : {0, 1})
    check_pool("AveragePool", {1, 24, 10, 7},
               {{"kernel_shape", Ints({3, 2})},
                {"strides", Ints({2, 2})},
                {"pads", Ints({1, 0, 1, 1})},
                {"ceil_mode", Int(1)},
                {"count_include_pad", Int(include)}},
               19);
}

TEST(GpuPool, OneAndThreeSpatialDims) {
  check_pool("MaxPool", {2, 3, 11}, {{"kernel_shape", Ints({3})}, {"strides", Ints({2})}, {"pads", Ints({1, 1})}}, 8);
  check_pool("AveragePool", {2, 3, 11}, {{"kernel_shape", Ints({3})}, {"strides", Ints({2})}, {"ceil_mode", Int(1)}},
             9);
  check_pool("AveragePool", {1, 2, 5, 6, 7},
             {{"kernel_shape", Ints({2, 2, 3})}, {"strides", Ints({2, 2, 2})}, {"ceil_mode", Int(1)}}, 10);
  check_pool("MaxPool", {1, 2, 5, 6, 7}, {{"kernel_shape", Ints({3, 3, 3})}, {"pads", Ints({1, 1, 1, 1, 1, 1})}}, 11);
}

TEST(GpuPool, GlobalPools) {
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    check_pool(op, {3, 7, 9, 11}, {}, 12);
    check_pool(op, {2, 37, 7, 7}, {}, 13);   // more channels than one 32-wide block
    check_pool(op, {1, 2, 67, 45}, {}, 14);  // long rows
    check_pool(op, {2, 5, 13}, {}, 15);      // 1-D
    check_pool(op, {2, 48, 7, 7}, {}, 20);   // C % 8 == 0: the vectorised NHWC kernel
    check_pool(op, {1, 512, 3, 5}, {}, 21);  // several 32-group blocks along C
  }
}

TEST(GpuPool, GlobalPoolsSplitOverPixels) {
  // Few channels and many pixels (an efficientnet SE block): the NHWC pool cuts the pixels over several blocks
  // and combines float partials; narrow channel chunks keep all 256 threads of a block reading.
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    check_pool(op, {1, 32, 112, 112}, {}, 22);  // fp16: 4 packs of 8 channels, 64 pixel rows in flight
    check_pool(op, {2, 24, 57, 55}, {}, 23);    // pixel ranges that do not divide the area evenly
    check_pool(op, {1, 3, 150, 70}, {}, 24);    // C % 4 != 0: scalar loads, one channel per thread column
    check_pool(op, {3, 40, 1, 1}, {}, 25);      // one pixel: no split
  }
}

TEST(GpuPool, GlobalAveragePoolThenFlatten) {
  // The pooled [N,C,1,1] is row-major, so Flatten after it is a view even from NHWC input.
  for (const std::string& p : precisions()) {
    OneNode t(13);
    Value* in = t.nhwc_input(random_floats({2, 40, 5, 5}, 16));
    Value* pooled = t.g->add_value("pooled").value();
    Node* gap = t.g->add_node("GlobalAveragePool", "gap", {in}, {pooled});
    gap->opset = 13;
    t.node("Flatten", {pooled}, {{"axis", Int(1)}});
    EXPECT_EQ(t.check(p), "") << p;
  }
}

TEST(GpuPool, MaxPoolIndicesOutputIsUnsupported) {
  OneNode t(13);
  t.node("MaxPool", {t.input(random_floats({1, 2, 6, 6}, 17))}, {{"kernel_shape", Ints({2, 2})}}, 2);
  const std::string msg = t.check("fp32");
  EXPECT_NE(msg.find("build:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Indices"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::gputest
