// CPU reference MaxUnpool: zeros of the output shape, then Y[I[i]] = X[i] with I a flat index into the whole
// default output (MaxPool's Indices convention); an index outside it is bad input.
#include <algorithm>

#include "cpu/kernels/common.h"
#include "ops/unpool.h"

namespace kiln::cpu {
namespace {

template <typename T>
Status run(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& idx = *ctx.input(1);
  if (x.rank() < 3 || idx.shape() != x.shape())
    return ctx.invalid("X " + x.describe() + " must be N x C x spatial and I " + idx.describe() + " of its shape");
  // Indices address the default output (the window rule's shape); an output_shape input only enlarges the
  // tensor they land in, each element keeping its coordinates (ONNX's reference and ONNX Runtime agree).
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> spatial,
                        maxunpool_spatial(ctx.node, Shape(x.shape().begin() + 2, x.shape().end())));
  Shape inferred = {x.dim(0), x.dim(1)};
  inferred.insert(inferred.end(), spatial.begin(), spatial.end());
  Shape out = inferred;
  if (const Tensor* shape = ctx.input(2)) {
    out = shape->to_int64_vector();
    if (out.size() != inferred.size())
      return ctx.invalid("output_shape " + shape_to_string(out) + " must have X's rank " + std::to_string(x.rank()));
    for (size_t d = 0; d < out.size(); ++d)
      if (out[d] < inferred[d])
        return ctx.invalid("output_shape " + shape_to_string(out) + " is smaller than the default output " +
                           shape_to_string(inferred));
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), out));
  T* yd = y.data<T>();
  std::fill(yd, yd + y.numel(), T(0));
  const T* xd = x.data<T>();
  const int64_t limit = numel(inferred);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t k = idx.get_as_int64(i);
    if (k < 0 || k >= limit)
      return ctx.invalid("index I[" + std::to_string(i) + "] = " + std::to_string(k) + " is outside the output " +
                         shape_to_string(inferred));
    int64_t flat = 0, stride = 1;  // k's coordinates in `inferred`, re-flattened in `out`
    for (size_t d = out.size(); d-- > 0;) {
      flat += (k % inferred[d]) * stride;
      k /= inferred[d];
      stride *= out[d];
    }
    yd[flat] = xd[i];
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status maxunpool_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run<decltype(t)>(ctx); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(unpool, CpuKernelDef{"MaxUnpool", "", widen_half(maxunpool_kernel)});

}  // namespace kiln::cpu
