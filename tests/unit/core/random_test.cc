// Seeded random tensors: published splitmix64/xoshiro256** vectors, determinism and value ranges.
#include "core/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace kiln {
namespace {

TEST(Random, MatchesPublishedVectors) {
  EXPECT_EQ(splitmix64(0), 0xe220a8397b1dcdafull);  // first output of splitmix64 seeded with 0
  Rng r = Rng::from_state(1, 2, 3, 4);              // xoshiro256** reference implementation, state {1,2,3,4}
  EXPECT_EQ(r.next(), 11520u);
  EXPECT_EQ(r.next(), 0u);
  EXPECT_EQ(r.next(), 1509978240u);
  EXPECT_EQ(r.next(), 1215971899390074240u);
}

TEST(Random, SameSeedSameBytesDifferentSeedDifferentBytes) {
  auto a = random_tensor(DType::kFloat32, {4, 8}, 42);
  auto b = random_tensor(DType::kFloat32, {4, 8}, 42);
  auto c = random_tensor(DType::kFloat32, {4, 8}, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(0, std::memcmp(a->raw(), b->raw(), a->nbytes()));
  EXPECT_NE(0, std::memcmp(a->raw(), c->raw(), a->nbytes()));
}

TEST(Random, ValuesArePerDtypeSensible) {
  auto f = random_tensor(DType::kFloat32, {10000}, 1);
  ASSERT_TRUE(f.ok());
  double lo = 1, hi = -1, sum = 0;
  for (int64_t i = 0; i < f->numel(); ++i) {
    float v = f->data<float>()[i];
    lo = std::min(lo, double(v));
    hi = std::max(hi, double(v));
    sum += v;
  }
  EXPECT_GE(lo, -1.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_LT(lo, -0.99);  // covers the range
  EXPECT_GT(hi, 0.99);
  EXPECT_NEAR(sum / 10000, 0.0, 0.03);  // mean of U[-1,1) is 0, std error ~0.006

  auto h = random_tensor(DType::kFloat16, {1000}, 1);
  ASSERT_TRUE(h.ok());
  for (int64_t i = 0; i < h->numel(); ++i) ASSERT_LE(std::abs(h->get_as_double(i)), 1.0);

  auto n = random_tensor(DType::kInt64, {1000}, 7);
  ASSERT_TRUE(n.ok());
  int seen[10] = {};
  for (int64_t i = 0; i < n->numel(); ++i) {
    int64_t v = n->data<int64_t>()[i];
    ASSERT_TRUE(v >= 0 && v <= 9) << v;
    seen[v]++;
  }
  for (int k = 0; k < 10; ++k) EXPECT_GT(seen[k], 50) << k;

  auto b = random_tensor(DType::kBool, {1000}, 3);
  ASSERT_TRUE(b.ok());
  int ones = 0;
  for (int64_t i = 0; i < b->numel(); ++i) {
    ASSERT_LE(b->data<uint8_t>()[i], 1);
    ones += b->data<uint8_t>()[i];
  }
  EXPECT_GT(ones, 400);
  EXPECT_LT(ones, 600);
}

TEST(Random, FirstFloatIsTheDocumentedFunctionOfTheSeed) {
  // value = (top 24 bits of the first xoshiro output) / 2^24 * 2 - 1, state from splitmix64(seed + k*golden).
  Rng r(5);
  const uint64_t first = r.next();
  auto t = random_tensor(DType::kFloat32, {1}, 5);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data<float>()[0], static_cast<float>(first >> 40) / 16777216.0f * 2.0f - 1.0f);
}

}  // namespace
}  // namespace kiln
