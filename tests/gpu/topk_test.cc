// GPU TopK (CUB segmented sort) against the CPU reference: axes, largest/smallest, k up to the axis length,
// detection-sized rows (k in the thousands), ties (lower index first), K as an attribute (opset 9), and
// fp16 engines on values fp16 holds exactly, so indices must match exactly in both precisions.
#include <algorithm>
#include <numeric>
#include <random>

#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

// Distinct values, all exact in fp16: a seeded permutation of -2048..2047, divided by 16.
Tensor distinct_values(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::create(DType::kFloat32, shape).value();
  std::vector<int> pool(4096);
  std::iota(pool.begin(), pool.end(), -2048);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < t.numel(); i += 4096) {
    std::shuffle(pool.begin(), pool.end(), rng);
    for (int64_t j = i; j < std::min<int64_t>(t.numel(), i + 4096); ++j) t.data<float>()[j] = pool[j - i] / 16.0f;
  }
  return t;
}

NodeCase topk(Tensor x, int64_t k, int64_t axis, int64_t largest, int opset = 13) {
  NodeCase c;
  c.op = "TopK";
  c.opset = opset;
  c.attrs = {{"axis", attr_i(axis)}};
  if (opset >= 11) c.attrs["largest"] = attr_i(largest);  // the attribute came with opset 11
  c.inputs = {std::move(x)};
  if (opset < 10) {
    c.attrs["k"] = attr_i(k);
  } else {
    c.inputs.push_back(Tensor::from_vector<int64_t>({1}, {k}));
    c.constant = {false, true};
  }
  c.outputs = 2;
  return c;
}

TEST(GpuTopK, AxesDirectionsAndSizes) {
  struct Case {
    Shape shape;
    int64_t k, axis;
  };
  const Case cases[] = {{{3, 1000}, 5, -1}, {{2, 7, 9}, 7, 1}, {{2, 7, 9}, 1, 0}, {{4, 5000}, 4000, 1},
                        {{1, 8732}, 200, -1}, {{2, 3, 5, 7}, 3, 2}, {{1, 1}, 1, 0}};
  uint64_t seed = 1;
  for (const Case& k : cases)
    for (int64_t largest : {1, 0}) {
      SCOPED_TRACE(shape_to_string(k.shape) + " k " + std::to_string(k.k) + " axis " + std::to_string(k.axis) +
                   (largest ? " largest" : " smallest"));
      const NodeCase c = topk(distinct_values(k.shape, seed++), k.k, k.axis, largest);
      EXPECT_EQ(run_case(c, "fp32", kFp32Atol, kFp32Rtol), "") << "fp32";
      EXPECT_EQ(run_case(c, "fp16", 0.0, 0.0), "") << "fp16";
    }
}

TEST(GpuTopK, TiesKeepTheLowerIndexFirst) {
  Tensor x = Tensor::create(DType::kFloat32, {6, 300}).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 7) % 4);
  for (int64_t largest : {1, 0}) EXPECT_EQ(run_case(topk(x, 50, 1, largest), "fp32", 0.0, 0.0), "") << largest;
}

TEST(GpuTopK, KAsAnAttributeBeforeOpset10) {
  EXPECT_EQ(run_case(topk(distinct_values({4, 64}, 9), 10, 1, 1, 9), "fp32", 0.0, 0.0), "");
}

}  // namespace
}  // namespace kiln::gputest
