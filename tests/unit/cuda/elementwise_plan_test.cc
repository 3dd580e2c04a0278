// Operand planning of the CUDA elementwise kernels, checked without a GPU: the collapsed dims/strides
// expected by hand, and the kernels' offset function (plain C++ also on the host) against a direct
// computation of every element's offset from logical coordinates, for broadcasting and NHWC mixes.
#if KILN_WITH_CUDA
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"  // __device__ on the shared offset helper, compiled as host code
#include "cuda/kernels/elementwise.cuh"
#pragma GCC diagnostic pop

#include <gtest/gtest.h>

#include <algorithm>

namespace kiln::cuda::ew {
namespace {

TensorDesc desc(Shape s, Layout l = Layout::kRowMajor) { return TensorDesc{DType::kFloat32, std::move(s), l}; }

// Offset of input `in` for the output element stored at memory position i, from first principles.
int64_t direct_offset(const TensorDesc& in, const TensorDesc& out, int64_t i) {
  const Shape& s = out.shape;
  std::vector<int64_t> coord(s.size());
  const std::vector<int64_t> out_strides = out.strides();
  // Decode i with the output's own strides (largest first): works for row-major and NHWC alike.
  std::vector<size_t> dims(s.size());
  for (size_t d = 0; d < s.size(); ++d) dims[d] = d;
  std::sort(dims.begin(), dims.end(), [&](size_t a, size_t b) { return out_strides[a] > out_strides[b]; });
  int64_t rem = i;
  for (size_t d : dims) {
    if (s[d] == 1) continue;  // coordinate 0 (its stride may tie with a real dim's)
    coord[d] = rem / out_strides[d];
    rem -= coord[d] * out_strides[d];
  }
  const std::vector<int64_t> st = in.strides();
  int64_t off = 0;
  const size_t lead = s.size() - in.shape.size();
  for (size_t d = 0; d < in.shape.size(); ++d)
    if (in.shape[d] != 1) off += coord[lead + d] * st[d];
  return off;
}

Operands plan(const std::vector<TensorDesc>& ins, const TensorDesc& out) {
  Operands ops;
  Status st = plan_operands(ins, out, "test", &ops);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return ops;
}

void expect_offsets(const std::vector<TensorDesc>& ins, const TensorDesc& out) {
  Operands ops = plan(ins, out);
  ASSERT_EQ(ops.n, out.numel());
  for (int64_t i = 0; i < ops.n; ++i) {
    int64_t off[kMaxOperands];
    if (ops.flat())
      operand_offsets<true>(ops, i, off);
    else
      operand_offsets<false>(ops, i, off);
    int64_t general[kMaxOperands];
    operand_offsets<false>(ops, i, general);
    for (size_t k = 0; k < ins.size(); ++k) {
      ASSERT_EQ(off[k], direct_offset(ins[k], out, i)) << "operand " << k << " element " << i;
      ASSERT_EQ(general[k], off[k]);
    }
  }
}

TEST(ElementwisePlan, SameDescIsOneFlatDim) {
  Operands ops = plan({desc({2, 3, 5, 7}), desc({2, 3, 5, 7})}, desc({2, 3, 5, 7}));
  EXPECT_EQ(ops.rank, 1);
  EXPECT_EQ(ops.dims[0], 210);
  EXPECT_EQ(ops.strides[0][0], 1);
  EXPECT_EQ(ops.strides[1][0], 1);
  EXPECT_TRUE(ops.flat());
  ops = plan({desc({2, 8, 5, 7}, Layout::kNHWC)}, desc({2, 8, 5, 7}, Layout::kNHWC));
  EXPECT_EQ(ops.rank, 1);
}

TEST(ElementwisePlan, NhwcChannelBiasNeedsOneDivision) {
  Operands ops = plan({desc({2, 8, 5, 7}, Layout::kNHWC), desc({8, 1, 1})}, desc({2, 8, 5, 7}, Layout::kNHWC));
  ASSERT_EQ(ops.rank, 2);
  EXPECT_EQ(ops.dims[0], 70);
  EXPECT_EQ(ops.dims[1], 8);
  EXPECT_EQ(ops.strides[0][0], 8);
  EXPECT_EQ(ops.strides[0][1], 1);
  EXPECT_EQ(ops.strides[1][0], 0);
  EXPECT_EQ(ops.strides[1][1], 1);
}

TEST(ElementwisePlan, RowMajorChannelBiasAndScalar) {
  Operands ops = plan({desc({2, 3, 5, 7}), desc({3, 1, 1})}, desc({2, 3, 5, 7}));
  ASSERT_EQ(ops.rank, 3);
  EXPECT_EQ(ops.dims[0], 2);
  EXPECT_EQ(ops.dims[1], 3);
  EXPECT_EQ(ops.dims[2], 35);
  ops = plan({desc({}), desc({4, 5})}, desc({4, 5}));
  ASSERT_EQ(ops.rank, 1);
  EXPECT_EQ(ops.strides[0][0], 0);
  EXPECT_EQ(ops.strides[1][0], 1);
  ops = plan({desc({})}, desc({}));
  EXPECT_EQ(ops.rank, 0);
  EXPECT_EQ(ops.n, 1);
}

TEST(ElementwisePlan, OffsetsMatchDirectComputation) {
  const TensorDesc nhwc = desc({2, 8, 5, 7}, Layout::kNHWC), rm = desc({2, 8, 5, 7});
  expect_offsets({nhwc, desc({8, 1, 1})}, nhwc);
  expect_offsets({nhwc, rm}, nhwc);  // mixed layouts, NHWC output
  expect_offsets({rm, nhwc}, rm);    // mixed layouts, row-major output
  expect_offsets({nhwc, desc({7}), desc({1, 8, 5, 1}), desc({})}, nhwc);
  expect_offsets({desc({2, 1, 5, 1}, Layout::kNHWC), desc({8, 1, 7})}, desc({2, 8, 5, 7}));
  expect_offsets({desc({2, 3, 5, 7}), desc({3, 1, 1})}, desc({2, 3, 5, 7}));
  expect_offsets({desc({5, 1}), desc({1, 7})}, desc({5, 7}));
  expect_offsets({desc({1}), desc({2, 3})}, desc({2, 3}));
  expect_offsets({desc({3, 1, 7}), desc({1, 5, 1})}, desc({3, 5, 7}));
  expect_offsets({desc({2, 1, 3, 1, 2, 1, 2, 3}), desc({4, 1, 3, 1, 1, 1, 3})}, desc({2, 4, 3, 3, 2, 1, 2, 3}));
}

TEST(ElementwisePlan, RefusesWhatTheKernelsCannotRead) {
  Operands ops;
  EXPECT_EQ(plan_operands({desc({3})}, desc({4}), "t", &ops).code(), StatusCode::kInvalidInput);
  EXPECT_EQ(plan_operands({desc({2, 4})}, desc({4}), "t", &ops).code(), StatusCode::kInvalidInput);
  EXPECT_EQ(plan_operands({desc(Shape(9, 1))}, desc(Shape(9, 1)), "t", &ops).code(), StatusCode::kUnsupported);
  std::vector<TensorDesc> nine(9, desc({4}));
  EXPECT_EQ(plan_operands(nine, desc({4}), "t", &ops).code(), StatusCode::kUnsupported);
}

// The packed kernel's precondition, on planned operands with made-up (never dereferenced) addresses.
TEST(ElementwisePlan, PackedKernelTakesNhwcScalesAndBroadcastsAlongTheInnerDim) {
  alignas(16) static char arena[4096];
  char* const a16 = arena;  // 16-byte aligned
  Operands ops;
  unsigned along = 0;
  // Squeeze-and-excitation: NHWC x [2,24,9,11] times a row-major [2,24,1,1] scale; both run along C.
  const TensorDesc x = desc({2, 24, 9, 11}, Layout::kNHWC);
  ASSERT_TRUE(plan_operands({x, desc({2, 24, 1, 1})}, x, "t", &ops).ok());
  ops.data[0] = a16;
  ops.data[1] = a16 + 64;
  EXPECT_TRUE(packed_operands(ops, 8, a16 + 256, &along));
  EXPECT_EQ(along, 3u);
  EXPECT_FALSE(packed_operands(ops, 8, a16 + 2, &along)) << "an output that is not 16-byte aligned";
  ops.data[1] = a16 + 66;
  EXPECT_FALSE(packed_operands(ops, 8, a16 + 256, &along)) << "an operand running along C, not aligned";
  // C = 12 is no multiple of 8 (fp16 packs), but of 4 (fp32 packs).
  const TensorDesc x12 = desc({2, 12, 9, 11}, Layout::kNHWC);
  ASSERT_TRUE(plan_operands({x12, desc({2, 12, 1, 1})}, x12, "t", &ops).ok());
  ops.data[0] = a16;
  ops.data[1] = a16 + 64;
  EXPECT_FALSE(packed_operands(ops, 8, a16 + 256, &along));
  EXPECT_TRUE(packed_operands(ops, 4, a16 + 256, &along));
  // Row-major [2,3,5,8] + [3,1,1]: the bias is constant along the merged inner dim (stride 0, one value per
  // pack), x runs along it.
  const TensorDesc r = desc({2, 3, 5, 8});
  ASSERT_TRUE(plan_operands({r, desc({3, 1, 1})}, r, "t", &ops).ok());
  ops.data[0] = a16;
  ops.data[1] = a16 + 2;  // read one value at a time: no alignment needed
  EXPECT_TRUE(packed_operands(ops, 4, a16 + 256, &along));
  EXPECT_EQ(along, 1u);
  // A single element (rank 0) is never packed.
  ASSERT_TRUE(plan_operands({desc({})}, desc({}), "t", &ops).ok());
  EXPECT_FALSE(packed_operands(ops, 4, a16, &along));
}

}  // namespace
}  // namespace kiln::cuda::ew
#endif
