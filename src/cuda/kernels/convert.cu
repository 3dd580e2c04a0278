// The conversion layer the builder inserts between layers: dtype (float32/float16/bfloat16/int/bool) and
// layout (row-major <-> NHWC) changes in one pass. Float conversions have fast paths: same layout is a
// linear pass; a 4-D layout change is a batched transpose ([N][C][HW] <-> [N][HW][C]), by a tiled
// shared-memory kernel, or by a per-pixel loop when the channels are few (an image input's 3). Anything
// else reads through the source strides (an index map: a 64-bit division per dim per element, slow).
#include "cuda/kernels/convert.h"

#include <fmt/format.h>

#include "cuda/kernels/common.cuh"

namespace kiln::cuda {
namespace {

template <typename In, typename Out>
__global__ void convert_kernel(const In* in, Out* out, int64_t n, IndexMap src, IndexMap dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<In, Out>)
      out[dst.offset(i)] = in[src.offset(i)];
    else
      out[dst.offset(i)] = from_float<Out>(to_float(in[src.offset(i)]));
  }
}

// Integer <-> integer / bool conversions keep integer precision (no float round trip).
template <typename In, typename Out>
__global__ void convert_int_kernel(const In* in, Out* out, int64_t n, IndexMap src, IndexMap dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[dst.offset(i)] = static_cast<Out>(in[src.offset(i)]);
}

template <typename In, typename Out>
__global__ void convert_linear_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_float<Out>(to_float(in[i]));
}

// [N][A][B] -> [N][B][A] for a small A: one thread per (n, b) reads A values (coalesced across b) and
// writes them next to each other.
template <typename In, typename Out>
__global__ void transpose_small_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t nb, int64_t a_dim,
                                       int64_t b_dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < nb; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / b_dim, b = i - n * b_dim;
    const In* src = in + n * a_dim * b_dim + b;
    Out* dst = out + i * a_dim;
    for (int64_t a = 0; a < a_dim; ++a) dst[a] = from_float<Out>(to_float(src[a * b_dim]));
  }
}

// [N][A][B] -> [N][B][A] for an image's A = 1 or 3 channels with B % 4 == 0 (and 32-bit indices): a thread
// takes 4 consecutive pixels, reads 4 consecutive values of each plane and writes its 4*A outputs as one
// contiguous run (8-byte stores when they fit), so both sides coalesce without a shared tile.
template <typename In, typename Out, int A>
__global__ void transpose_image_kernel(const In* __restrict__ in, Out* __restrict__ out, int groups, int b_dim) {
  const int per_image = b_dim / 4;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < groups; i += gridDim.x * blockDim.x) {
    const int n = i / per_image, b0 = (i - n * per_image) * 4;
    Out o[4 * A];
#pragma unroll
    for (int a = 0; a < A; ++a) {
      const In* src = in + (static_cast<int64_t>(n) * A + a) * b_dim + b0;
#pragma unroll
      for (int p = 0; p < 4; ++p) o[p * A + a] = from_float<Out>(to_float(src[p]));
    }
    Out* dst = out + static_cast<int64_t>(i) * 4 * A;
    if constexpr ((4 * A * sizeof(Out)) % 8 == 0) {
      const uint2* s = reinterpret_cast<const uint2*>(o);
      uint2* d = reinterpret_cast<uint2*>(dst);
#pragma unroll
      for (int k = 0; k < static_cast<int>(4 * A * sizeof(Out) / 8); ++k) d[k] = s[k];
    } else {
#pragma unroll
      for (int k = 0; k < 4 * A; ++k) dst[k] = o[k];
    }
  }
}

// [N][A][B] -> [N][B][A] through a 32x32 shared-memory tile: reads and writes both coalesce.
constexpr int kTile = 32, kTileRows = 8;
template <typename In, typename Out>
__global__ void transpose_tiled_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t a_dim,
                                       int64_t b_dim) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t base = int64_t(blockIdx.z) * a_dim * b_dim;
  const int64_t a0 = int64_t(blockIdx.y) * kTile, b0 = int64_t(blockIdx.x) * kTile;
  for (int k = threadIdx.y; k < kTile; k += kTileRows) {
    const int64_t a = a0 + k, b = b0 + threadIdx.x;
    if (a < a_dim && b < b_dim) tile[k][threadIdx.x] = to_float(in[base + a * b_dim + b]);
  }
  __syncthreads();
  for (int k = threadIdx.y; k < kTile; k += kTileRows) {
    const int64_t b = b0 + k, a = a0 + threadIdx.x;
    if (a < a_dim && b < b_dim) out[base + b * a_dim + a] = from_float<Out>(tile[threadIdx.x][k]);
  }
}

// [N][A][B] -> [N][B][A] with the dtype change; false when the grid would not fit (the caller falls back).
template <typename In, typename Out>
bool launch_transpose(const void* in, void* out, int64_t n, int64_t a_dim, int64_t b_dim, cudaStream_t stream) {
  const In* src = static_cast<const In*>(in);
  Out* dst = static_cast<Out*>(out);
  const bool image = (a_dim == 1 || a_dim == 3) && b_dim % 4 == 0 && n * a_dim * b_dim < INT32_MAX &&
                     reinterpret_cast<uintptr_t>(out) % 8 == 0;
  if (image) {
    const int groups = static_cast<int>(n * b_dim / 4);
    if (a_dim == 1)
      transpose_image_kernel<In, Out, 1><<<blocks_for(groups), 256, 0, stream>>>(src, dst, groups, int(b_dim));
    else
      transpose_image_kernel<In, Out, 3><<<blocks_for(groups), 256, 0, stream>>>(src, dst, groups, int(b_dim));
    return true;
  }
  if (a_dim <= 8) {
    transpose_small_kernel<In, Out><<<blocks_for(n * b_dim), 256, 0, stream>>>(src, dst, n * b_dim, a_dim, b_dim);
    return true;
  }
  const int64_t gx = (b_dim + kTile - 1) / kTile, gy = (a_dim + kTile - 1) / kTile;
  if (gx > INT32_MAX || gy > 65535 || n > 65535) return false;
  transpose_tiled_kernel<In, Out><<<dim3(unsigned(gx), unsigned(gy), unsigned(n)), dim3(kTile, kTileRows), 0, stream>>>(
      src, dst, a_dim, b_dim);
  return true;
}

// The float fast paths; false when none applies (then the index-map kernel runs).
bool convert_fast(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t stream) {
  const TensorDesc &a = in.desc, &b = out.desc;
  if (!is_float_storage(a.dtype) || !is_float_storage(b.dtype)) return false;
  const bool same_layout = a.layout == b.layout;
  if (!same_layout && a.shape.size() != 4) return false;
  const int64_t n = a.numel();
  bool ok = false;
  (void)dispatch_float(a.dtype, "convert", [&](auto ti) {
    return dispatch_float(b.dtype, "convert", [&](auto to) {
      using In = decltype(ti);
      using Out = decltype(to);
      if (same_layout) {
        convert_linear_kernel<In, Out><<<blocks_for(n), 256, 0, stream>>>(static_cast<const In*>(in.data),
                                                                          static_cast<Out*>(out.data), n);
        ok = true;
      } else {
        const Shape& s = a.shape;  // logical N, C, H, W
        const int64_t hw = s[2] * s[3];
        // Row-major -> NHWC: [N][C][HW] -> [N][HW][C]; NHWC -> row-major the other way round.
        ok = a.layout == Layout::kNHWC ? launch_transpose<In, Out>(in.data, out.data, s[0], hw, s[1], stream)
                                       : launch_transpose<In, Out>(in.data, out.data, s[0], s[1], hw, stream);
      }
      return Status::Ok();
    });
  });
  return ok;
}

template <typename In, typename Out>
void launch(const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d, cudaStream_t stream) {
  convert_kernel<In, Out><<<blocks_for(n), 256, 0, stream>>>(static_cast<const In*>(in), static_cast<Out*>(out), n, s, d);
}

template <typename In>
Status launch_float_to(DType to, const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d,
                       cudaStream_t stream) {
  switch (to) {
    case DType::kFloat32: launch<In, float>(in, out, n, s, d, stream); return Status::Ok();
    case DType::kFloat16: launch<In, __half>(in, out, n, s, d, stream); return Status::Ok();
    case DType::kBFloat16: launch<In, __nv_bfloat16>(in, out, n, s, d, stream); return Status::Ok();
    default: return unsupported(fmt::format("conversion to {}", dtype_name(to)));
  }
}

template <typename In, typename Out>
void launch_int(const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d, cudaStream_t stream) {
  convert_int_kernel<In, Out><<<blocks_for(n), 256, 0, stream>>>(static_cast<const In*>(in), static_cast<Out*>(out), n, s, d);
}

}  // namespace

Status enqueue_convert(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t stream) {
  const int64_t n = in.desc.numel();
  if (n == 0) return Status::Ok();
  if (in.desc.shape.size() > size_t(kMaxRank)) return unsupported("conversion of a tensor of rank > 8");
  const IndexMap s = make_index_map(in.desc), d = make_index_map(out.desc);
  const DType a = in.desc.dtype, b = out.desc.dtype;
  if (a == b && in.desc.layout == out.desc.layout) {
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data, in.data, in.desc.bytes(), cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  if (convert_fast(in, out, stream)) return check_launch("convert (fast path)");
  Status st = unsupported(fmt::format("conversion {} -> {}", in.desc.describe(), out.desc.describe()));
  if (a == b) {
    switch (dtype_size(a)) {
      case 1: launch_int<uint8_t, uint8_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 2: launch_int<uint16_t, uint16_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 4: launch_int<uint32_t, uint32_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 8: launch_int<uint64_t, uint64_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      default: break;
    }
  } else if (a == DType::kFloat32) {
    st = launch_float_to<float>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kFloat16) {
    st = launch_float_to<__half>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kBFloat16) {
    st = launch_float_to<__nv_bfloat16>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kInt64 && b == DType::kInt32) {
    launch_int<int64_t, int32_t>(in.data, out.data, n, s, d, stream);
    st = Status::Ok();
  } else if (a == DType::kInt32 && b == DType::kInt64) {
    launch_int<int32_t, int64_t>(in.data, out.data, n, s, d, stream);
    st = Status::Ok();
  }
  KILN_RETURN_IF_ERROR(st);
  return check_launch("convert_kernel");
}

class ConvertLayer : public Layer {
 public:
  Status configure(ConfigureContext&) override { return Status::Ok(); }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out) override {
    return enqueue_convert(in[0], out[0], rc.stream);
  }
  std::string tactic() const override { return "kernel:convert"; }
};

std::unique_ptr<Layer> make_convert_layer() { return std::make_unique<ConvertLayer>(); }

}  // namespace kiln::cuda
