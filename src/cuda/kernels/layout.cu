// Data-movement kernels: the strided copy behind Transpose/Concat/Split/Slice/Expand/Tile/DepthToSpace,
// Pad (constant/edge/reflect/wrap), Gather and int64 fills. They move element bytes, so one instantiation
// per element size serves every dtype; all index math is int64 with grid-stride loops.
#include <algorithm>
#include <numeric>

#include "cuda/kernels/layout.h"
#include "cuda/kernels/move_dispatch.cuh"

namespace kiln::cuda {
namespace {

template <typename T>
__global__ void copy_kernel(CopyPlan p, const T* __restrict__ in, T* __restrict__ out) {
  for (int64_t i = global_thread(); i < p.numel; i += grid_threads()) {
    int64_t r = i, s = p.src_base, d = p.dst_base;
    for (int k = p.rank - 1; k >= 0; --k) {
      const int64_t q = r / p.dims[k];
      const int64_t c = r - q * p.dims[k];
      s += c * p.src[k];
      d += c * p.dst[k];
      r = q;
    }
    out[d] = in[s];
  }
}

// Source coordinate for padded coordinate i on an axis of n input elements; -1 = the constant.
__device__ __forceinline__ int64_t pad_source(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kEdge:
      return i < 0 ? 0 : n - 1;
    case PadMode::kWrap:
      return ((i % n) + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      const int64_t m = ((i % period) + period) % period;
      return m >= n ? period - m : m;
    }
    default:
      return -1;
  }
}

template <typename T>
__global__ void pad_kernel(PadPlan p, const T* __restrict__ in, T* __restrict__ out, T value) {
  for (int64_t i = global_thread(); i < p.numel; i += grid_threads()) {
    int64_t r = i, s = 0;
    bool inside = true;
    for (int k = p.rank - 1; k >= 0; --k) {
      const int64_t q = r / p.out_dims[k];
      const int64_t src = pad_source(r - q * p.out_dims[k] - p.pad_begin[k], p.in_dims[k], p.mode);
      inside = inside && src >= 0;
      s += src * p.in_strides[k];
      r = q;
    }
    out[i] = inside ? in[s] : value;
  }
}

template <typename T, typename I>
__global__ void gather_kernel(GatherPlan p, const T* __restrict__ data, const I* __restrict__ indices,
                              T* __restrict__ out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t inner = i % p.inner;
    const int64_t t = i / p.inner;
    const int64_t j = t % p.n_indices;
    const int64_t o = t / p.n_indices;
    int64_t idx = static_cast<int64_t>(indices[j]);
    if (idx < 0) idx += p.axis_dim;
    out[i] = (idx >= 0 && idx < p.axis_dim) ? data[(o * p.axis_dim + idx) * p.inner + inner] : T(0);
  }
}

__global__ void fill_int64_kernel(Int64Values values, int64_t* out) {
  const int i = threadIdx.x;
  if (i < values.count) out[i] = values.v[i];
}

}  // namespace

Expected<CopyPlan> make_copy_plan(const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides,
                                  const std::vector<int64_t>& dst_strides, int64_t src_base, int64_t dst_base) {
  CopyPlan p;
  p.src_base = src_base;
  p.dst_base = dst_base;
  p.numel = 1;
  for (int64_t d : dims) p.numel *= d;
  // Dims in destination memory order (largest |stride| first); size-1 dims carry no offset.
  std::vector<size_t> order;
  for (size_t k = 0; k < dims.size(); ++k)
    if (dims[k] != 1) order.push_back(k);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::llabs(dst_strides[a]) > std::llabs(dst_strides[b]); });
  std::vector<int64_t> d, s, t;
  for (size_t k : order) {
    if (!d.empty() && s.back() == src_strides[k] * dims[k] && t.back() == dst_strides[k] * dims[k]) {
      d.back() *= dims[k];  // contiguous in both: fold into the outer dim
      s.back() = src_strides[k];
      t.back() = dst_strides[k];
      continue;
    }
    d.push_back(dims[k]);
    s.push_back(src_strides[k]);
    t.push_back(dst_strides[k]);
  }
  if (d.size() > static_cast<size_t>(kMaxMoveRank))
    return unsupported("a copy needs " + std::to_string(d.size()) + " non-mergeable dims; the CUDA kernels handle " +
                       std::to_string(kMaxMoveRank));
  p.rank = static_cast<int>(d.size());
  for (int k = 0; k < p.rank; ++k) {
    p.dims[k] = d[k];
    p.src[k] = s[k];
    p.dst[k] = t[k];
  }
  return p;
}

Status launch_copy(const CopyPlan& p, const void* in, void* out, size_t elem_size, cudaStream_t stream) {
  if (p.numel == 0) return Status::Ok();
  const bool contiguous = p.rank == 0 || (p.rank == 1 && p.src[0] == 1 && p.dst[0] == 1);
  if (contiguous) {
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        static_cast<char*>(out) + p.dst_base * elem_size, static_cast<const char*>(in) + p.src_base * elem_size,
        static_cast<size_t>(p.numel) * elem_size, cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  return dispatch_elem_size(elem_size, "strided copy", [&](auto tag) {
    using T = decltype(tag);
    copy_kernel<T><<<blocks_for(p.numel), 256, 0, stream>>>(p, static_cast<const T*>(in), static_cast<T*>(out));
    return check_launch("copy_kernel");
  });
}

Status launch_pad(const PadPlan& p, const void* in, void* out, size_t elem_size, cudaStream_t stream) {
  if (p.numel == 0) return Status::Ok();
  return dispatch_elem_size(elem_size, "Pad", [&](auto tag) {
    using T = decltype(tag);
    const T value = static_cast<T>(p.value_bits);  // low bytes: the element's bit pattern
    pad_kernel<T><<<blocks_for(p.numel), 256, 0, stream>>>(p, static_cast<const T*>(in), static_cast<T*>(out), value);
    return check_launch("pad_kernel");
  });
}

Status launch_gather(const GatherPlan& p, const void* data, const void* indices, DType index_dtype, void* out,
                     size_t elem_size, cudaStream_t stream) {
  const int64_t n = p.outer * p.n_indices * p.inner;
  if (n == 0) return Status::Ok();
  if (index_dtype != DType::kInt64 && index_dtype != DType::kInt32)
    return unsupported(std::string("Gather indices of dtype ") + dtype_name(index_dtype) + " (int32/int64 only)");
  return dispatch_elem_size(elem_size, "Gather", [&](auto tag) {
    using T = decltype(tag);
    if (index_dtype == DType::kInt64)
      gather_kernel<T, int64_t><<<blocks_for(n), 256, 0, stream>>>(
          p, static_cast<const T*>(data), static_cast<const int64_t*>(indices), static_cast<T*>(out), n);
    else
      gather_kernel<T, int32_t><<<blocks_for(n), 256, 0, stream>>>(
          p, static_cast<const T*>(data), static_cast<const int32_t*>(indices), static_cast<T*>(out), n);
    return check_launch("gather_kernel");
  });
}

Status launch_fill_int64(const Int64Values& values, int64_t* out, cudaStream_t stream) {
  if (values.count == 0) return Status::Ok();
  fill_int64_kernel<<<1, 32, 0, stream>>>(values, out);
  return check_launch("fill_int64_kernel");
}

}  // namespace kiln::cuda
