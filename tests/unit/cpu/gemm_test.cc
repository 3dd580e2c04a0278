// CPU Gemm/MatMul kernels against hand-computed products and a naive double-precision reference.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor mat(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }

TEST(CpuGemm, TransposesAlphaBetaAndBroadcastC) {
  Tensor a = mat({2, 2}, {1, 2, 3, 4}), b = mat({2, 2}, {5, 6, 7, 8});
  auto plain = run_node("Gemm", {a, b}, 1, {});
  ASSERT_TRUE(plain.status.ok()) << plain.status.to_string();
  expect_close(plain.outputs[0], {2, 2}, {19, 22, 43, 50});
  auto ta = run_node("Gemm", {a, b}, 1, {{"transA", i64(1)}});
  ASSERT_TRUE(ta.status.ok());
  expect_close(ta.outputs[0], {2, 2}, {26, 30, 38, 44});
  auto tb = run_node("Gemm", {a, b}, 1, {{"transB", i64(1)}});
  ASSERT_TRUE(tb.status.ok());
  expect_close(tb.outputs[0], {2, 2}, {17, 23, 39, 53});
  auto full = run_node("Gemm", {a, b, mat({2}, {1, 2})}, 1, {{"alpha", f32(2)}, {"beta", f32(0.5f)}});
  ASSERT_TRUE(full.status.ok());
  expect_close(full.outputs[0], {2, 2}, {38.5, 45, 86.5, 101});
  auto scalar_c = run_node("Gemm", {a, b, mat({}, {10})}, 1, {});
  ASSERT_TRUE(scalar_c.status.ok());
  expect_close(scalar_c.outputs[0], {2, 2}, {29, 32, 53, 60});
  auto col_c = run_node("Gemm", {a, b, mat({2, 1}, {1, -1})}, 1, {});
  ASSERT_TRUE(col_c.status.ok());
  expect_close(col_c.outputs[0], {2, 2}, {20, 23, 42, 49});
}

TEST(CpuGemm, LargeTransposedMatchesNaive) {
  // Large enough for several K blocks, partial tiles and the threaded path.
  const int64_t M = 131, N = 70, K = 300;
  auto av = ramp(K * M, 2), bv = ramp(N * K, 4);
  auto r = run_node("Gemm", {mat({K, M}, av), mat({N, K}, bv)}, 1, {{"transA", i64(1)}, {"transB", i64(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  std::vector<double> want(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(av[k * M + i]) * bv[j * K + k];
      want[i * N + j] = s;
    }
  expect_close(r.outputs[0], {M, N}, want, 1e-4);
}

TEST(CpuGemm, MissingCBeforeOpset11IsInvalid) {
  auto r = run_node("Gemm", {mat({1, 1}, {1}), mat({1, 1}, {1})}, 1, {}, 9);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidInput);
  auto bad = run_node("Gemm", {mat({2, 3}, std::vector<float>(6)), mat({2, 3}, std::vector<float>(6))}, 1, {});
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
}

TEST(CpuMatMul, VectorsAndMatrixVector) {
  auto dot = run_node("MatMul", {mat({3}, {1, 2, 3}), mat({3}, {4, 5, 6})}, 1, {});
  ASSERT_TRUE(dot.status.ok()) << dot.status.to_string();
  expect_close(dot.outputs[0], {}, {32});
  auto mv = run_node("MatMul", {mat({2, 3}, {1, 2, 3, 4, 5, 6}), mat({3}, {1, 0, -1})}, 1, {});
  ASSERT_TRUE(mv.status.ok());
  expect_close(mv.outputs[0], {2}, {-2, -2});
  auto vm = run_node("MatMul", {mat({2}, {1, -1}), mat({2, 3}, {1, 2, 3, 4, 5, 6})}, 1, {});
  ASSERT_TRUE(vm.status.ok());
  expect_close(vm.outputs[0], {3}, {-3, -3, -3});
}

TEST(CpuMatMul, BatchedBroadcastMatchesNaive) {
  const Shape as = {2, 1, 2, 3}, bs = {3, 3, 4};
  auto av = ramp(numel(as), 1), bv = ramp(numel(bs), 8);
  auto r = run_node("MatMul", {mat(as, av), mat(bs, bv)}, 1, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  std::vector<double> want;
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 3; ++q)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) {
          double s = 0;
          for (int k = 0; k < 3; ++k) s += static_cast<double>(av[(p * 2 + i) * 3 + k]) * bv[(q * 3 + k) * 4 + j];
          want.push_back(s);
        }
  expect_close(r.outputs[0], {2, 3, 2, 4}, want, 1e-5);
  // A shared 2-D B folds the batch into one GEMM.
  auto folded = run_node("MatMul", {mat({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), mat({2, 1}, {1, 1})}, 1, {});
  ASSERT_TRUE(folded.status.ok());
  expect_close(folded.outputs[0], {2, 2, 1}, {3, 7, 11, 15});
}

TEST(CpuMatMul, Int64IsExact) {
  const int64_t big = int64_t{1} << 40;
  auto r = run_node(
      "MatMul", {Tensor::from_vector<int64_t>({1, 2}, {big, 3}), Tensor::from_vector<int64_t>({2, 1}, {3, 1})}, 1, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.outputs[0].data<int64_t>()[0], 3 * big + 3);
}

}  // namespace
}  // namespace kiln::nn_test
