// Tensor storage, creation with size limits, element access and dtype conversion.
#include "core/tensor.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>

namespace kiln {
namespace {
size_t g_max_tensor_bytes = size_t{16} << 30;  // 16 GiB

template <typename T>
double load_double(const void* p, int64_t i) {
  return static_cast<double>(static_cast<const T*>(p)[i]);
}
}  // namespace

size_t max_tensor_bytes() { return g_max_tensor_bytes; }
void set_max_tensor_bytes(size_t bytes) { g_max_tensor_bytes = bytes; }

Expected<Tensor> Tensor::create(DType dtype, const Shape& shape) {
  if (dtype_size(dtype) == 0)
    return unsupported(std::string("tensors of dtype ") + dtype_name(dtype) + " are not supported");
  auto n = checked_numel(shape);
  if (!n) return invalid_input("invalid tensor shape " + shape_to_string(shape));
  size_t esize = dtype_size(dtype);
  if (static_cast<uint64_t>(*n) > g_max_tensor_bytes / esize)
    return runtime_error("tensor " + std::string(dtype_name(dtype)) + "[" + shape_to_string(shape) +
                         "] would need more than the " + std::to_string(g_max_tensor_bytes >> 20) +
                         " MiB limit for one tensor");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.numel_ = *n;
  size_t bytes = static_cast<size_t>(*n) * esize;
  size_t alloc = ((bytes + 63) / 64) * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (!p) return runtime_error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, alloc);
  t.storage_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
  return t;
}

Expected<Tensor> Tensor::from_bytes(DType dtype, const Shape& shape, const void* data, size_t nbytes) {
  KILN_ASSIGN_OR_RETURN(Tensor t, create(dtype, shape));
  if (t.nbytes() != nbytes)
    return invalid_input("tensor " + t.describe() + " needs " + std::to_string(t.nbytes()) + " bytes but " +
                         std::to_string(nbytes) + " were given");
  if (nbytes) std::memcpy(t.raw(), data, nbytes);
  return t;
}

template <>
Tensor Tensor::from_vector<bool>(const Shape& shape, const std::vector<bool>& values) {
  Tensor out = Tensor::create(DType::kBool, shape).value();
  for (size_t i = 0; i < values.size(); ++i) out.data<uint8_t>()[i] = values[i] ? 1 : 0;
  return out;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t = create(dtype_, shape_).value();
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Expected<Tensor> Tensor::reshaped(const Shape& shape) const {
  auto n = checked_numel(shape);
  if (!n || *n != numel_)
    return invalid_input("cannot view " + describe() + " as shape " + shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

double Tensor::get_as_double(int64_t i) const {
  const void* p = raw();
  switch (dtype_) {
    case DType::kFloat32: return load_double<float>(p, i);
    case DType::kFloat64: return load_double<double>(p, i);
    case DType::kFloat16: return half_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::kBFloat16: return bfloat16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::kInt8: return load_double<int8_t>(p, i);
    case DType::kUint8: return load_double<uint8_t>(p, i);
    case DType::kInt16: return load_double<int16_t>(p, i);
    case DType::kUint16: return load_double<uint16_t>(p, i);
    case DType::kInt32: return load_double<int32_t>(p, i);
    case DType::kUint32: return load_double<uint32_t>(p, i);
    case DType::kInt64: return load_double<int64_t>(p, i);
    case DType::kUint64: return load_double<uint64_t>(p, i);
    case DType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

int64_t Tensor::get_as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64: return data<int64_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kUint64: return static_cast<int64_t>(data<uint64_t>()[i]);
    default: {
      double d = get_as_double(i);
      if (std::isnan(d)) return 0;
      if (d >= 9.2e18) return INT64_MAX;
      if (d <= -9.2e18) return INT64_MIN;
      return static_cast<int64_t>(d);
    }
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[i] = get_as_int64(i);
  return v;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<float>(get_as_double(i));
  return v;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + "[" + shape_to_string(shape_) + "]";
}

namespace {
template <typename T>
void store_from_double(void* p, int64_t i, double v) {
  static_cast<T*>(p)[i] = static_cast<T>(v);
}
// Saturating float -> integer conversion (ONNX leaves out-of-range undefined; we avoid UB).
template <typename T>
void store_int_from_double(void* p, int64_t i, double v) {
  if (std::isnan(v)) v = 0;
  double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  static_cast<T*>(p)[i] = static_cast<T>(v);
}
}  // namespace

Expected<Tensor> convert_dtype(const Tensor& t, DType to) {
  if (t.dtype() == to) return t;
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(to, t.shape()));
  void* p = out.raw();
  const int64_t n = t.numel();
  const bool int_to_int = dtype_is_integer(t.dtype()) && dtype_is_integer(to);
  for (int64_t i = 0; i < n; ++i) {
    if (int_to_int && to == DType::kInt64) {
      p = out.raw();
      static_cast<int64_t*>(p)[i] = t.get_as_int64(i);
      continue;
    }
    double v = int_to_int ? static_cast<double>(t.get_as_int64(i)) : t.get_as_double(i);
    switch (to) {
      case DType::kFloat32: store_from_double<float>(p, i, v); break;
      case DType::kFloat64: store_from_double<double>(p, i, v); break;
      case DType::kFloat16: static_cast<uint16_t*>(p)[i] = float_to_half(static_cast<float>(v)); break;
      case DType::kBFloat16: static_cast<uint16_t*>(p)[i] = float_to_bfloat16(static_cast<float>(v)); break;
      case DType::kInt8: store_int_from_double<int8_t>(p, i, v); break;
      case DType::kUint8: store_int_from_double<uint8_t>(p, i, v); break;
      case DType::kInt16: store_int_from_double<int16_t>(p, i, v); break;
      case DType::kUint16: store_int_from_double<uint16_t>(p, i, v); break;
      case DType::kInt32: store_int_from_double<int32_t>(p, i, v); break;
      case DType::kUint32: store_int_from_double<uint32_t>(p, i, v); break;
      case DType::kInt64: store_int_from_double<int64_t>(p, i, v); break;
      case DType::kUint64: store_int_from_double<uint64_t>(p, i, v); break;
      case DType::kBool: static_cast<uint8_t*>(p)[i] = v != 0.0 ? 1 : 0; break;
      default: return unsupported(std::string("cannot convert to ") + dtype_name(to));
    }
  }
  return out;
}

}  // namespace kiln
