// GPU lowerings of Conv (ai.onnx) and kiln.FusedConv: attributes -> ConvSpec, input layout/dtype requests,
// and the weights and bias uploaded once in the form cuDNN wants; the layer itself is in conv_layer.cc.
#include <memory>

#include "cuda/layers/conv_layer.h"
#include "ops/fused.h"
#include "ops/window.h"

namespace kiln::cuda {
namespace {

// Weights [K, C/g, (R,) S] as float32 in cuDNN's filter order: KCRS for NCHW, KRSC for NHWC; then in the
// storage dtype.
Expected<DeviceBuffer> upload_weights(const Tensor& w, const ConvSpec& spec) {
  const std::vector<float> f = w.to_float_vector();
  const int64_t k = spec.out_c, c = spec.in_c_per_group, r = spec.kernel[0], s = spec.kernel[1];
  std::vector<float> ordered = f;
  if (spec.layout == Layout::kNHWC)
    for (int64_t ki = 0; ki < k; ++ki)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t ri = 0; ri < r; ++ri)
          for (int64_t si = 0; si < s; ++si)
            ordered[((ki * r + ri) * s + si) * c + ci] = f[((ki * c + ci) * r + ri) * s + si];
  Tensor t = Tensor::from_vector<float>({k, c, r, s}, ordered);
  if (spec.dtype != DType::kFloat32) {
    KILN_ASSIGN_OR_RETURN(t, convert_dtype(t, spec.dtype));
  }
  return DeviceBuffer::upload(t.raw(), t.nbytes(), "conv weights");
}

// Depthwise filters (one input channel per group) as float32 [R*S][K] for kiln's depthwise kernel, which
// reads the K channels of one tap as consecutive vectors.
Expected<DeviceBuffer> upload_depthwise_weights(const Tensor& w, const ConvSpec& spec) {
  const std::vector<float> f = w.to_float_vector();
  const int64_t k = spec.out_c, taps = spec.kernel[0] * spec.kernel[1];
  std::vector<float> ordered(f.size());
  for (int64_t ki = 0; ki < k; ++ki)
    for (int64_t t = 0; t < taps; ++t) ordered[static_cast<size_t>(t * k + ki)] = f[static_cast<size_t>(ki * taps + t)];
  return DeviceBuffer::upload(ordered.data(), ordered.size() * sizeof(float), "depthwise conv weights");
}

Expected<DeviceBuffer> upload_floats(const std::vector<float>& v, DType dtype, const char* what) {
  Tensor t = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  if (dtype != DType::kFloat32) {
    KILN_ASSIGN_OR_RETURN(t, convert_dtype(t, dtype));
  }
  return DeviceBuffer::upload(t.raw(), t.nbytes(), what);
}

// Kernel, strides, dilations and pads from the node (1-D convs get a unit height).
Status read_geometry(LowerContext& ctx, const Tensor& w, ConvSpec& spec) {
  const Node& node = ctx.node;
  spec.spatial = static_cast<int>(w.rank()) - 2;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  KILN_ASSIGN_OR_RETURN(WindowAttrs a, read_window_attrs(node, kernel.size(), kernel, false));
  KILN_ASSIGN_OR_RETURN(spec.group, node.attr_int("group", 1));
  if (spec.group < 1) return ctx.invalid("attribute 'group' must be >= 1");
  spec.out_c = w.dim(0);
  spec.in_c_per_group = w.dim(1);
  if (spec.out_c % spec.group != 0)
    return ctx.invalid("weight W has " + std::to_string(spec.out_c) + " output channels, not divisible by group " +
                       std::to_string(spec.group));
  const int off = spec.spatial == 2 ? 0 : 1;  // 1-D: only the width entries come from the node
  const size_t n = a.spatial();
  for (size_t d = 0; d < n; ++d) {
    spec.kernel[d + off] = a.kernel[d];
    spec.strides[d + off] = a.strides[d];
    spec.dilations[d + off] = a.dilations[d];
    spec.pads[d + off] = a.pads[d];
    spec.pads[d + off + 2] = a.pads[d + n];
  }
  spec.auto_pad = a.auto_pad;
  return Status::Ok();
}

Status read_epilogue(LowerContext& ctx, bool fused, ConvSpec& spec) {
  const Node& node = ctx.node;
  spec.has_bias = node.input(2) != nullptr;
  spec.has_residual = fused && node.input(3) != nullptr;
  if (!fused) return Status::Ok();
  KILN_ASSIGN_OR_RETURN(std::string name, node.attr_string("activation", ""));
  if (!parse_fused_activation(name, spec.act))
    return ctx.unsupported_here("activation '" + name + "' is not supported");
  // Same defaults as the CPU reference kernel (cpu/kernels/fused.cc).
  KILN_ASSIGN_OR_RETURN(spec.alpha, node.attr_float("alpha", 0.f));
  KILN_ASSIGN_OR_RETURN(spec.beta, node.attr_float("beta", 0.f));
  return Status::Ok();
}

Expected<std::unique_ptr<Layer>> make_conv(LowerContext& ctx, bool fused) {
  const Tensor* w = ctx.constant(1);
  if (!w)
    return ctx.unsupported_here(
        "weight W is computed at run time; GPU convolutions need constant weights "
        "(an initializer or a value constant folding can compute)");
  if (w->rank() != 3 && w->rank() != 4)
    return ctx.unsupported_here("only 1-D and 2-D convolutions have a GPU lowering; W is " + w->describe());
  if (ctx.node.input(2) && !ctx.constant(2))
    return ctx.unsupported_here("bias B is computed at run time; GPU convolutions need a constant bias");
  ConvSpec spec;
  spec.where = ctx.node.describe();
  KILN_RETURN_IF_ERROR(read_geometry(ctx, *w, spec));
  KILN_RETURN_IF_ERROR(read_epilogue(ctx, fused, spec));
  spec.precision = ctx.precision;
  spec.dtype = ctx.float_dtype();
  // Tensor-core precisions run NHWC (cuDNN's fast layout for them); fp32 stays NCHW.
  spec.layout = spec.spatial == 2 && ctx.precision != Precision::kFP32 ? Layout::kNHWC : Layout::kRowMajor;
  KILN_RETURN_IF_ERROR(ctx.require_input(0, spec.dtype, spec.layout));
  if (spec.has_residual) KILN_RETURN_IF_ERROR(ctx.require_input(3, spec.dtype, spec.layout));
  if (ctx.outputs.empty()) return ctx.invalid("has no output");
  ctx.outputs[0].dtype = spec.dtype;
  ctx.outputs[0].layout = spec.layout;

  ConvBuffers buf;
  if (spec.in_c_per_group == 1) {
    KILN_ASSIGN_OR_RETURN(buf.depthwise, upload_depthwise_weights(*w, spec));
  }
  KILN_ASSIGN_OR_RETURN(buf.weights, upload_weights(*ctx.take_constant(1), spec));
  std::vector<float> bias(static_cast<size_t>(spec.out_c), 0.f);
  if (spec.has_bias) {
    const Tensor* b = ctx.take_constant(2);
    if (b->numel() != spec.out_c)
      return ctx.invalid("bias B " + b->describe() + " does not have " + std::to_string(spec.out_c) + " entries");
    bias = b->to_float_vector();
  }
  if (spec.has_bias) {
    KILN_ASSIGN_OR_RETURN(buf.bias_f32, upload_floats(bias, DType::kFloat32, "conv bias"));
  }
  // In the storage dtype for the fused calls: the legacy one (zeros without a bias) and the graph API's
  // bias ADD.
  if (spec.fusable() || spec.has_bias) {
    KILN_ASSIGN_OR_RETURN(buf.bias_act, upload_floats(bias, spec.dtype, "conv bias (fused call)"));
  }
  return std::unique_ptr<Layer>(std::make_unique<ConvLayer>(std::move(spec), std::move(buf)));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(conv, CudaLoweringDef{"Conv", "", [](LowerContext& c) { return make_conv(c, false); }},
                             CudaLoweringDef{"FusedConv", kKilnDomain,
                                             [](LowerContext& c) { return make_conv(c, true); }});

}  // namespace kiln::cuda
