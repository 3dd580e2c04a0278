// kiln-domain fused ops made by the optimization passes (FusedConv, FusedGemm, FusedElementwise): the
// activation epilogues they share, named as in ONNX, with the scalar math both backends follow.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

namespace kiln {

constexpr const char* kKilnDomain = "kiln";

enum class FusedActivation { kNone, kRelu, kClip, kSigmoid, kSiLU, kHardSwish, kLeakyRelu, kTanh, kHardSigmoid };

// "" / "Relu" / "Clip" / "Sigmoid" / "SiLU" / "HardSwish" / "LeakyRelu" / "Tanh" / "HardSigmoid";
// false for anything else.
bool parse_fused_activation(const std::string& name, FusedActivation& out);

// alpha/beta: Clip's min/max, LeakyRelu's slope (alpha), HardSigmoid's alpha/beta.
template <typename T>
inline T apply_fused_activation(FusedActivation a, T x, float alpha, float beta) {
  switch (a) {
    case FusedActivation::kNone:
      return x;
    case FusedActivation::kRelu:
      return x > T(0) ? x : T(0);
    case FusedActivation::kClip:
      return std::min(std::max(x, T(alpha)), T(beta));
    case FusedActivation::kSigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case FusedActivation::kSiLU:
      return x / (T(1) + std::exp(-x));
    case FusedActivation::kHardSwish:
      return x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5)));
    case FusedActivation::kLeakyRelu:
      return x >= T(0) ? x : x * T(alpha);
    case FusedActivation::kTanh:
      return std::tanh(x);
    case FusedActivation::kHardSigmoid:
      return std::max(T(0), std::min(T(1), T(alpha) * x + T(beta)));
  }
  return x;
}

}  // namespace kiln
