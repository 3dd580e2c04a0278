// The conv epilogue kernel (bias + residual + activation in one pass over the output, in place) and the
// zero-padding kernel used for asymmetric pads, for float32/float16/bfloat16 in NCHW or NHWC.
#include "cuda/kernels/activation.cuh"
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/conv_epilogue.h"

namespace kiln::cuda {
namespace {

template <typename T>
__global__ void conv_epilogue_kernel(T* y, const T* z, const float* bias, ConvTensorGeom g, FusedActivation act,
                                     float alpha, float beta) {
  const int64_t total = g.n * g.c * g.h * g.w, hw = g.h * g.w;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    float v = to_float(y[i]);
    if (bias) v += bias[g.nhwc ? i % g.c : (i / hw) % g.c];
    if (z) v += to_float(z[i]);  // z has y's layout, so the same linear index
    y[i] = from_float<T>(activate(act, v, alpha, beta));
  }
}

// 16-byte vectors of y (and z): used when every vector lies in one channel (NCHW: h*w % V == 0) or
// covers V consecutive channels (NHWC: c % V == 0), so the channel is computed once per vector.
template <typename T>
__global__ void conv_epilogue_vec_kernel(T* y, const T* z, const float* bias, ConvTensorGeom g, FusedActivation act,
                                         float alpha, float beta) {
  constexpr int V = 16 / sizeof(T);
  const int64_t hw = g.h * g.w, vectors = g.n * g.c * hw / V;
  for (int64_t v = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; v < vectors; v += int64_t{gridDim.x} * blockDim.x) {
    uint4 yv = reinterpret_cast<const uint4*>(y)[v];
    uint4 zv = make_uint4(0, 0, 0, 0);
    if (z) zv = reinterpret_cast<const uint4*>(z)[v];
    T* ye = reinterpret_cast<T*>(&yv);
    const T* ze = reinterpret_cast<const T*>(&zv);
    const int64_t base = v * V;
    const int64_t c0 = g.nhwc ? base % g.c : (base / hw) % g.c;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float f = to_float(ye[k]);
      if (bias) f += bias[g.nhwc ? c0 + k : c0];
      if (z) f += to_float(ze[k]);
      ye[k] = from_float<T>(activate(act, f, alpha, beta));
    }
    reinterpret_cast<uint4*>(y)[v] = yv;
  }
}

template <typename T>
__global__ void conv_pad_kernel(const T* x, ConvTensorGeom in, T* xp, ConvTensorGeom out, int64_t pad_h,
                                int64_t pad_w) {
  const int64_t total = out.n * out.c * out.h * out.w;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t n, c, h, w;
    split_nchw(i, out.c, out.h, out.w, out.nhwc, n, c, h, w);
    const int64_t sh = h - pad_h, sw = w - pad_w;
    T v = from_float<T>(0.f);
    if (sh >= 0 && sh < in.h && sw >= 0 && sw < in.w)
      v = in.nhwc ? x[((n * in.h + sh) * in.w + sw) * in.c + c] : x[((n * in.c + c) * in.h + sh) * in.w + sw];
    xp[i] = v;
  }
}

}  // namespace

Status launch_conv_epilogue(DType dtype, void* y, const ConvTensorGeom& g, const ConvEpilogue& e, cudaStream_t stream) {
  return dispatch_float(dtype, "conv epilogue", [&](auto t) {
    using T = decltype(t);
    constexpr int V = 16 / sizeof(T);
    const bool aligned = reinterpret_cast<uintptr_t>(y) % 16 == 0 && reinterpret_cast<uintptr_t>(e.z) % 16 == 0;
    if (aligned && (g.nhwc ? g.c % V == 0 : (g.h * g.w) % V == 0)) {
      conv_epilogue_vec_kernel<T><<<blocks_for(g.numel() / V), 256, 0, stream>>>(
          static_cast<T*>(y), static_cast<const T*>(e.z), e.bias, g, e.act, e.alpha, e.beta);
      return check_launch("conv_epilogue_vec_kernel");
    }
    conv_epilogue_kernel<T><<<blocks_for(g.numel()), 256, 0, stream>>>(static_cast<T*>(y), static_cast<const T*>(e.z),
                                                                       e.bias, g, e.act, e.alpha, e.beta);
    return check_launch("conv_epilogue_kernel");
  });
}

Status launch_conv_pad(DType dtype, const void* x, const ConvTensorGeom& in, void* xp, const ConvTensorGeom& out,
                       int64_t pad_h, int64_t pad_w, cudaStream_t stream) {
  return dispatch_float(dtype, "conv pad", [&](auto t) {
    using T = decltype(t);
    conv_pad_kernel<T><<<blocks_for(out.numel()), 256, 0, stream>>>(static_cast<const T*>(x), in, static_cast<T*>(xp),
                                                                    out, pad_h, pad_w);
    return check_launch("conv_pad_kernel");
  });
}

}  // namespace kiln::cuda
