// Zero-sized tensors on the CUDA engine: a layer whose outputs are all empty launches nothing, an empty input
// of a layer with a non-empty output (Concat) is skipped by its kernel, and the engine's outputs keep their
// empty shapes. The CPU reference is the oracle (shapes and values).
#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

void expect_both(const NodeCase& c) {
  EXPECT_EQ(run_case(c, "fp32", kFp32Atol, kFp32Rtol), "") << "fp32";
  EXPECT_EQ(run_case(c, "fp16", kFp16Atol, kFp16Rtol), "") << "fp16";
}

Tensor int64s(std::vector<int64_t> v) {
  Tensor t = Tensor::create(DType::kInt64, {static_cast<int64_t>(v.size())}).value();
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

TEST(GpuEmptyTensors, UnaryOnEmptyInput) {
  for (const Shape& shape : {Shape{0, 5}, Shape{3, 0, 5}, Shape{0}}) {
    SCOPED_TRACE(shape_to_string(shape));
    NodeCase c;
    c.op = "Relu";
    c.inputs = {random_floats(shape, 1)};
    expect_both(c);
  }
}

TEST(GpuEmptyTensors, TriluAndSplitWithEmptyOutputs) {
  NodeCase tril;
  tril.op = "Trilu";
  tril.opset = 14;
  tril.attrs = {{"upper", attr_i(0)}};
  tril.inputs = {random_floats({3, 0, 5}, 2)};
  expect_both(tril);

  NodeCase split;  // [4, 0] into two [2, 0]
  split.op = "Split";
  split.opset = 13;
  split.attrs = {{"axis", attr_i(0)}};
  split.inputs = {random_floats({4, 0}, 3), int64s({2, 2})};
  split.constant = {false, true};
  split.outputs = 2;
  expect_both(split);
}

TEST(GpuEmptyTensors, ConcatSkipsAnEmptyOperand) {
  NodeCase c;
  c.op = "Concat";
  c.attrs = {{"axis", attr_i(0)}};
  c.inputs = {random_floats({0, 3}, 4), random_floats({2, 3}, 5), random_floats({0, 3}, 6)};
  expect_both(c);
}

}  // namespace
}  // namespace kiln::gputest
