// Tensor: a dtype, a concrete shape and host storage shared between copies (clone() for a deep copy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "kiln/status.h"

namespace kiln {

class Tensor {
 public:
  Tensor() = default;

  // Zero-filled tensor. Fails (kInvalidInput) on negative dims/overflow, (kRuntime) when the byte size
  // exceeds max_tensor_bytes() or the allocation fails: never aborts on absurd shapes.
  static Expected<Tensor> create(DType dtype, const Shape& shape);
  // Tensor from existing bytes (copied); bytes.size() must equal the tensor's byte size.
  static Expected<Tensor> from_bytes(DType dtype, const Shape& shape, const void* data, size_t nbytes);
  // Typed convenience for tests and small constants.
  template <typename T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T v) { return from_vector<T>({}, {v}); }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  template <typename T> T* data() { return static_cast<T*>(raw()); }
  template <typename T> const T* data() const { return static_cast<const T*>(raw()); }

  Tensor clone() const;
  // Same storage, new shape with the same element count (Reshape/Flatten/Squeeze as views).
  Expected<Tensor> reshaped(const Shape& shape) const;
  // Element i converted to double / int64 (any numeric dtype); for tests, printing and small shape tensors.
  double get_as_double(int64_t i) const;
  int64_t get_as_int64(int64_t i) const;
  // Values of a small integer tensor (shape inputs, axes, pads) as int64.
  std::vector<int64_t> to_int64_vector() const;
  // Whole tensor converted to float32 / from float32 (float16 and bfloat16 go through these).
  std::vector<float> to_float_vector() const;
  std::string describe() const;  // "float32[1x3x224x224]"

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<uint8_t> storage_;
};

// Upper bound on one tensor's size, so a malicious model cannot make kiln allocate terabytes.
size_t max_tensor_bytes();
void set_max_tensor_bytes(size_t bytes);

// Converts a tensor to another dtype (float <-> half/bf16, int <-> float, bool); Cast semantics.
Expected<Tensor> convert_dtype(const Tensor& t, DType to);

template <typename T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  auto t = Tensor::create(DTypeOf<T>::value, shape);
  Tensor out = std::move(t).value();
  std::copy(values.begin(), values.end(), out.data<T>());
  return out;
}
template <>
Tensor Tensor::from_vector<bool>(const Shape& shape, const std::vector<bool>& values);

}  // namespace kiln
