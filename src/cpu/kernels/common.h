// Helpers shared by the CPU reference kernels: dtype dispatch, float16/bfloat16 widening, broadcasting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "cpu/kernel_registry.h"
#include "kiln/status.h"

namespace kiln::cpu {

// Calls f(T{}) with T the element type of `t`, for float32/float64 only. f returns Status.
// Anything else is kUnsupported naming `what` (e.g. the node) and the dtype.
template <typename F>
Status visit_float(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: return f(double{});
    default: return unsupported(what + ": dtype " + dtype_name(t) + " is not supported");
  }
}

// Same over float32/float64 and every integer type (not bool: bool tensors store one byte per value,
// kernels that accept bool handle it with uint8_t themselves).
template <typename F>
Status visit_numeric(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: return f(double{});
    case DType::kInt8: return f(int8_t{});
    case DType::kUint8: return f(uint8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kUint16: return f(uint16_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kUint32: return f(uint32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUint64: return f(uint64_t{});
    default: return unsupported(what + ": dtype " + dtype_name(t) + " is not supported");
  }
}

inline bool is_half(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// Wraps a kernel written for float32 so that it also serves float16/bfloat16: half inputs are widened
// to float32, the kernel runs, and float32 outputs whose inferred dtype is half are narrowed back.
// (The reference computes half precision in float32, as ONNX Runtime's CPU provider does.)
CpuKernel widen_half(CpuKernel kernel);

// Strides (in elements) of `in` broadcast to `out` (NumPy rules): 0 on broadcast dims.
// Requires in.size() <= out.size() and each in dim equal to the out dim or 1.
std::vector<int64_t> broadcast_strides(const Shape& out, const Shape& in);

// Walks `out` in row-major order and calls f(out_index, offsets) where offsets[k] is the element offset
// of the matching element of inputs[k] broadcast to `out`.
template <typename F>
void for_each_broadcast(const Shape& out, const std::vector<Shape>& inputs, F&& f) {
  const size_t rank = out.size();
  const size_t k = inputs.size();
  std::vector<std::vector<int64_t>> strides;
  for (const Shape& s : inputs) strides.push_back(broadcast_strides(out, s));
  std::vector<int64_t> counter(rank, 0), offsets(k, 0);
  const int64_t n = numel(out);
  for (int64_t i = 0; i < n; ++i) {
    f(i, offsets.data());
    // Advance the row-major counter and the offsets incrementally.
    for (size_t d = rank; d-- > 0;) {
      if (++counter[d] < out[d]) {
        for (size_t j = 0; j < k; ++j) offsets[j] += strides[j][d];
        break;
      }
      for (size_t j = 0; j < k; ++j) offsets[j] -= strides[j][d] * (out[d] - 1);
      counter[d] = 0;
    }
  }
}

}  // namespace kiln::cpu
