// CPU kernels for QuantizeLinear (round half to even, saturate), DequantizeLinear (per-tensor or per-axis) and
// DynamicQuantizeLinear. Math in float32 like the ONNX reference; scales are re-checked for non-constant inputs.
#include "ops/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

// Per-element access to a per-tensor or per-axis parameter: channel of flat index i.
struct ChannelMap {
  int64_t inner = 1;     // elements after the axis
  int64_t channels = 1;  // 1 = per-tensor
  int64_t operator()(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

Expected<ChannelMap> channel_map(const KernelContext& ctx, const Tensor& x, const Tensor& scale) {
  KILN_ASSIGN_OR_RETURN(ops::QdqAttrs a, ops::parse_qdq_attrs(ctx.node, x.rank(), scale.shape()));
  KILN_RETURN_IF_ERROR(ops::check_qdq_scales(ctx.node, scale));
  ChannelMap m;
  if (!a.per_axis) return m;
  if (x.dim(a.axis) != a.channels)
    return ctx.invalid("per-axis scale has " + std::to_string(a.channels) + " entries but the input has " +
                       std::to_string(x.dim(a.axis)) + " along axis " + std::to_string(a.axis));
  for (int64_t d = a.axis + 1; d < x.rank(); ++d) m.inner *= x.dim(d);
  m.channels = a.channels;
  return m;
}

Expected<std::vector<int64_t>> zero_points(const KernelContext& ctx, const Tensor* zp, int64_t count) {
  std::vector<int64_t> z(static_cast<size_t>(count), 0);
  if (!zp) return z;
  if (zp->numel() != count)
    return ctx.invalid("zero point has " + std::to_string(zp->numel()) + " entries, the scale " +
                       std::to_string(count));
  for (int64_t i = 0; i < count; ++i) z[static_cast<size_t>(i)] = zp->get_as_int64(i);
  return z;
}

template <typename Q>
void quantize_into(const std::vector<float>& x, const std::vector<float>& scale, const std::vector<int64_t>& zp,
                   const ChannelMap& ch, Q* y) {
  constexpr double lo = std::numeric_limits<Q>::lowest(), hi = std::numeric_limits<Q>::max();
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = static_cast<size_t>(ch(static_cast<int64_t>(i)));
    const float scaled = x[i] / scale[c];  // float32 division, as the ONNX reference
    double q = std::nearbyint(static_cast<double>(scaled)) + static_cast<double>(zp[c]);  // half to even
    if (std::isnan(q)) q = static_cast<double>(zp[c]);
    y[i] = static_cast<Q>(q < lo ? lo : (q > hi ? hi : q));
  }
}

Status quantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& scale = *ctx.input(1);
  const Tensor* zp = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(ChannelMap ch, channel_map(ctx, x, scale));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> z, zero_points(ctx, zp, scale.numel()));
  KILN_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node.attr_int("output_dtype", 0));
  DType out = zp ? zp->dtype() : (output_dtype != 0 ? static_cast<DType>(output_dtype) : DType::kUint8);
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0], Tensor::create(out, x.shape()));
  std::vector<float> xs;
  if (x.dtype() == DType::kFloat32)
    xs.assign(x.data<float>(), x.data<float>() + x.numel());
  else
    xs = x.to_float_vector();
  const std::vector<float> ss = scale.to_float_vector();
  Tensor& y = ctx.outputs[0];
  switch (out) {
    case DType::kInt8:
      quantize_into(xs, ss, z, ch, y.data<int8_t>());
      break;
    case DType::kUint8:
      quantize_into(xs, ss, z, ch, y.data<uint8_t>());
      break;
    case DType::kInt16:
      quantize_into(xs, ss, z, ch, y.data<int16_t>());
      break;
    case DType::kUint16:
      quantize_into(xs, ss, z, ch, y.data<uint16_t>());
      break;
    default:
      return ctx.unsupported_here(std::string("QuantizeLinear to ") + ops::onnx_type_label(static_cast<int>(out)) +
                                  " is not supported");
  }
  return Status::Ok();
}

Status dequantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& scale = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(ChannelMap ch, channel_map(ctx, x, scale));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> z, zero_points(ctx, ctx.input(2), scale.numel()));
  const std::vector<float> ss = scale.to_float_vector();
  std::vector<float> zf(z.begin(), z.end());
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::kFloat32, x.shape()));
  float* out = y.data<float>();
  auto run = [&](auto tag) {
    using Q = decltype(tag);
    const Q* in = x.data<Q>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const size_t c = static_cast<size_t>(ch(i));
      // float32 arithmetic, as the ONNX reference: (x - zero_point) * scale
      out[i] = (static_cast<float>(in[i]) - zf[c]) * ss[c];
    }
  };
  switch (x.dtype()) {
    case DType::kInt8:
      run(int8_t{});
      break;
    case DType::kUint8:
      run(uint8_t{});
      break;
    case DType::kInt16:
      run(int16_t{});
      break;
    case DType::kUint16:
      run(uint16_t{});
      break;
    case DType::kInt32:
      run(int32_t{});
      break;
    default:
      return ctx.unsupported_here(std::string("DequantizeLinear of dtype ") + dtype_name(x.dtype()) +
                                  " is not supported");
  }
  if (scale.dtype() == DType::kFloat32) {
    ctx.outputs[0] = std::move(y);
  } else {
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], convert_dtype(y, scale.dtype()));
  }
  return Status::Ok();
}

// DynamicQuantizeLinear, as the ONNX reference: the range [min(0, min x), max(0, max x)] over 255 steps (a
// zero range gives scale 1/255), zero point rounded from -min/scale, y = saturate(round(x / scale) + zp).
Status dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported_here("DynamicQuantizeLinear takes float32");
  const float* xd = x.data<float>();
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::isnan(xd[i])) continue;
    lo = std::min(lo, xd[i]);
    hi = std::max(hi, xd[i]);
  }
  const float scale = (hi == lo ? 1.f : hi - lo) / 255.f;
  const float zp_f = std::nearbyint(std::min(255.f, std::max(0.f, 0.f - lo / scale)));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::kUint8, x.shape()));
  uint8_t* yd = y.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    double q = std::nearbyint(static_cast<double>(xd[i] / scale)) + zp_f;
    if (std::isnan(q)) q = zp_f;
    yd[i] = static_cast<uint8_t>(q < 0 ? 0 : (q > 255 ? 255 : q));
  }
  KILN_ASSIGN_OR_RETURN(Tensor s, Tensor::create(DType::kFloat32, {}));
  s.data<float>()[0] = scale;
  KILN_ASSIGN_OR_RETURN(Tensor z, Tensor::create(DType::kUint8, {}));
  z.data<uint8_t>()[0] = static_cast<uint8_t>(zp_f);
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(s);
  if (ctx.outputs.size() > 2) ctx.outputs[2] = std::move(z);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(quantize, CpuKernelDef{"QuantizeLinear", "", quantize_linear},
                          CpuKernelDef{"DequantizeLinear", "", dequantize_linear},
                          CpuKernelDef{"DynamicQuantizeLinear", "", dynamic_quantize_linear});

}  // namespace kiln::cpu
