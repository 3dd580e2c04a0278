// Small kernels around a cuDNN convolution: the FusedConv epilogue (bias + residual + activation, in place
// on the conv output) and the explicit zero padding that turns asymmetric pads into symmetric ones.
#pragma once

#include <cstdint>

#include "cuda/layer.h"
#include "ops/fused.h"

namespace kiln::cuda {

// A 4-D activation tensor [n, c, h, w] stored NCHW or NHWC.
struct ConvTensorGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;
  bool nhwc = false;
  int64_t numel() const { return n * c * h * w; }
};

// y = act(y + bias[c] + z), elementwise over `y` (float32/float16/bfloat16, geometry `g`). `bias` (float32,
// g.c entries) and `z` (same dtype and layout as y) may be null.
struct ConvEpilogue {
  FusedActivation act = FusedActivation::kNone;
  float alpha = 0.f, beta = 0.f;
  const float* bias = nullptr;
  const void* z = nullptr;
};
Status launch_conv_epilogue(DType dtype, void* y, const ConvTensorGeom& g, const ConvEpilogue& e, cudaStream_t stream);

// Copies `x` (geometry `in`) into `xp` (geometry `out`, same n/c/layout, h/w larger) at offset
// (pad_h, pad_w), zero elsewhere.
Status launch_conv_pad(DType dtype, const void* x, const ConvTensorGeom& in, void* xp, const ConvTensorGeom& out,
                       int64_t pad_h, int64_t pad_w, cudaStream_t stream);

}  // namespace kiln::cuda
