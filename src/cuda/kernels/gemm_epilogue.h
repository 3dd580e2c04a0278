// The GEMM lowering's own epilogue kernel, for what cuBLASLt's epilogues cannot express exactly: an
// activation other than ReLU and a C that broadcasts to the product other than as a row vector.
#pragma once

#include "cuda/layer.h"
#include "ops/fused.h"

namespace kiln::cuda {

struct GemmTail {
  FusedActivation act = FusedActivation::kNone;
  float act_alpha = 0.f, act_beta = 0.f;
  const void* c = nullptr;  // optional addend, read through c_desc broadcast to the output shape
  TensorDesc c_desc;        // row-major, same dtype as the output
  float beta = 0.f;
};

// y = act(y + beta * C) in place, float math, y row-major in its storage dtype.
Status launch_gemm_tail(const GemmTail& tail, const DeviceTensor& y, cudaStream_t stream);

}  // namespace kiln::cuda
