// GPU QuantizeLinear / DequantizeLinear as elementwise kernels (simulated quantization: the int8 tensor is
// real, the ops around it stay float). Same math as cpu/kernels/quantize.cc: float32 division, round half
// to even, saturate; per-tensor or per-axis with constant scales and zero points (any layout).
#include <cmath>

#include "cuda/kernels/reduce_util.cuh"
#include "ops/quantize.h"

namespace kiln::cuda {
namespace {

using LayerPtr = std::unique_ptr<Layer>;

template <typename Q>
struct QRange;
template <>
struct QRange<int8_t> {
  static constexpr float lo = -128.f, hi = 127.f;
};
template <>
struct QRange<uint8_t> {
  static constexpr float lo = 0.f, hi = 255.f;
};
template <>
struct QRange<int16_t> {
  static constexpr float lo = -32768.f, hi = 32767.f;
};
template <>
struct QRange<uint16_t> {
  static constexpr float lo = 0.f, hi = 65535.f;
};
template <>
struct QRange<int32_t> {
  static constexpr float lo = -2147483648.f, hi = 2147483520.f;
};

template <typename T, typename Q>
__global__ void quantize_kernel(const T* __restrict__ x, Q* __restrict__ y, int64_t n, int64_t stride, int64_t channels,
                                const float* __restrict__ scale, const float* __restrict__ zp) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t c = channels > 1 ? (i / stride) % channels : 0;
    float q = __fadd_rn(rintf(__fdiv_rn(to_float(x[i]), scale[c])), zp[c]);  // rintf: half to even
    if (isnan(q)) q = zp[c];
    y[i] = static_cast<Q>(fminf(fmaxf(q, QRange<Q>::lo), QRange<Q>::hi));
  }
}

template <typename Q, typename T>
__global__ void dequantize_kernel(const Q* __restrict__ x, T* __restrict__ y, int64_t n, int64_t stride,
                                  int64_t channels, const float* __restrict__ scale, const float* __restrict__ zp) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t c = channels > 1 ? (i / stride) % channels : 0;
    y[i] = from_float<T>(__fmul_rn(__fsub_rn(static_cast<float>(x[i]), zp[c]), scale[c]));
  }
}

template <typename F>
Status dispatch_quantized(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kInt8:
      return f(int8_t{});
    case DType::kUint8:
      return f(uint8_t{});
    case DType::kInt16:
      return f(int16_t{});
    case DType::kUint16:
      return f(uint16_t{});
    case DType::kInt32:
      return f(int32_t{});
    default:
      return unsupported(what + ": quantized dtype " + dtype_name(t) + " has no GPU kernel");
  }
}

class QdqLayer : public Layer {
 public:
  QdqLayer(std::string name, bool quantize, int64_t axis, int64_t channels, DeviceBuffer scale, DeviceBuffer zp,
           DeviceBuffer constant_x, DType constant_dtype)
      : name_(std::move(name)),
        quantize_(quantize),
        axis_(axis),
        channels_(channels),
        scale_(std::move(scale)),
        zp_(std::move(zp)),
        constant_x_(std::move(constant_x)),
        constant_dtype_(constant_dtype) {}

  Status configure(ConfigureContext& ctx) override {
    // The output has the input's shape and layout; unlike the input's desc, it exists when input 0 is a
    // constant this layer uploaded itself.
    const TensorDesc& x = ctx.outputs[0];
    n_ = x.numel();
    stride_ = 1;
    if (channels_ > 1) {
      if (axis_ >= static_cast<int64_t>(x.shape.size()) || x.shape[static_cast<size_t>(axis_)] != channels_)
        return Status(StatusCode::kInvalidInput, name_ + ": input " + x.describe() + " does not have " +
                                                     std::to_string(channels_) + " entries along axis " +
                                                     std::to_string(axis_));
      stride_ = x.strides()[static_cast<size_t>(axis_)];
    }
    in_dtype_ = constant_x_.get() ? constant_dtype_ : ctx.inputs[0].dtype;
    out_dtype_ = ctx.outputs[0].dtype;
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (n_ == 0) return Status::Ok();
    const float* s = scale_.as<float>();
    const float* z = zp_.as<float>();
    if (quantize_)
      return dispatch_float(in_dtype_, name_, [&](auto t_tag) {
        using T = decltype(t_tag);
        return dispatch_quantized(out_dtype_, name_, [&](auto q_tag) {
          using Q = decltype(q_tag);
          quantize_kernel<T, Q><<<blocks_for(n_), 256, 0, rc.stream>>>(in[0].as<const T>(), out[0].as<Q>(), n_, stride_,
                                                                       channels_, s, z);
          return check_launch("quantize_kernel");
        });
      });
    const void* x = constant_x_.get() ? constant_x_.get() : in[0].data;
    return dispatch_quantized(in_dtype_, name_, [&](auto q_tag) {
      using Q = decltype(q_tag);
      return dispatch_float(out_dtype_, name_, [&](auto t_tag) {
        using T = decltype(t_tag);
        dequantize_kernel<Q, T><<<blocks_for(n_), 256, 0, rc.stream>>>(static_cast<const Q*>(x), out[0].as<T>(), n_,
                                                                       stride_, channels_, s, z);
        return check_launch("dequantize_kernel");
      });
    });
  }

  std::string tactic() const override { return channels_ > 1 ? "kernel:per-axis" : "kernel:per-tensor"; }
  size_t weight_bytes() const override { return scale_.bytes() + zp_.bytes() + constant_x_.bytes(); }

 private:
  std::string name_;
  bool quantize_;
  int64_t axis_, channels_;
  DeviceBuffer scale_, zp_, constant_x_;
  DType constant_dtype_;
  int64_t n_ = 0, stride_ = 1;
  DType in_dtype_ = DType::kUndefined, out_dtype_ = DType::kUndefined;
};

Expected<LayerPtr> lower_qdq(LowerContext& ctx, bool quantize) {
  const Tensor* scale = ctx.constant(1);
  if (!scale) return ctx.unsupported_here("a scale computed at run time has no GPU lowering (it must be a constant)");
  KILN_RETURN_IF_ERROR(ops::check_qdq_scales(ctx.node, *scale));
  const int64_t rank = static_cast<int64_t>(ctx.inputs[0].shape.size());
  KILN_ASSIGN_OR_RETURN(ops::QdqAttrs a, ops::parse_qdq_attrs(ctx.node, rank, scale->shape()));
  const bool has_zp = ctx.node.input(2) != nullptr;
  const Tensor* zp = has_zp ? ctx.constant(2) : nullptr;
  if (has_zp && !zp) return ctx.unsupported_here("a zero point computed at run time has no GPU lowering");
  std::vector<float> zf(static_cast<size_t>(scale->numel()), 0.f);
  if (zp) {
    if (zp->numel() != scale->numel()) return ctx.invalid("the zero point and the scale differ in size");
    for (int64_t i = 0; i < zp->numel(); ++i) zf[static_cast<size_t>(i)] = static_cast<float>(zp->get_as_int64(i));
  }
  const std::vector<float> sf = scale->to_float_vector();
  KILN_ASSIGN_OR_RETURN(DeviceBuffer ds, DeviceBuffer::upload(sf.data(), sf.size() * sizeof(float), "QDQ scale"));
  KILN_ASSIGN_OR_RETURN(DeviceBuffer dz, DeviceBuffer::upload(zf.data(), zf.size() * sizeof(float), "QDQ zero point"));
  ctx.take_constant(1);
  if (zp) ctx.take_constant(2);
  DeviceBuffer constant_x;
  DType constant_dtype = DType::kUndefined;
  if (quantize) {
    KILN_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node.attr_int("output_dtype", 0));
    const DType q = zp ? zp->dtype() : (output_dtype ? static_cast<DType>(output_dtype) : DType::kUint8);
    KILN_RETURN_IF_ERROR(fp32math::require_float_input(ctx, 0, ctx.inputs[0].layout));
    ctx.outputs[0].dtype = q;
  } else {
    if (const Tensor* x = ctx.constant(0)) {  // an int8 weight: uploaded as is, no float copy
      KILN_ASSIGN_OR_RETURN(constant_x, DeviceBuffer::upload(x->raw(), x->nbytes(), "QDQ quantized weight"));
      constant_dtype = x->dtype();
      ctx.take_constant(0);
    }
    ctx.outputs[0].dtype = ctx.float_dtype();
  }
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  const int64_t channels = a.per_axis ? a.channels : 1;
  return LayerPtr(new QdqLayer(ctx.node.describe(), quantize, a.axis, channels, std::move(ds), std::move(dz),
                               std::move(constant_x), constant_dtype));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(quantize,
                             CudaLoweringDef{"QuantizeLinear", "", [](LowerContext& c) { return lower_qdq(c, true); }},
                             CudaLoweringDef{"DequantizeLinear", "",
                                             [](LowerContext& c) { return lower_qdq(c, false); }});

}  // namespace kiln::cuda
