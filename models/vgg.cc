// VGG-11 with batch norm (torchvision vgg11_bn: config "A", biased convs, 7x7 adaptive pool, 3 linear layers).
#include <string>

#include "models/zoo.h"

namespace kiln::models {

void build_vgg11_bn(Builder& b) {
  static const int64_t kConfig[] = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};  // 0 = MaxPool
  Act x = b.input("input", 3);
  int idx = 0;  // index in torchvision's `features` Sequential (conv, bn, relu = 3 modules; pool = 1)
  for (int64_t c : kConfig) {
    if (c == 0) {
      x = b.max_pool(x, 2, 2, 0);
      idx += 1;
      continue;
    }
    x = b.conv(x, "features." + std::to_string(idx), {b.scaled(c), 3, 1, 1, true});
    x = b.relu(b.batchnorm(x, "features." + std::to_string(idx + 1)));
    idx += 3;
  }
  x = b.flatten(b.adaptive_avg_pool(x, 7));
  const int64_t hidden = b.scaled(4096);
  x = b.relu(b.linear(x, "classifier.0", hidden));  // classifier.2 and .5 are Dropout
  x = b.relu(b.linear(x, "classifier.3", hidden));
  b.output(b.linear(x, "classifier.6", b.options().classes, "logits"));
}

}  // namespace kiln::models
