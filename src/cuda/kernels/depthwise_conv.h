// kiln's own depthwise convolution (one input channel per group, any channel multiplier), a tactic
// candidate beside cuDNN's for ConvLayer: pads, strides and dilations of any size, NCHW or NHWC, float32,
// float16 or bfloat16 storage with float32 accumulation, and the whole FusedConv epilogue (bias, residual,
// activation) applied before the one store.
#pragma once

#include <cstdint>

#include "cuda/kernels/conv_epilogue.h"
#include "cuda/layer.h"

namespace kiln::cuda {

struct DepthwiseConv {
  ConvTensorGeom x, y;      // y.c = x.c * multiplier; same layout
  int64_t multiplier = 1;   // output channels per input channel (output k reads input channel k / multiplier)
  int64_t kernel[2] = {1, 1}, strides[2] = {1, 1}, dilations[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};  // height, width (the end pads follow from the output extent)
};

// The output columns one thread of the NHWC vector kernel computes; the tactic string records it.
constexpr int kDepthwiseWidths[] = {1, 2, 4};

// True when the NHWC vector kernel runs this shape: NHWC, multiplier 1, channels a multiple of the 16-byte
// vector. Otherwise (or when a pointer is not 16-byte aligned) a one-output-per-thread kernel runs.
bool depthwise_vectorizable(DType dtype, const DepthwiseConv& p);

// y = act(conv(x, w) + bias + z). `w` is float32 in [kernel_h * kernel_w][y.c] order (tap-major, so the
// vector kernel reads consecutive channels); `e.bias` and `e.z` may be null. `width` is one of
// kDepthwiseWidths.
Status launch_depthwise_conv(DType dtype, const DepthwiseConv& p, const void* x, const float* w, void* y,
                             const ConvEpilogue& e, int width, cudaStream_t stream);

}  // namespace kiln::cuda
