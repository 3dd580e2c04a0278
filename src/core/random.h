// Seeded, platform-independent random tensors for `kiln run` and tests: same seed, same bytes everywhere.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln {

// xoshiro256** seeded through splitmix64. Only integer arithmetic, so the stream is identical on every
// compiler and machine (unlike std::mt19937 + std::uniform_real_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  // Starts from an explicit state (for checking against the published xoshiro256** test vectors).
  static Rng from_state(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
  uint64_t next();
  // Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float uniform_float();
  double uniform_double();
  // Uniform integer in [lo, hi] (hi >= lo).
  int64_t uniform_int(int64_t lo, int64_t hi);

 private:
  uint64_t s_[4];
};

// One splitmix64 step: a well-mixed 64-bit function, used to derive per-tensor seeds from a run seed.
uint64_t splitmix64(uint64_t x);

// A tensor of sensible test values: floats uniform in [-1, 1) (float16/bfloat16 rounded from float32),
// integers uniform in [0, 9] (small and non-negative, so index-like inputs are usually valid), bools
// 0/1 with equal odds.
Expected<Tensor> random_tensor(DType dtype, const Shape& shape, uint64_t seed);

}  // namespace kiln
