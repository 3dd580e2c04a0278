// Byte-moving helpers for the tensor-manipulation kernels: dispatch on element size (any dtype, bool and
// float16 included) and a copy where each output axis maps to input positions through an index table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln::cpu {

// Calls f(T{}) with an unsigned integer type as wide as one element of `t` (the bits are moved, never
// interpreted), so one instantiation serves every dtype of that size.
template <typename F>
Status visit_bytes(DType t, const std::string& what, F&& f) {
  switch (dtype_size(t)) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      return unsupported(what + ": dtype " + dtype_name(t) + " is not supported");
  }
}

// out[j0, j1, ...] = src[sum_d maps[d][j_d] * strides[d]], or *pad when any maps[d][j_d] < 0.
// maps[d].size() is the output's size on axis d; strides are the input's element strides for that axis.
template <typename T>
void copy_mapped(const T* src, const std::vector<int64_t>& strides, const std::vector<std::vector<int64_t>>& maps,
                 T* dst, T pad) {
  const size_t rank = maps.size();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  for (const auto& m : maps)
    if (m.empty()) return;
  std::vector<size_t> counter(rank, 0);
  // offset[d] = source offset contributed by axes < d; -1 marks a padded prefix.
  std::vector<int64_t> offset(rank + 1, 0);
  auto refresh = [&](size_t from) {
    for (size_t d = from; d + 1 < rank; ++d) {
      const int64_t m = maps[d][counter[d]];
      offset[d + 1] = (offset[d] < 0 || m < 0) ? -1 : offset[d] + m * strides[d];
    }
  };
  refresh(0);
  const std::vector<int64_t>& inner = maps[rank - 1];
  const int64_t inner_stride = strides[rank - 1];
  while (true) {
    const int64_t base = offset[rank - 1];
    for (size_t j = 0; j < inner.size(); ++j)
      *dst++ = (base < 0 || inner[j] < 0) ? pad : src[base + inner[j] * inner_stride];
    size_t d = rank - 1;
    while (d > 0) {
      --d;
      if (++counter[d] < maps[d].size()) break;
      counter[d] = 0;
      if (d == 0) return;
    }
    if (rank == 1) return;
    refresh(d);
  }
}

// Identity maps (0..n-1) for each dim of `shape`.
std::vector<std::vector<int64_t>> identity_maps(const Shape& shape);

// Runs copy_mapped for any dtype: out gets `out_shape` and in's dtype; pad is the padding element's bytes
// (nullptr = zero).
Expected<Tensor> gather_mapped(const Tensor& in, const std::vector<int64_t>& strides,
                               const std::vector<std::vector<int64_t>>& maps, const void* pad, const std::string& what);

}  // namespace kiln::cpu
