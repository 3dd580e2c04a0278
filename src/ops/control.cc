// If: the shape/type rule infers both branches with the captured outer values' types (and constants), then
// merges their outputs (same dtype required; dims kept where both branches agree). A constant condition
// takes its branch's outputs as they are. Kernel: cpu/kernels/control.cc.
#include "ops/registry.h"

namespace kiln {
namespace {

Dim merge_dim(const Dim& a, const Dim& b) { return a == b ? a : Dim(); }

SymShape merge_shape(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return SymShape();
  std::vector<Dim> dims;
  for (size_t i = 0; i < a.dims.size(); ++i) dims.push_back(merge_dim(a.dims[i], b.dims[i]));
  return SymShape(std::move(dims));
}

// Binds the branch's captured inputs to the node's inputs after the condition and infers it afresh (types
// left from an earlier inference would otherwise act as declarations).
Status infer_branch(InferContext& ctx, const char* key, Graph** out) {
  const Node& node = ctx.node();
  const Attribute* a = node.attr(key);
  if (!a || a->type != AttrType::kGraph || !a->g)
    return ctx.unsupported_here(std::string("attribute '") + key + "' has no subgraph kiln imported");
  Graph& b = *a->g;
  if (b.inputs.size() + 1 != node.inputs.size())
    return ctx.invalid(std::string(key) + " captures " + std::to_string(b.inputs.size()) + " values but the node reads " +
                       std::to_string(node.inputs.size() - 1));
  if (b.outputs.size() != node.outputs.size())
    return ctx.invalid(std::string(key) + " has " + std::to_string(b.outputs.size()) + " outputs but the node " +
                       std::to_string(node.outputs.size()));
  for (size_t j = 0; j < b.inputs.size(); ++j) {
    const Value* outer = node.input(j + 1);
    Value* in = b.inputs[j];
    in->dtype = outer->dtype;
    in->shape = outer->shape;
    in->constant = outer->constant;
    in->dims_value = outer->dims_value;
  }
  for (const auto& n : b.nodes())
    for (Value* o : n->outputs)
      if (o) {
        o->dtype = DType::kUndefined;
        o->shape = SymShape();
      }
  Status s = infer_shapes(b, InferOptions{});
  if (!s.ok()) return Status(s.code(), node.describe() + " " + key + ": " + s.message());
  *out = &b;
  return Status::Ok();
}

Status infer_if(InferContext& ctx) {
  const Value* cond = ctx.input(0);
  if (cond->dtype != DType::kBool)
    return ctx.invalid(std::string("the condition is ") + dtype_name(cond->dtype) + ", not bool");
  if (auto s = cond->shape.to_static(); s && numel(*s) != 1)
    return ctx.invalid("the condition must hold one value, its shape is " + cond->shape.to_string());
  Graph* then_b = nullptr;
  Graph* else_b = nullptr;
  KILN_RETURN_IF_ERROR(infer_branch(ctx, "then_branch", &then_b));
  KILN_RETURN_IF_ERROR(infer_branch(ctx, "else_branch", &else_b));
  const Graph* taken = nullptr;
  if (cond->constant && cond->constant->numel() == 1) taken = cond->constant->get_as_double(0) != 0 ? then_b : else_b;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    const Value* t = then_b->outputs[i];
    const Value* e = else_b->outputs[i];
    if (t->dtype != e->dtype)
      return ctx.invalid("output " + std::to_string(i) + " is " + dtype_name(t->dtype) + " in then_branch but " +
                         dtype_name(e->dtype) + " in else_branch");
    if (taken) {
      const Value* v = taken->outputs[i];
      if (v->constant) {
        ctx.set_output_constant(i, *v->constant);
      } else {
        ctx.set_output(i, v->dtype, v->shape);
      }
    } else {
      ctx.set_output(i, t->dtype, merge_shape(t->shape, e->shape));
    }
  }
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(control, OpDef{"If", "", 1, 1, 1 << 20, infer_if,
                                 "runs then_branch or else_branch on a bool condition (CPU reference; the "
                                 "branches may read any outer value)"});

}  // namespace kiln
