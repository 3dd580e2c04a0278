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

constexpr int kGlobalRowsY = 8;

template <typename T, bool kMax>
__global__ void global_pool_nhwc(const T* __restrict__ in, T* __restrict__ out, int64_t n, int64_t c, int64_t area) {
  __shared__ float part[kGlobalRowsY][33];
  for (int64_t b = blockIdx.y; b < n; b += gridDim.y) {
    for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * 32; c0 < c; c0 += static_cast<int64_t>(gridDim.x) * 32) {
      const int64_t ch = c0 + threadIdx.x;
      float acc = kMax ? -FLT_MAX : 0.f;
      if (ch < c)
        for (int64_t j = threadIdx.y; j < area; j += kGlobalRowsY)
          acc = combine(acc, to_float(in[(b * area + j) * c + ch]), kMax);
      part[threadIdx.y][threadIdx.x] = acc;
      __syncthreads();
      if (threadIdx.y == 0 && ch < c) {
        for (int y = 1; y < kGlobalRowsY; ++y) acc = combine(acc, part[y][threadIdx.x], kMax);
        out[b * c + ch] = from_float<T>(kMax ? acc : acc / static_cast<float>(area));
      }
      __syncthreads();  // part[] is reused by the next (b, c0)
    }
  }
}

// The NHWC global pool with V channels per thread (16-byte loads); C % V == 0 and aligned buffers.
template <typename T, bool kMax>
__global__ void global_pool_nhwc_vec(const T* __restrict__ in, T* __restrict__ out, int64_t n, int64_t c,
                                     int64_t area) {
  constexpr int V = Pack<T>::kLanes;
  __shared__ float part[kGlobalRowsY][32][V + 1];
  const int64_t groups = c / V;
  for (int64_t b = blockIdx.y; b < n; b += gridDim.y) {
    for (int64_t g0 = static_cast<int64_t>(blockIdx.x) * 32; g0 < groups; g0 += static_cast<int64_t>(gridDim.x) * 32) {
      const int64_t g = g0 + threadIdx.x;
      float acc[V];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = kMax ? -FLT_MAX : 0.f;
      if (g < groups)
        for (int64_t j = threadIdx.y; j < area; j += kGlobalRowsY) {
          const Pack<T> px = *reinterpret_cast<const Pack<T>*>(in + (b * area + j) * c + g * V);
#pragma unroll
          for (int v = 0; v < V; ++v) acc[v] = combine(acc[v], to_float(px.v[v]), kMax);
        }
#pragma unroll
      for (int v = 0; v < V; ++v) part[threadIdx.y][threadIdx.x][v] = acc[v];
      __syncthreads();
      if (threadIdx.y == 0 && g < groups) {
        Pack<T> res;
#pragma unroll
        for (int v = 0; v < V; ++v) {
          for (int y = 1; y < kGlobalRowsY; ++y) acc[v] = combine(acc[v], part[y][threadIdx.x][v], kMax);
          res.v[v] = from_float<T>(kMax ? acc[v] : acc[v] / static_cast<float>(area));
        }
        *reinterpret_cast<Pack<T>*>(out + b * c + g * V) = res;
      }
      __syncthreads();  // part[] is reused by the next (b, g0)
    }
  }
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

Status launch_global_pool(bool max, bool channels_last, int64_t n, int64_t c, int64_t area, DType dtype, const void* in,
                          void* out, cudaStream_t stream) {
  if (n * c == 0) return Status::Ok();
  if (area == 0) return invalid_input("global pooling over an empty spatial extent");
  return dispatch_float(dtype, max ? "GlobalMaxPool" : "GlobalAveragePool", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    constexpr int V = Pack<T>::kLanes;
    const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
    if (channels_last && c % V == 0 && aligned) {
      const dim3 block(32, kGlobalRowsY);
      const dim3 grid(static_cast<unsigned>(std::min<int64_t>((c / V + 31) / 32, 1 << 16)),
                      static_cast<unsigned>(std::min<int64_t>(n, 65535)));
      if (max)
        global_pool_nhwc_vec<T, true><<<grid, block, 0, stream>>>(x, y, n, c, area);
      else
        global_pool_nhwc_vec<T, false><<<grid, block, 0, stream>>>(x, y, n, c, area);
    } else if (channels_last) {
      const dim3 block(32, kGlobalRowsY);
      const dim3 grid(static_cast<unsigned>(std::min<int64_t>((c + 31) / 32, 1 << 16)),
                      static_cast<unsigned>(std::min<int64_t>(n, 65535)));
      if (max)
        global_pool_nhwc<T, true><<<grid, block, 0, stream>>>(x, y, n, c, area);
      else
        global_pool_nhwc<T, false><<<grid, block, 0, stream>>>(x, y, n, c, area);
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
