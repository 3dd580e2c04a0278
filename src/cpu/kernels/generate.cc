// CPU kernels of the ops that create or fill tensors: Constant, ConstantOfShape, Range, EyeLike, OneHot,
// Trilu, CumSum.
#include <cmath>
#include <cstring>

#include "cpu/kernel_registry.h"
#include "cpu/kernels/common.h"
#include "cpu/kernels/copy_util.h"
#include "ops/tensor_util.h"

namespace kiln::cpu {
namespace {

Status constant_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0], constant_value(ctx.node));
  return Status::Ok();
}

// Fills `out` with copies of the element bytes at `value`.
void fill_bytes(Tensor& out, const void* value) {
  const size_t es = dtype_size(out.dtype());
  uint8_t* p = static_cast<uint8_t*>(out.raw());
  for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(p + i * es, value, es);
}

Status constant_of_shape_kernel(KernelContext& ctx) {
  Tensor value = Tensor::scalar<float>(0.f);
  if (const Attribute* a = ctx.node.attr("value")) {
    if (a->type != AttrType::kTensor || a->t.numel() != 1)
      return ctx.invalid("attribute 'value' must be a one-element tensor");
    value = a->t;
  }
  const Shape shape = ctx.input(0)->to_int64_vector();
  for (int64_t d : shape)
    if (d < 0) return ctx.invalid("the shape input has a negative entry");
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(value.dtype(), shape));
  fill_bytes(out, value.raw());
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status range_kernel(KernelContext& ctx) {
  const Tensor& s = *ctx.input(0);
  const Tensor& l = *ctx.input(1);
  const Tensor& d = *ctx.input(2);
  if (s.numel() != 1 || l.numel() != 1 || d.numel() != 1) return ctx.invalid("start, limit and delta must be scalars");
  return visit_numeric(s.dtype(), ctx.node.describe(), [&](auto zero) -> Status {
    using T = decltype(zero);
    const T start = s.data<T>()[0], limit = l.data<T>()[0], delta = d.data<T>()[0];
    if (delta == T(0)) return ctx.invalid("delta cannot be 0");
    int64_t n;
    if constexpr (std::is_floating_point_v<T>) {
      n = static_cast<int64_t>(std::max(0.0, std::ceil((static_cast<double>(limit) - start) / delta)));
    } else {
      const int64_t span = static_cast<int64_t>(limit) - static_cast<int64_t>(start), st = delta;
      n = std::max<int64_t>(0, span / st + ((span % st != 0 && ((span > 0) == (st > 0))) ? 1 : 0));
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(s.dtype(), {n}));
    for (int64_t i = 0; i < n; ++i) out.data<T>()[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    ctx.outputs[0] = std::move(out);
    return Status::Ok();
  });
}

// The bytes of 1 in dtype dt.
Expected<Tensor> one_of(DType dt) { return convert_dtype(Tensor::scalar<float>(1.f), dt); }

Status eye_like_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  if (in.rank() != 2) return ctx.invalid("EyeLike input must be 2-D");
  DType dt = in.dtype();
  if (ctx.node.has_attr("dtype")) {
    KILN_ASSIGN_OR_RETURN(int64_t raw, ctx.node.attr_int("dtype", 0));
    if (!dtype_is_known(static_cast<int32_t>(raw))) return ctx.unsupported_here("dtype " + std::to_string(raw));
    dt = static_cast<DType>(raw);
  }
  KILN_ASSIGN_OR_RETURN(int64_t k, ctx.node.attr_int("k", 0));
  KILN_ASSIGN_OR_RETURN(Tensor one, one_of(dt));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(dt, in.shape()));
  const size_t es = dtype_size(dt);
  const int64_t rows = in.dim(0), cols = in.dim(1);
  for (int64_t i = 0; i < rows; ++i)
    if (i + k >= 0 && i + k < cols)
      std::memcpy(static_cast<uint8_t*>(out.raw()) + (i * cols + i + k) * es, one.raw(), es);
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status one_hot_kernel(KernelContext& ctx) {
  const Tensor& idx = *ctx.input(0);
  const Tensor& depth_t = *ctx.input(1);
  const Tensor& values = *ctx.input(2);
  if (depth_t.numel() != 1) return ctx.invalid("depth must have one element");
  if (values.numel() != 2) return ctx.invalid("values must hold [off_value, on_value]");
  const int64_t depth = static_cast<int64_t>(depth_t.get_as_double(0));
  if (depth < 1) return ctx.invalid("depth must be >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", -1));
  auto a = normalize_axis(axis, idx.rank() + 1, "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  Shape out_shape = idx.shape();
  out_shape.insert(out_shape.begin() + *a, depth);
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(values.dtype(), out_shape));
  const size_t es = dtype_size(values.dtype());
  const uint8_t* off = static_cast<const uint8_t*>(values.raw());
  fill_bytes(out, off);
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < idx.rank(); ++k) (k < *a ? outer : inner) *= idx.dim(k);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t v = static_cast<int64_t>(idx.get_as_double(o * inner + i));
      if (v < 0) v += depth;
      if (v < 0 || v >= depth) continue;  // out of range: all off_value
      std::memcpy(static_cast<uint8_t*>(out.raw()) + ((o * depth + v) * inner + i) * es, off + es, es);
    }
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status trilu_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  if (in.rank() < 2) return ctx.invalid("Trilu input must have rank >= 2");
  KILN_ASSIGN_OR_RETURN(int64_t upper, ctx.node.attr_int("upper", 1));
  int64_t k = 0;
  if (const Tensor* kt = ctx.input(1)) {
    if (kt->numel() != 1) return ctx.invalid("k must have one element");
    k = kt->get_as_int64(0);
  }
  Tensor out = in.clone();
  const int64_t rows = in.dim(in.rank() - 2), cols = in.dim(in.rank() - 1);
  const size_t es = dtype_size(in.dtype());
  const int64_t mats = (rows > 0 && cols > 0) ? in.numel() / (rows * cols) : 0;
  uint8_t* p = static_cast<uint8_t*>(out.raw());
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        const bool keep = upper ? j - i >= k : j - i <= k;
        if (!keep) std::memset(p + ((m * rows + i) * cols + j) * es, 0, es);
      }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status cumsum_kernel(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  if (ctx.input(1)->numel() != 1) return ctx.invalid("axis must have one element");
  auto a = normalize_axis(ctx.input(1)->get_as_int64(0), in.rank(), "axis");
  if (!a.ok()) return ctx.invalid(a.status().message());
  KILN_ASSIGN_OR_RETURN(int64_t exclusive, ctx.node.attr_int("exclusive", 0));
  KILN_ASSIGN_OR_RETURN(int64_t reverse, ctx.node.attr_int("reverse", 0));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(in.dtype(), in.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < in.rank(); ++k) {
    if (k < *a) outer *= in.dim(k);
    if (k > *a) inner *= in.dim(k);
  }
  const int64_t n = in.dim(*a);
  KILN_RETURN_IF_ERROR(visit_numeric(in.dtype(), ctx.node.describe(), [&](auto zero) -> Status {
    using T = decltype(zero);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        T acc = T(0);
        for (int64_t s = 0; s < n; ++s) {
          const int64_t j = reverse ? n - 1 - s : s;
          const int64_t at = (o * n + j) * inner + i;
          if (exclusive) {
            dst[at] = acc;
            acc = static_cast<T>(acc + src[at]);
          } else {
            acc = static_cast<T>(acc + src[at]);
            dst[at] = acc;
          }
        }
      }
    return Status::Ok();
  }));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(generate, CpuKernelDef{"Constant", "", constant_kernel},
                          CpuKernelDef{"ConstantOfShape", "", constant_of_shape_kernel},
                          CpuKernelDef{"Range", "", range_kernel}, CpuKernelDef{"EyeLike", "", eye_like_kernel},
                          CpuKernelDef{"OneHot", "", one_hot_kernel}, CpuKernelDef{"Trilu", "", trilu_kernel},
                          CpuKernelDef{"CumSum", "", widen_half(cumsum_kernel)});

}  // namespace kiln::cpu
