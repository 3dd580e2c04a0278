// Shared CPU kernel helpers: half-precision widening wrapper and broadcast strides.
#include "cpu/kernels/common.h"

namespace kiln::cpu {

CpuKernel widen_half(CpuKernel kernel) {
  return [kernel](KernelContext& ctx) -> Status {
    bool any_half = false;
    DType half_type = DType::kUndefined;
    for (const Tensor* t : ctx.inputs) {
      if (t && is_half(t->dtype())) {
        any_half = true;
        if (half_type == DType::kUndefined) half_type = t->dtype();
      }
    }
    if (!any_half) return kernel(ctx);
    std::vector<Tensor> widened(ctx.inputs.size());
    KernelContext inner{ctx.node, {}, {}};
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      const Tensor* t = ctx.inputs[i];
      if (t && is_half(t->dtype())) {
        KILN_ASSIGN_OR_RETURN(widened[i], convert_dtype(*t, DType::kFloat32));
        inner.inputs.push_back(&widened[i]);
      } else {
        inner.inputs.push_back(t);
      }
    }
    inner.outputs.resize(ctx.outputs.size());
    KILN_RETURN_IF_ERROR(kernel(inner));
    for (size_t i = 0; i < inner.outputs.size(); ++i) {
      Tensor& out = inner.outputs[i];
      const Value* v = ctx.node.output(i);
      DType want = v && v->dtype != DType::kUndefined ? v->dtype : half_type;
      if (out.defined() && out.dtype() == DType::kFloat32 && is_half(want)) {
        KILN_ASSIGN_OR_RETURN(ctx.outputs[i], convert_dtype(out, want));
      } else {
        ctx.outputs[i] = std::move(out);
      }
    }
    return Status::Ok();
  };
}

std::vector<int64_t> broadcast_strides(const Shape& out, const Shape& in) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = row_major_strides(in);
  const size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[lead + d] = in[d] == 1 ? 0 : own[d];
  return strides;
}

}  // namespace kiln::cpu
