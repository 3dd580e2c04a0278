// Op registry storage, op lookup with opset checks, and the graph-wide shape inference driver.
#include "ops/registry.h"

#include <algorithm>
#include <set>

namespace kiln {

const SymShape& InferContext::input_shape(size_t i) const {
  static const SymShape kUnknown;
  const Value* v = node_.input(i);
  return v ? v->shape : kUnknown;
}

const Tensor* InferContext::input_constant(size_t i) const {
  const Value* v = node_.input(i);
  return v && v->constant ? &*v->constant : nullptr;
}

const std::vector<Dim>* InferContext::input_dims_value(size_t i) const {
  const Value* v = node_.input(i);
  return v && v->dims_value ? &*v->dims_value : nullptr;
}

void InferContext::set_output(size_t i, DType dtype, SymShape shape) {
  Value* v = node_.output(i);
  if (!v) return;
  v->dtype = dtype;
  v->shape = std::move(shape);
}

void InferContext::set_output_constant(size_t i, Tensor value) {
  Value* v = node_.output(i);
  if (!v) return;
  v->dtype = value.dtype();
  v->shape = SymShape::from(value.shape());
  if (value.rank() == 1 && (value.dtype() == DType::kInt64 || value.dtype() == DType::kInt32)) {
    std::vector<Dim> dims;
    for (int64_t k = 0; k < value.numel(); ++k) dims.emplace_back(value.get_as_int64(k));
    v->dims_value = std::move(dims);
  }
  v->constant = std::move(value);
}

void InferContext::set_output_dims_value(size_t i, std::vector<Dim> dims) {
  Value* v = node_.output(i);
  if (!v) return;
  v->dims_value = std::move(dims);
}

OpRegistry& OpRegistry::instance() {
  static OpRegistry r;
  return r;
}

void OpRegistry::add(OpDef def) { defs_.push_back(std::move(def)); }

const OpDef* OpRegistry::find(const std::string& op_type, const std::string& domain) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& def : defs_)
    if (def.op_type == op_type && def.domain == d) return &def;
  return nullptr;
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> out;
  for (const auto& d : defs_) out.push_back(&d);
  std::sort(out.begin(), out.end(), [](const OpDef* a, const OpDef* b) { return a->op_type < b->op_type; });
  return out;
}

Expected<const OpDef*> lookup_op(const Node& node) {
  const OpDef* def = OpRegistry::instance().find(node.op_type, node.domain);
  const std::string where = node.describe();
  if (!def) {
    return unsupported("unsupported op " + (node.domain.empty() ? std::string() : node.domain + ".") +
                       node.op_type + " (opset " + std::to_string(node.opset) + ") at " + where);
  }
  if (node.domain.empty() && node.opset > kMaxSupportedOpset) {
    return unsupported(where + ": opset " + std::to_string(node.opset) + " is newer than the newest kiln supports (" +
                       std::to_string(kMaxSupportedOpset) + ")");
  }
  if (node.opset < def->min_opset) {
    return unsupported(where + ": " + node.op_type + " is supported from opset " + std::to_string(def->min_opset) +
                       ", the model uses opset " + std::to_string(node.opset));
  }
  int n_in = static_cast<int>(node.inputs.size());
  while (n_in > 0 && node.inputs[n_in - 1] == nullptr) --n_in;  // trailing omitted optionals
  if (n_in < def->min_inputs || n_in > def->max_inputs) {
    return invalid_input(where + ": has " + std::to_string(n_in) + " inputs, expected " +
                         std::to_string(def->min_inputs) + ".." + std::to_string(def->max_inputs));
  }
  return def;
}

namespace {
ConstantEvaluator& evaluator_slot() {
  static ConstantEvaluator e;
  return e;
}

bool is_nondeterministic(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" || op == "RandomUniformLike" ||
         op == "Bernoulli" || op == "Multinomial";
}

// Evaluates the node when every input is a small constant. Failures are not errors here: the node then
// simply stays unfolded and the executor reports any real problem at run time.
void try_fold(Node& node) {
  const ConstantEvaluator& eval = evaluator_slot();
  if (!eval || node.inputs.empty() || !node.domain.empty() || is_nondeterministic(node.op_type)) return;
  std::vector<const Tensor*> inputs;
  int64_t total = 0;
  bool any = false;
  for (Value* in : node.inputs) {
    if (!in) {
      inputs.push_back(nullptr);
      continue;
    }
    if (!in->constant) return;
    total += in->constant->numel();
    if (total > kMaxFoldElements) return;
    inputs.push_back(&*in->constant);
    any = true;
  }
  if (!any) return;
  for (Value* o : node.outputs) {
    if (!o) continue;
    auto s = o->shape.to_static();
    auto n = s ? checked_numel(*s) : std::nullopt;
    if (n && *n > kMaxFoldElements) return;  // e.g. ConstantOfShape making a big tensor: leave it to run time
  }
  auto result = eval(node, inputs);
  if (!result.ok() || result->size() != node.outputs.size()) return;
  InferContext ctx(node);
  for (size_t i = 0; i < node.outputs.size(); ++i)
    if (node.outputs[i] && (*result)[i].defined()) ctx.set_output_constant(i, std::move((*result)[i]));
}

// Combines a declared shape/type (from the model's value_info or outputs) with the inferred one.
Status merge_declared(Value& v, DType declared_type, const SymShape& declared) {
  if (declared_type != DType::kUndefined && v.dtype != DType::kUndefined && declared_type != v.dtype)
    return invalid_input("value '" + v.name + "' is declared " + dtype_name(declared_type) + " but computes " +
                         dtype_name(v.dtype));
  if (v.dtype == DType::kUndefined) v.dtype = declared_type;
  if (!declared.rank_known) return Status::Ok();
  if (!v.shape.rank_known) {
    v.shape = declared;
    return Status::Ok();
  }
  if (v.shape.rank() != declared.rank())
    return invalid_input("value '" + v.name + "' is declared with shape " + declared.to_string() +
                         " but computes shape " + v.shape.to_string());
  for (size_t i = 0; i < declared.dims.size(); ++i) {
    Dim& have = v.shape.dims[i];
    const Dim& want = declared.dims[i];
    if (have.known() && want.known() && have.value != want.value)
      return invalid_input("value '" + v.name + "' is declared with shape " + declared.to_string() +
                           " but computes shape " + v.shape.to_string());
    if (!have.known() && want.known()) have = want;
    if (!have.known() && !have.is_symbol() && want.is_symbol()) have = want;
  }
  return Status::Ok();
}
}  // namespace

void set_constant_evaluator(ConstantEvaluator evaluator) { evaluator_slot() = std::move(evaluator); }
const ConstantEvaluator& constant_evaluator() { return evaluator_slot(); }

namespace {
using Declared = std::vector<std::pair<DType, SymShape>>;

void restore_declared(Node& node, const Declared& declared) {
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    Value* o = node.outputs[i];
    if (!o) continue;
    o->dtype = declared[i].first;
    o->shape = declared[i].second;
    o->constant.reset();
    o->dims_value.reset();
  }
}

// One node: Ok, or the error; `skippable` says whether skip_unsupported may pass over it.
Status infer_node(Node& node, const Declared& declared, bool* skippable) {
  *skippable = false;
  auto def = lookup_op(node);
  if (!def.ok()) {
    *skippable = def.status().code() == StatusCode::kUnsupported;
    return def.status();
  }
  // Rules may rely on required inputs being present; an empty name there is a malformed model.
  for (int i = 0; i < (*def)->min_inputs && i < static_cast<int>(node.inputs.size()); ++i)
    if (!node.inputs[static_cast<size_t>(i)])
      return node.error(StatusCode::kInvalidInput, "input " + std::to_string(i) + " is required but omitted (empty name)");
  for (Value* o : node.outputs) {
    if (!o) continue;
    o->dtype = DType::kUndefined;
    o->shape = SymShape();
    o->constant.reset();
    o->dims_value.reset();
  }
  for (Value* in : node.inputs) {
    if (in && in->dtype == DType::kUndefined) {
      *skippable = true;
      return node.error(StatusCode::kInvalidInput, "input '" + in->name + "' has no known type");
    }
  }
  InferContext ctx(node);
  Status s = (*def)->infer(ctx);
  if (!s.ok()) {
    *skippable = s.code() == StatusCode::kUnsupported;
    // Rules build messages with ctx.invalid(), which already names the node.
    if (s.message().find(node.describe()) == std::string::npos) return s.with_context(node.describe() + ": ");
    return s;
  }
  try_fold(node);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    Value* o = node.outputs[i];
    if (!o) continue;
    if (o->dtype == DType::kUndefined) {
      // A rule may leave optional outputs it does not produce unset; fall back to what was declared.
      o->dtype = declared[i].first;
      if (o->dtype == DType::kUndefined) {
        *skippable = true;
        return node.error(StatusCode::kUnsupported, "output " + std::to_string(i) + " ('" + o->name +
                                                        "') is not produced by kiln's implementation");
      }
    }
    KILN_RETURN_IF_ERROR(
        merge_declared(*o, declared[i].first, declared[i].second).with_context(node.describe() + ": "));
  }
  return Status::Ok();
}
}  // namespace

Status infer_shapes(Graph& graph) { return infer_shapes(graph, InferOptions{}); }

Status infer_shapes(Graph& graph, const InferOptions& options) {
  // Values computed by skipped nodes: errors downstream of them are consequences, not new problems.
  std::set<const Value*> tainted;
  for (const auto& np : graph.nodes()) {
    Node& node = *np;
    // Remember what the model declared so the rule's result can be checked against it.
    Declared declared;
    for (Value* o : node.outputs) declared.emplace_back(o ? o->dtype : DType::kUndefined, o ? o->shape : SymShape());
    bool skippable = false;
    Status s = infer_node(node, declared, &skippable);
    if (s.ok()) continue;
    if (!options.skip_unsupported) return s;
    bool downstream = false;
    for (Value* in : node.inputs) downstream = downstream || (in && tainted.count(in));
    if (!skippable && !downstream) return s;
    restore_declared(node, declared);
    for (Value* o : node.outputs)
      if (o) tainted.insert(o);
  }
  return Status::Ok();
}

}  // namespace kiln
