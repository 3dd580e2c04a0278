// CPU reference normalization kernels: BatchNormalization (inference), InstanceNormalization,
// LayerNormalization and MeanVarianceNormalization. Statistics are accumulated in double.
#include <cmath>
#include <vector>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_as_double(i);
  return v;
}

template <typename T>
Status run_batch_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.invalid("input X " + x.describe() + " must have rank >= 2");
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(int64_t spatial, ctx.node.attr_int("spatial", 1));
  const int64_t n = x.dim(0), c = x.dim(1), area = n * c > 0 ? x.numel() / (n * c) : 0;
  // spatial=0 (opset 7/8) gives every (channel, position) its own statistics.
  const int64_t per = spatial != 0 ? c : c * area;
  std::vector<double> p[4];
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = *ctx.input(static_cast<size_t>(i) + 1);
    if (t.numel() != per)
      return ctx.invalid("input " + std::to_string(i + 1) + " " + t.describe() + " should have " + std::to_string(per) +
                         " values for X " + x.describe());
    p[i] = as_doubles(t);
  }
  // y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a.
  std::vector<T> a(static_cast<size_t>(per)), b(static_cast<size_t>(per));
  for (int64_t i = 0; i < per; ++i) {
    const double s = p[0][i] / std::sqrt(p[3][i] + static_cast<double>(eps));
    a[i] = static_cast<T>(s);
    b[i] = static_cast<T>(p[1][i] - p[2][i] * s);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  const T* in = x.data<T>();
  T* out = y.data<T>();
  for (int64_t bn = 0; bn < n; ++bn)
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t base = (bn * c + ch) * area;
      for (int64_t i = 0; i < area; ++i) {
        const int64_t k = spatial != 0 ? ch : ch * area + i;
        out[base + i] = in[base + i] * a[k] + b[k];
      }
    }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

// Mean and 1/sqrt(var + eps) (population variance) of n contiguous values.
template <typename T>
void moments(const T* x, int64_t n, double eps, double& mean, double& inv_std) {
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  mean = n > 0 ? sum / n : 0.0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  inv_std = 1.0 / std::sqrt((n > 0 ? sq / n : 0.0) + eps);
}

template <typename T>
Status run_instance_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 3) return ctx.invalid("input X " + x.describe() + " must be N x C x spatial");
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  const int64_t n = x.dim(0), c = x.dim(1), area = n * c > 0 ? x.numel() / (n * c) : 0;
  const Tensor& scale = *ctx.input(1);
  const Tensor& bias = *ctx.input(2);
  if (scale.numel() != c || bias.numel() != c)
    return ctx.invalid("scale " + scale.describe() + " and B " + bias.describe() + " need " + std::to_string(c) +
                       " values");
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const T* in = x.data<T>() + plane * area;
    T* out = y.data<T>() + plane * area;
    double mean = 0, inv_std = 0;
    moments(in, area, eps, mean, inv_std);
    const double s = scale.get_as_double(plane % c) * inv_std, b = bias.get_as_double(plane % c);
    for (int64_t i = 0; i < area; ++i) out[i] = static_cast<T>((in[i] - mean) * s + b);
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

template <typename T>
Status run_layer_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", -1));
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(axis, normalize_axis(axis, x.rank(), "LayerNormalization axis"));
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t inner = numel(norm_shape), outer = inner > 0 ? x.numel() / inner : 0;
  // Scale and B broadcast (one way) to the normalized shape.
  std::vector<int64_t> scale_off(static_cast<size_t>(inner)), bias_off(static_cast<size_t>(inner), -1);
  const Tensor* scale = ctx.input(1);
  const Tensor* bias = ctx.input(2);
  for (const Tensor* t : {scale, bias}) {
    if (!t) continue;
    auto merged = broadcast_shapes(t->shape(), norm_shape);
    if (t->rank() > static_cast<int64_t>(norm_shape.size()) || !merged.ok() || *merged != norm_shape)
      return ctx.invalid(t->describe() + " does not broadcast to the normalized shape " + shape_to_string(norm_shape));
    std::vector<int64_t>& off = t == scale ? scale_off : bias_off;
    for_each_broadcast(norm_shape, {t->shape()}, [&](int64_t i, const int64_t* o) { off[i] = o[0]; });
  }
  Shape stats_shape(x.shape().begin(), x.shape().begin() + axis);
  stats_shape.resize(x.shape().size(), 1);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  KILN_ASSIGN_OR_RETURN(Tensor mean_t, Tensor::create(DType::kFloat32, stats_shape));
  KILN_ASSIGN_OR_RETURN(Tensor inv_t, Tensor::create(DType::kFloat32, stats_shape));
  const T* sv = scale->data<T>();
  const T* bv = bias ? bias->data<T>() : nullptr;
  for (int64_t o = 0; o < outer; ++o) {
    const T* in = x.data<T>() + o * inner;
    T* out = y.data<T>() + o * inner;
    double mean = 0, inv_std = 0;
    moments(in, inner, eps, mean, inv_std);
    for (int64_t i = 0; i < inner; ++i)
      out[i] = static_cast<T>((in[i] - mean) * inv_std * sv[scale_off[i]] + (bv ? bv[bias_off[i]] : T(0)));
    mean_t.data<float>()[o] = static_cast<float>(mean);
    inv_t.data<float>()[o] = static_cast<float>(inv_std);
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(mean_t);
  if (ctx.outputs.size() > 2) ctx.outputs[2] = std::move(inv_t);
  return Status::Ok();
}

// (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9) over `axes`, as ONNX's function body defines it.
template <typename T>
Status run_mvn(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.node.attr_ints("axes", {0, 2, 3}));
  Shape groups = x.shape();
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(a, x.rank(), "MeanVarianceNormalization axes"));
    groups[static_cast<size_t>(ax)] = 1;
  }
  const int64_t ng = numel(groups), per = ng > 0 ? x.numel() / ng : 0;
  std::vector<int64_t> group_of(static_cast<size_t>(x.numel()));
  for_each_broadcast(x.shape(), {groups}, [&](int64_t i, const int64_t* o) { group_of[i] = o[0]; });
  std::vector<double> sum(static_cast<size_t>(ng)), sq(static_cast<size_t>(ng));
  const T* in = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    sum[group_of[i]] += in[i];
    sq[group_of[i]] += static_cast<double>(in[i]) * in[i];
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double mean = sum[group_of[i]] / per, var = sq[group_of[i]] / per - mean * mean;
    y.data<T>()[i] = static_cast<T>((in[i] - mean) / (std::sqrt(std::max(var, 0.0)) + 1e-9));
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

#define KILN_NORM_KERNEL(name, fn)                                                                                \
  Status name(KernelContext& ctx) {                                                                               \
    return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return fn<decltype(t)>(ctx); }); \
  }
KILN_NORM_KERNEL(batch_norm_kernel, run_batch_norm)
KILN_NORM_KERNEL(instance_norm_kernel, run_instance_norm)
KILN_NORM_KERNEL(mvn_kernel, run_mvn)
#undef KILN_NORM_KERNEL

Status layer_norm_kernel(KernelContext& ctx) {
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (ctx.input(i) && ctx.input(i)->dtype() != ctx.input(0)->dtype())
      return ctx.unsupported_here(std::string("Scale/B of dtype ") + dtype_name(ctx.input(i)->dtype()) +
                                  " with X of dtype " + dtype_name(ctx.input(0)->dtype()));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto t) { return run_layer_norm<decltype(t)>(ctx); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(normalization, CpuKernelDef{"BatchNormalization", "", widen_half(batch_norm_kernel)},
                          CpuKernelDef{"InstanceNormalization", "", widen_half(instance_norm_kernel)},
                          CpuKernelDef{"LayerNormalization", "", widen_half(layer_norm_kernel)},
                          CpuKernelDef{"MeanVarianceNormalization", "", widen_half(mvn_kernel)});

}  // namespace kiln::cpu
