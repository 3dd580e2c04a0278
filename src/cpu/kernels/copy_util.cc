// Element-size dispatch of the index-table copy used by Slice, Pad, Tile, Expand and Transpose.
#include "cpu/kernels/copy_util.h"

#include <cstring>
#include <numeric>

namespace kiln::cpu {

std::vector<std::vector<int64_t>> identity_maps(const Shape& shape) {
  std::vector<std::vector<int64_t>> maps;
  for (int64_t d : shape) {
    maps.emplace_back(static_cast<size_t>(d));
    std::iota(maps.back().begin(), maps.back().end(), 0);
  }
  return maps;
}

Expected<Tensor> gather_mapped(const Tensor& in, const std::vector<int64_t>& strides,
                               const std::vector<std::vector<int64_t>>& maps, const void* pad,
                               const std::string& what) {
  Shape out_shape;
  for (const auto& m : maps) out_shape.push_back(static_cast<int64_t>(m.size()));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(in.dtype(), out_shape));
  if (out.numel() == 0) return out;
  Status s = visit_bytes(in.dtype(), what, [&](auto zero) -> Status {
    using T = decltype(zero);
    T p = zero;
    if (pad) std::memcpy(&p, pad, sizeof(T));
    copy_mapped<T>(in.data<T>(), strides, maps, out.data<T>(), p);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace kiln::cpu
