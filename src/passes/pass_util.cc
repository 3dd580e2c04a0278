// Small graph-editing helpers shared by the optimization passes.
#include <algorithm>
#include <limits>

#include "passes/pass_manager.h"

namespace kiln::passes {

Node* sole_consumer(const Graph& g, const Value* v) {
  if (!v || v->is_graph_output) return nullptr;
  std::vector<Node*> c = g.consumers(v);
  if (c.size() != 1) return nullptr;
  // A node reading v twice (x * x) counts as one consumer but cannot absorb it as a single operand.
  if (std::count(c[0]->inputs.begin(), c[0]->inputs.end(), v) != 1) return nullptr;
  return c[0];
}

void replace_uses(Graph& g, const Value* from, Value* to) {
  for (const auto& n : g.nodes())
    for (Value*& in : n->inputs)
      if (in == from) in = to;
}

void make_initializer(Graph& g, Value* v, Tensor data) {
  v->dtype = data.dtype();
  v->shape = SymShape::from(data.shape());
  v->constant = std::move(data);
  v->dims_value.reset();
  v->producer = nullptr;
  if (std::find(g.initializers.begin(), g.initializers.end(), v) == g.initializers.end()) g.initializers.push_back(v);
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.get_as_double(i);
  return out;
}

Expected<Tensor> from_doubles(DType dtype, const Shape& shape, const std::vector<double>& v) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, shape));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = static_cast<float>(v[i]);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = v[i];
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v[i]));
        break;
      case DType::kBFloat16:
        t.data<uint16_t>()[i] = float_to_bfloat16(static_cast<float>(v[i]));
        break;
      default:
        return unsupported(std::string("cannot store folded weights as ") + dtype_name(dtype));
    }
  }
  return t;
}

Expected<Value*> add_constant(Graph& g, const std::string& base, Tensor data) {
  return g.add_initializer(g.unique_name(base), std::move(data));
}

Expected<Value*> NodeBuilder::value(const std::string& base, DType dtype, const Shape& shape) {
  return g_.add_value(g_.unique_name(n_.name + "/" + base), dtype, SymShape::from(shape));
}

Node* NodeBuilder::node(const std::string& op, std::vector<Value*> in, Value* out) {
  Node* m = g_.add_node(op, g_.unique_name(n_.name + "/" + op), std::move(in), {out});
  m->opset = opset_;
  return m;
}

Expected<Value*> NodeBuilder::ints(const std::string& base, const std::vector<int64_t>& v) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::kInt64, {static_cast<int64_t>(v.size())}));
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return add_constant(g_, n_.name + "/" + base, std::move(t));
}

Expected<int> rewrite_nodes(Graph& g, const std::function<NodeRewrite(const Node&)>& pick) {
  std::vector<std::pair<Node*, NodeRewrite>> targets;
  for (const auto& node : g.nodes()) {
    if (!node->domain.empty() && node->domain != "ai.onnx") continue;
    if (NodeRewrite r = pick(*node)) targets.emplace_back(node.get(), std::move(r));
  }
  std::vector<Node*> done;
  for (auto& [n, rewrite] : targets) {
    KILN_ASSIGN_OR_RETURN(bool changed, rewrite(g, *n));
    if (!changed) continue;
    n->inputs.clear();  // its outputs now have other producers
    n->outputs.clear();
    done.push_back(n);
  }
  if (!done.empty()) {
    g.remove_nodes(done);
    KILN_RETURN_IF_ERROR(g.topological_sort());
  }
  return static_cast<int>(done.size());
}

Expected<Value*> NodeBuilder::fresh(const std::string& base, DType dtype) {
  return g_.add_value(g_.unique_name(n_.name + "/" + base), dtype, SymShape::unknown_rank());
}

Expected<Value*> NodeBuilder::scalar(const std::string& base, DType dtype, double v) {
  Tensor t;
  if (dtype_is_float(dtype)) {
    KILN_ASSIGN_OR_RETURN(t, from_doubles(dtype, {}, {v}));
  } else if (dtype == DType::kInt64) {
    t = Tensor::scalar<int64_t>(static_cast<int64_t>(v));
  } else if (dtype == DType::kInt32) {
    t = Tensor::scalar<int32_t>(static_cast<int32_t>(v));
  } else {
    return invalid_input(n_.describe() + ": no scalar constant of dtype " + dtype_name(dtype));
  }
  return add_constant(g_, n_.name + "/" + base, std::move(t));
}

Expected<Value*> NodeBuilder::filled(const std::string& base, DType dtype, const Shape& shape, double v) {
  KILN_ASSIGN_OR_RETURN(Tensor t, from_doubles(dtype, shape, std::vector<double>(static_cast<size_t>(numel(shape)), v)));
  return add_constant(g_, n_.name + "/" + base, std::move(t));
}

Expected<Value*> NodeBuilder::apply(const std::string& op, std::vector<Value*> in, DType dtype, Value* out) {
  if (!out) {
    KILN_ASSIGN_OR_RETURN(out, fresh(op, dtype));
  }
  node(op, std::move(in), out);
  return out;
}

Expected<Value*> NodeBuilder::squeeze_op(const std::string& op, Value* x, const std::vector<int64_t>& axes, Value* out) {
  if (!out) {
    KILN_ASSIGN_OR_RETURN(out, fresh(op, x->dtype));
  }
  if (opset_ >= 13) {
    KILN_ASSIGN_OR_RETURN(Value * a, ints("axes", axes));
    node(op, {x, a}, out);
  } else {
    node(op, {x}, out)->attrs["axes"] = Attribute::make_ints(axes);
  }
  return out;
}

Expected<Value*> NodeBuilder::reduce(const std::string& op, Value* x, const std::vector<int64_t>& axes, bool keepdims,
                                     Value* out) {
  if (!out) {
    KILN_ASSIGN_OR_RETURN(out, fresh(op, x->dtype));
  }
  Node* m = nullptr;
  if (opset_ >= (op == "ReduceSum" ? 13 : 18) && !axes.empty()) {
    KILN_ASSIGN_OR_RETURN(Value * a, ints("axes", axes));
    m = node(op, {x, a}, out);
  } else {
    m = node(op, {x}, out);
    if (!axes.empty()) m->attrs["axes"] = Attribute::make_ints(axes);
  }
  m->attrs["keepdims"] = Attribute::make_int(keepdims ? 1 : 0);
  return out;
}

Expected<Value*> NodeBuilder::cast(Value* x, DType to, Value* out) {
  if (!out) {
    KILN_ASSIGN_OR_RETURN(out, fresh("Cast", to));
  }
  node("Cast", {x}, out)->attrs["to"] = Attribute::make_int(static_cast<int64_t>(to));
  return out;
}

Expected<Value*> NodeBuilder::reshape(Value* x, const Shape& to) {
  if (auto s = x->shape.to_static(); s && *s == to) return x;
  KILN_ASSIGN_OR_RETURN(Value * shape, ints("shape", to));
  KILN_ASSIGN_OR_RETURN(Value * y, value("reshaped", x->dtype, to));
  node("Reshape", {x, shape}, y);
  return y;
}

}  // namespace kiln::passes

namespace kiln::passes {
namespace {

// Clip bounds from attributes (opset < 11) or constant inputs; false when a bound is not constant.
bool clip_bounds(const Node& n, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::max();
  hi = std::numeric_limits<float>::max();
  if (n.opset < 11) {
    auto a = n.attr_float("min", lo), b = n.attr_float("max", hi);
    if (!a.ok() || !b.ok()) return false;
    lo = *a;
    hi = *b;
    return true;
  }
  for (size_t i = 1; i < 3; ++i) {
    const Value* v = n.input(i);
    if (!v) continue;
    if (!v->constant || v->constant->numel() != 1) return false;
    (i == 1 ? lo : hi) = static_cast<float>(v->constant->get_as_double(0));
  }
  return true;
}

// x * Sigmoid(x): v feeds exactly a Sigmoid and a Mul, and the Mul multiplies v by that Sigmoid.
bool match_silu(const Graph& g, Value* v, ActivationMatch& m) {
  std::vector<Node*> c = g.consumers(v);
  if (v->is_graph_output || c.size() != 2) return false;
  Node* sig = c[0]->op_type == "Sigmoid" ? c[0] : c[1];
  Node* mul = sig == c[0] ? c[1] : c[0];
  if (sig->op_type != "Sigmoid" || mul->op_type != "Mul" || !sig->domain.empty() || !mul->domain.empty()) return false;
  if (sole_consumer(g, sig->output(0)) != mul || mul->inputs.size() != 2) return false;
  const bool ok = (mul->input(0) == v && mul->input(1) == sig->output(0)) ||
                  (mul->input(1) == v && mul->input(0) == sig->output(0));
  if (!ok) return false;
  m = ActivationMatch{"SiLU", 0.f, 0.f, {sig, mul}, mul->output(0)};
  return true;
}

}  // namespace

bool match_activation(const Graph& g, Value* v, ActivationMatch& m) {
  if (match_silu(g, v, m)) return true;
  Node* n = sole_consumer(g, v);
  if (!n || !n->domain.empty() || n->input(0) != v || !n->output(0)) return false;
  // Fill m only on a match: callers keep an unmatched m as "no activation".
  ActivationMatch found{n->op_type, 0.f, 0.f, {n}, n->output(0)};
  bool ok = n->op_type == "Relu" || n->op_type == "Sigmoid" || n->op_type == "HardSwish";
  if (n->op_type == "LeakyRelu") {
    auto a = n->attr_float("alpha", 0.01f);
    found.alpha = a.ok() ? *a : 0.f;
    ok = a.ok();
  }
  if (n->op_type == "Clip") ok = clip_bounds(*n, found.alpha, found.beta);
  if (ok) m = std::move(found);
  return ok;
}

void use_kiln_domain(Graph& g) {
  if (!g.opset_imports.count("kiln")) g.opset_imports["kiln"] = 1;
}

}  // namespace kiln::passes
