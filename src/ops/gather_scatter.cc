// Shape rules of the indexing ops: Gather (which also picks entries of shape vectors), GatherElements,
// GatherND, ScatterElements/Scatter, ScatterND, NonZero, Compress.
#include "ops/registry.h"
#include "ops/tensor_util.h"

namespace kiln {
namespace {

Status check_index_dtype(const InferContext& ctx, size_t i) {
  const DType t = ctx.input_dtype(i);
  if (t != DType::kInt64 && t != DType::kInt32)
    return ctx.invalid(std::string("indices must be int32 or int64, got ") + dtype_name(t));
  return Status::Ok();
}

Status infer_gather(InferContext& ctx) {
  const SymShape& data = ctx.input_shape(0);
  const SymShape& idx = ctx.input_shape(1);
  const DType dt = ctx.input_dtype(0);
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  if (!data.rank_known || !idx.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  if (data.rank() == 0) return ctx.invalid("Gather data must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, data.rank(), "axis"));
  std::vector<Dim> out(data.dims.begin(), data.dims.begin() + a);
  out.insert(out.end(), idx.dims.begin(), idx.dims.end());
  out.insert(out.end(), data.dims.begin() + a + 1, data.dims.end());
  ctx.set_output(0, dt, SymShape(out));
  // Picking entries of a shape vector (Shape -> Gather) keeps them, symbols included.
  const std::vector<Dim>* dv = ctx.input_dims_value(0);
  auto indices = input_ints(ctx, 1);
  if (dv && indices && data.rank() == 1 && idx.rank() <= 1) {
    const int64_t n = static_cast<int64_t>(dv->size());
    std::vector<Dim> picked;
    for (int64_t i : *indices) {
      if (i < -n || i >= n)
        return ctx.invalid("index " + std::to_string(i) + " is out of range for a dimension of size " +
                           std::to_string(n));
      picked.push_back((*dv)[i < 0 ? i + n : i]);
    }
    set_dims_output(ctx, 0, picked, idx.rank() == 0);
  }
  return Status::Ok();
}

Status infer_gather_elements(InferContext& ctx) {
  const SymShape& data = ctx.input_shape(0);
  const SymShape& idx = ctx.input_shape(1);
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  if (data.rank_known && idx.rank_known) {
    if (data.rank() != idx.rank()) return ctx.invalid("data and indices must have the same rank");
    KILN_RETURN_IF_ERROR(normalize_axis(axis, data.rank(), "axis").status());
  }
  ctx.set_output(0, ctx.input_dtype(0), idx);
  return Status::Ok();
}

Status infer_gather_nd(InferContext& ctx) {
  const SymShape& data = ctx.input_shape(0);
  const SymShape& idx = ctx.input_shape(1);
  if (ctx.input_dtype(1) != DType::kInt64) return ctx.invalid("GatherND indices must be int64");
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.node().attr_int("batch_dims", 0));
  if (!data.rank_known || !idx.rank_known || idx.rank() == 0 || !idx.dims.back().known()) {
    ctx.set_output(0, ctx.input_dtype(0), SymShape::unknown_rank());
    return Status::Ok();
  }
  const int64_t k = idx.dims.back().value;
  if (b < 0 || b >= idx.rank() || b >= data.rank()) return ctx.invalid("batch_dims is out of range");
  if (b + k > data.rank())
    return ctx.invalid("indices.shape[-1] (" + std::to_string(k) + ") + batch_dims exceeds the data rank " +
                       std::to_string(data.rank()));
  std::vector<Dim> out(idx.dims.begin(), idx.dims.end() - 1);
  out.insert(out.end(), data.dims.begin() + b + k, data.dims.end());
  ctx.set_output(0, ctx.input_dtype(0), SymShape(out));
  return Status::Ok();
}

Status check_reduction(const InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string red, ctx.node().attr_string("reduction", "none"));
  const bool ok = red == "none" || ((red == "add" || red == "mul") && ctx.opset() >= 16) ||
                  ((red == "max" || red == "min") && ctx.opset() >= 18);
  if (!ok) return ctx.invalid("reduction '" + red + "' is not valid at opset " + std::to_string(ctx.opset()));
  return Status::Ok();
}

Status infer_scatter_elements(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  KILN_RETURN_IF_ERROR(check_reduction(ctx));
  if (ctx.input_dtype(2) != ctx.input_dtype(0)) return ctx.invalid("updates and data have different dtypes");
  const SymShape& data = ctx.input_shape(0);
  const SymShape& idx = ctx.input_shape(1);
  if (data.rank_known && idx.rank_known && data.rank() != idx.rank())
    return ctx.invalid("data and indices must have the same rank");
  ctx.set_output(0, ctx.input_dtype(0), data);
  return Status::Ok();
}

Status infer_scatter_nd(InferContext& ctx) {
  if (ctx.input_dtype(1) != DType::kInt64) return ctx.invalid("ScatterND indices must be int64");
  KILN_RETURN_IF_ERROR(check_reduction(ctx));
  if (ctx.input_dtype(2) != ctx.input_dtype(0)) return ctx.invalid("updates and data have different dtypes");
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::Ok();
}

Status infer_nonzero(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  ctx.set_output(0, DType::kInt64, SymShape({in.rank_known ? Dim(in.rank()) : Dim(), Dim()}));
  return Status::Ok();
}

Status infer_compress(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  if (ctx.input_dtype(1) != DType::kBool) return ctx.invalid("Compress condition must be bool");
  const DType dt = ctx.input_dtype(0);
  if (!ctx.node().has_attr("axis")) {
    ctx.set_output(0, dt, SymShape({Dim()}));
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, in.rank(), "axis"));
  SymShape out = in;
  out.dims[a] = Dim();
  ctx.set_output(0, dt, out);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(gather_scatter, OpDef{"Gather", "", 1, 2, 2, infer_gather, "take slices along an axis by index"},
                  OpDef{"GatherElements", "", 11, 2, 2, infer_gather_elements, "take elements by per-element index"},
                  OpDef{"GatherND", "", 11, 2, 2, infer_gather_nd, "take slices by index tuples (batch_dims)"},
                  OpDef{"ScatterElements", "", 11, 3, 3, infer_scatter_elements,
                        "write updates at per-element indices (optional reduction)"},
                  OpDef{"Scatter", "", 9, 3, 3, infer_scatter_elements, "deprecated alias of ScatterElements"},
                  OpDef{"ScatterND", "", 11, 3, 3, infer_scatter_nd,
                        "write updates at index tuples (optional reduction)"},
                  OpDef{"NonZero", "", 9, 1, 1, infer_nonzero, "indices of the non-zero elements"},
                  OpDef{"Compress", "", 9, 2, 2, infer_compress, "keep slices where the condition is true"});

}  // namespace kiln
