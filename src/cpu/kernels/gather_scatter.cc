// CPU kernels of the indexing ops: Gather, GatherElements, GatherND, ScatterElements/Scatter, ScatterND,
// NonZero, Compress. Gathers move bytes (any dtype); scatter reductions compute in the element type.
#include <algorithm>
#include <cstring>

#include "cpu/kernel_registry.h"
#include "cpu/kernels/common.h"
#include "cpu/kernels/copy_util.h"
#include "ops/tensor_util.h"

namespace kiln::cpu {
namespace {

// Index value normalised against a dimension of size n; error when out of range.
Expected<int64_t> fix_index(const KernelContext& ctx, int64_t i, int64_t n) {
  if (i < -n || i >= n)
    return ctx.invalid("index " + std::to_string(i) + " is out of range for a dimension of size " + std::to_string(n));
  return i < 0 ? i + n : i;
}

Status gather_kernel(KernelContext& ctx) {
  const Tensor& data = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  auto a = normalize_axis(axis, data.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  Shape out_shape(data.shape().begin(), data.shape().begin() + *a);
  out_shape.insert(out_shape.end(), idx.shape().begin(), idx.shape().end());
  out_shape.insert(out_shape.end(), data.shape().begin() + *a + 1, data.shape().end());
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(data.dtype(), out_shape));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < data.rank(); ++k) {
    if (k < *a) outer *= data.dim(k);
    if (k > *a) inner *= data.dim(k);
  }
  const int64_t n = data.dim(*a);
  const size_t chunk = static_cast<size_t>(inner) * dtype_size(data.dtype());
  const std::vector<int64_t> indices = idx.to_int64_vector();
  const uint8_t* src = static_cast<const uint8_t*>(data.raw());
  uint8_t* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : indices) {
      KILN_ASSIGN_OR_RETURN(int64_t j, fix_index(ctx, i, n));
      if (chunk) std::memcpy(dst, src + (o * n + j) * chunk, chunk);
      dst += chunk;
    }
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// Calls f(element_index, multi_index) for each element of `shape` in row-major order.
template <typename F>
Status for_each_index(const Shape& shape, F&& f) {
  std::vector<int64_t> pos(shape.size(), 0);
  const int64_t n = numel(shape);
  for (int64_t e = 0; e < n; ++e) {
    KILN_RETURN_IF_ERROR(f(e, pos));
    for (size_t d = shape.size(); d-- > 0;) {
      if (++pos[d] < shape[d]) break;
      pos[d] = 0;
    }
  }
  return Status::Ok();
}

// Data element offsets addressed by per-element indices along `axis` (GatherElements/ScatterElements).
Expected<std::vector<int64_t>> element_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& idx,
                                               int64_t axis) {
  if (idx.rank() != data.rank()) return ctx.invalid("data and indices must have the same rank");
  const std::vector<int64_t> strides = row_major_strides(data.shape());
  const std::vector<int64_t> indices = idx.to_int64_vector();
  std::vector<int64_t> offsets(indices.size());
  Status s = for_each_index(idx.shape(), [&](int64_t e, const std::vector<int64_t>& pos) -> Status {
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d) {
      int64_t p = pos[d];
      if (static_cast<int64_t>(d) == axis) {
        KILN_ASSIGN_OR_RETURN(p, fix_index(ctx, indices[e], data.dim(axis)));
      } else if (p >= data.dim(d)) {
        return ctx.invalid("indices shape " + shape_to_string(idx.shape()) + " exceeds data shape " +
                           shape_to_string(data.shape()));
      }
      off += p * strides[d];
    }
    offsets[e] = off;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return offsets;
}

Status gather_elements_kernel(KernelContext& ctx) {
  const Tensor& data = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  auto a = normalize_axis(axis, data.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, element_offsets(ctx, data, idx, *a));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(data.dtype(), idx.shape()));
  KILN_RETURN_IF_ERROR(visit_bytes(data.dtype(), ctx.node.describe(), [&](auto zero) -> Status {
    using T = decltype(zero);
    for (size_t e = 0; e < offsets.size(); ++e) out.data<T>()[e] = data.data<T>()[offsets[e]];
    return Status::Ok();
  }));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// Index tuples of GatherND/ScatterND resolved to data offsets: one per tuple, plus the slice size.
struct NdPlan {
  std::vector<int64_t> offsets;
  int64_t slice = 1;
};

Expected<NdPlan> nd_plan(const KernelContext& ctx, const Tensor& data, const Tensor& idx, int64_t batch_dims) {
  if (idx.rank() < 1) return ctx.invalid("indices must have rank >= 1");
  const int64_t k = idx.dim(idx.rank() - 1);
  const int64_t b = batch_dims;
  if (b < 0 || b >= idx.rank() || b + k > data.rank()) return ctx.invalid("indices do not fit the data's rank");
  for (int64_t d = 0; d < b; ++d)
    if (idx.dim(d) != data.dim(d)) return ctx.invalid("batch dims of data and indices differ");
  const std::vector<int64_t> strides = row_major_strides(data.shape());
  NdPlan plan;
  for (int64_t d = b + k; d < data.rank(); ++d) plan.slice *= data.dim(d);
  int64_t batch_size = 1;  // data elements per batch entry
  for (int64_t d = b; d < data.rank(); ++d) batch_size *= data.dim(d);
  int64_t per_batch = 1;  // tuples per batch entry
  for (int64_t d = b; d + 1 < idx.rank(); ++d) per_batch *= idx.dim(d);
  const std::vector<int64_t> v = idx.to_int64_vector();
  const int64_t tuples =
      k ? static_cast<int64_t>(v.size()) / k : numel(Shape(idx.shape().begin(), idx.shape().end() - 1));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = per_batch ? (t / per_batch) * batch_size : 0;
    for (int64_t j = 0; j < k; ++j) {
      KILN_ASSIGN_OR_RETURN(int64_t p, fix_index(ctx, v[t * k + j], data.dim(b + j)));
      off += p * strides[b + j];
    }
    plan.offsets.push_back(off);
  }
  return plan;
}

Status gather_nd_kernel(KernelContext& ctx) {
  const Tensor& data = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.node.attr_int("batch_dims", 0));
  KILN_ASSIGN_OR_RETURN(NdPlan plan, nd_plan(ctx, data, idx, b));
  const int64_t k = idx.dim(idx.rank() - 1);
  Shape out_shape(idx.shape().begin(), idx.shape().end() - 1);
  out_shape.insert(out_shape.end(), data.shape().begin() + b + k, data.shape().end());
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(data.dtype(), out_shape));
  const size_t es = dtype_size(data.dtype());
  const size_t chunk = static_cast<size_t>(plan.slice) * es;
  for (size_t t = 0; t < plan.offsets.size() && chunk; ++t)
    std::memcpy(static_cast<uint8_t*>(out.raw()) + t * chunk,
                static_cast<const uint8_t*>(data.raw()) + plan.offsets[t] * es, chunk);
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// Writes updates[u] into out at offsets[u] (each a run of `slice` elements), combining per `reduction`.
Status scatter_into(const KernelContext& ctx, Tensor& out, const Tensor& updates, const std::vector<int64_t>& offsets,
                    int64_t slice) {
  KILN_ASSIGN_OR_RETURN(std::string red, ctx.node.attr_string("reduction", "none"));
  if (red == "none") {
    const size_t es = dtype_size(out.dtype());
    for (size_t u = 0; u < offsets.size(); ++u)
      std::memcpy(static_cast<uint8_t*>(out.raw()) + offsets[u] * es,
                  static_cast<const uint8_t*>(updates.raw()) + u * slice * es, slice * es);
    return Status::Ok();
  }
  return visit_numeric(out.dtype(), ctx.node.describe() + " reduction '" + red + "'", [&](auto zero) -> Status {
    using T = decltype(zero);
    T* o = out.data<T>();
    const T* up = updates.data<T>();
    for (size_t u = 0; u < offsets.size(); ++u) {
      for (int64_t j = 0; j < slice; ++j) {
        T& dst = o[offsets[u] + j];
        const T v = up[u * slice + j];
        if (red == "add")
          dst = static_cast<T>(dst + v);
        else if (red == "mul")
          dst = static_cast<T>(dst * v);
        else if (red == "max")
          dst = std::max(dst, v);
        else if (red == "min")
          dst = std::min(dst, v);
        else
          return ctx.invalid("unknown reduction '" + red + "'");
      }
    }
    return Status::Ok();
  });
}

Status scatter_elements_kernel(KernelContext& ctx) {
  const Tensor& data = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  const Tensor& upd = *ctx.input(2);
  if (upd.shape() != idx.shape()) return ctx.invalid("updates and indices must have the same shape");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  auto a = normalize_axis(axis, data.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, element_offsets(ctx, data, idx, *a));
  Tensor out = data.clone();
  KILN_RETURN_IF_ERROR(scatter_into(ctx, out, upd, offsets, 1));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status scatter_nd_kernel(KernelContext& ctx) {
  const Tensor& data = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  const Tensor& upd = *ctx.input(2);
  KILN_ASSIGN_OR_RETURN(NdPlan plan, nd_plan(ctx, data, idx, 0));
  if (upd.numel() != static_cast<int64_t>(plan.offsets.size()) * plan.slice)
    return ctx.invalid("updates shape " + shape_to_string(upd.shape()) + " does not match the indexed slices");
  Tensor out = data.clone();
  KILN_RETURN_IF_ERROR(scatter_into(ctx, out, upd, plan.offsets, plan.slice));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status nonzero_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  std::vector<std::vector<int64_t>> hits;
  KILN_RETURN_IF_ERROR(for_each_index(in.shape(), [&](int64_t e, const std::vector<int64_t>& pos) -> Status {
    if (in.get_as_double(e) != 0.0) hits.push_back(pos);
    return Status::Ok();
  }));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::kInt64, {in.rank(), static_cast<int64_t>(hits.size())}));
  for (size_t h = 0; h < hits.size(); ++h)
    for (int64_t d = 0; d < in.rank(); ++d) out.data<int64_t>()[d * hits.size() + h] = hits[h][d];
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status compress_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  const Tensor& cond = *ctx.input(1);
  if (cond.rank() != 1) return ctx.invalid("condition must be 1-D");
  Tensor src = in;
  int64_t axis = 0;
  if (ctx.node.has_attr("axis")) {
    KILN_ASSIGN_OR_RETURN(int64_t a, ctx.node.attr_int("axis", 0));
    auto na = normalize_axis(a, in.rank(), "axis");
    if (!na.ok()) return ctx.invalid(na.status().message());
    axis = *na;
  } else {
    KILN_ASSIGN_OR_RETURN(src, in.reshaped({in.numel()}));
  }
  const int64_t n = src.dim(axis);
  if (cond.numel() > n) return ctx.invalid("condition is longer than the compressed axis");
  auto maps = identity_maps(src.shape());
  maps[axis].clear();
  for (int64_t i = 0; i < cond.numel(); ++i)
    if (cond.data<uint8_t>()[i]) maps[axis].push_back(i);
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        gather_mapped(src, row_major_strides(src.shape()), maps, nullptr, ctx.node.describe()));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(gather_scatter, CpuKernelDef{"Gather", "", gather_kernel},
                          CpuKernelDef{"GatherElements", "", gather_elements_kernel},
                          CpuKernelDef{"GatherND", "", gather_nd_kernel},
                          CpuKernelDef{"ScatterElements", "", widen_half(scatter_elements_kernel)},
                          CpuKernelDef{"Scatter", "", widen_half(scatter_elements_kernel)},
                          CpuKernelDef{"ScatterND", "", widen_half(scatter_nd_kernel)},
                          CpuKernelDef{"NonZero", "", nonzero_kernel}, CpuKernelDef{"Compress", "", compress_kernel});

}  // namespace kiln::cpu
