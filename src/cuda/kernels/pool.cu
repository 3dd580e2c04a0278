// Pooling kernels. Windowed pools: one thread per output element, iterating the output in its memory order
// (channel fastest for NHWC, so reads and writes coalesce along C). Global pools: a warp per (n, c) row for
// row-major input; for NHWC a 32 x 8 block, x along C (coalesced) and y splitting the spatial extent.
// Math in float32 whatever the storage type.
#include <algorithm>
#include <cfloat>
#include <cstdint>

#include "cuda/kernels/move_dispatch.cuh"
#include "cuda/kernels/pool.h"

namespace kiln::cuda {
namespace {

// Number of window taps on one dim that fall inside [0, limit).
__device__ __forceinline__ int64_t taps_below(int64_t start, int64_t k, int64_t dil, int64_t limit) {
  int64_t count = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t i = start + j * dil;
    count += (i >= 0 && i < limit) ? 1 : 0;
  }
  return count;
}

template <typename T, bool kMax>
__global__ void pool_kernel(PoolParams p, const T* __restrict__ in, T* __restrict__ out, int64_t total) {
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t r = i, ch = 0;
    if (p.channels_last) {
      ch = r % p.c;
      r /= p.c;
    }
    const int64_t ox = r % p.out[2];
    r /= p.out[2];
    const int64_t oy = r % p.out[1];
    r /= p.out[1];
    const int64_t oz = r % p.out[0];
    r /= p.out[0];
    if (!p.channels_last) {
      ch = r % p.c;
      r /= p.c;
    }
    const int64_t b = r;
    const int64_t step = p.channels_last ? p.c : 1;  // element distance between neighbouring pixels
    const int64_t plane = p.channels_last ? b * D * H * W * p.c + ch : (b * p.c + ch) * D * H * W;
    const int64_t z0 = oz * p.stride[0] - p.pad_begin[0];
    const int64_t y0 = oy * p.stride[1] - p.pad_begin[1];
    const int64_t x0 = ox * p.stride[2] - p.pad_begin[2];
    float acc = kMax ? -FLT_MAX : 0.f;
    int64_t taps = 0;
    for (int64_t kz = 0; kz < p.kernel[0]; ++kz) {
      const int64_t z = z0 + kz * p.dilation[0];
      if (z < 0 || z >= D) continue;
      for (int64_t ky = 0; ky < p.kernel[1]; ++ky) {
        const int64_t y = y0 + ky * p.dilation[1];
        if (y < 0 || y >= H) continue;
        const T* row = in + plane + (z * H + y) * W * step;
        for (int64_t kx = 0; kx < p.kernel[2]; ++kx) {
          const int64_t x = x0 + kx * p.dilation[2];
          if (x < 0 || x >= W) continue;
          const float v = to_float(row[x * step]);
          if (kMax) {
            if (v > acc) acc = v;  // NaN never wins, as in the CPU reference
          } else {
            acc += v;
          }
          ++taps;
        }
      }
    }
    if (!kMax) {
      int64_t count = taps;
      if (p.count_include_pad) {
        // The window's part inside the padded input (ceil_mode windows can run past the end padding).
        count = 1;
        for (int d = 0; d < 3; ++d) {
          const int64_t o = d == 0 ? oz : (d == 1 ? oy : ox);
          const int64_t start = o * p.stride[d];  // coordinate in the padded input
          count *= taps_below(start, p.kernel[d], p.dilation[d], p.in[d] + p.pad_begin[d] + p.pad_end[d]);
        }
      }
      acc = count > 0 ? acc / static_cast<float>(count) : 0.f;
    }
    out[i] = from_float<T>(acc);
  }
}

// 2-D NHWC pooling, V channels per thread through one 16-byte load per tap (C % V == 0, aligned buffers).
template <typename T>
struct alignas(16) Pack {
  static constexpr int kLanes = 16 / sizeof(T);
  T v[kLanes];
};

template <typename T, bool kMax>
__global__ void pool_nhwc_vec_kernel(PoolParams p, const T* __restrict__ in, T* __restrict__ out, int64_t total) {
  constexpr int V = Pack<T>::kLanes;
  const int64_t H = p.in[1], W = p.in[2], groups = p.c / V;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t r = i / groups;
    const int64_t g = i - r * groups;
    const int64_t ox = r % p.out[2];
    r /= p.out[2];
    const int64_t oy = r % p.out[1];
    const int64_t b = r / p.out[1];
    const int64_t y0 = oy * p.stride[1] - p.pad_begin[1], x0 = ox * p.stride[2] - p.pad_begin[2];
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = kMax ? -FLT_MAX : 0.f;
    int64_t taps = 0;
    for (int64_t ky = 0; ky < p.kernel[1]; ++ky) {
      const int64_t y = y0 + ky * p.dilation[1];
      if (y < 0 || y >= H) continue;
      for (int64_t kx = 0; kx < p.kernel[2]; ++kx) {
        const int64_t x = x0 + kx * p.dilation[2];
        if (x < 0 || x >= W) continue;
        const Pack<T> px = *reinterpret_cast<const Pack<T>*>(in + ((b * H + y) * W + x) * p.c + g * V);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float f = to_float(px.v[v]);
          if (kMax) {
            if (f > acc[v]) acc[v] = f;
          } else {
            acc[v] += f;
          }
        }
        ++taps;
      }
    }
    float scale = 1.f;
    if (!kMax) {
      int64_t count = taps;
      if (p.count_include_pad)
        count = taps_below(oy * p.stride[1], p.kernel[1], p.dilation[1], H + p.pad_begin[1] + p.pad_end[1]) *
                taps_below(ox * p.stride[2], p.kernel[2], p.dilation[2], W + p.pad_begin[2] + p.pad_end[2]);
      scale = count > 0 ? 1.f / static_cast<float>(count) : 0.f;
    }
    Pack<T> res;
#pragma unroll
    for (int v = 0; v < V; ++v) res.v[v] = from_float<T>(kMax ? acc[v] : acc[v] * scale);
    *reinterpret_cast<Pack<T>*>(out + i * V) = res;
  }
}

__device__ __forceinline__ float combine(float a, float b, bool max) { return max ? (b > a ? b : a) : a + b; }

template <typename T, bool kMax>
__global__ void global_pool_rows(const T* __restrict__ in, T* __restrict__ out, int64_t rows, int64_t area) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = grid_threads() / 32;
  for (int64_t row = global_thread() / 32; row < rows; row += warps) {
    const T* src = in + row * area;
    float acc = kMax ? -FLT_MAX : 0.f;
    for (int64_t j = lane; j < area; j += 32) acc = combine(acc, to_float(src[j]), kMax);
    for (int off = 16; off > 0; off /= 2) acc = combine(acc, __shfl_xor_sync(0xffffffffu, acc, off), kMax);
    if (lane == 0) out[row] = from_float<T>(kMax ? acc : acc / static_cast<float>(area));
  }
}

// The NHWC global pool. A block of 256 threads covers `gx` channel groups of V channels (16-byte loads when
// V > 1) of one image and a range of pixels: thread (tx, ty) = (t % gx, t / gx) reads pixels ty, ty + ry, ...
// (ry = 256 / gx rows in flight), so narrow layers (C = 32: gx = 4, ry = 64) still keep every thread busy.
// With splits > 1 the pixels are cut into `splits` ranges (grid z) and each block writes float partials,
// which global_pool_finish combines: enough blocks to fill the GPU at batch 1 too.
constexpr int kGlobalThreads = 256;
constexpr int kGlobalMaxLanes = 8;

template <typename T, bool kMax, int V>
__global__ void global_pool_nhwc_split(const T* __restrict__ in, T* __restrict__ out, float* __restrict__ partial,
                                       int64_t n, int64_t c, int64_t area, int gx, int64_t per_split) {
  __shared__ float part[kGlobalThreads * kGlobalMaxLanes];
  const int64_t groups = c / V;
  const int tx = threadIdx.x % gx, ty = threadIdx.x / gx, ry = kGlobalThreads / gx;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * gx + tx;
  const int64_t j0 = static_cast<int64_t>(blockIdx.z) * per_split;
  const int64_t j1 = j0 + per_split < area ? j0 + per_split : area;
  for (int64_t b = blockIdx.y; b < n; b += gridDim.y) {
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = kMax ? -FLT_MAX : 0.f;
    if (ty < ry && g < groups) {
      for (int64_t j = j0 + ty; j < j1; j += ry) {
        const T* src = in + (b * area + j) * c + g * V;
        if constexpr (V > 1) {
          const Pack<T> px = *reinterpret_cast<const Pack<T>*>(src);
#pragma unroll
          for (int v = 0; v < V; ++v) acc[v] = combine(acc[v], to_float(px.v[v]), kMax);
        } else {
          acc[0] = combine(acc[0], to_float(*src), kMax);
        }
      }
    }
#pragma unroll
    for (int v = 0; v < V; ++v) part[threadIdx.x * V + v] = acc[v];
    __syncthreads();
    if (ty == 0 && g < groups) {
      for (int y = 1; y < ry; ++y)
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] = combine(acc[v], part[(y * gx + tx) * V + v], kMax);
      if (gridDim.z == 1) {
#pragma unroll
        for (int v = 0; v < V; ++v)
          out[b * c + g * V + v] = from_float<T>(kMax ? acc[v] : acc[v] / static_cast<float>(area));
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) partial[(static_cast<int64_t>(blockIdx.z) * n + b) * c + g * V + v] = acc[v];
      }
    }
    __syncthreads();  // part[] is reused by the next image
  }
}

template <typename T, bool kMax>
__global__ void global_pool_finish(const float* __restrict__ partial, T* __restrict__ out, int64_t nc, int splits,
                                   int64_t area) {
  for (int64_t i = global_thread(); i < nc; i += grid_threads()) {
    float acc = partial[i];
    for (int z = 1; z < splits; ++z) acc = combine(acc, partial[z * nc + i], kMax);
    out[i] = from_float<T>(kMax ? acc : acc / static_cast<float>(area));
  }
}

int sm_count() {
  static const int count = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return 132;
    return n > 0 ? n : 132;
  }();
  return count;
}

}  // namespace

Status launch_pool(const PoolParams& p, DType dtype, const void* in, void* out, cudaStream_t stream) {
  const int64_t total = p.n * p.c * p.out[0] * p.out[1] * p.out[2];
  if (total == 0) return Status::Ok();
  return dispatch_float(dtype, p.max ? "MaxPool" : "AveragePool", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    constexpr int V = Pack<T>::kLanes;
    const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
    if (p.channels_last && p.in[0] == 1 && p.kernel[0] == 1 && p.c % V == 0 && aligned) {
      if (p.max)
        pool_nhwc_vec_kernel<T, true><<<blocks_for(total / V), 256, 0, stream>>>(p, x, y, total / V);
      else
        pool_nhwc_vec_kernel<T, false><<<blocks_for(total / V), 256, 0, stream>>>(p, x, y, total / V);
      return check_launch("pool_nhwc_vec_kernel");
    }
    if (p.max)
      pool_kernel<T, true><<<blocks_for(total), 256, 0, stream>>>(p, x, y, total);
    else
      pool_kernel<T, false><<<blocks_for(total), 256, 0, stream>>>(p, x, y, total);
    return check_launch("pool_kernel");
  });
}

GlobalPoolSplit plan_global_pool(bool channels_last, int64_t n, int64_t c, int64_t area, DType dtype) {
  GlobalPoolSplit p;
  if (!channels_last || n * c == 0 || area == 0) return p;
  const int lanes = dtype == DType::kFloat32 ? 4 : 8;
  p.lanes = c % lanes == 0 ? lanes : 1;
  const int64_t groups = c / p.lanes;
  p.gx = static_cast<int>(std::min<int64_t>(groups, 32));
  const int ry = kGlobalThreads / p.gx;
  const int64_t blocks = (groups + p.gx - 1) / p.gx * std::min<int64_t>(n, 65535);
  // Two waves of blocks over the GPU, each thread reading at least 8 pixels of its range.
  const int64_t want = (2 * sm_count() + blocks - 1) / blocks;
  const int64_t most = std::max<int64_t>(1, area / (8 * ry));
  p.splits = static_cast<int>(std::min<int64_t>({want, most, 64}));
  p.per_split = (area + p.splits - 1) / p.splits;
  p.splits = static_cast<int>((area + p.per_split - 1) / p.per_split);
  p.workspace_bytes = p.splits > 1 ? static_cast<size_t>(p.splits) * n * c * sizeof(float) : 0;
  return p;
}

Status launch_global_pool(bool max, bool channels_last, int64_t n, int64_t c, int64_t area, DType dtype, const void* in,
                          void* out, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (n * c == 0) return Status::Ok();
  if (area == 0) return invalid_input("global pooling over an empty spatial extent");
  return dispatch_float(dtype, max ? "GlobalMaxPool" : "GlobalAveragePool", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    if (channels_last) {
      GlobalPoolSplit p = plan_global_pool(true, n, c, area, dtype);
      const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0;
      if (p.lanes > 1 && !aligned) {  // a view at an odd offset: scalar loads (no partials needed for the check)
        p.lanes = 1;
        p.gx = static_cast<int>(std::min<int64_t>(c, 32));
      }
      if (p.workspace_bytes > workspace_bytes)
        return runtime_error("global pool: workspace of " + std::to_string(workspace_bytes) + " bytes, need " +
                             std::to_string(p.workspace_bytes));
      float* partial = static_cast<float*>(workspace);
      const int64_t groups = c / p.lanes;
      const dim3 grid(static_cast<unsigned>((groups + p.gx - 1) / p.gx),
                      static_cast<unsigned>(std::min<int64_t>(n, 65535)), static_cast<unsigned>(p.splits));
      auto go = [&](auto max_tag) {
        constexpr bool kMax = decltype(max_tag)::value;
        constexpr int V = Pack<T>::kLanes;
        if (p.lanes > 1)
          global_pool_nhwc_split<T, kMax, V>
              <<<grid, kGlobalThreads, 0, stream>>>(x, y, partial, n, c, area, p.gx, p.per_split);
        else
          global_pool_nhwc_split<T, kMax, 1>
              <<<grid, kGlobalThreads, 0, stream>>>(x, y, partial, n, c, area, p.gx, p.per_split);
        if (p.splits > 1)
          global_pool_finish<T, kMax><<<blocks_for(n * c), 256, 0, stream>>>(partial, y, n * c, p.splits, area);
      };
      if (max)
        go(std::true_type{});
      else
        go(std::false_type{});
    } else {
      const int64_t threads = n * c * 32;
      if (max)
        global_pool_rows<T, true><<<blocks_for(threads), 256, 0, stream>>>(x, y, n * c, area);
      else
        global_pool_rows<T, false><<<blocks_for(threads), 256, 0, stream>>>(x, y, n * c, area);
    }
    return check_launch("global_pool");
  });
}

}  // namespace kiln::cuda
