// CPU reference GridSample on 2-D images; the arithmetic (shared with the CUDA kernel) is in
// src/ops/grid_sample_math.h, computed in double.
#include <vector>

#include "cpu/kernels/common.h"
#include "ops/grid_sample_math.h"

namespace kiln::cpu {
namespace {

template <typename T>
Status run(KernelContext& ctx, const GridSampleAttrs& a) {
  const Tensor& x = *ctx.input(0);
  const Tensor& grid = *ctx.input(1);
  if (x.rank() != 4 || grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0))
    return ctx.invalid("X " + x.describe() + " must be [N,C,H,W] and grid " + grid.describe() + " [N,Ho,Wo,2]");
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = grid.dim(1), Wo = grid.dim(2);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), {N, C, Ho, Wo}));
  const std::vector<float> g = grid.to_float_vector();
  const T* xd = x.data<T>();
  T* out = y.data<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T* src = xd + (n * C + c) * H * W;
      auto load = [src](int64_t i) { return static_cast<double>(src[i]); };
      const grid_sample::Plane<decltype(load)> p(load, H, W, a.padding, a.align_corners);
      T* dst = out + (n * C + c) * Ho * Wo;
      const float* gn = g.data() + n * Ho * Wo * 2;
      for (int64_t k = 0; k < Ho * Wo; ++k)
        dst[k] = static_cast<T>(grid_sample::grid_value(p, a, gn[2 * k], gn[2 * k + 1]));
    }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status grid_sample_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(GridSampleAttrs a, parse_grid_sample(ctx.node));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run<decltype(t)>(ctx, a); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(grid_sample, CpuKernelDef{"GridSample", "", widen_half(grid_sample_kernel)});

}  // namespace kiln::cpu
