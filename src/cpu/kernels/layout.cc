// CPU kernels that rearrange or cut elements: Transpose, Concat, Split, Slice, Tile, Pad, DepthToSpace,
// SpaceToDepth. All move element bytes, so every dtype (bool and float16 included) is served as is.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "cpu/kernel_registry.h"
#include "cpu/kernels/copy_util.h"
#include "ops/tensor_util.h"

namespace kiln::cpu {
namespace {

Status transpose_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  const int64_t r = in.rank();
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.node.attr_ints("perm", {}));
  if (perm.empty()) {
    perm.resize(r);
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  if (static_cast<int64_t>(perm.size()) != r) return ctx.invalid("perm length does not match the input rank");
  auto n = normalize_axes(perm, r, "perm entry");
  if (!n.ok()) return ctx.invalid(n.status().message());
  const std::vector<int64_t> s = row_major_strides(in.shape());
  Shape out_shape;
  std::vector<int64_t> strides;
  for (int64_t p : *n) {
    out_shape.push_back(in.dim(p));
    strides.push_back(s[p]);
  }
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(in, strides, identity_maps(out_shape), nullptr, ctx.node.describe()));
  return Status::Ok();
}

// Outer count, inner element count for splitting `shape` around `axis`.
void outer_inner(const Shape& shape, int64_t axis, int64_t* outer, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int64_t k = 0; k < static_cast<int64_t>(shape.size()); ++k) {
    if (k < axis) *outer *= shape[k];
    if (k > axis) *inner *= shape[k];
  }
}

Status concat_kernel(KernelContext& ctx) {
  const Tensor& first = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  auto a = normalize_axis(axis, first.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  Shape out_shape = first.shape();
  out_shape[*a] = 0;
  for (const Tensor* t : ctx.inputs) {
    if (!t || t->rank() != first.rank() || t->dtype() != first.dtype())
      return ctx.invalid("inputs must all be present and share rank and dtype");
    for (int64_t k = 0; k < first.rank(); ++k)
      if (k != *a && t->dim(k) != first.dim(k))
        return ctx.invalid("input shapes " + shape_to_string(first.shape()) + " and " + shape_to_string(t->shape()) +
                           " differ outside the concat axis");
    out_shape[*a] += t->dim(*a);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(first.dtype(), out_shape));
  int64_t outer, inner;
  outer_inner(out_shape, *a, &outer, &inner);
  const size_t es = dtype_size(first.dtype());
  uint8_t* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor* t : ctx.inputs) {
      const size_t chunk = static_cast<size_t>(t->dim(*a) * inner) * es;
      if (chunk) std::memcpy(dst, static_cast<const uint8_t*>(t->raw()) + o * chunk, chunk);
      dst += chunk;
    }
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status split_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  auto a = normalize_axis(axis, in.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  std::optional<std::vector<int64_t>> split;
  if (ctx.node.opset < 13 && ctx.node.has_attr("split")) {
    KILN_ASSIGN_OR_RETURN(split, ctx.node.attr_ints("split", {}));
  } else if (ctx.node.opset >= 13 && ctx.input(1)) {
    split = ctx.input(1)->to_int64_vector();
  }
  const int64_t n_out = static_cast<int64_t>(ctx.outputs.size());
  auto sizes = split_sizes(in.dim(*a), split ? &*split : nullptr, n_out, ctx.node.opset >= 18);
  if (!sizes.ok()) return ctx.invalid(sizes.status().message());
  int64_t outer, inner;
  outer_inner(in.shape(), *a, &outer, &inner);
  const size_t es = dtype_size(in.dtype());
  const size_t in_row = static_cast<size_t>(in.dim(*a) * inner) * es;
  size_t offset = 0;
  for (int64_t k = 0; k < n_out; ++k) {
    Shape s = in.shape();
    s[*a] = (*sizes)[k];
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(in.dtype(), s));
    const size_t chunk = static_cast<size_t>((*sizes)[k] * inner) * es;
    for (int64_t o = 0; o < outer && chunk; ++o)
      std::memcpy(static_cast<uint8_t*>(out.raw()) + o * chunk,
                  static_cast<const uint8_t*>(in.raw()) + o * in_row + offset, chunk);
    offset += chunk;
    ctx.outputs[k] = std::move(out);
  }
  return Status::Ok();
}

Status slice_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  const int64_t r = in.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.node.opset < 10) {
    KILN_ASSIGN_OR_RETURN(starts, ctx.node.attr_ints("starts", {}));
    KILN_ASSIGN_OR_RETURN(ends, ctx.node.attr_ints("ends", {}));
    KILN_ASSIGN_OR_RETURN(axes, ctx.node.attr_ints("axes", {}));
  } else {
    if (!ctx.input(1) || !ctx.input(2)) return ctx.invalid("Slice needs starts and ends");
    starts = ctx.input(1)->to_int64_vector();
    ends = ctx.input(2)->to_int64_vector();
    if (ctx.input(3)) axes = ctx.input(3)->to_int64_vector();
    if (ctx.input(4)) steps = ctx.input(4)->to_int64_vector();
  }
  const size_t n = starts.size();
  if (axes.empty()) {
    axes.resize(n);
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    return ctx.invalid("starts, ends, axes and steps differ in length");
  auto na = normalize_axes(axes, r, "axis");
  if (!na.ok()) return ctx.invalid(na.status().message());
  auto maps = identity_maps(in.shape());
  for (size_t k = 0; k < n; ++k) {
    if (steps[k] == 0) return ctx.invalid("Slice step cannot be 0");
    const int64_t ax = (*na)[k];
    const SliceRange sr = slice_range(starts[k], ends[k], steps[k], in.dim(ax));
    maps[ax].resize(sr.count);
    for (int64_t j = 0; j < sr.count; ++j) maps[ax][j] = sr.start + j * steps[k];
  }
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(in, row_major_strides(in.shape()), maps, nullptr, ctx.node.describe()));
  return Status::Ok();
}

Status tile_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  const std::vector<int64_t> reps = ctx.input(1)->to_int64_vector();
  if (static_cast<int64_t>(reps.size()) != in.rank()) return ctx.invalid("repeats length must equal the input rank");
  std::vector<std::vector<int64_t>> maps;
  for (int64_t k = 0; k < in.rank(); ++k) {
    if (reps[k] < 0) return ctx.invalid("repeats must be >= 0");
    const int64_t d = in.dim(k);
    auto total = checked_numel({d, reps[k]});
    if (!total || static_cast<size_t>(*total) > max_tensor_bytes()) return ctx.invalid("the tiled shape is too large");
    maps.emplace_back(static_cast<size_t>(*total));
    for (int64_t j = 0; j < *total; ++j) maps.back()[j] = j % d;
  }
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(in, row_major_strides(in.shape()), maps, nullptr, ctx.node.describe()));
  return Status::Ok();
}

// Source index along an axis of size n for padded position i (-1 = the constant value).
int64_t pad_source(int64_t i, int64_t n, const std::string& mode) {
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (mode == "wrap") return ((i % n) + n) % n;
  if (n == 1) return 0;  // reflect
  const int64_t period = 2 * (n - 1);
  int64_t m = ((i % period) + period) % period;
  return m >= n ? period - m : m;
}

Status pad_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  const int64_t r = in.rank();
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.node.attr_string("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.unsupported_here("Pad mode '" + mode + "' is not supported");
  std::vector<int64_t> pads, axes;
  KILN_ASSIGN_OR_RETURN(Tensor value, Tensor::create(in.dtype(), {}));
  if (ctx.node.opset < 11) {
    KILN_ASSIGN_OR_RETURN(pads, ctx.node.attr_ints("pads", {}));
    KILN_ASSIGN_OR_RETURN(float v, ctx.node.attr_float("value", 0.f));
    KILN_ASSIGN_OR_RETURN(value, convert_dtype(Tensor::scalar<float>(v), in.dtype()));
  } else {
    pads = ctx.input(1)->to_int64_vector();
    if (const Tensor* cv = ctx.input(2); cv && cv->numel() > 0) {
      if (cv->dtype() != in.dtype()) return ctx.invalid("constant_value must have the data's dtype");
      value = *cv;  // only its first element's bytes are used
    }
    if (ctx.node.opset >= 18 && ctx.input(3)) axes = ctx.input(3)->to_int64_vector();
  }
  if (axes.empty()) {
    axes.resize(r);
    std::iota(axes.begin(), axes.end(), 0);
  }
  auto na = normalize_axes(axes, r, "axis");
  if (!na.ok()) return ctx.invalid(na.status().message());
  const size_t n = na->size();
  if (pads.size() != 2 * n) return ctx.invalid("pads must have 2 entries per padded axis");
  auto maps = identity_maps(in.shape());
  for (size_t k = 0; k < n; ++k) {
    const int64_t ax = (*na)[k], d = in.dim(ax), b = pads[k], e = pads[k + n];
    const int64_t size = d + b + e;
    if (size < 0) return ctx.invalid("negative pads remove more than the axis holds");
    if (d == 0 && size > 0 && mode != "constant") return ctx.invalid("cannot " + mode + "-pad an empty axis");
    maps[ax].resize(size);
    for (int64_t j = 0; j < size; ++j) maps[ax][j] = pad_source(j - b, d, mode);
  }
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(in, row_major_strides(in.shape()), maps, value.raw(), ctx.node.describe()));
  return Status::Ok();
}

// DepthToSpace / SpaceToDepth as a 6-D transpose of a view of the input.
Status depth_space_kernel(KernelContext& ctx, bool to_space) {
  const Tensor& in = *ctx.input(0);
  if (in.rank() != 4) return ctx.invalid("the input must be 4-D");
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.node.attr_int("blocksize", 0));
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.node.attr_string("mode", "DCR"));
  if (b <= 0) return ctx.invalid("blocksize must be > 0");
  const int64_t N = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3);
  Shape view, out6;
  std::vector<int64_t> perm;
  Shape final_shape;
  if (to_space) {
    if (C % (b * b)) return ctx.invalid("channel count is not divisible by blocksize^2");
    const int64_t c = C / (b * b);
    if (mode == "CRD") {
      view = {N, c, b, b, H, W};
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      view = {N, b, b, c, H, W};
      perm = {0, 3, 4, 1, 5, 2};
    }
    final_shape = {N, c, H * b, W * b};
  } else {
    if (H % b || W % b) return ctx.invalid("height and width must be divisible by blocksize");
    view = {N, C, H / b, b, W / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    final_shape = {N, C * b * b, H / b, W / b};
  }
  const std::vector<int64_t> s = row_major_strides(view);
  std::vector<int64_t> strides;
  for (int64_t p : perm) {
    out6.push_back(view[p]);
    strides.push_back(s[p]);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_mapped(in, strides, identity_maps(out6), nullptr, ctx.node.describe()));
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0], out.reshaped(final_shape));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(
    layout, CpuKernelDef{"Transpose", "", transpose_kernel}, CpuKernelDef{"Concat", "", concat_kernel},
    CpuKernelDef{"Split", "", split_kernel}, CpuKernelDef{"Slice", "", slice_kernel},
    CpuKernelDef{"Tile", "", tile_kernel}, CpuKernelDef{"Pad", "", pad_kernel},
    CpuKernelDef{"DepthToSpace", "", [](KernelContext& c) { return depth_space_kernel(c, true); }},
    CpuKernelDef{"SpaceToDepth", "", [](KernelContext& c) { return depth_space_kernel(c, false); }});

}  // namespace kiln::cpu
