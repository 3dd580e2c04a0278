// Shape rules of the ops that rearrange or cut elements: Transpose, Concat, Split, Slice, Tile, Pad,
// DepthToSpace, SpaceToDepth. Concat and Slice of shape-like values keep their symbolic entries.
#include <algorithm>
#include <numeric>

#include "ops/registry.h"
#include "ops/tensor_util.h"

namespace kiln {
namespace {

Status infer_transpose(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.node().attr_ints("perm", {}));
  if (!in.rank_known) {
    ctx.set_output(0, dt, perm.empty() ? SymShape() : SymShape(std::vector<Dim>(perm.size())));
    return Status::Ok();
  }
  const int64_t r = in.rank();
  if (perm.empty()) {
    perm.resize(r);
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  if (static_cast<int64_t>(perm.size()) != r)
    return ctx.invalid("perm has " + std::to_string(perm.size()) + " entries but the input has rank " +
                       std::to_string(r));
  auto n = normalize_axes(perm, r, "perm entry");
  if (!n.ok()) return ctx.invalid(n.status().message());
  std::vector<Dim> out;
  for (int64_t p : *n) out.push_back(in.dims[p]);
  ctx.set_output(0, dt, SymShape(out));
  return Status::Ok();
}

Status infer_concat(InferContext& ctx) {
  if (!ctx.node().has_attr("axis")) return ctx.invalid("Concat needs the axis attribute");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  const DType dt = ctx.input_dtype(0);
  int64_t rank = -1;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("Concat inputs cannot be omitted");
    if (ctx.input_dtype(i) != dt)
      return ctx.invalid(std::string("inputs have different dtypes (") + dtype_name(dt) + " and " +
                         dtype_name(ctx.input_dtype(i)) + ")");
    const SymShape& s = ctx.input_shape(i);
    if (!s.rank_known) continue;
    if (rank >= 0 && s.rank() != rank) return ctx.invalid("inputs have different ranks");
    rank = s.rank();
  }
  if (rank < 0) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, rank, "axis"));
  std::vector<Dim> out(rank);
  out[a] = Dim(0);
  bool first = true;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const SymShape& s = ctx.input_shape(i);
    if (!s.rank_known) {
      out[a] = Dim();
      continue;
    }
    for (int64_t k = 0; k < rank; ++k) {
      if (k == a) {
        out[a] = dim_add(out[a], s.dims[k]);
      } else if (first) {
        out[k] = s.dims[k];
      } else {
        auto m = dim_merge(out[k], s.dims[k]);
        if (!m.ok()) return ctx.invalid("inputs disagree on axis " + std::to_string(k) + ": " + m.status().message());
        out[k] = *m;
      }
    }
    first = false;
  }
  ctx.set_output(0, dt, SymShape(out));
  // Concatenated shape vectors (PyTorch's Shape->Gather->Unsqueeze->Concat) keep their entries.
  if (rank == 1) {
    std::vector<Dim> dims;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      auto d = input_dims(ctx, i);
      if (!d || ctx.input_shape(i).rank() != 1) return Status::Ok();
      dims.insert(dims.end(), d->begin(), d->end());
    }
    set_dims_output(ctx, 0, dims, false);
  }
  return Status::Ok();
}

Status infer_split(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs());
  if (ctx.opset() >= 18 && ctx.node().has_attr("num_outputs")) {
    KILN_ASSIGN_OR_RETURN(int64_t num, ctx.node().attr_int("num_outputs", 0));
    if (num != n_out)
      return ctx.invalid("num_outputs is " + std::to_string(num) + " but the node has " + std::to_string(n_out) +
                         " outputs");
  }
  std::optional<std::vector<int64_t>> split;
  bool split_unknown = false;
  if (ctx.opset() < 13) {
    if (ctx.node().has_attr("split")) {
      KILN_ASSIGN_OR_RETURN(split, ctx.node().attr_ints("split", {}));
    }
  } else if (ctx.has_input(1)) {
    split = input_ints(ctx, 1);
    split_unknown = !split;
  }
  if (!in.rank_known) {
    for (int64_t o = 0; o < n_out; ++o) ctx.set_output(o, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, in.rank(), "axis"));
  const Dim d = in.dims[a];
  std::vector<Dim> sizes(n_out);
  if (split) {
    for (int64_t o = 0; o < n_out && o < static_cast<int64_t>(split->size()); ++o) sizes[o] = (*split)[o];
  }
  if (d.known() && !split_unknown) {
    auto s = split_sizes(d.value, split ? &*split : nullptr, n_out, ctx.opset() >= 18);
    if (!s.ok()) return ctx.invalid(s.status().message());
    for (int64_t o = 0; o < n_out; ++o) sizes[o] = (*s)[o];
  } else if (!split && n_out == 1) {
    sizes[0] = d;
  }
  for (int64_t o = 0; o < n_out; ++o) {
    SymShape s = in;
    s.dims[a] = sizes[o];
    ctx.set_output(o, dt, s);
  }
  return Status::Ok();
}

// Slice parameters: attributes before opset 10, inputs 1..4 from 10. Entries are nullopt when not constant.
struct SliceArgs {
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
};

Expected<SliceArgs> read_slice_args(const InferContext& ctx) {
  SliceArgs a;
  if (ctx.opset() < 10) {
    KILN_ASSIGN_OR_RETURN(a.starts, ctx.node().attr_ints("starts", {}));
    KILN_ASSIGN_OR_RETURN(a.ends, ctx.node().attr_ints("ends", {}));
    if (ctx.node().has_attr("axes")) {
      KILN_ASSIGN_OR_RETURN(a.axes, ctx.node().attr_ints("axes", {}));
    }
  } else {
    a.starts = input_ints(ctx, 1);
    a.ends = input_ints(ctx, 2);
    if (ctx.has_input(3)) a.axes = input_ints(ctx, 3);
    if (ctx.has_input(4)) a.steps = input_ints(ctx, 4);
    // Omitted axes/steps are defaults (known); present but non-constant ones are unknown.
    if (!ctx.has_input(3)) a.axes = std::vector<int64_t>();
    if (!ctx.has_input(4)) a.steps = std::vector<int64_t>();
  }
  if (ctx.opset() < 10) a.steps = std::vector<int64_t>();
  return a;
}

Status infer_slice(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(SliceArgs args, read_slice_args(ctx));
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  const int64_t r = in.rank();
  if (!args.starts || !args.ends || !args.axes || !args.steps) {
    // Rank is kept; which dims change is unknown unless the axes are.
    SymShape out = in;
    for (int64_t k = 0; k < r; ++k) out.dims[k] = Dim();
    if (args.axes && !args.axes->empty()) {
      out = in;
      for (int64_t ax : *args.axes) {
        auto n = normalize_axis(ax, r, "axis");
        if (!n.ok()) return ctx.invalid(n.status().message());
        out.dims[*n] = Dim();
      }
    }
    ctx.set_output(0, dt, out);
    return Status::Ok();
  }
  const size_t n = args.starts->size();
  if (args.ends->size() != n) return ctx.invalid("starts and ends have different lengths");
  std::vector<int64_t> axes = *args.axes, steps = *args.steps;
  if (axes.empty()) {
    axes.resize(n);
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(n, 1);
  if (axes.size() != n || steps.size() != n) return ctx.invalid("starts, ends, axes and steps differ in length");
  auto na = normalize_axes(axes, r, "axis");
  if (!na.ok()) return ctx.invalid(na.status().message());
  SymShape out = in;
  std::vector<SliceRange> ranges(n);
  for (size_t k = 0; k < n; ++k) {
    if (steps[k] == 0) return ctx.invalid("Slice step cannot be 0");
    const Dim d = in.dims[(*na)[k]];
    const int64_t s = (*args.starts)[k], e = (*args.ends)[k], st = steps[k];
    if (d.known()) {
      ranges[k] = slice_range(s, e, st, d.value);
      out.dims[(*na)[k]] = Dim(ranges[k].count);
    } else {
      // The whole axis (forward or reversed) keeps the dim whatever its size.
      const bool whole = (st == 1 && s == 0 && e >= INT32_MAX) || (st == -1 && s == -1 && e <= -INT32_MAX);
      out.dims[(*na)[k]] = whole ? d : Dim();
    }
  }
  ctx.set_output(0, dt, out);
  const std::vector<Dim>* dv = ctx.input_dims_value(0);
  if (dv && r == 1 && in.dims[0].known() && static_cast<int64_t>(dv->size()) == in.dims[0].value) {
    std::vector<Dim> dims;
    const SliceRange& sr = ranges[0];
    for (int64_t i = 0; i < sr.count; ++i) dims.push_back((*dv)[sr.start + i * steps[0]]);
    set_dims_output(ctx, 0, dims, false);
  }
  return Status::Ok();
}

Status infer_tile(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  auto reps = input_ints(ctx, 1);
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  SymShape out = in;
  if (!reps) {
    for (Dim& d : out.dims) d = Dim();
    ctx.set_output(0, dt, out);
    return Status::Ok();
  }
  if (static_cast<int64_t>(reps->size()) != in.rank())
    return ctx.invalid("repeats has " + std::to_string(reps->size()) + " entries but the input has rank " +
                       std::to_string(in.rank()));
  for (size_t k = 0; k < reps->size(); ++k) {
    const int64_t rep = (*reps)[k];
    if (rep < 0) return ctx.invalid("repeats must be >= 0");
    if (in.dims[k].known()) {
      out.dims[k] = Dim(in.dims[k].value * rep);
    } else if (rep != 1) {
      out.dims[k] = rep == 0 ? Dim(0) : Dim();
    }
  }
  ctx.set_output(0, dt, out);
  return Status::Ok();
}

Status infer_pad(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.node().attr_string("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge" && !(mode == "wrap" && ctx.opset() >= 19))
    return ctx.unsupported_here("Pad mode '" + mode + "' is not supported");
  std::optional<std::vector<int64_t>> pads;
  if (ctx.opset() < 11) {
    KILN_ASSIGN_OR_RETURN(pads, ctx.node().attr_ints("pads", {}));
  } else {
    pads = input_ints(ctx, 1);
  }
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  const int64_t r = in.rank();
  std::optional<std::vector<int64_t>> axes = std::vector<int64_t>();
  if (ctx.opset() >= 18 && ctx.has_input(3)) axes = input_ints(ctx, 3);
  SymShape out = in;
  if (!pads || !axes) {
    for (Dim& d : out.dims) d = Dim();
    ctx.set_output(0, dt, out);
    return Status::Ok();
  }
  std::vector<int64_t> ax = *axes;
  if (ax.empty()) {
    ax.resize(r);
    std::iota(ax.begin(), ax.end(), 0);
  }
  auto na = normalize_axes(ax, r, "axis");
  if (!na.ok()) return ctx.invalid(na.status().message());
  const size_t n = na->size();
  if (pads->size() != 2 * n)
    return ctx.invalid("pads has " + std::to_string(pads->size()) + " entries, expected " + std::to_string(2 * n));
  for (size_t k = 0; k < n; ++k) {
    const int64_t total = (*pads)[k] + (*pads)[k + n];
    Dim& d = out.dims[(*na)[k]];
    if (d.known()) {
      if (d.value + total < 0) return ctx.invalid("negative pads remove more than the axis holds");
      d = Dim(d.value + total);
    } else if (total != 0) {
      d = Dim();
    }
  }
  ctx.set_output(0, dt, out);
  return Status::Ok();
}

Status infer_depth_space(InferContext& ctx, bool to_space) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.node().attr_int("blocksize", 0));
  if (b <= 0) return ctx.invalid("blocksize must be > 0");
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.node().attr_string("mode", "DCR"));
  if (to_space && mode != "DCR" && mode != "CRD") return ctx.invalid("mode must be DCR or CRD, not '" + mode + "'");
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape({Dim(), Dim(), Dim(), Dim()}));
    return Status::Ok();
  }
  if (in.rank() != 4) return ctx.invalid("the input must be 4-D (NCHW), got " + in.to_string());
  auto scale = [](const Dim& d, int64_t f) { return d.known() ? Dim(d.value * f) : Dim(); };
  auto shrink = [&](const Dim& d, int64_t f, const char* what) -> Expected<Dim> {
    if (!d.known()) return Dim();
    if (d.value % f != 0)
      return ctx.invalid(std::string(what) + " " + std::to_string(d.value) + " is not divisible by " +
                         std::to_string(f));
    return Dim(d.value / f);
  };
  std::vector<Dim> out = in.dims;
  if (to_space) {
    KILN_ASSIGN_OR_RETURN(out[1], shrink(in.dims[1], b * b, "channel count"));
    out[2] = scale(in.dims[2], b);
    out[3] = scale(in.dims[3], b);
  } else {
    out[1] = scale(in.dims[1], b * b);
    KILN_ASSIGN_OR_RETURN(out[2], shrink(in.dims[2], b, "height"));
    KILN_ASSIGN_OR_RETURN(out[3], shrink(in.dims[3], b, "width"));
  }
  ctx.set_output(0, dt, SymShape(out));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(layout, OpDef{"Transpose", "", 1, 1, 1, infer_transpose, "permute axes"},
                  OpDef{"Concat", "", 4, 1, 1 << 20, infer_concat, "concatenate along an axis"},
                  OpDef{"Split", "", 2, 1, 2, infer_split, "split along an axis (split sizes or equal chunks)"},
                  OpDef{"Slice", "", 1, 1, 5, infer_slice, "strided slice (negative steps, clamping)"},
                  OpDef{"Tile", "", 6, 2, 2, infer_tile, "repeat the input along each axis"},
                  OpDef{"Pad", "", 2, 1, 4, infer_pad, "pad with constant/reflect/edge(/wrap) values"},
                  OpDef{"DepthToSpace", "", 1, 1, 1, [](InferContext& c) { return infer_depth_space(c, true); },
                        "move channel blocks to spatial blocks (DCR/CRD)"},
                  OpDef{"SpaceToDepth", "", 1, 1, 1, [](InferContext& c) { return infer_depth_space(c, false); },
                        "move spatial blocks to channels"});

}  // namespace kiln
