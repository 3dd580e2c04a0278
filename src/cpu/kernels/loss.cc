// CPU reference NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

// Log-probabilities [N, C, D] in, per-element losses and their weights out.
template <typename T>
Status nll(KernelContext& ctx, const T* log_prob, int64_t n, int64_t c, int64_t d, Tensor& out) {
  const Tensor& target = *ctx.input(1);
  const Tensor* weight = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(std::string reduction, ctx.node.attr_string("reduction", "mean"));
  const bool has_ignore = ctx.node.has_attr("ignore_index");
  KILN_ASSIGN_OR_RETURN(int64_t ignore, ctx.node.attr_int("ignore_index", 0));
  if (target.numel() != n * d) return ctx.invalid("target " + target.describe() + " does not match the input");
  if (weight && weight->numel() != c)
    return ctx.invalid("weight " + weight->describe() + " should have " + std::to_string(c) + " values");
  std::vector<T> loss(static_cast<size_t>(n * d));
  double total = 0, weight_sum = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < d; ++i) {
      const int64_t k = b * d + i;
      const int64_t cls = target.get_as_int64(k);
      if (has_ignore && cls == ignore) continue;
      if (cls < 0 || cls >= c)
        return ctx.invalid("target value " + std::to_string(cls) + " at element " + std::to_string(k) +
                           " is outside [0, " + std::to_string(c) + ")");
      const T w = weight ? weight->data<T>()[cls] : T(1);
      loss[k] = -log_prob[(b * c + cls) * d + i] * w;
      total += loss[k];
      weight_sum += w;
    }
  if (reduction == "none") {
    KILN_ASSIGN_OR_RETURN(out, Tensor::create(DTypeOf<T>::value, target.shape()));
    std::copy(loss.begin(), loss.end(), out.data<T>());
  } else {
    KILN_ASSIGN_OR_RETURN(out, Tensor::create(DTypeOf<T>::value, {}));
    out.data<T>()[0] = static_cast<T>(reduction == "sum" ? total : total / weight_sum);
  }
  return Status::Ok();
}

Status check_input(const KernelContext& ctx, int64_t& n, int64_t& c, int64_t& d) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.invalid("input " + x.describe() + " must be N x C [x d1 ...]");
  n = x.dim(0);
  c = x.dim(1);
  d = n * c > 0 ? x.numel() / (n * c) : 0;
  const Tensor* w = ctx.input(2);
  if (w && w->dtype() != x.dtype()) return ctx.invalid("weight " + w->describe() + " must have the input's dtype");
  return Status::Ok();
}

template <typename T>
Status run_nll(KernelContext& ctx) {
  int64_t n = 0, c = 0, d = 0;
  KILN_RETURN_IF_ERROR(check_input(ctx, n, c, d));
  return nll<T>(ctx, ctx.input(0)->data<T>(), n, c, d, ctx.outputs[0]);
}

template <typename T>
Status run_sce(KernelContext& ctx) {
  int64_t n = 0, c = 0, d = 0;
  KILN_RETURN_IF_ERROR(check_input(ctx, n, c, d));
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor log_prob, Tensor::create(x.dtype(), x.shape()));
  const T* in = x.data<T>();
  T* lp = log_prob.data<T>();
  // Log-softmax over the class axis C for every (batch, position).
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < d; ++i) {
      const int64_t base = b * c * d + i;
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < c; ++k) mx = std::max(mx, in[base + k * d]);
      T sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(in[base + k * d] - mx);
      const T log_sum = std::log(sum);
      for (int64_t k = 0; k < c; ++k) lp[base + k * d] = in[base + k * d] - mx - log_sum;
    }
  KILN_RETURN_IF_ERROR(nll<T>(ctx, lp, n, c, d, ctx.outputs[0]));
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(log_prob);
  return Status::Ok();
}

Status nll_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run_nll<decltype(t)>(ctx); });
}

Status sce_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run_sce<decltype(t)>(ctx); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(loss, CpuKernelDef{"NegativeLogLikelihoodLoss", "", widen_half(nll_kernel)},
                          CpuKernelDef{"SoftmaxCrossEntropyLoss", "", widen_half(sce_kernel)});

}  // namespace kiln::cpu
