// ResNet-18/34/50 exactly as torchvision builds them (v1.5: the stride sits on the 3x3 conv of a bottleneck).
#include <string>

#include "models/zoo.h"

namespace kiln::models {

namespace {

// Residual sums grow with depth; a smaller gamma on each branch's last BN keeps activations O(1).
constexpr float kBranchGamma = 0.3f;

Act shortcut(Builder& b, const Act& x, const std::string& p, int64_t out, int64_t stride) {
  if (stride == 1 && x.c() == out) return x;
  Act s = b.conv(x, p + ".downsample.0", {out, 1, stride});
  return b.batchnorm(s, p + ".downsample.1");
}

Act basic_block(Builder& b, const Act& x, const std::string& p, int64_t planes, int64_t stride) {
  Act y = b.relu(b.batchnorm(b.conv(x, p + ".conv1", {planes, 3, stride}), p + ".bn1"));
  y = b.batchnorm(b.conv(y, p + ".conv2", {planes, 3, 1}), p + ".bn2", 1e-5f, kBranchGamma);
  return b.relu(b.add(y, shortcut(b, x, p, planes, stride)));
}

Act bottleneck(Builder& b, const Act& x, const std::string& p, int64_t planes, int64_t stride) {
  Act y = b.relu(b.batchnorm(b.conv(x, p + ".conv1", {planes, 1, 1}), p + ".bn1"));
  y = b.relu(b.batchnorm(b.conv(y, p + ".conv2", {planes, 3, stride}), p + ".bn2"));
  y = b.batchnorm(b.conv(y, p + ".conv3", {planes * 4, 1, 1}), p + ".bn3", 1e-5f, kBranchGamma);
  return b.relu(b.add(y, shortcut(b, x, p, planes * 4, stride)));
}

void resnet(Builder& b, const int (&blocks)[4], bool use_bottleneck) {
  Act x = b.input("input", 3);
  x = b.relu(b.batchnorm(b.conv(x, "conv1", {b.scaled(64), 7, 2}), "bn1"));
  x = b.max_pool(x, 3, 2, 1);
  const int64_t widths[4] = {64, 128, 256, 512};
  for (int layer = 0; layer < 4; ++layer) {
    for (int i = 0; i < blocks[layer]; ++i) {
      const std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(i);
      const int64_t stride = (layer > 0 && i == 0) ? 2 : 1;
      const int64_t planes = b.scaled(widths[layer]);
      x = use_bottleneck ? bottleneck(b, x, p, planes, stride) : basic_block(b, x, p, planes, stride);
    }
  }
  x = b.flatten(b.global_avg_pool(x));
  b.output(b.linear(x, "fc", b.options().classes, "logits"));
}

}  // namespace

void build_resnet18(Builder& b) { resnet(b, {2, 2, 2, 2}, false); }
void build_resnet34(Builder& b) { resnet(b, {3, 4, 6, 3}, false); }
void build_resnet50(Builder& b) { resnet(b, {3, 4, 6, 3}, true); }

}  // namespace kiln::models
