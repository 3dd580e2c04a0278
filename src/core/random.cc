// xoshiro256** / splitmix64 and per-dtype random tensor filling.
#include "core/random.h"

#include <type_traits>

namespace kiln {
namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Rng::Rng(uint64_t seed) {
  // Each state word is splitmix64 of a distinct counter, so no seed (including 0) gives an all-zero state.
  for (int i = 0; i < 4; ++i) s_[i] = splitmix64(seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i));
}

Rng Rng::from_state(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  Rng r(0);
  r.s_[0] = a;
  r.s_[1] = b;
  r.s_[2] = c;
  r.s_[3] = d;
  return r;
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform_float() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
double Rng::uniform_double() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  // Modulo bias is irrelevant for the tiny ranges used here; span == 0 means the full 64-bit range.
  return span == 0 ? static_cast<int64_t>(next()) : lo + static_cast<int64_t>(next() % span);
}

Expected<Tensor> random_tensor(DType dtype, const Shape& shape, uint64_t seed) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, shape));
  Rng rng(seed);
  const int64_t n = t.numel();
  auto fill_int = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(rng.uniform_int(0, 9));
  };
  switch (dtype) {
    case DType::kFloat32:
      for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = rng.uniform_float() * 2.0f - 1.0f;
      break;
    case DType::kFloat64:
      for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = rng.uniform_double() * 2.0 - 1.0;
      break;
    case DType::kFloat16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_half(rng.uniform_float() * 2.0f - 1.0f);
      break;
    case DType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_bfloat16(rng.uniform_float() * 2.0f - 1.0f);
      break;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(rng.next() >> 63);
      break;
    case DType::kInt8:
      fill_int(t.data<int8_t>());
      break;
    case DType::kUint8:
      fill_int(t.data<uint8_t>());
      break;
    case DType::kInt16:
      fill_int(t.data<int16_t>());
      break;
    case DType::kUint16:
      fill_int(t.data<uint16_t>());
      break;
    case DType::kInt32:
      fill_int(t.data<int32_t>());
      break;
    case DType::kUint32:
      fill_int(t.data<uint32_t>());
      break;
    case DType::kInt64:
      fill_int(t.data<int64_t>());
      break;
    case DType::kUint64:
      fill_int(t.data<uint64_t>());
      break;
    default:
      return unsupported(std::string("cannot generate random values of dtype ") + dtype_name(dtype));
  }
  return t;
}

}  // namespace kiln
