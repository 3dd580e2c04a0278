// CPU kernels of the shape-reinterpreting ops: Shape, Size, Flatten, Reshape, Squeeze, Unsqueeze (views of
// the input's storage) and Expand (a broadcast copy).
#include <algorithm>

#include "cpu/kernel_registry.h"
#include "cpu/kernels/common.h"
#include "cpu/kernels/copy_util.h"
#include "ops/tensor_util.h"

namespace kiln::cpu {
namespace {

Status shape_kernel(KernelContext& ctx) {
  const Shape& s = ctx.input(0)->shape();
  KILN_ASSIGN_OR_RETURN(int64_t start, ctx.node.attr_int("start", 0));
  KILN_ASSIGN_OR_RETURN(int64_t end, ctx.node.attr_int("end", INT64_MAX));
  const int64_t r = static_cast<int64_t>(s.size());
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> v;
  for (int64_t k = start; k < end; ++k) v.push_back(s[k]);
  ctx.outputs[0] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  return Status::Ok();
}

Status size_kernel(KernelContext& ctx) {
  ctx.outputs[0] = Tensor::scalar<int64_t>(ctx.input(0)->numel());
  return Status::Ok();
}

Status view_as(KernelContext& ctx, const Shape& shape) {
  auto v = ctx.input(0)->reshaped(shape);
  if (!v.ok()) return ctx.invalid(v.status().message());
  ctx.outputs[0] = std::move(v).value();
  return Status::Ok();
}

Status flatten_kernel(KernelContext& ctx) {
  const Shape& s = ctx.input(0)->shape();
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 1));
  const int64_t r = static_cast<int64_t>(s.size());
  if (axis < -r || axis > r) return ctx.invalid("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < r; ++k) (k < axis ? outer : inner) *= s[k];
  return view_as(ctx, {outer, inner});
}

Status reshape_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t allowzero, ctx.node.attr_int("allowzero", 0));
  const Tensor* shape = ctx.input(1);
  if (shape->rank() != 1) return ctx.invalid("the shape input must be 1-D");
  std::vector<Dim> target;
  for (int64_t v : shape->to_int64_vector()) target.push_back(literal_dim(v));
  auto dims = resolve_reshape(SymShape::from(ctx.input(0)->shape()), target, allowzero != 0);
  if (!dims.ok()) return ctx.invalid(dims.status().message());
  auto s = SymShape(*dims).to_static();
  if (!s)
    return ctx.invalid("cannot reshape " + shape_to_string(ctx.input(0)->shape()) + " to " +
                       shape_to_string(shape->to_int64_vector()));
  return view_as(ctx, *s);
}

// Axes from the attribute (opset < 13) or the optional input 1.
Expected<std::vector<int64_t>> kernel_axes(const KernelContext& ctx, bool* present) {
  if (ctx.node.opset < 13) {
    *present = ctx.node.has_attr("axes");
    return ctx.node.attr_ints("axes", {});
  }
  *present = ctx.input(1) != nullptr;
  return *present ? ctx.input(1)->to_int64_vector() : std::vector<int64_t>();
}

Status squeeze_kernel(KernelContext& ctx) {
  const Shape& s = ctx.input(0)->shape();
  bool present;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, kernel_axes(ctx, &present));
  std::vector<bool> drop(s.size(), false);
  if (present) {
    auto n = normalize_axes(axes, static_cast<int64_t>(s.size()), "axis");
    if (!n.ok()) return ctx.invalid(n.status().message());
    for (int64_t a : *n) {
      if (s[a] != 1)
        return ctx.invalid("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(s[a]));
      drop[a] = true;
    }
  } else {
    for (size_t k = 0; k < s.size(); ++k) drop[k] = s[k] == 1;
  }
  Shape out;
  for (size_t k = 0; k < s.size(); ++k)
    if (!drop[k]) out.push_back(s[k]);
  return view_as(ctx, out);
}

Status unsqueeze_kernel(KernelContext& ctx) {
  const Shape& s = ctx.input(0)->shape();
  bool present;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, kernel_axes(ctx, &present));
  const int64_t r = static_cast<int64_t>(s.size() + axes.size());
  auto n = normalize_axes(axes, r, "axis");
  if (!n.ok()) return ctx.invalid(n.status().message());
  std::vector<bool> inserted(r, false);
  for (int64_t a : *n) inserted[a] = true;
  Shape out;
  size_t next = 0;
  for (int64_t k = 0; k < r; ++k) out.push_back(inserted[k] ? 1 : s[next++]);
  return view_as(ctx, out);
}

Status expand_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  if (ctx.input(1)->rank() != 1) return ctx.invalid("the shape input must be 1-D");
  auto out_shape = broadcast_shapes(in.shape(), ctx.input(1)->to_int64_vector());
  if (!out_shape.ok()) return ctx.invalid(out_shape.status().message());
  const std::vector<int64_t> strides = broadcast_strides(*out_shape, in.shape());
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(in, strides, identity_maps(*out_shape), nullptr, ctx.node.describe()));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(shape_ops, CpuKernelDef{"Shape", "", shape_kernel}, CpuKernelDef{"Size", "", size_kernel},
                          CpuKernelDef{"Flatten", "", flatten_kernel}, CpuKernelDef{"Reshape", "", reshape_kernel},
                          CpuKernelDef{"Squeeze", "", squeeze_kernel}, CpuKernelDef{"Unsqueeze", "", unsqueeze_kernel},
                          CpuKernelDef{"Expand", "", expand_kernel});

}  // namespace kiln::cpu
