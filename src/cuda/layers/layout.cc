// CUDA lowerings of the layout ops: Transpose (a view when it only renames the memory order), Concat,
// Split, Slice, Tile, DepthToSpace and SpaceToDepth as strided copies that read any input layout, and Pad.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>

#include "core/tensor.h"
#include "cuda/layers/move_util.h"
#include "ops/tensor_util.h"

namespace kiln::cuda {
namespace {

using Jobs = Expected<std::vector<CopyJob>>;

Expected<CopyJob> job(const Shape& dims, const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
                      int64_t src_base = 0, int64_t dst_base = 0, size_t input = 0, size_t output = 0) {
  KILN_ASSIGN_OR_RETURN(CopyPlan plan, make_copy_plan(dims, src, dst, src_base, dst_base));
  return CopyJob{plan, input, output};
}

Jobs single(Expected<CopyJob> j) {
  if (!j.ok()) return j.status();
  return std::vector<CopyJob>{*j};
}

// Constant integer input i (taken so the builder does not upload it), nullopt when absent; kUnsupported
// when it is computed at run time.
Expected<std::optional<std::vector<int64_t>>> constant_ints(LowerContext& ctx, size_t i, const char* what) {
  if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::kUndefined) return std::optional<std::vector<int64_t>>();
  const Tensor* t = ctx.take_constant(i);
  if (!t)
    return ctx.unsupported_here(std::string(what) + " computed at run time has no CUDA lowering (constants only)");
  return std::optional<std::vector<int64_t>>(t->to_int64_vector());
}

// ---- Transpose ---------------------------------------------------------------------------------------

Expected<std::unique_ptr<Layer>> make_transpose(LowerContext& ctx) {
  const TensorDesc& x = ctx.inputs[0];
  const int64_t r = static_cast<int64_t>(x.shape.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.node.attr_ints("perm", {}));
  if (perm.empty()) {
    perm.resize(r);
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  auto n = normalize_axes(perm, r, "perm entry");
  if (!n.ok() || static_cast<int64_t>(perm.size()) != r)
    return ctx.invalid("perm does not permute the " + std::to_string(r) + " input dims");
  perm = *n;
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  // The output's memory order equals the input's: same bytes, so a view.
  const std::vector<int64_t> nhwc_order{0, 2, 3, 1}, to_nchw{0, 3, 1, 2};
  std::vector<int64_t> identity(r);
  std::iota(identity.begin(), identity.end(), 0);
  const bool row_major_in = x.layout == Layout::kRowMajor;
  if (!ctx.constant(0) && ((row_major_in && perm == identity) || (x.layout == Layout::kNHWC && perm == nhwc_order) ||
                           (row_major_in && perm == to_nchw))) {
    if (row_major_in && perm == to_nchw) ctx.outputs[0].layout = Layout::kNHWC;  // [N,H,W,C] bytes = NHWC
    ctx.alias_output_to_input();
    return std::unique_ptr<Layer>(new FunctionLayer("view", nullptr));
  }
  return make_layer<CopyLayer>(ctx.node, [perm](const Node& node, const ConfigureContext& c) -> Jobs {
    const TensorDesc& in = c.inputs[0];
    if (in.shape.size() != perm.size()) return invalid_input("input rank differs from perm's length");
    const std::vector<int64_t> s = in.strides();
    Shape dims;
    std::vector<int64_t> src;
    for (int64_t p : perm) {
      dims.push_back(in.shape[p]);
      src.push_back(s[p]);
    }
    KILN_RETURN_IF_ERROR(expect_shape(node, c.outputs[0], dims, "output"));
    return single(job(dims, src, c.outputs[0].strides()));
  });
}

// ---- Concat / Split ------------------------------------------------------------------------------------

Expected<std::unique_ptr<Layer>> make_concat(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  const DType dtype = stored_dtype(ctx, 0);
  bool all_nhwc = true;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (ctx.inputs[i].dtype == DType::kUndefined) return ctx.invalid("input " + std::to_string(i) + " is missing");
    if (stored_dtype(ctx, i) != dtype) KILN_RETURN_IF_ERROR(ctx.require_input(i, dtype, ctx.inputs[i].layout));
    all_nhwc = all_nhwc && ctx.inputs[i].layout == Layout::kNHWC;
  }
  ctx.outputs[0].dtype = dtype;
  ctx.outputs[0].layout = all_nhwc ? Layout::kNHWC : Layout::kRowMajor;
  return make_layer<CopyLayer>(ctx.node, [axis](const Node& node, const ConfigureContext& c) -> Jobs {
    const TensorDesc& y = c.outputs[0];
    KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, static_cast<int64_t>(y.shape.size()), "axis"));
    const std::vector<int64_t> ys = y.strides();
    Shape want = c.inputs[0].shape;
    want[a] = 0;
    std::vector<CopyJob> jobs;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const TensorDesc& x = c.inputs[i];
      if (x.shape.size() != y.shape.size()) return invalid_input("input " + x.describe() + " differs in rank");
      KILN_ASSIGN_OR_RETURN(CopyJob j, job(x.shape, x.strides(), ys, 0, want[a] * ys[a], i, 0));
      if (j.plan.numel > 0) jobs.push_back(j);
      want[a] += x.shape[a];
    }
    KILN_RETURN_IF_ERROR(expect_shape(node, y, want, "output"));
    return jobs;
  });
}

Expected<std::unique_ptr<Layer>> make_split(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  if (ctx.inputs.size() > 1 && ctx.constant(1)) ctx.take_constant(1);  // sizes come from the output shapes
  for (size_t k = 0; k < ctx.outputs.size(); ++k) {
    if (!ctx.node.output(k)) return ctx.unsupported_here("Split with an omitted output has no CUDA lowering");
    ctx.outputs[k].dtype = stored_dtype(ctx, 0);
    ctx.outputs[k].layout = Layout::kRowMajor;
  }
  return make_layer<CopyLayer>(ctx.node, [axis](const Node& node, const ConfigureContext& c) -> Jobs {
    const TensorDesc& x = c.inputs[0];
    KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, static_cast<int64_t>(x.shape.size()), "axis"));
    const std::vector<int64_t> xs = x.strides();
    std::vector<CopyJob> jobs;
    int64_t offset = 0;
    for (size_t k = 0; k < c.outputs.size(); ++k) {
      const TensorDesc& y = c.outputs[k];
      Shape want = x.shape;
      want[a] = y.shape.size() == x.shape.size() ? y.shape[a] : 0;
      KILN_RETURN_IF_ERROR(expect_shape(node, y, want, ("output " + std::to_string(k)).c_str()));
      KILN_ASSIGN_OR_RETURN(CopyJob j, job(y.shape, xs, y.strides(), offset * xs[a], 0, 0, k));
      if (j.plan.numel > 0) jobs.push_back(j);
      offset += want[a];
    }
    if (offset != x.shape[a])
      return invalid_input("the outputs cover " + std::to_string(offset) + " of the " + std::to_string(x.shape[a]) +
                           " elements along the split axis");
    return jobs;
  });
}

// ---- Slice ---------------------------------------------------------------------------------------------

Expected<std::unique_ptr<Layer>> make_slice(LowerContext& ctx) {
  const Node& node = ctx.node;
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.opset < 10) {
    KILN_ASSIGN_OR_RETURN(starts, node.attr_ints("starts", {}));
    KILN_ASSIGN_OR_RETURN(ends, node.attr_ints("ends", {}));
    KILN_ASSIGN_OR_RETURN(axes, node.attr_ints("axes", {}));
  } else {
    const char* names[] = {"starts", "ends", "axes", "steps"};
    std::vector<int64_t>* into[] = {&starts, &ends, &axes, &steps};
    for (size_t i = 0; i < 4; ++i) {
      KILN_ASSIGN_OR_RETURN(auto v, constant_ints(ctx, i + 1, names[i]));
      if (v) *into[i] = std::move(*v);
    }
  }
  const size_t n = starts.size();
  if (axes.empty()) {
    axes.resize(n);
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    return ctx.invalid("starts, ends, axes and steps differ in length");
  for (int64_t s : steps)
    if (s == 0) return ctx.invalid("Slice step cannot be 0");
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  return make_layer<CopyLayer>(node, [starts, ends, axes, steps](const Node& nd, const ConfigureContext& c) -> Jobs {
    const TensorDesc& x = c.inputs[0];
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ax, normalize_axes(axes, static_cast<int64_t>(x.shape.size()), "axis"));
    std::vector<int64_t> src = x.strides();
    const std::vector<int64_t> xs = src;
    Shape dims = x.shape;
    int64_t base = 0;
    for (size_t k = 0; k < ax.size(); ++k) {
      const SliceRange r = slice_range(starts[k], ends[k], steps[k], x.shape[ax[k]]);
      dims[ax[k]] = r.count;
      if (r.count > 0) base += r.start * xs[ax[k]];
      src[ax[k]] = xs[ax[k]] * steps[k];
    }
    KILN_RETURN_IF_ERROR(expect_shape(nd, c.outputs[0], dims, "output"));
    return single(job(dims, src, c.outputs[0].strides(), base));
  });
}

// ---- Tile ----------------------------------------------------------------------------------------------

Expected<std::unique_ptr<Layer>> make_tile(LowerContext& ctx) {
  if (ctx.constant(1)) ctx.take_constant(1);  // the repeats follow from the output shape
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<CopyLayer>(ctx.node, [](const Node& node, const ConfigureContext& c) -> Jobs {
    const TensorDesc& x = c.inputs[0];
    const TensorDesc& y = c.outputs[0];
    if (y.shape.size() != x.shape.size()) return invalid_input("output rank differs from the input's");
    const std::vector<int64_t> xs = x.strides(), ys = y.strides();
    // Output dim k = (repeat, element): dims [reps_k, in_k] with the repeat reading stride 0.
    Shape dims;
    std::vector<int64_t> src, dst;
    for (size_t k = 0; k < x.shape.size(); ++k) {
      if (x.shape[k] == 0 ? y.shape[k] != 0 : y.shape[k] % x.shape[k] != 0)
        return invalid_input("output " + y.describe() + " is not a tiling of " + x.describe());
      const int64_t reps = x.shape[k] == 0 ? 0 : y.shape[k] / x.shape[k];
      dims.insert(dims.end(), {reps, x.shape[k]});
      src.insert(src.end(), {0, xs[k]});
      dst.insert(dst.end(), {x.shape[k] * ys[k], ys[k]});
    }
    return single(job(dims, src, dst));
  });
}

// ---- DepthToSpace / SpaceToDepth --------------------------------------------------------------------------

Expected<std::unique_ptr<Layer>> make_depth_space(LowerContext& ctx, bool to_space) {
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.node.attr_int("blocksize", 0));
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.node.attr_string("mode", "DCR"));
  if (b <= 0) return ctx.invalid("blocksize must be > 0");
  if (mode != "DCR" && mode != "CRD") return ctx.invalid("mode must be DCR or CRD, got '" + mode + "'");
  const bool crd = mode == "CRD";
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<CopyLayer>(ctx.node, [b, crd, to_space](const Node& node, const ConfigureContext& c) -> Jobs {
    const TensorDesc& x = c.inputs[0];
    const TensorDesc& y = c.outputs[0];
    if (x.shape.size() != 4) return invalid_input("the input must be 4-D, got " + x.describe());
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const std::vector<int64_t> s = x.strides(), t = y.strides();
    if (to_space) {
      if (C % (b * b)) return invalid_input("channels " + std::to_string(C) + " not divisible by blocksize^2");
      const int64_t c0 = C / (b * b);
      KILN_RETURN_IF_ERROR(expect_shape(node, y, {N, c0, H * b, W * b}, "output"));
      // y[n, k, h*b + i, w*b + j] = x[n, channel(k, i, j), h, w]; iteration dims [N, c, H, i, W, j].
      const int64_t sk = crd ? b * b * s[1] : s[1], si = crd ? b * s[1] : b * c0 * s[1], sj = crd ? s[1] : c0 * s[1];
      return single(
          job({N, c0, H, b, W, b}, {s[0], sk, s[2], si, s[3], sj}, {t[0], t[1], b * t[2], t[2], b * t[3], t[3]}));
    }
    if (H % b || W % b) return invalid_input("height and width must be divisible by blocksize");
    KILN_RETURN_IF_ERROR(expect_shape(node, y, {N, C * b * b, H / b, W / b}, "output"));
    // y[n, (i*b + j)*C + k, h, w] = x[n, k, h*b + i, w*b + j]; iteration dims [N, i, j, C, H/b, W/b].
    return single(job({N, b, b, C, H / b, W / b}, {s[0], s[2], s[3], s[1], b * s[2], b * s[3]},
                      {t[0], b * C * t[1], C * t[1], t[1], t[2], t[3]}));
  });
}

// ---- Pad -----------------------------------------------------------------------------------------------

class PadLayer : public Layer {
 public:
  PadLayer(const Node& node, PadMode mode, std::vector<int64_t> pads, std::vector<int64_t> axes, uint64_t value)
      : node_(detached_node(node)), mode_(mode), pads_(std::move(pads)), axes_(std::move(axes)), value_(value) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    const TensorDesc& y = ctx.outputs[0];
    const int64_t r = static_cast<int64_t>(x.shape.size());
    if (r > kMaxMoveRank) return node_.error(StatusCode::kUnsupported, "Pad of rank > 8 has no CUDA lowering");
    std::vector<int64_t> axes = axes_;
    if (axes.empty()) {
      axes.resize(r);
      std::iota(axes.begin(), axes.end(), 0);
    }
    auto na = normalize_axes(axes, r, "axis");
    if (!na.ok()) return node_.error(StatusCode::kInvalidInput, na.status().message());
    if (pads_.size() != 2 * na->size())
      return node_.error(StatusCode::kInvalidInput, "pads must have 2 entries per padded axis");
    std::vector<int64_t> begin(r, 0);
    Shape want = x.shape;
    for (size_t k = 0; k < na->size(); ++k) {
      const int64_t a = (*na)[k];
      begin[a] = pads_[k];
      want[a] += pads_[k] + pads_[k + na->size()];
      if (x.shape[a] == 0 && want[a] > 0 && mode_ != PadMode::kConstant)
        return node_.error(StatusCode::kInvalidInput, "cannot pad an empty axis in this mode");
    }
    KILN_RETURN_IF_ERROR(expect_shape(node_, y, want, "output"));
    // Iterate the output in its memory order so writes are dense.
    const std::vector<int64_t> xs = x.strides(), ys = y.strides();
    std::vector<int64_t> order(r);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ys[a] > ys[b]; });
    PadPlan p;
    p.rank = static_cast<int>(r);
    p.mode = mode_;
    p.value_bits = value_;
    p.numel = 1;
    for (int64_t k = 0; k < r; ++k) {
      const int64_t a = order[k];
      p.out_dims[k] = y.shape[a];
      p.in_dims[k] = x.shape[a];
      p.pad_begin[k] = begin[a];
      p.in_strides[k] = xs[a];
      p.numel *= y.shape[a];
    }
    plan_ = p;
    elem_size_ = dtype_size(x.dtype);
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    return launch_pad(plan_, in[0].data, out[0].data, elem_size_, rc.stream).with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return "kernel:pad"; }

 private:
  Node node_;
  PadMode mode_;
  std::vector<int64_t> pads_, axes_;
  uint64_t value_;
  PadPlan plan_;
  size_t elem_size_ = 0;
};

Expected<std::unique_ptr<Layer>> make_pad(LowerContext& ctx) {
  const Node& node = ctx.node;
  const DType dtype = stored_dtype(ctx, 0);
  KILN_ASSIGN_OR_RETURN(std::string mode_name, node.attr_string("mode", "constant"));
  PadMode mode;
  if (mode_name == "constant")
    mode = PadMode::kConstant;
  else if (mode_name == "edge")
    mode = PadMode::kEdge;
  else if (mode_name == "reflect")
    mode = PadMode::kReflect;
  else if (mode_name == "wrap")
    mode = PadMode::kWrap;
  else
    return ctx.unsupported_here("Pad mode '" + mode_name + "' is not supported");
  std::vector<int64_t> pads, axes;
  Tensor value = Tensor::scalar<float>(0.f);
  if (node.opset < 11) {
    KILN_ASSIGN_OR_RETURN(pads, node.attr_ints("pads", {}));
    KILN_ASSIGN_OR_RETURN(float v, node.attr_float("value", 0.f));
    value = Tensor::scalar<float>(v);
  } else {
    KILN_ASSIGN_OR_RETURN(auto p, constant_ints(ctx, 1, "pads"));
    if (!p) return ctx.invalid("input 'pads' is required");
    pads = std::move(*p);
    if (ctx.inputs.size() > 2 && ctx.inputs[2].dtype != DType::kUndefined) {
      const Tensor* cv = ctx.take_constant(2);
      if (!cv) return ctx.unsupported_here("a constant_value computed at run time has no CUDA lowering");
      if (cv->numel() > 0) value = *cv;
    }
    if (node.opset >= 18) {
      KILN_ASSIGN_OR_RETURN(auto a, constant_ints(ctx, 3, "axes"));
      if (a) axes = std::move(*a);
    }
  }
  // The constant in the stored dtype (a float16 engine stores float activations as float16).
  KILN_ASSIGN_OR_RETURN(Tensor first, value.reshaped({value.numel()}));
  auto one = Tensor::from_bytes(first.dtype(), {}, first.raw(), dtype_size(first.dtype()));
  if (!one.ok()) return one.status();
  auto stored = convert_dtype(*one, dtype);
  if (!stored.ok()) return ctx.unsupported_here("constant_value cannot be stored as " + std::string(dtype_name(dtype)));
  uint64_t bits = 0;
  std::memcpy(&bits, stored->raw(), dtype_size(dtype));
  ctx.outputs[0].dtype = dtype;
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  return make_layer<PadLayer>(node, mode, std::move(pads), std::move(axes), bits);
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(
    layout, CudaLoweringDef{"Transpose", "", make_transpose}, CudaLoweringDef{"Concat", "", make_concat},
    CudaLoweringDef{"Split", "", make_split}, CudaLoweringDef{"Slice", "", make_slice},
    CudaLoweringDef{"Tile", "", make_tile}, CudaLoweringDef{"Pad", "", make_pad},
    CudaLoweringDef{"DepthToSpace", "", [](LowerContext& c) { return make_depth_space(c, true); }},
    CudaLoweringDef{"SpaceToDepth", "", [](LowerContext& c) { return make_depth_space(c, false); }});

}  // namespace kiln::cuda
