// MaxUnpool (opsets 9, 11): scatters X into zeros at the flat indices I (MaxPool's Indices output) of an
// output whose spatial dims are output_shape (input 2) or (in - 1) * stride + kernel - pads. The shared size
// rule is maxunpool_shape(); kernel: cpu/kernels/unpool.cc.
#include "ops/unpool.h"

#include "ops/registry.h"
#include "ops/window.h"

namespace kiln {

Expected<std::vector<int64_t>> maxunpool_spatial(const Node& node, const std::vector<int64_t>& in) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs w, read_window_attrs(node, in.size(), {}, false));
  std::vector<int64_t> out;
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t size = (in[d] - 1) * w.strides[d] + w.kernel[d] - w.pads[d] - w.pads[d + in.size()];
    if (in[d] > 0 && size < 1)
      return node.error(StatusCode::kInvalidInput, "spatial dim " + std::to_string(d) + " of the output would be " +
                                                       std::to_string(size) + " (input " + std::to_string(in[d]) + ")");
    out.push_back(in[d] == 0 ? 0 : size);
  }
  return out;
}

namespace {

Status infer_maxunpool(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t)) return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported");
  if (ctx.input_dtype(1) != DType::kInt64) return ctx.invalid("indices I must be int64");
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known && x.rank() < 3) return ctx.invalid("X " + x.to_string() + " must be N x C x spatial");
  if (ctx.has_input(2)) {
    if (const Tensor* shape = ctx.input_constant(2)) {
      std::vector<Dim> dims;
      for (int64_t v : shape->to_int64_vector()) {
        if (v < 0) return ctx.invalid("output_shape has a negative entry " + std::to_string(v));
        dims.emplace_back(v);
      }
      ctx.set_output(0, t, SymShape(std::move(dims)));
    } else {
      const SymShape& s = ctx.input_shape(2);
      ctx.set_output(0, t, s.rank_known && s.rank() == 1 && s.dims[0].known()
                               ? SymShape(std::vector<Dim>(static_cast<size_t>(s.dims[0].value)))
                               : SymShape());
    }
    return Status::Ok();
  }
  if (!x.rank_known) {
    ctx.set_output(0, t, SymShape());
    return Status::Ok();
  }
  std::vector<int64_t> in;
  bool known = true;
  for (size_t d = 2; d < x.dims.size(); ++d) {
    known = known && x.dims[d].known();
    in.push_back(x.dims[d].known() ? x.dims[d].value : 1);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> out, maxunpool_spatial(ctx.node(), in));
  std::vector<Dim> dims = {x.dims[0], x.dims[1]};
  for (size_t d = 0; d < out.size(); ++d) dims.push_back(known ? Dim(out[d]) : Dim());
  ctx.set_output(0, t, SymShape(std::move(dims)));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(unpool, OpDef{"MaxUnpool", "", 9, 2, 3, infer_maxunpool,
                                "scatters values back to MaxPool's indices (output_shape input or the window rule)"});

}  // namespace kiln
