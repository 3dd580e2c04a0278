// ssd_lite: SSDLite-style detector on a MobileNetV2 backbone: separable SSD heads on four feature maps, anchor
// decoding to corner boxes inside the graph, optional NonMaxSuppression (--nms).
#include <cmath>
#include <string>
#include <vector>

#include "models/zoo.h"

namespace kiln::models {

namespace {

constexpr int64_t kAnchors = 6;  // per location: ratios 1, 2, 1/2, 3, 1/3 and one intermediate scale
constexpr float kCenterVariance = 0.1f;
constexpr float kSizeVariance = 0.2f;

// Extra block: 1x1 reduce, depthwise 3x3 stride 2, 1x1 expand (all BN + ReLU6).
Act extra_block(Builder& b, const Act& x, const std::string& p, int64_t mid, int64_t out) {
  Act y = b.conv_bn_act(x, p + ".0", {b.scaled(mid), 1, 1}, Activation::kRelu6);
  y = b.conv_bn_act(y, p + ".1", {0, 3, 2, kDepthwise}, Activation::kRelu6);
  return b.conv_bn_act(y, p + ".2", {b.scaled(out), 1, 1}, Activation::kRelu6);
}

// Separable head: depthwise 3x3 + BN + ReLU6, then a biased 1x1 conv to kAnchors * per_anchor channels,
// rearranged to [N, H*W*kAnchors, per_anchor] (anchor index = (y * W + x) * kAnchors + a).
Act head(Builder& b, const Act& x, const std::string& p, int64_t per_anchor) {
  Act y = b.conv_bn_act(x, p + ".0", {0, 3, 1, kDepthwise}, Activation::kRelu6);
  y = b.conv(y, p + ".1", {kAnchors * per_anchor, 1, 1, 1, true});
  y = b.transpose(y, {0, 2, 3, 1});
  return b.reshape(y, {-1, per_anchor});
}

// Anchors (cx, cy, w, h), normalised to [0, 1], in the order the heads emit them.
std::vector<float> make_anchors(const std::vector<Act>& maps) {
  std::vector<float> a;
  const size_t m = maps.size();
  auto scale = [&](size_t k) { return 0.2 + (0.95 - 0.2) * static_cast<double>(k) / static_cast<double>(m - 1); };
  for (size_t k = 0; k < m; ++k) {
    const double s = scale(k), s_next = std::sqrt(s * (k + 1 < m ? scale(k + 1) : 1.0));
    const double ratios[] = {1.0, 2.0, 0.5, 3.0, 1.0 / 3.0};
    for (int64_t y = 0; y < maps[k].h(); ++y) {
      for (int64_t x = 0; x < maps[k].w(); ++x) {
        const double cx = (x + 0.5) / static_cast<double>(maps[k].w());
        const double cy = (y + 0.5) / static_cast<double>(maps[k].h());
        auto push = [&](double w, double h) {
          a.insert(a.end(),
                   {static_cast<float>(cx), static_cast<float>(cy), static_cast<float>(w), static_cast<float>(h)});
        };
        for (double r : ratios) push(s * std::sqrt(r), s / std::sqrt(r));
        push(s_next, s_next);
      }
    }
  }
  return a;
}

// boxes = corners of (anchor_c + d_c * 0.1 * anchor_wh, anchor_wh * exp(d_wh * 0.2)).
Act decode(Builder& b, const Act& reg, const std::vector<float>& anchors) {
  const int64_t t = static_cast<int64_t>(anchors.size() / 4);
  std::vector<float> a_xy, a_wh, a_wh_var;
  for (int64_t i = 0; i < t; ++i) {
    a_xy.insert(a_xy.end(), {anchors[4 * i], anchors[4 * i + 1]});
    a_wh.insert(a_wh.end(), {anchors[4 * i + 2], anchors[4 * i + 3]});
    a_wh_var.insert(a_wh_var.end(), {anchors[4 * i + 2] * kCenterVariance, anchors[4 * i + 3] * kCenterVariance});
  }
  Act c_xy = b.constant("anchor_centers", {t, 2}, a_xy);
  Act c_wh = b.constant("anchor_sizes", {t, 2}, a_wh);
  Act c_wh_var = b.constant("anchor_sizes_x_center_variance", {t, 2}, a_wh_var);
  Act size_var = b.constant("size_variance", {}, {kSizeVariance});
  Act half = b.constant("one_half", {}, {0.5f});
  Act center = b.add(b.mul(b.slice(reg, 2, 0, 2), c_wh_var), c_xy);
  Act wh = b.mul(b.exp(b.mul(b.slice(reg, 2, 2, 4), size_var)), c_wh);
  Act half_wh = b.mul(wh, half);
  return b.concat({b.sub(center, half_wh), b.add(center, half_wh)}, 2, "boxes");
}

}  // namespace

void build_ssd_lite(Builder& b) {
  const int64_t classes = b.options().classes;  // class 0 is background
  Act x = b.input("input", 3);
  MobileNetV2Features f = mobilenet_v2_features(b, x, "backbone.");
  Act e0 = extra_block(b, f.stride32, "extras.0", 256, 512);
  Act e1 = extra_block(b, e0, "extras.1", 128, 256);
  const std::vector<Act> maps = {f.stride16, f.stride32, e0, e1};
  std::vector<Act> cls, reg;
  for (size_t i = 0; i < maps.size(); ++i) {
    cls.push_back(head(b, maps[i], "head.classification." + std::to_string(i), classes));
    reg.push_back(head(b, maps[i], "head.regression." + std::to_string(i), 4));
  }
  Act scores = b.softmax(b.concat(cls, 1), 2, "scores");
  Act boxes = decode(b, b.concat(reg, 1), make_anchors(maps));
  b.output(scores);
  b.output(boxes);
  if (b.options().nms) {
    // Per class (background included) at most 100 boxes, IoU 0.45, score >= 0.05.
    Act per_class = b.transpose(scores, {0, 2, 1});
    b.output(b.nms(boxes, per_class, 100, 0.45f, 0.05f, "selected_indices"));
  }
}

}  // namespace kiln::models
