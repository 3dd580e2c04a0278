// The IR verifier: structural invariants every pass and backend relies on, checked after import and
// after passes. Returns the first problem, naming the node and value.
#include <set>
#include <unordered_map>

#include "ir/graph.h"

namespace kiln {
namespace {

Status check_constant(const Value& v) {
  if (!v.constant) return Status::Ok();
  const Tensor& t = *v.constant;
  if (!t.defined()) return invalid_input("value '" + v.name + "' has an undefined constant");
  if (v.dtype != DType::kUndefined && v.dtype != t.dtype())
    return invalid_input("value '" + v.name + "' is typed " + dtype_name(v.dtype) + " but its constant data is " +
                         dtype_name(t.dtype()));
  if (v.shape.rank_known && !v.shape.accepts(t.shape()))
    return invalid_input("value '" + v.name + "' has shape " + v.shape.to_string() + " but its constant data is " +
                         t.describe());
  return Status::Ok();
}

// Graph inputs and initializers: the values available before any node runs.
Status check_sources(const Graph& g, const std::set<const Value*>& owned, std::set<const Value*>* available) {
  for (const Value* v : g.inputs) {
    if (!v || !owned.count(v)) return invalid_input("a graph input is not a value of this graph");
    if (v->producer)
      return invalid_input("graph input '" + v->name + "' is also produced by " + v->producer->describe());
    if (v->constant) return invalid_input("graph input '" + v->name + "' is also an initializer");
    if (!available->insert(v).second) return invalid_input("graph input '" + v->name + "' is listed twice");
  }
  for (const Value* v : g.initializers) {
    if (!v || !owned.count(v)) return invalid_input("an initializer is not a value of this graph");
    if (v->producer)
      return invalid_input("initializer '" + v->name + "' is also produced by " + v->producer->describe());
    if (!v->constant) return invalid_input("initializer '" + v->name + "' has no data");
    if (!available->insert(v).second) return invalid_input("initializer '" + v->name + "' is listed twice");
  }
  return Status::Ok();
}

}  // namespace

Status verify_graph(const Graph& g) {
  std::set<const Value*> owned;
  for (const auto& v : g.values()) {
    owned.insert(v.get());
    KILN_RETURN_IF_ERROR(check_constant(*v));
  }
  std::set<const Value*> available;
  KILN_RETURN_IF_ERROR(check_sources(g, owned, &available));
  // Where each value is produced, to tell "produced later" (order) from "never produced" (dangling).
  std::unordered_map<const Value*, const Node*> produced_by;
  for (const auto& n : g.nodes())
    for (const Value* o : n->outputs)
      if (o) {
        auto [it, fresh] = produced_by.emplace(o, n.get());
        if (!fresh)
          return invalid_input("value '" + o->name + "' is produced by both " + it->second->describe() + " and " +
                               n->describe());
      }
  for (const auto& n : g.nodes()) {
    for (const Value* in : n->inputs) {
      if (!in || available.count(in)) continue;
      if (!owned.count(in)) return invalid_input(n->describe() + " reads a value that is not part of the graph");
      if (produced_by.count(in))
        return invalid_input("nodes are not in topological order: " + n->describe() + " reads '" + in->name +
                             "' before " + produced_by[in]->describe() + " produces it");
      return invalid_input(n->describe() + " reads '" + in->name +
                           "', which no node, graph input or initializer produces (dangling input)");
    }
    for (const Value* o : n->outputs) {
      if (!o) continue;
      if (!owned.count(o)) return invalid_input(n->describe() + " writes a value that is not part of the graph");
      if (available.count(o)) return invalid_input(n->describe() + " overwrites '" + o->name + "'");
      if (o->producer != n.get())
        return invalid_input("value '" + o->name + "' is an output of " + n->describe() +
                             " but records a different producer");
      available.insert(o);
    }
  }
  if (g.outputs.empty()) return invalid_input("the graph has no outputs");
  for (const Value* v : g.outputs) {
    if (!v || !owned.count(v)) return invalid_input("a graph output is not a value of this graph");
    if (!available.count(v)) return invalid_input("graph output '" + v->name + "' is never produced");
  }
  for (const auto& v : g.values())
    if (v->producer && !produced_by.count(v.get()))
      return invalid_input("value '" + v->name + "' names a producer that is not in the graph");
  return Status::Ok();
}

}  // namespace kiln
