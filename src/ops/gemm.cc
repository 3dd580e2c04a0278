// Gemm and MatMul: shape/type rules (NumPy batched broadcasting for MatMul) and MAC counts.
#include "ops/registry.h"

namespace kiln {
namespace {

bool is_matmul_type(DType t) {
  return dtype_is_float(t) || t == DType::kInt32 || t == DType::kInt64 || t == DType::kUint32 || t == DType::kUint64;
}

Status check_same_types(InferContext& ctx, bool allow_int) {
  const DType t = ctx.input_dtype(0);
  if (!(allow_int ? is_matmul_type(t) : dtype_is_float(t)))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported");
  for (size_t i = 1; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.input_dtype(i) != t)
      return ctx.invalid("input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)) + " but A is " +
                         dtype_name(t));
  return Status::Ok();
}

// Dims equal when both known (or the same symbol); an error only on a definite mismatch.
bool dims_conflict(const Dim& a, const Dim& b) { return a.known() && b.known() && a.value != b.value; }

Status infer_gemm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_same_types(ctx, false));
  const Node& node = ctx.node();
  if (node.opset < 11 && !ctx.has_input(2)) return ctx.invalid("input C is required before opset 11");
  KILN_ASSIGN_OR_RETURN(int64_t ta, node.attr_int("transA", 0));
  KILN_ASSIGN_OR_RETURN(int64_t tb, node.attr_int("transB", 0));
  const SymShape& a = ctx.input_shape(0);
  const SymShape& b = ctx.input_shape(1);
  if ((a.rank_known && a.rank() != 2) || (b.rank_known && b.rank() != 2))
    return ctx.invalid("A " + a.to_string() + " and B " + b.to_string() + " must be 2-D");
  const Dim m = a.rank_known ? a.dims[ta ? 1 : 0] : Dim();
  const Dim ka = a.rank_known ? a.dims[ta ? 0 : 1] : Dim();
  const Dim kb = b.rank_known ? b.dims[tb ? 1 : 0] : Dim();
  const Dim n = b.rank_known ? b.dims[tb ? 0 : 1] : Dim();
  if (dims_conflict(ka, kb))
    return ctx.invalid("inner dimensions differ: A " + a.to_string() + (ta ? " (transposed)" : "") + " and B " +
                       b.to_string() + (tb ? " (transposed)" : ""));
  SymShape out({m, n});
  if (ctx.has_input(2)) {
    const SymShape& c = ctx.input_shape(2);
    if (c.rank_known && c.rank() > 2) return ctx.invalid("C " + c.to_string() + " must have rank <= 2");
    KILN_ASSIGN_OR_RETURN(SymShape merged, broadcast_sym(out, c));
    if (merged.rank_known && c.rank_known) {
      // C broadcasts to (M, N) one way only: it may not enlarge the output.
      for (size_t i = 0; i < 2; ++i)
        if (out.dims[i].known() && merged.dims[i].known() && merged.dims[i].value != out.dims[i].value)
          return ctx.invalid("C " + c.to_string() + " does not broadcast to the output " + out.to_string());
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// NumPy matmul shapes of inputs `ia` and `ib`; the output is `out_dtype` (A's dtype for MatMul, int32 for
// MatMulInteger, the zero point's for QLinearMatMul).
Status matmul_shape(InferContext& ctx, DType out_dtype, size_t ia = 0, size_t ib = 1) {
  const SymShape& a = ctx.input_shape(ia);
  const SymShape& b = ctx.input_shape(ib);
  if (!a.rank_known || !b.rank_known) {  // rank unknown: nothing more to infer
    ctx.set_output(0, out_dtype, SymShape());
    return Status::Ok();
  }
  if (a.rank() < 1 || b.rank() < 1) return ctx.invalid("MatMul operands must have rank >= 1");
  std::vector<Dim> ad = a.dims, bd = b.dims;
  if (ad.size() == 1) ad.insert(ad.begin(), Dim(1));
  if (bd.size() == 1) bd.push_back(Dim(1));
  if (dims_conflict(ad.back(), bd[bd.size() - 2]))
    return ctx.invalid("inner dimensions differ: A " + a.to_string() + " and B " + b.to_string());
  SymShape batch_a(std::vector<Dim>(ad.begin(), ad.end() - 2)), batch_b(std::vector<Dim>(bd.begin(), bd.end() - 2));
  auto batch = broadcast_sym(batch_a, batch_b);
  if (!batch.ok())
    return ctx.invalid("batch dims of A " + a.to_string() + " and B " + b.to_string() + " do not broadcast");
  std::vector<Dim> out = batch->dims;
  if (a.rank() > 1) out.push_back(ad[ad.size() - 2]);
  if (b.rank() > 1) out.push_back(bd.back());
  ctx.set_output(0, out_dtype, SymShape(out));
  return Status::Ok();
}

Status infer_matmul(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_same_types(ctx, true));
  return matmul_shape(ctx, ctx.input_dtype(0));
}

// MatMulInteger: int8/uint8 operands, optional zero points (scalar, or per row of A / per column of B), int32.
Status infer_matmul_integer(InferContext& ctx) {
  for (size_t i = 0; i < 4; ++i) {
    if (!ctx.has_input(i)) continue;
    const DType t = ctx.input_dtype(i);
    if (t != DType::kInt8 && t != DType::kUint8)
      return ctx.unsupported_here("input " + std::to_string(i) + " is " + dtype_name(t) + "; MatMulInteger takes int8/uint8");
  }
  if (ctx.has_input(2) && ctx.input_dtype(2) != ctx.input_dtype(0))
    return ctx.invalid("a_zero_point's dtype differs from A's");
  if (ctx.has_input(3) && ctx.input_dtype(3) != ctx.input_dtype(1))
    return ctx.invalid("b_zero_point's dtype differs from B's");
  return matmul_shape(ctx, DType::kInt32);
}

// QLinearMatMul: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point; y has y_zero_point's
// type (int8/uint8). Scales float32, one value each (per-tensor).
Status infer_qlinear_matmul(InferContext& ctx) {
  for (size_t i : {size_t{0}, size_t{2}, size_t{3}, size_t{5}, size_t{7}}) {
    const DType t = ctx.input_dtype(i);
    if (t != DType::kInt8 && t != DType::kUint8)
      return ctx.unsupported_here("input " + std::to_string(i) + " is " + dtype_name(t) + "; QLinearMatMul takes int8/uint8");
  }
  for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
    if (ctx.input_dtype(i) != DType::kFloat32)
      return ctx.unsupported_here("scale input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)) + ", not float32");
  return matmul_shape(ctx, ctx.input_dtype(7), 0, 3);
}

// MACs = output elements x the reduced (K) extent.
int64_t matmul_macs(const Node& n, int64_t k) {
  const Value* y = n.output(0);
  auto ys = y ? y->shape.to_static() : std::nullopt;
  return ys && k > 0 ? numel(*ys) * k : 0;
}

int64_t gemm_macs(const Node& n) {
  auto a = n.input(0) ? n.input(0)->shape.to_static() : std::nullopt;
  auto ta = n.attr_int("transA", 0);
  if (!a || a->size() != 2 || !ta.ok()) return 0;
  return matmul_macs(n, (*a)[*ta ? 0 : 1]);
}

int64_t mat_mul_macs(const Node& n) {
  auto a = n.input(0) ? n.input(0)->shape.to_static() : std::nullopt;
  return a && !a->empty() ? matmul_macs(n, a->back()) : 0;
}

}  // namespace

KILN_REGISTER_OPS(gemm,
                  OpDef{"Gemm", "", 6, 2, 3, infer_gemm,
                        "alpha * op(A) * op(B) + beta * C (transA/transB, C broadcast, optional C)", gemm_macs},
                  OpDef{"MatMul", "", 1, 2, 2, infer_matmul, "NumPy-style batched matrix product", mat_mul_macs},
                  OpDef{"MatMulInteger", "", 10, 2, 4, infer_matmul_integer,
                        "(A - a_zero_point) x (B - b_zero_point) of int8/uint8 in int32 (NumPy batching)", mat_mul_macs},
                  OpDef{"QLinearMatMul", "", 10, 8, 8, infer_qlinear_matmul,
                        "int8/uint8 matmul requantized: round(C * a_scale * b_scale / y_scale) + y_zero_point", nullptr});

}  // namespace kiln
