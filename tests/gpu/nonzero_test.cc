// GPU NonZero against the CPU reference: the coordinates of the non-zero elements in row-major order, packed
// at the real count (the engine allocates [rank, numel] and the session reports [rank, count]), for float
// (fp32 and fp16 engines), int64, uint8 and bool inputs of ranks 1 to 4, all-zero and all-non-zero inputs,
// and one session whose count changes between runs.
#include <cstring>

#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

// Floats in {-2, -1, 0, 1, 2} (exact in fp16): about a fifth are zero.
Tensor sparse_floats(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::create(DType::kFloat32, shape).value();
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.uniform_int(-2, 2));
  return t;
}

NodeCase nonzero_case(Tensor x) {
  NodeCase c;
  c.op = "NonZero";
  c.opset = 13;
  c.inputs = {std::move(x)};
  return c;
}

TEST(GpuNonZero, SameCoordinatesAsTheCpuReference) {
  for (const std::string p : {"fp32", "fp16"}) {
    EXPECT_EQ(run_case(nonzero_case(sparse_floats({3, 5, 7}, 1)), p, 0, 0), "") << p;
    EXPECT_EQ(run_case(nonzero_case(sparse_floats({1000}, 2)), p, 0, 0), "") << p;
  }
  std::vector<int64_t> ints(16);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = (i * 7) % 3 == 0 ? 0 : static_cast<int64_t>(i) - 5;
  EXPECT_EQ(run_case(nonzero_case(Tensor::from_vector<int64_t>({4, 4}, ints)), "fp32", 0, 0), "");
  std::vector<uint8_t> bytes(2 * 3 * 4 * 5);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i % 4 == 1 ? 0 : i);
  EXPECT_EQ(run_case(nonzero_case(Tensor::from_vector<uint8_t>({2, 3, 4, 5}, bytes)), "fp32", 0, 0), "");
  std::vector<bool> flags(17);
  for (size_t i = 0; i < flags.size(); ++i) flags[i] = i % 3 == 0;
  EXPECT_EQ(run_case(nonzero_case(Tensor::from_vector<bool>({17}, flags)), "fp32", 0, 0), "");
}

TEST(GpuNonZero, AllZeroAndAllNonZero) {
  EXPECT_EQ(run_case(nonzero_case(Tensor::from_vector<float>({6, 7}, std::vector<float>(42, 0.f))), "fp32", 0, 0), "")
      << "count 0: a [2, 0] result";
  EXPECT_EQ(run_case(nonzero_case(Tensor::from_vector<float>({3, 9}, std::vector<float>(27, -1.5f))), "fp32", 0, 0),
            "");
}

// One session, two runs: the count follows the data, and the packed coordinates are the CPU reference's.
TEST(GpuNonZero, CountFollowsEachRun) {
  NodeCase c = nonzero_case(sparse_floats({4, 9}, 3));
  auto s = node_session(c);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  for (uint64_t seed : {3, 4, 5}) {
    SCOPED_TRACE(seed);
    TensorMap run_feeds{{"x0", sparse_floats({4, 9}, seed)}};
    auto want = run_cpu(*s->reference, run_feeds);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(run_session_against(*s->session, run_feeds, want->at("y0")), "");
  }
}

}  // namespace
}  // namespace kiln::gputest
