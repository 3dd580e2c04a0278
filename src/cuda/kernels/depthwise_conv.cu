// kiln's depthwise convolution kernels. ConvLayer's geometry checks keep every extent and element count
// within int, so the index math is 32-bit.
//
// Vector kernel (NHWC, multiplier 1, channels % V == 0): a thread owns V consecutive channels (one 16-byte
// load per tap) at `W` consecutive output columns; the taps' weights are loaded once per (row, column) of
// the window and reused across the W outputs. Generic kernel: one output element per thread, any layout or
// multiplier; threads run along the innermost dimension of the layout, so loads and stores coalesce.
#include "cuda/kernels/activation.cuh"
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/depthwise_conv.h"

namespace kiln::cuda {
namespace {

// The int form of DepthwiseConv passed to the kernels.
struct DwArgs {
  int n, c_in, h_in, w_in, c_out, h_out, w_out, multiplier;
  int kh, kw, sh, sw, dh, dw, ph, pw;
  FusedActivation act;
  float alpha, beta;
};

template <typename T, int V, int W>
__global__ void __launch_bounds__(256) depthwise_nhwc_vec_kernel(const T* __restrict__ x, const float* __restrict__ w,
                                                                 const float* __restrict__ bias,
                                                                 const T* __restrict__ z, T* __restrict__ y, DwArgs a) {
  const int cv = a.c_out / V, wb = (a.w_out + W - 1) / W;
  const int total = a.n * a.h_out * wb * cv;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    int r = i;
    const int c = (r % cv) * V;
    r /= cv;
    const int ow0 = (r % wb) * W;
    r /= wb;
    const int oh = r % a.h_out, n = r / a.h_out;
    float acc[W][V];
#pragma unroll
    for (int j = 0; j < W; ++j)
#pragma unroll
      for (int v = 0; v < V; ++v) acc[j][v] = 0.f;
    for (int ky = 0; ky < a.kh; ++ky) {
      const int ih = oh * a.sh - a.ph + ky * a.dh;
      if (ih < 0 || ih >= a.h_in) continue;
      const T* row = x + (static_cast<int64_t>(n) * a.h_in + ih) * a.w_in * a.c_in + c;
      for (int kx = 0; kx < a.kw; ++kx) {
        float wv[V];
        const float4* wp = reinterpret_cast<const float4*>(w + (ky * a.kw + kx) * a.c_out + c);
#pragma unroll
        for (int q = 0; q < V / 4; ++q) {
          const float4 f = __ldg(wp + q);
          wv[4 * q] = f.x, wv[4 * q + 1] = f.y, wv[4 * q + 2] = f.z, wv[4 * q + 3] = f.w;
        }
#pragma unroll
        for (int j = 0; j < W; ++j) {
          const int iw = (ow0 + j) * a.sw - a.pw + kx * a.dw;
          if (iw < 0 || iw >= a.w_in) continue;
          const uint4 xv = __ldg(reinterpret_cast<const uint4*>(row + static_cast<int64_t>(iw) * a.c_in));
          const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
          for (int v = 0; v < V; ++v) acc[j][v] = fmaf(to_float(xe[v]), wv[v], acc[j][v]);
        }
      }
    }
    float b[V];
#pragma unroll
    for (int v = 0; v < V; ++v) b[v] = bias ? bias[c + v] : 0.f;
#pragma unroll
    for (int j = 0; j < W; ++j) {
      const int ow = ow0 + j;
      if (ow >= a.w_out) break;
      const int64_t off = ((static_cast<int64_t>(n) * a.h_out + oh) * a.w_out + ow) * a.c_out + c;
      uint4 zv = make_uint4(0, 0, 0, 0);
      if (z) zv = __ldg(reinterpret_cast<const uint4*>(z + off));
      const T* ze = reinterpret_cast<const T*>(&zv);
      uint4 out;
      T* oe = reinterpret_cast<T*>(&out);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        float f = acc[j][v] + b[v];
        if (z) f += to_float(ze[v]);
        oe[v] = from_float<T>(activate(a.act, f, a.alpha, a.beta));
      }
      *reinterpret_cast<uint4*>(y + off) = out;
    }
  }
}

template <typename T, bool NHWC>
__global__ void __launch_bounds__(256) depthwise_generic_kernel(const T* __restrict__ x, const float* __restrict__ w,
                                                                const float* __restrict__ bias,
                                                                const T* __restrict__ z, T* __restrict__ y, DwArgs a) {
  const int total = a.n * a.c_out * a.h_out * a.w_out;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    int k, oh, ow, n;
    split_nchw(i, a.c_out, a.h_out, a.w_out, NHWC, n, k, oh, ow);
    const int ci = k / a.multiplier;
    float acc = 0.f;
    for (int ky = 0; ky < a.kh; ++ky) {
      const int ih = oh * a.sh - a.ph + ky * a.dh;
      if (ih < 0 || ih >= a.h_in) continue;
      for (int kx = 0; kx < a.kw; ++kx) {
        const int iw = ow * a.sw - a.pw + kx * a.dw;
        if (iw < 0 || iw >= a.w_in) continue;
        const int64_t xi = NHWC ? ((static_cast<int64_t>(n) * a.h_in + ih) * a.w_in + iw) * a.c_in + ci
                                : ((static_cast<int64_t>(n) * a.c_in + ci) * a.h_in + ih) * a.w_in + iw;
        acc = fmaf(to_float(x[xi]), w[(ky * a.kw + kx) * a.c_out + k], acc);
      }
    }
    if (bias) acc += bias[k];
    if (z) acc += to_float(z[i]);  // z has y's layout: the same linear index
    y[i] = from_float<T>(activate(a.act, acc, a.alpha, a.beta));
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool depthwise_vectorizable(DType dtype, const DepthwiseConv& p) {
  const size_t size = dtype_size(dtype);
  if (!p.x.nhwc || p.multiplier != 1 || size == 0 || 16 % size != 0) return false;
  return p.y.c % static_cast<int64_t>(16 / size) == 0;
}

Status launch_depthwise_conv(DType dtype, const DepthwiseConv& p, const void* x, const float* w, void* y,
                             const ConvEpilogue& e, int width, cudaStream_t stream) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  const DwArgs a{i(p.x.n),        i(p.x.c),          i(p.x.h),          i(p.x.w),        i(p.y.c),
                 i(p.y.h),        i(p.y.w),          i(p.multiplier),   i(p.kernel[0]),  i(p.kernel[1]),
                 i(p.strides[0]), i(p.strides[1]),   i(p.dilations[0]), i(p.dilations[1]), i(p.pad_begin[0]),
                 i(p.pad_begin[1]), e.act,           e.alpha,           e.beta};
  return dispatch_float(dtype, "depthwise conv", [&](auto t) -> Status {
    using T = decltype(t);
    constexpr int V = 16 / sizeof(T);
    const T* xt = static_cast<const T*>(x);
    const T* zt = static_cast<const T*>(e.z);
    T* yt = static_cast<T*>(y);
    const bool vec = depthwise_vectorizable(dtype, p) && aligned16(x) && aligned16(y) && aligned16(e.z) &&
                     aligned16(w);
    if (vec) {
      const int64_t threads = p.y.n * p.y.h * ((p.y.w + width - 1) / width) * (p.y.c / V);
      const unsigned blocks = blocks_for(threads);
      switch (width) {
        case 1:
          depthwise_nhwc_vec_kernel<T, V, 1><<<blocks, 256, 0, stream>>>(xt, w, e.bias, zt, yt, a);
          break;
        case 2:
          depthwise_nhwc_vec_kernel<T, V, 2><<<blocks, 256, 0, stream>>>(xt, w, e.bias, zt, yt, a);
          break;
        case 4:
          depthwise_nhwc_vec_kernel<T, V, 4><<<blocks, 256, 0, stream>>>(xt, w, e.bias, zt, yt, a);
          break;
        default:
          return invalid_input("depthwise conv: width " + std::to_string(width) + " is not 1, 2 or 4");
      }
      return check_launch("depthwise_nhwc_vec_kernel");
    }
    const unsigned blocks = blocks_for(p.y.numel());
    if (p.x.nhwc)
      depthwise_generic_kernel<T, true><<<blocks, 256, 0, stream>>>(xt, w, e.bias, zt, yt, a);
    else
      depthwise_generic_kernel<T, false><<<blocks, 256, 0, stream>>>(xt, w, e.bias, zt, yt, a);
    return check_launch("depthwise_generic_kernel");
  });
}

}  // namespace kiln::cuda
