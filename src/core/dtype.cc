// DType tables and half-precision conversion.
#include "core/dtype.h"

#include <cmath>

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kUint8: return 1;
    case DType::kInt8: return 1;
    case DType::kUint16: return 2;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
    case DType::kFloat16: return 2;
    case DType::kFloat64: return 8;
    case DType::kUint32: return 4;
    case DType::kUint64: return 8;
    case DType::kBFloat16: return 2;
    default: return 0;
  }
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kUint8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUint16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "string";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kUint32: return "uint32";
    case DType::kUint64: return "uint64";
    case DType::kBFloat16: return "bfloat16";
    default: return "undefined";
  }
}

bool parse_dtype(const std::string& n, DType* out) {
  struct Alias { const char* name; DType t; };
  static const Alias kAliases[] = {
      {"float32", DType::kFloat32}, {"float", DType::kFloat32}, {"fp32", DType::kFloat32},
      {"float16", DType::kFloat16}, {"half", DType::kFloat16},  {"fp16", DType::kFloat16},
      {"bfloat16", DType::kBFloat16}, {"bf16", DType::kBFloat16}, {"float64", DType::kFloat64},
      {"double", DType::kFloat64},  {"int8", DType::kInt8},     {"uint8", DType::kUint8},
      {"int16", DType::kInt16},     {"uint16", DType::kUint16}, {"int32", DType::kInt32},
      {"int", DType::kInt32},       {"uint32", DType::kUint32}, {"int64", DType::kInt64},
      {"long", DType::kInt64},      {"uint64", DType::kUint64}, {"bool", DType::kBool},
  };
  for (const auto& a : kAliases) {
    if (n == a.name) {
      *out = a.t;
      return true;
    }
  }
  return false;
}

bool dtype_is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}

bool dtype_is_integer(DType t) {
  switch (t) {
    case DType::kUint8: case DType::kInt8: case DType::kUint16: case DType::kInt16:
    case DType::kInt32: case DType::kInt64: case DType::kUint32: case DType::kUint64:
      return true;
    default:
      return false;
  }
}

bool dtype_is_known(int32_t raw) {
  return raw != static_cast<int32_t>(DType::kString) && dtype_size(static_cast<DType>(raw)) != 0;
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | (exp - 15 + 127) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00u;          // NaN
  if (absu >= 0x477ff000u) return sign | 0x7c00u;         // overflow (>= 65520 rounds to inf)
  if (absu < 0x38800000u) {                               // subnormal or zero in half
    if (absu < 0x33000000u) return sign;                  // below half of the smallest subnormal
    uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(absu >> 23);       // 14 + (113 - exp) ... shift into 10 bits
    uint32_t val = mant >> (shift - 0);
    // round to nearest even on the bits shifted out
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t half_point = 1u << (shift - 1);
    val >>= 0;
    uint32_t result = val;
    if (rem > half_point || (rem == half_point && (result & 1u))) ++result;
    return sign | static_cast<uint16_t>(result);
  }
  uint32_t r = absu + 0xfffu + ((absu >> 13) & 1u);       // round to nearest even
  return sign | static_cast<uint16_t>(((r >> 13) - (112u << 10)) & 0xffffu);
}

}  // namespace kiln
