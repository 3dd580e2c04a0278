// CPU reference kernels for ArgMax, ArgMin and TopK. All view the input as [outer, axis, inner].
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

struct AxisView {
  int64_t outer = 1, len = 1, inner = 1, axis = 0;
};

Expected<AxisView> axis_view(const KernelContext& ctx, const Tensor& x, int64_t axis) {
  Expected<int64_t> a = normalize_axis(axis, x.rank());
  if (!a.ok()) return ctx.invalid(a.status().message());
  AxisView v;
  v.axis = *a;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (d < *a) v.outer *= x.dim(d);
    if (d > *a) v.inner *= x.dim(d);
  }
  v.len = x.dim(*a);
  return v;
}

// Total order used by TopK so that NaN (counted as the largest value) cannot break the sort.
template <typename T>
bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

Status run_arg(KernelContext& ctx, bool want_max) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.attr_int("keepdims", 1));
  KILN_ASSIGN_OR_RETURN(int64_t last, ctx.node.attr_int("select_last_index", 0));
  KILN_ASSIGN_OR_RETURN(AxisView v, axis_view(ctx, x, axis));
  if (v.len == 0)
    return ctx.invalid(ctx.node.op_type + " over an empty axis " + std::to_string(v.axis) + " of " + x.describe());
  Shape out_shape;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (d != v.axis) {
      out_shape.push_back(x.dim(d));
    } else if (keepdims) {
      out_shape.push_back(1);
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::kInt64, out_shape));
  int64_t* y = out.data<int64_t>();
  Status s = visit_numeric(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = x.data<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        const T* row = p + o * v.len * v.inner + i;
        int64_t best = 0;
        for (int64_t j = 1; j < v.len; ++j) {
          const T cur = row[j * v.inner], ref = row[best * v.inner];
          const bool better = want_max ? cur > ref : cur < ref;
          if (better || (last && cur == ref)) best = j;
        }
        y[o * v.inner + i] = best;
      }
    }
    return Status::Ok();
  });
  KILN_RETURN_IF_ERROR(s);
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Expected<int64_t> topk_k(const KernelContext& ctx) {
  if (ctx.node.opset < 10) return ctx.node.attr_int("k", -1);
  const Tensor* kt = ctx.input(1);
  if (!kt || kt->numel() != 1 || kt->dtype() != DType::kInt64)
    return ctx.invalid("input K must be an int64 tensor holding one value");
  return kt->get_as_int64(0);
}

Status run_topk(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t largest, ctx.node.attr_int("largest", 1));
  KILN_ASSIGN_OR_RETURN(int64_t k, topk_k(ctx));
  KILN_ASSIGN_OR_RETURN(AxisView v, axis_view(ctx, x, axis));
  if (k < 0 || k > v.len)
    return ctx.invalid("K = " + std::to_string(k) + " is outside [0, " + std::to_string(v.len) + "] for axis " +
                       std::to_string(v.axis) + " of " + x.describe());
  Shape out_shape = x.shape();
  out_shape[v.axis] = k;
  KILN_ASSIGN_OR_RETURN(Tensor values, Tensor::create(x.dtype(), out_shape));
  KILN_ASSIGN_OR_RETURN(Tensor indices, Tensor::create(DType::kInt64, out_shape));
  Status s = visit_numeric(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = x.data<T>();
    T* vals = values.data<T>();
    int64_t* idx = indices.data<int64_t>();
    std::vector<int64_t> order(static_cast<size_t>(v.len));
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        const T* row = p + o * v.len * v.inner + i;
        std::iota(order.begin(), order.end(), 0);
        // Stable sort keeps the lower index first among equal values, as ONNX asks.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return largest ? less_nan_last(row[b * v.inner], row[a * v.inner])
                         : less_nan_last(row[a * v.inner], row[b * v.inner]);
        });
        for (int64_t j = 0; j < k; ++j) {
          const int64_t at = (o * k + j) * v.inner + i;
          vals[at] = row[order[j] * v.inner];
          idx[at] = order[j];
        }
      }
    }
    return Status::Ok();
  });
  KILN_RETURN_IF_ERROR(s);
  ctx.outputs[0] = std::move(values);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(indices);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(topk,
                          CpuKernelDef{"ArgMax", "", widen_half([](KernelContext& c) { return run_arg(c, true); })},
                          CpuKernelDef{"ArgMin", "", widen_half([](KernelContext& c) { return run_arg(c, false); })},
                          CpuKernelDef{"TopK", "", widen_half(run_topk)});

}  // namespace kiln::cpu
