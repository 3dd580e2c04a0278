// tiny_cnn: the small default model (conv-BN-ReLU blocks, one residual add, global pool, Gemm; ~50K parameters)
// that the demo and tests use when no model is given.
#include "models/zoo.h"

namespace kiln::models {

void build_tiny_cnn(Builder& b) {
  Act x = b.input("input", 3);
  x = b.conv_bn_act(x, "stem", {b.scaled(16), 3, 1}, Activation::kRelu);
  x = b.conv_bn_act(x, "down1", {b.scaled(32), 3, 2}, Activation::kRelu);
  Act y = b.conv_bn_act(x, "block.0", {b.scaled(32), 3, 1}, Activation::kRelu);
  y = b.conv_bn_act(y, "block.1", {b.scaled(32), 3, 1}, Activation::kNone, 0.5f);
  x = b.relu(b.add(x, y));
  x = b.conv_bn_act(x, "down2", {b.scaled(64), 3, 2}, Activation::kRelu);
  x = b.flatten(b.global_avg_pool(x));
  b.output(b.linear(x, "fc", b.options().classes, "logits"));
}

}  // namespace kiln::models
