// CPU Einsum against hand-computed cases and a naive reference (MatMul/attention contractions, implicit
// output, ellipsis broadcasting, diagonals, three operands) and its errors.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor mat(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }

NodeRun einsum(const std::string& eq, const std::vector<Tensor>& in) {
  return run_node("Einsum", in, 1, {{"equation", str(eq)}}, 12);
}

TEST(CpuEinsum, HandComputedContractions) {
  Tensor a = mat({2, 2}, {1, 2, 3, 4}), b = mat({2, 2}, {5, 6, 7, 8});
  auto mm = einsum("ij,jk->ik", {a, b});
  ASSERT_TRUE(mm.status.ok()) << mm.status.to_string();
  expect_close(mm.outputs[0], {2, 2}, {19, 22, 43, 50});
  auto implicit = einsum("ij,jk", {a, b});  // implicit output: the once-used letters, sorted: "ik"
  ASSERT_TRUE(implicit.status.ok());
  expect_close(implicit.outputs[0], {2, 2}, {19, 22, 43, 50});
  auto ba = einsum("ba", {a});  // implicit "ab": a transpose
  ASSERT_TRUE(ba.status.ok());
  expect_close(ba.outputs[0], {2, 2}, {1, 3, 2, 4});
  auto trace = einsum("ii", {a});  // a letter used twice is summed: the trace
  ASSERT_TRUE(trace.status.ok());
  expect_close(trace.outputs[0], {}, {5});
  auto diag = einsum("ii->i", {a});
  ASSERT_TRUE(diag.status.ok());
  expect_close(diag.outputs[0], {2}, {1, 4});
  auto outer = einsum("i,j->ij", {mat({2}, {1, 2}), mat({3}, {1, 10, 100})});
  ASSERT_TRUE(outer.status.ok());
  expect_close(outer.outputs[0], {2, 3}, {1, 10, 100, 2, 20, 200});
  auto total = einsum("ij->", {a});
  ASSERT_TRUE(total.status.ok());
  expect_close(total.outputs[0], {}, {10});
  // Upper case sorts before lower case in the implicit output (ASCII), as NumPy's does.
  auto upper = einsum("aB", {mat({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(upper.status.ok());
  expect_close(upper.outputs[0], {3, 2}, {1, 4, 2, 5, 3, 6});
  // Three operands: sum_j sum_k a_ij b_jk c_k.
  auto three = einsum("ij,jk,k->i", {a, b, mat({2}, {1, -1})});
  ASSERT_TRUE(three.status.ok());
  expect_close(three.outputs[0], {2}, {19 - 22, 43 - 50});
}

TEST(CpuEinsum, AttentionShapesMatchNaive) {
  // MaxViT-style "b h i d, b h j d -> b h i j" and back, against a double loop.
  const int64_t B = 2, H = 3, I = 5, J = 4, D = 6;
  auto qv = ramp(B * H * I * D, 3), kv = ramp(B * H * J * D, 5);
  auto r = einsum("bhid,bhjd->bhij", {mat({B, H, I, D}, qv), mat({B, H, J, D}, kv)});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  std::vector<double> want;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t j = 0; j < J; ++j) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d)
            s += static_cast<double>(qv[((b * H + h) * I + i) * D + d]) * kv[((b * H + h) * J + j) * D + d];
          want.push_back(s);
        }
  expect_close(r.outputs[0], {B, H, I, J}, want, 1e-4);
}

TEST(CpuEinsum, EllipsisBroadcastsAndSums) {
  // "...ij,...jk->...ik" with batch dims (2,1) and (3): the result is (2,3,i,k).
  Tensor a = mat({2, 1, 1, 2}, {1, 2, 3, 4});
  Tensor b = mat({3, 2, 1}, {1, 1, 2, 0, 0, 3});
  auto r = einsum("...ij,...jk->...ik", {a, b});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {2, 3, 1, 1}, {1 + 2, 2, 6, 3 + 4, 6, 12});
  // Implicit output keeps the ellipsis first; an explicit one without it sums those dims.
  auto implicit = einsum("...j", {mat({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(implicit.status.ok());
  expect_close(implicit.outputs[0], {2, 3}, {1, 2, 3, 4, 5, 6});
  auto summed = einsum("...j->j", {mat({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(summed.status.ok());
  expect_close(summed.outputs[0], {3}, {5, 7, 9});
}

TEST(CpuEinsum, BadEquationsAreInvalidInput) {
  Tensor a = mat({2, 2}, {1, 2, 3, 4});
  for (const char* eq : {"ij,jk->ik", "ijk->i", "i1->i", "ij->ik", "ij->ii", "i.j->i", "......->"}) {
    auto r = einsum(eq, {a});
    EXPECT_EQ(r.status.code(), StatusCode::kInvalidInput) << eq << ": " << r.status.to_string();
  }
  auto dims = einsum("ij,jk->ik", {a, mat({3, 1}, {1, 2, 3})});
  EXPECT_EQ(dims.status.code(), StatusCode::kInvalidInput);
  auto missing = run_node("Einsum", {a}, 1, {}, 12);
  EXPECT_EQ(missing.status.code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::nn_test
