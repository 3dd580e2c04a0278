// Graph splitting at data-dependent sizes and the stage-by-stage driver (split.h).
#include "ir/split.h"

#include <fmt/format.h>

#include <set>

namespace kiln {
namespace {

// Constant data with no producer. (Shape inference also marks node outputs it could fold as constant; those
// stay node outputs here, and the next inference folds them again.)
bool is_initializer(const Value* v) { return v->is_constant() && !v->producer; }

// Builds a graph out of some of `src`'s nodes: values are created by name on first use, constants keep
// their (shared) data, the given inputs become graph inputs and the given outputs graph outputs.
class Extractor {
 public:
  explicit Extractor(const Graph& src) : dst_(std::make_unique<Graph>()) {
    dst_->name = src.name;
    dst_->opset_imports = src.opset_imports;
    dst_->ir_version = src.ir_version;
    dst_->producer_name = src.producer_name;
    dst_->producer_version = src.producer_version;
  }

  Expected<Value*> value(const Value* v) {
    if (!v) return static_cast<Value*>(nullptr);
    if (auto it = map_.find(v); it != map_.end()) return it->second;
    Value* out = nullptr;
    if (is_initializer(v)) {
      KILN_ASSIGN_OR_RETURN(out, dst_->add_initializer(v->name, *v->constant));
    } else {
      KILN_ASSIGN_OR_RETURN(out, dst_->add_value(v->name, v->dtype, v->shape));
      out->dims_value = v->dims_value;
    }
    map_[v] = out;
    return out;
  }

  Status input(const Value* v) {
    KILN_ASSIGN_OR_RETURN(Value * in, value(v));
    if (in->is_constant() || in->is_graph_input) return Status::Ok();
    in->is_graph_input = true;
    dst_->inputs.push_back(in);
    return Status::Ok();
  }

  Status node(const Node& n) {
    std::vector<Value*> ins, outs;
    for (const Value* v : n.inputs) {
      KILN_ASSIGN_OR_RETURN(Value * x, value(v));
      ins.push_back(x);
    }
    for (const Value* v : n.outputs) {
      KILN_ASSIGN_OR_RETURN(Value * x, value(v));
      outs.push_back(x);
    }
    Node* c = dst_->add_node(n.op_type, n.name, ins, outs);
    c->domain = n.domain;
    c->opset = n.opset;
    c->attrs = n.attrs;  // If bodies are shared, never changed by a split
    return Status::Ok();
  }

  Status output(const Value* v) {
    KILN_ASSIGN_OR_RETURN(Value * out, value(v));
    if (out->is_graph_output) return Status::Ok();
    out->is_graph_output = true;
    dst_->outputs.push_back(out);
    return Status::Ok();
  }

  std::unique_ptr<Graph> take() { return std::move(dst_); }

 private:
  std::unique_ptr<Graph> dst_;
  std::map<const Value*, Value*> map_;
};

bool known(const Value* v, const std::set<const Value*>& static_values) {
  return !v || is_initializer(v) || static_values.count(v) != 0;
}

std::string histogram(const Graph& g) {
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes()) ++ops[n->op_type];
  std::string s = fmt::format("{} nodes", g.nodes().size());
  for (const auto& [op, count] : ops) s += fmt::format(", {} {}", count, op);
  return s;
}

// Inputs named in `shapes` take those (concrete) shapes.
void set_input_shapes(Graph& g, const std::map<std::string, Shape>& shapes) {
  for (Value* v : g.inputs)
    if (auto it = shapes.find(v->name); it != shapes.end()) {
      v->shape = SymShape::from(it->second);
      v->dims_value.reset();
    }
}

}  // namespace

Expected<std::unique_ptr<Graph>> copy_graph(const Graph& g, const std::map<std::string, Shape>& input_shapes) {
  Extractor x(g);
  for (const Value* v : g.inputs) KILN_RETURN_IF_ERROR(x.input(v));
  for (const auto& n : g.nodes()) KILN_RETURN_IF_ERROR(x.node(*n));
  for (const Value* v : g.outputs) KILN_RETURN_IF_ERROR(x.output(v));
  std::unique_ptr<Graph> out = x.take();
  set_input_shapes(*out, input_shapes);
  return out;
}

Expected<GraphSplit> split_at_unknown_shapes(const Graph& g) {
  std::set<const Value*> static_values;  // non-constant values whose shape is known before running
  for (const Value* v : g.inputs) {
    if (!v->shape.is_static())
      return invalid_input(fmt::format("input '{}' has shape {}: a staged run needs every input's shape known", v->name,
                                       v->shape.to_string()));
    static_values.insert(v);
  }
  std::vector<const Node*> head, tail;
  std::set<const Value*> made_by_head;
  for (const auto& n : g.nodes()) {
    bool ready = true;
    for (const Value* v : n->inputs) ready = ready && known(v, static_values);
    if (!ready) {
      tail.push_back(n.get());
      continue;
    }
    head.push_back(n.get());
    for (const Value* o : n->outputs) {
      if (!o) continue;
      made_by_head.insert(o);
      if (o->shape.is_static()) static_values.insert(o);
    }
  }
  GraphSplit split;
  Extractor hx(g);
  for (const Value* v : g.inputs) KILN_RETURN_IF_ERROR(hx.input(v));
  for (const Node* n : head) KILN_RETURN_IF_ERROR(hx.node(*n));
  for (const Value* v : g.outputs)
    if (made_by_head.count(v)) KILN_RETURN_IF_ERROR(hx.output(v));
  if (tail.empty()) {
    split.head = hx.take();
    return split;
  }
  // What the tail reads from outside itself, in first-use order.
  std::set<const Value*> made_by_tail;
  for (const Node* n : tail)
    for (const Value* o : n->outputs)
      if (o) made_by_tail.insert(o);
  std::vector<const Value*> crossing;
  std::set<const Value*> seen;
  for (const Node* n : tail)
    for (const Value* v : n->inputs)
      if (v && !is_initializer(v) && !made_by_tail.count(v) && seen.insert(v).second) crossing.push_back(v);
  Extractor tx(g);
  for (const Value* v : crossing) {
    if (made_by_head.count(v)) KILN_RETURN_IF_ERROR(hx.output(v));
    KILN_RETURN_IF_ERROR(tx.input(v));
  }
  for (const Node* n : tail) KILN_RETURN_IF_ERROR(tx.node(*n));
  for (const Value* v : g.outputs)
    if (made_by_tail.count(v)) KILN_RETURN_IF_ERROR(tx.output(v));
  split.head = hx.take();
  split.tail = tx.take();
  return split;
}

Expected<TensorMap> run_in_stages(const Graph& g, const TensorMap& feeds, const StagePreparer& prepare,
                                  const StageRunner& run, StagedRunReport* report, int max_stages) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : feeds) shapes[name] = t.shape();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> cur, copy_graph(g, shapes));
  TensorMap available = feeds, results;
  std::set<std::string> wanted;
  for (const Value* v : g.outputs) wanted.insert(v->name);
  for (int stage = 0;; ++stage) {
    if (stage == max_stages) {
      std::string at = cur->nodes().empty() ? "?" : cur->nodes().front()->describe();
      return unsupported(
          fmt::format("the graph still has sizes that depend on data after {} stages (at {})", max_stages, at));
    }
    KILN_RETURN_IF_ERROR(prepare(*cur).with_context(fmt::format("stage {}: ", stage + 1)));
    for (const Value* v : cur->outputs)  // folded away by the preparation: no stage makes it
      if (wanted.count(v->name) && is_initializer(v)) results[v->name] = *v->constant;
    KILN_ASSIGN_OR_RETURN(GraphSplit split, split_at_unknown_shapes(*cur));
    if (split.tail && split.head->nodes().empty())
      return unsupported(
          fmt::format("stage {}: {} reads a value whose shape is unknown before it runs and no "
                      "earlier node makes it known",
                      stage + 1, split.tail->nodes().front()->describe()));
    const Graph& now = *split.head;
    TensorMap in;
    for (const Value* v : now.inputs) {
      auto it = available.find(v->name);
      if (it == available.end()) return runtime_error(fmt::format("stage {}: no value for '{}'", stage + 1, v->name));
      in[v->name] = it->second;
    }
    if (report) {
      report->stages = stage + 1;
      report->stage_ops.push_back(histogram(now));
    }
    Expected<TensorMap> ran = run(now, in);
    if (!ran.ok()) return ran.status().with_context(fmt::format("stage {}: ", stage + 1));
    TensorMap out = std::move(*ran);
    for (const Value* v : now.outputs) {
      auto it = out.find(v->name);
      if (it == out.end()) return runtime_error(fmt::format("stage {}: the run returned no '{}'", stage + 1, v->name));
      if (wanted.count(v->name)) results[v->name] = it->second;
      available[v->name] = it->second;
    }
    if (!split.tail) break;
    std::map<std::string, Shape> tail_shapes;  // now known: the head's results and the feeds
    for (const Value* v : split.tail->inputs) tail_shapes[v->name] = available.at(v->name).shape();
    cur = std::move(split.tail);
    set_input_shapes(*cur, tail_shapes);
  }
  // Outputs no node makes (a graph input passed through, a constant).
  for (const Value* v : g.outputs) {
    if (results.count(v->name)) continue;
    if (auto it = feeds.find(v->name); it != feeds.end()) {
      results[v->name] = it->second;
    } else if (is_initializer(v)) {
      results[v->name] = *v->constant;
    } else {
      return runtime_error(fmt::format("output '{}' was not produced by any stage", v->name));
    }
  }
  return results;
}

}  // namespace kiln
