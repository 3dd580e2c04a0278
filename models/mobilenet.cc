// MobileNetV2 and EfficientNet-B0 (inverted residuals, depthwise convs, SE with SiLU) as torchvision builds them.
#include <string>

#include "models/zoo.h"

namespace kiln::models {

namespace {

constexpr float kBranchGamma = 0.5f;
// E[silu(z)^2] is about 0.36 Var(z) (ReLU: 0.5), so convs reading SiLU outputs need gain sqrt(1/0.36); the
// projection also reads through the SE gate (E[g^2] about 0.78 with fc2's bias near +2).
constexpr double kSiluGain = 1.6;
constexpr double kProjectGain = 1.1;
constexpr double kGateBias = 2.0;

Act inverted_residual(Builder& b, const Act& x, const std::string& p, int64_t inp, int64_t oup, int64_t stride,
                      int64_t expand) {
  const bool use_res = stride == 1 && inp == oup;
  Act y = x;
  int j = 0;
  if (expand != 1) y = b.conv_bn_act(y, p + ".conv." + std::to_string(j++), {inp * expand, 1, 1}, Activation::kRelu6);
  y = b.conv_bn_act(y, p + ".conv." + std::to_string(j++), {0, 3, stride, kDepthwise}, Activation::kRelu6);
  y = b.conv(y, p + ".conv." + std::to_string(j++), {oup, 1, 1});
  y = b.batchnorm(y, p + ".conv." + std::to_string(j), 1e-5f, use_res ? kBranchGamma : 1.0f);
  return use_res ? b.add(x, y) : y;
}

Act squeeze_excitation(Builder& b, const Act& x, const std::string& p, int64_t squeeze) {
  Act s = b.global_avg_pool(x);
  s = b.silu(b.conv(s, p + ".fc1", {squeeze, 1, 1, 1, true, -1, kSiluGain}));
  s = b.sigmoid(b.conv(s, p + ".fc2", {x.c(), 1, 1, 1, true, -1, kSiluGain, kGateBias}));
  return b.mul(x, s);
}

Act mbconv(Builder& b, const Act& x, const std::string& p, int64_t inp, int64_t oup, int64_t kernel, int64_t stride,
           int64_t expand) {
  const bool use_res = stride == 1 && inp == oup;
  const int64_t expanded = make_divisible(static_cast<double>(inp * expand), 8);
  Act y = x;
  int j = 0;
  if (expanded != inp)
    y = b.conv_bn_act(y, p + ".block." + std::to_string(j++), {expanded, 1, 1, 1, false, -1, kSiluGain},
                      Activation::kSilu);
  y = b.conv_bn_act(y, p + ".block." + std::to_string(j++), {0, kernel, stride, kDepthwise, false, -1, kSiluGain},
                    Activation::kSilu);
  y = squeeze_excitation(b, y, p + ".block." + std::to_string(j++), std::max<int64_t>(1, inp / 4));
  y = b.conv_bn_act(y, p + ".block." + std::to_string(j), {oup, 1, 1, 1, false, -1, kProjectGain}, Activation::kNone,
                    use_res ? kBranchGamma : 1.0f);
  return use_res ? b.add(x, y) : y;
}

}  // namespace

MobileNetV2Features mobilenet_v2_features(Builder& b, const Act& input, const std::string& prefix) {
  struct Stage {
    int64_t t, c, n, s;
  };
  static const Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  MobileNetV2Features f;
  int64_t channels = b.scaled(32);
  const int64_t last = make_divisible(1280 * std::max(1.0, b.options().width_mult), 8);
  Act x = b.conv_bn_act(input, prefix + "features.0", {channels, 3, 2}, Activation::kRelu6);
  int idx = 1;
  for (const Stage& st : kStages) {
    const int64_t out = b.scaled(st.c);
    for (int64_t i = 0; i < st.n; ++i) {
      x = inverted_residual(b, x, prefix + "features." + std::to_string(idx), channels, out, i == 0 ? st.s : 1, st.t);
      channels = out;
      if (idx == 13) f.stride16 = x;  // last block at stride 16 (96 channels)
      ++idx;
    }
  }
  f.stride32 = b.conv_bn_act(x, prefix + "features.18", {last, 1, 1}, Activation::kRelu6);
  return f;
}

void build_mobilenet_v2(Builder& b) {
  Act x = b.input("input", 3);
  MobileNetV2Features f = mobilenet_v2_features(b, x, "");
  x = b.flatten(b.global_avg_pool(f.stride32));
  b.output(b.linear(x, "classifier.1", b.options().classes, "logits"));  // classifier.0 is Dropout
}

void build_efficientnet_b0(Builder& b) {
  struct Stage {
    int64_t expand, kernel, stride, in, out, layers;
  };
  static const Stage kStages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                                  {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                                  {6, 3, 1, 192, 320, 1}};
  Act x = b.input("input", 3);
  x = b.conv_bn_act(x, "features.0", {b.scaled(32), 3, 2}, Activation::kSilu);
  int stage = 1;
  for (const Stage& st : kStages) {
    int64_t in = b.scaled(st.in);
    const int64_t out = b.scaled(st.out);
    for (int64_t i = 0; i < st.layers; ++i) {
      const std::string p = "features." + std::to_string(stage) + "." + std::to_string(i);
      x = mbconv(b, x, p, in, out, st.kernel, i == 0 ? st.stride : 1, st.expand);
      in = out;
    }
    ++stage;
  }
  x = b.conv_bn_act(x, "features.8", {4 * b.scaled(320), 1, 1, 1, false, -1, kSiluGain}, Activation::kSilu);
  x = b.flatten(b.global_avg_pool(x));
  b.output(b.linear(x, "classifier.1", b.options().classes, "logits"));
}

}  // namespace kiln::models
