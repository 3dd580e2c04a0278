// Replaces an If whose condition is a known constant by a copy of the branch it takes: the body's nodes and
// constants are copied into the outer graph (the body itself is left as it is, other graphs may share it), its
// captured inputs bound to the If's inputs, its outputs written to the If's outputs. Shapes that only a run
// tells often fix the condition (torchvision's `boxes.numel() == 0` guard once the box count is known), and
// engines then see plain ops.
#include "passes/pass_manager.h"

namespace kiln {
namespace {

Expected<bool> inline_one(Graph& g, Node* n) {
  const Value* cond = n->input(0);
  if (!cond || !cond->constant || cond->constant->numel() != 1) return false;
  const char* key = cond->constant->get_as_double(0) != 0.0 ? "then_branch" : "else_branch";
  const Attribute* a = n->attr(key);
  if (!a || !a->g) return false;
  const Graph& body = *a->g;
  if (body.inputs.size() + 1 != n->inputs.size() || body.outputs.size() != n->outputs.size()) return false;
  std::map<const Value*, Value*> map;
  for (size_t k = 0; k < body.inputs.size(); ++k) map[body.inputs[k]] = n->inputs[k + 1];
  for (const Value* c : body.initializers) {
    KILN_ASSIGN_OR_RETURN(Value * v, g.add_initializer(g.unique_name(c->name), *c->constant));
    map[c] = v;
  }
  // Each body output becomes the If output at its position, written by the body node that makes it; an
  // output that is not a node's (a captured value, a constant, or one value given twice) gets an Identity.
  std::map<const Value*, Value*> direct;
  for (size_t j = 0; j < body.outputs.size(); ++j) {
    const Value* b = body.outputs[j];
    if (n->outputs[j] && b->producer && !map.count(b) && !direct.count(b)) direct[b] = n->outputs[j];
  }
  auto outer = [&](const Value* v) -> Expected<Value*> {
    if (!v) return static_cast<Value*>(nullptr);
    if (auto it = map.find(v); it != map.end()) return it->second;
    if (auto it = direct.find(v); it != direct.end()) return it->second;
    KILN_ASSIGN_OR_RETURN(Value * fresh, g.add_value(g.unique_name(v->name), v->dtype, v->shape));
    map[v] = fresh;
    return fresh;
  };
  for (const auto& bn : body.nodes()) {
    std::vector<Value*> ins, outs;
    for (const Value* v : bn->inputs) {
      KILN_ASSIGN_OR_RETURN(Value * x, outer(v));
      ins.push_back(x);
    }
    for (const Value* v : bn->outputs) {
      KILN_ASSIGN_OR_RETURN(Value * x, outer(v));
      outs.push_back(x);
    }
    Node* c = g.add_node(bn->op_type, g.unique_name(bn->name.empty() ? bn->op_type : bn->name), ins, outs);
    c->domain = bn->domain;
    c->opset = bn->opset;
    c->attrs = bn->attrs;
  }
  for (size_t j = 0; j < body.outputs.size(); ++j) {
    Value* out = n->outputs[j];
    if (!out || (direct.count(body.outputs[j]) && direct.at(body.outputs[j]) == out)) continue;
    KILN_ASSIGN_OR_RETURN(Value * src, outer(body.outputs[j]));
    g.add_node("Identity", g.unique_name("inlined_if_output"), {src}, {out});
  }
  // Last: the copies now produce the If's outputs, so removing it keeps them (and drops nothing they read).
  g.remove_nodes({n});
  return true;
}

}  // namespace

Expected<int> inline_constant_if(Graph& graph) {
  std::vector<Node*> ifs;
  for (const auto& n : graph.nodes())
    if (n->op_type == "If" && n->domain.empty()) ifs.push_back(n.get());
  int changed = 0;
  for (Node* n : ifs) {
    KILN_ASSIGN_OR_RETURN(bool done, inline_one(graph, n));
    changed += done ? 1 : 0;
  }
  return changed;
}

}  // namespace kiln
