// CPU reference kernel for NonMaxSuppression: per batch and class, greedy selection by descending score
// (ties: lower box index first), suppressing boxes whose IoU with a kept box exceeds the threshold.
#include <algorithm>
#include <numeric>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

struct Box {
  double y1, x1, y2, x2;  // normalised so that y1 <= y2 and x1 <= x2
};

Box read_box(const float* b, bool center) {
  if (center) {  // [x_center, y_center, width, height]
    const double xc = b[0], yc = b[1], w = b[2], h = b[3];
    return Box{yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2};
  }
  // [y1, x1, y2, x2] with either diagonal pair.
  return Box{std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

// Degenerate boxes and disjoint pairs never suppress each other.
bool overlaps_too_much(const Box& a, const Box& b, double threshold) {
  const double area_a = (a.y2 - a.y1) * (a.x2 - a.x1);
  const double area_b = (b.y2 - b.y1) * (b.x2 - b.x1);
  if (area_a <= 0 || area_b <= 0) return false;
  const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (ih <= 0 || iw <= 0) return false;
  const double inter = ih * iw;
  return inter / (area_a + area_b - inter) > threshold;
}

Expected<double> scalar_input(const KernelContext& ctx, size_t i, const char* what, double def) {
  const Tensor* t = ctx.input(i);
  if (!t || t->numel() == 0) return def;
  if (t->numel() != 1) return ctx.invalid(std::string(what) + " must hold one value, got " + t->describe());
  return t->get_as_double(0);
}

Status run_nms(KernelContext& ctx) {
  const Tensor& boxes = *ctx.input(0);
  const Tensor& scores = *ctx.input(1);
  if (boxes.dtype() != DType::kFloat32 || scores.dtype() != DType::kFloat32)
    return ctx.unsupported_here("NonMaxSuppression supports float boxes/scores, got " + boxes.describe() + " and " +
                                scores.describe());
  if (boxes.rank() != 3 || boxes.dim(2) != 4 || scores.rank() != 3 || scores.dim(0) != boxes.dim(0) ||
      scores.dim(2) != boxes.dim(1))
    return ctx.invalid("boxes must be [batch, N, 4] and scores [batch, classes, N], got " + boxes.describe() + " and " +
                       scores.describe());
  KILN_ASSIGN_OR_RETURN(int64_t center, ctx.node.attr_int("center_point_box", 0));
  const Tensor* max_t = ctx.input(2);
  if (max_t && max_t->numel() > 1)
    return ctx.invalid("max_output_boxes_per_class must hold one value, got " + max_t->describe());
  const int64_t max_out = max_t && max_t->numel() == 1 ? std::max<int64_t>(0, max_t->get_as_int64(0)) : 0;
  KILN_ASSIGN_OR_RETURN(double iou, scalar_input(ctx, 3, "iou_threshold", 0.0));
  if (iou < 0 || iou > 1) return ctx.invalid("iou_threshold must be in [0, 1], got " + std::to_string(iou));
  const Tensor* score_t = ctx.input(4);
  const bool filter = score_t && score_t->numel() > 0;
  KILN_ASSIGN_OR_RETURN(double score_min, scalar_input(ctx, 4, "score_threshold", 0.0));

  const int64_t batches = boxes.dim(0), n = boxes.dim(1), classes = scores.dim(1);
  std::vector<int64_t> picked;  // flattened (batch, class, box) triples
  for (int64_t b = 0; b < batches; ++b) {
    std::vector<Box> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[i] = read_box(boxes.data<float>() + (b * n + i) * 4, center != 0);
    for (int64_t c = 0; c < classes; ++c) {
      const float* s = scores.data<float>() + (b * classes + c) * n;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < n; ++i)
        if (!filter || s[i] > score_min) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool suppressed = false;
        for (int64_t k : kept) suppressed = suppressed || overlaps_too_much(all[i], all[k], iou);
        if (suppressed) continue;
        kept.push_back(i);
        picked.insert(picked.end(), {b, c, i});
      }
    }
  }
  const int64_t count = static_cast<int64_t>(picked.size()) / 3;
  ctx.outputs[0] = Tensor::from_vector<int64_t>({count, 3}, picked);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(detection, CpuKernelDef{"NonMaxSuppression", "", widen_half(run_nms)});

}  // namespace kiln::cpu
