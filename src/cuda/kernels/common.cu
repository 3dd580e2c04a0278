// Host-side helpers of common.cuh: index maps for strided/broadcast/NHWC reads, and launch checks.
#include "cuda/kernels/common.cuh"

#include <fmt/format.h>

namespace kiln::cuda {

IndexMap make_index_map(const TensorDesc& t, const Shape& space) {
  IndexMap m;
  m.rank = static_cast<int>(space.size());
  const std::vector<int64_t> st = t.strides();
  const int offset = m.rank - static_cast<int>(t.shape.size());
  for (int d = 0; d < m.rank && d < kMaxRank; ++d) {
    m.dims[d] = space[d];
    const int td = d - offset;
    m.strides[d] = (td < 0 || t.shape[td] == 1) ? 0 : st[td];
  }
  if (m.rank == 0) {  // scalars iterate over one element
    m.rank = 1;
    m.dims[0] = 1;
    m.strides[0] = 0;
  }
  return m;
}

IndexMap make_index_map(const TensorDesc& t) { return make_index_map(t, t.shape); }

Status check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return Status::Ok();
  return runtime_error(fmt::format("CUDA kernel {} failed to launch: {}", kernel, cudaGetErrorString(err)));
}

}  // namespace kiln::cuda
