// Host side of the shared kernel helpers (common.cuh): index maps for broadcasting / strided / NHWC reads
// and the post-launch check.
#include "cuda/kernels/common.cuh"

namespace kiln::cuda {

IndexMap make_index_map(const TensorDesc& t, const Shape& space) {
  IndexMap m;
  const int rank = static_cast<int>(space.size());
  const int t_rank = static_cast<int>(t.shape.size());
  // Callers check rank <= kMaxRank and broadcastability first; clamp anyway so a bad call cannot write
  // past the arrays.
  m.rank = rank < kMaxRank ? rank : kMaxRank;
  const std::vector<int64_t> strides = t.strides();
  for (int d = 0; d < m.rank; ++d) {
    m.dims[d] = space[static_cast<size_t>(d)];
    const int td = d - (rank - t_rank);  // numpy: dims align from the right
    // A missing or size-1 dim repeats its single element along the whole iteration dim.
    const bool broadcast = td < 0 || t.shape[static_cast<size_t>(td)] == 1;
    m.strides[d] = broadcast ? 0 : strides[static_cast<size_t>(td)];
  }
  return m;
}

IndexMap make_index_map(const TensorDesc& t) { return make_index_map(t, t.shape); }

Status check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return Status::Ok();
  return cuda_status(err, kernel);
}

}  // namespace kiln::cuda
