// Shared elementwise shape-rule helpers: dtype classes, same-shape and broadcast rules, dims_value math.
#include "ops/elementwise.h"

#include <string>

namespace kiln::ops {

bool dtype_in(DType t, unsigned classes) {
  switch (t) {
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat32:
    case DType::kFloat64:
      return (classes & kFloatTypes) != 0;
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
      return (classes & kSignedInts) != 0;
    case DType::kUint8:
    case DType::kUint16:
    case DType::kUint32:
    case DType::kUint64:
      return (classes & kUnsignedInts) != 0;
    case DType::kBool:
      return (classes & kBoolType) != 0;
    default:
      return false;
  }
}

Status check_input_dtype(const InferContext& ctx, size_t i, unsigned classes) {
  DType t = ctx.input_dtype(i);
  if (dtype_in(t, classes)) return Status::Ok();
  return ctx.unsupported_here(ctx.node().op_type + " does not support dtype " + dtype_name(t) + " (input " +
                              std::to_string(i) + ", '" + ctx.input(i)->name + "')");
}

ShapeRule same_shape_rule(unsigned classes, DType out) {
  return [classes, out](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, classes));
    ctx.set_output(0, out == DType::kUndefined ? ctx.input_dtype(0) : out, ctx.input_shape(0));
    return Status::Ok();
  };
}

Expected<SymShape> broadcast_inputs(const InferContext& ctx, size_t first, size_t last) {
  SymShape shape(std::vector<Dim>{});
  for (size_t i = first; i <= last && i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    auto b = broadcast_sym(shape, ctx.input_shape(i));
    if (!b.ok())
      return ctx.invalid("input shapes cannot be broadcast together: " + shape.to_string() + " and " +
                         ctx.input_shape(i).to_string() + " ('" + ctx.input(i)->name + "')");
    shape = std::move(b).value();
  }
  return shape;
}

ShapeRule broadcast_rule(unsigned classes, DType out) {
  return [classes, out](InferContext& ctx) -> Status {
    DType common = DType::kUndefined;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (!ctx.has_input(i)) continue;
      KILN_RETURN_IF_ERROR(check_input_dtype(ctx, i, classes));
      if (common == DType::kUndefined) common = ctx.input_dtype(i);
      if (ctx.input_dtype(i) != common)
        return ctx.invalid(std::string("inputs must share one dtype, got ") + dtype_name(common) + " and " +
                           dtype_name(ctx.input_dtype(i)) + " ('" + ctx.input(i)->name + "')");
    }
    KILN_ASSIGN_OR_RETURN(SymShape shape, broadcast_inputs(ctx, 0, ctx.num_inputs() - 1));
    ctx.set_output(0, out == DType::kUndefined ? common : out, std::move(shape));
    return Status::Ok();
  };
}

std::optional<std::vector<Dim>> known_entries(const InferContext& ctx, size_t i) {
  const SymShape& s = ctx.input_shape(i);
  DType t = ctx.input_dtype(i);
  if ((t != DType::kInt64 && t != DType::kInt32) || !s.rank_known || s.rank() > 1) return std::nullopt;
  if (const std::vector<Dim>* dv = ctx.input_dims_value(i)) return *dv;
  if (const Tensor* c = ctx.input_constant(i)) {
    std::vector<Dim> dims;
    for (int64_t k = 0; k < c->numel(); ++k) dims.emplace_back(c->get_as_int64(k));
    return dims;
  }
  return std::nullopt;
}

namespace {
// One entry of combine_entries.
Dim combine_one(const Dim& a, const Dim& b, char op) {
  if (a.known() && b.known()) {
    switch (op) {
      case '+':
        return Dim(a.value + b.value);
      case '-':
        return a.value >= b.value ? Dim(a.value - b.value) : Dim();
      case '*':
        return Dim(a.value * b.value);
      case '/':
        return b.value != 0 ? Dim(a.value / b.value) : Dim();
      default:
        return Dim();
    }
  }
  // Identities that keep a symbol; other mixes cannot be named.
  const bool a_sym = a.is_symbol(), b_sym = b.is_symbol();
  if (a_sym && b.known()) {
    if ((op == '+' || op == '-') && b.value == 0) return a;
    if ((op == '*' || op == '/') && b.value == 1) return a;
  }
  if (b_sym && a.known()) {
    if (op == '+' && a.value == 0) return b;
    if (op == '*' && a.value == 1) return b;
  }
  return Dim();
}
}  // namespace

std::optional<std::vector<Dim>> combine_entries(const std::vector<Dim>& a, const std::vector<Dim>& b, char op) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1) return std::nullopt;
  const size_t n = a.size() == 1 ? b.size() : a.size();
  std::vector<Dim> out;
  for (size_t k = 0; k < n; ++k) out.push_back(combine_one(a[a.size() == 1 ? 0 : k], b[b.size() == 1 ? 0 : k], op));
  return out;
}

void propagate_arith_dims(InferContext& ctx, char op) {
  auto a = known_entries(ctx, 0);
  auto b = known_entries(ctx, 1);
  if (!a || !b) return;
  const Value* out = ctx.node().output(0);
  if (!out || !out->shape.rank_known || out->shape.rank() > 1) return;
  auto dims = combine_entries(*a, *b, op);
  if (dims) ctx.set_output_dims_value(0, std::move(*dims));
}

}  // namespace kiln::ops
