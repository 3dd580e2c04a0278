// Conv and ConvTranspose: attribute checks, shape/type rules and MAC counts.
#include "ops/registry.h"
#include "ops/window.h"

namespace kiln {
namespace {

bool is_float_type(DType t) { return dtype_is_float(t); }

// Static element count of a value's shape, or -1.
int64_t static_numel(const Value* v) {
  if (!v) return -1;
  auto s = v->shape.to_static();
  return s ? numel(*s) : -1;
}

// Checks the common Conv/ConvTranspose preconditions and returns the spatial rank (or -1 when unknown).
// kiln.QConv (ops/fused.cc) delegates here too: int8 X and W, float32 bias.
Expected<int64_t> check_conv_inputs(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  const bool quantized = ctx.node().op_type == "QConv" && ctx.node().domain == "kiln";
  if (quantized ? t != DType::kInt8 : !is_float_type(t))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported (" +
                                (quantized ? "int8" : "float types") + " only)");
  if (ctx.input_dtype(1) != t)
    return ctx.invalid(std::string("weight dtype ") + dtype_name(ctx.input_dtype(1)) + " differs from input dtype " +
                       dtype_name(t));
  const DType bias_t = quantized ? DType::kFloat32 : t;
  if (ctx.has_input(2) && ctx.input_dtype(2) != bias_t)
    return ctx.invalid(std::string("bias dtype ") + dtype_name(ctx.input_dtype(2)) + " is not " +
                       dtype_name(bias_t));
  const SymShape& x = ctx.input_shape(0);
  const SymShape& w = ctx.input_shape(1);
  if (x.rank_known && x.rank() < 3)
    return ctx.invalid("input X has rank " + std::to_string(x.rank()) + ", expected N x C x spatial (rank >= 3)");
  if (x.rank_known && w.rank_known && x.rank() != w.rank())
    return ctx.invalid("input X " + x.to_string() + " and weight W " + w.to_string() + " have different ranks");
  if (w.rank_known && w.rank() < 3)
    return ctx.invalid("weight W has rank " + std::to_string(w.rank()) + ", expected >= 3");
  const int64_t rank = x.rank_known ? x.rank() : w.rank();
  return rank < 0 ? -1 : rank - 2;
}

// Output spatial dims; unknown when the kernel extent is not known statically.
Expected<std::vector<Dim>> conv_spatial(InferContext& ctx, int64_t spatial, bool transpose) {
  const Node& node = ctx.node();
  const SymShape& x = ctx.input_shape(0);
  const SymShape& w = ctx.input_shape(1);
  std::vector<int64_t> kernel(spatial, -1);
  if (w.rank_known)
    for (int64_t d = 0; d < spatial; ++d) kernel[d] = w.dims[d + 2].known() ? w.dims[d + 2].value : -1;
  bool all_known = node.has_attr("kernel_shape");
  if (!all_known) {
    all_known = true;
    for (int64_t k : kernel) all_known = all_known && k >= 0;
  }
  if (!all_known) return std::vector<Dim>(spatial, Dim());
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, read_window_attrs(node, spatial, kernel, false));
  std::vector<Dim> in(spatial, Dim());
  if (x.rank_known) in.assign(x.dims.begin() + 2, x.dims.end());
  return window_output_dims(node, attrs, in, transpose);
}

Status check_bias(InferContext& ctx, const Dim& channels) {
  if (!ctx.has_input(2)) return Status::Ok();
  const SymShape& b = ctx.input_shape(2);
  if (b.rank_known && b.rank() != 1) return ctx.invalid("bias B has shape " + b.to_string() + ", expected 1-D");
  if (b.rank_known && b.dims[0].known() && channels.known() && b.dims[0].value != channels.value)
    return ctx.invalid("bias B has " + b.dims[0].to_string() + " entries but the conv has " + channels.to_string() +
                       " output channels");
  return Status::Ok();
}

// The start both rules share: input checks and the group attribute. spatial < 0: the rank is unknown and
// the output (input dtype, unknown shape) is already set.
struct ConvHead {
  int64_t spatial = -1;
  int64_t group = 1;
};
Expected<ConvHead> conv_head(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t spatial, check_conv_inputs(ctx));
  if (spatial < 0) {
    ctx.set_output(0, ctx.input_dtype(0), SymShape());
    return ConvHead{};
  }
  KILN_ASSIGN_OR_RETURN(int64_t group, ctx.node().attr_int("group", 1));
  if (group < 1) return ctx.invalid("attribute 'group' must be >= 1, got " + std::to_string(group));
  return ConvHead{spatial, group};
}

// The end both rules share: bias check, then [batch, out_c, spatial...].
Status set_conv_output(InferContext& ctx, int64_t spatial, bool transpose, const Dim& batch, const Dim& out_c) {
  KILN_RETURN_IF_ERROR(check_bias(ctx, out_c));
  KILN_ASSIGN_OR_RETURN(std::vector<Dim> dims, conv_spatial(ctx, spatial, transpose));
  dims.insert(dims.begin(), {batch, out_c});
  ctx.set_output(0, ctx.input_dtype(0), SymShape(std::move(dims)));
  return Status::Ok();
}

Status infer_conv(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ConvHead head, conv_head(ctx));
  if (head.spatial < 0) return Status::Ok();
  const int64_t spatial = head.spatial, group = head.group;
  const SymShape& x = ctx.input_shape(0);
  const SymShape& w = ctx.input_shape(1);
  Dim batch = x.rank_known ? x.dims[0] : Dim();
  Dim out_c = w.rank_known ? w.dims[0] : Dim();
  if (x.rank_known && w.rank_known && x.dims[1].known() && w.dims[1].known() &&
      x.dims[1].value != w.dims[1].value * group)
    return ctx.invalid("input X has " + std::to_string(x.dims[1].value) + " channels but weight W " + w.to_string() +
                       " with group=" + std::to_string(group) + " expects " + std::to_string(w.dims[1].value * group));
  if (out_c.known() && out_c.value % group != 0)
    return ctx.invalid("weight W has " + std::to_string(out_c.value) +
                       " output channels, not divisible by group=" + std::to_string(group));
  return set_conv_output(ctx, spatial, false, batch, out_c);
}

Status infer_conv_transpose(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ConvHead head, conv_head(ctx));
  if (head.spatial < 0) return Status::Ok();
  const int64_t spatial = head.spatial, group = head.group;
  const SymShape& x = ctx.input_shape(0);
  const SymShape& w = ctx.input_shape(1);
  Dim batch = x.rank_known ? x.dims[0] : Dim();
  Dim out_c = w.rank_known && w.dims[1].known() ? Dim(w.dims[1].value * group) : Dim();
  if (x.rank_known && w.rank_known && x.dims[1].known() && w.dims[0].known() && x.dims[1].value != w.dims[0].value)
    return ctx.invalid("input X has " + std::to_string(x.dims[1].value) + " channels but weight W " + w.to_string() +
                       " expects " + std::to_string(w.dims[0].value));
  if (w.rank_known && w.dims[0].known() && w.dims[0].value % group != 0)
    return ctx.invalid("weight W has " + std::to_string(w.dims[0].value) +
                       " input channels, not divisible by group=" + std::to_string(group));
  return set_conv_output(ctx, spatial, true, batch, out_c);
}

// Weight elements per output element (Conv) or per input element (ConvTranspose): prod(W.shape[1:]).
int64_t weight_fan(const Node& n) {
  const int64_t w = static_numel(n.input(1));
  auto ws = n.input(1) ? n.input(1)->shape.to_static() : std::nullopt;
  if (w < 0 || !ws || ws->empty() || (*ws)[0] == 0) return -1;
  return w / (*ws)[0];
}

// Conv: N*Cout*prod(out spatial) outputs, each (Cin/group)*prod(kernel) MACs.
int64_t conv_macs(const Node& n) {
  const int64_t out = static_numel(n.output(0)), fan = weight_fan(n);
  return out < 0 || fan < 0 ? 0 : out * fan;
}

// ConvTranspose: every input element scatters into (Cout/group)*prod(kernel) outputs.
int64_t conv_transpose_macs(const Node& n) {
  const int64_t in = static_numel(n.input(0)), fan = weight_fan(n);
  return in < 0 || fan < 0 ? 0 : in * fan;
}

}  // namespace

KILN_REGISTER_OPS(conv,
                  OpDef{"Conv", "", 1, 2, 3, infer_conv,
                        "N-D convolution (groups, dilations, strides, pads, auto_pad, optional bias)", conv_macs},
                  OpDef{"ConvTranspose", "", 1, 2, 3, infer_conv_transpose,
                        "N-D transposed convolution (groups, dilations, output_padding, output_shape, auto_pad)",
                        conv_transpose_macs});

}  // namespace kiln
