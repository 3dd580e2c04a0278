// Non-template parts of the elementwise kernel helpers.
#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {

Expected<Shape> broadcast_all(const KernelContext& ctx, const std::vector<const Tensor*>& ins) {
  Shape shape;
  for (const Tensor* t : ins) {
    if (!t) continue;
    auto b = broadcast_shapes(shape, t->shape());
    if (!b.ok())
      return ctx.invalid("input shapes " + shape_to_string(shape) + " and " + shape_to_string(t->shape()) +
                         " cannot be broadcast together");
    shape = std::move(b).value();
  }
  return shape;
}

Expected<Tensor> legacy_broadcast_view(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  const Node& node = ctx.node;
  if (node.opset >= 7 || !node.has_attr("axis")) return b;
  KILN_ASSIGN_OR_RETURN(int64_t broadcast, node.attr_int("broadcast", 0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", 0));
  if (broadcast == 0) return b;
  if (axis < 0) axis += a.rank();
  if (axis < 0 || axis + b.rank() > a.rank())
    return ctx.invalid("legacy broadcast: axis " + std::to_string(axis) + " does not fit B " + b.describe() +
                       " into A " + a.describe());
  Shape padded = b.shape();
  padded.resize(static_cast<size_t>(a.rank() - axis), 1);
  return b.reshaped(padded);
}

}  // namespace kiln::cpu
