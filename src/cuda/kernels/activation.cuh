// The fused activations of the conv and GEMM epilogues on the device: the same math as
// apply_fused_activation (ops/fused.h), in float32, so the CPU reference and the GPU agree.
#pragma once

#include "ops/fused.h"

namespace kiln::cuda {

__device__ __forceinline__ float activate(FusedActivation a, float x, float alpha, float beta) {
  switch (a) {
    case FusedActivation::kNone:
      return x;
    case FusedActivation::kRelu:
      return x > 0.f ? x : 0.f;
    case FusedActivation::kClip:
      return fminf(fmaxf(x, alpha), beta);
    case FusedActivation::kSigmoid:
      return 1.f / (1.f + expf(-x));
    case FusedActivation::kSiLU:
      return x / (1.f + expf(-x));
    case FusedActivation::kHardSwish:
      return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case FusedActivation::kLeakyRelu:
      return x >= 0.f ? x : x * alpha;
    case FusedActivation::kTanh:
      return tanhf(x);
    case FusedActivation::kHardSigmoid:
      return fmaxf(0.f, fminf(1.f, alpha * x + beta));
  }
  return x;
}

}  // namespace kiln::cuda
