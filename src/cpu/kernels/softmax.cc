// CPU reference Softmax, LogSoftmax and Hardmax (numerically stable: the row maximum is subtracted).
#include <cmath>
#include <limits>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

enum class Mode { kSoftmax, kLogSoftmax, kHardmax };

// The input viewed as [outer, n, inner] with the op running over n.
struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};

Expected<Layout> layout_for(const KernelContext& ctx, const Tensor& x) {
  const bool coerce = ctx.node.opset < 13;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", coerce ? 1 : -1));
  const int64_t rank = x.rank();
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return ctx.invalid("attribute 'axis' = " + std::to_string(axis) + " is out of range for input " + x.describe());
  if (axis < 0) axis += rank;
  Layout l;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      l.outer *= x.dim(d);
    else if (d == axis || coerce)
      l.n *= x.dim(d);
    else
      l.inner *= x.dim(d);
  }
  return l;
}

template <typename T>
void run_row(Mode mode, const T* x, T* y, int64_t n, int64_t stride) {
  T mx = -std::numeric_limits<T>::infinity();
  int64_t arg = 0;
  for (int64_t i = 0; i < n; ++i)
    if (x[i * stride] > mx) mx = x[i * stride], arg = i;
  if (mode == Mode::kHardmax) {
    for (int64_t i = 0; i < n; ++i) y[i * stride] = i == arg ? T(1) : T(0);
    return;
  }
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i * stride] - mx);
  if (mode == Mode::kSoftmax) {
    for (int64_t i = 0; i < n; ++i) y[i * stride] = std::exp(x[i * stride] - mx) / sum;
  } else {
    const T log_sum = std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i * stride] = x[i * stride] - mx - log_sum;
  }
}

template <typename T>
Status run_softmax(KernelContext& ctx, Mode mode) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Layout l, layout_for(ctx, x));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  const T* in = x.data<T>();
  T* out = y.data<T>();
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      run_row<T>(mode, in + base, out + base, l.n, l.inner);
    }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

CpuKernel softmax_kernel(Mode mode) {
  return widen_half([mode](KernelContext& ctx) {
    return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                       [&](auto t) { return run_softmax<decltype(t)>(ctx, mode); });
  });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(softmax, CpuKernelDef{"Softmax", "", softmax_kernel(Mode::kSoftmax)},
                          CpuKernelDef{"LogSoftmax", "", softmax_kernel(Mode::kLogSoftmax)},
                          CpuKernelDef{"Hardmax", "", softmax_kernel(Mode::kHardmax)});

}  // namespace kiln::cpu
