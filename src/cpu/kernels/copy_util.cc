// Element-size dispatch of the index-table copy used by Slice, Pad, Tile, Expand and Transpose.
#include "cpu/kernels/copy_util.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace kiln::cpu {

Status check_output_size(DType dtype, const Shape& shape, const std::string& what) {
  auto n = checked_numel(shape);
  if (!n) return invalid_input(what + ": invalid output shape " + shape_to_string(shape));
  if (static_cast<uint64_t>(*n) > max_tensor_bytes() / std::max<size_t>(dtype_size(dtype), 1))
    return runtime_error(what + ": output " + shape_to_string(shape) + " exceeds the " +
                         std::to_string(max_tensor_bytes() >> 20) + " MiB limit for one tensor");
  return Status::Ok();
}

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
