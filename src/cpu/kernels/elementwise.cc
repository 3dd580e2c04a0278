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

}  // namespace kiln::cpu
