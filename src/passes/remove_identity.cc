// Removes Identity and inference-mode Dropout nodes, keeping graph output names intact.
#include <algorithm>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

// Dropout is the identity at inference unless training_mode is a constant true (opset 12+) or,
// before opset 7, is_test is 0; its mask output must be unused.
bool is_passthrough(const Graph& g, const Node& n) {
  if (!n.domain.empty()) return false;
  if (n.op_type == "Identity") return n.inputs.size() == 1 && n.input(0) != nullptr;
  if (n.op_type != "Dropout" || !n.input(0)) return false;
  if (n.output(1) && (n.output(1)->is_graph_output || !g.consumers(n.output(1)).empty())) return false;
  if (n.opset < 7) {
    auto is_test = n.attr_int("is_test", 0);
    if (!is_test.ok() || *is_test == 0) return false;
  }
  if (const Value* training = n.input(2)) {
    if (!training->constant || training->constant->numel() != 1) return false;
    if (training->constant->get_as_double(0) != 0.0) return false;
  }
  return true;
}

}  // namespace

Expected<int> remove_identity(Graph& graph) {
  std::vector<Node*> dead;
  for (const auto& node : graph.nodes()) {
    Node* n = node.get();
    if (!is_passthrough(graph, *n)) continue;
    Value* in = n->input(0);
    Value* out = n->output(0);
    if (!out) {
      dead.push_back(n);
      continue;
    }
    if (!out->is_graph_output) {
      passes::replace_uses(graph, out, in);
      dead.push_back(n);
      continue;
    }
    // The output name must survive: let the input's producer write `out` directly, when nothing else
    // (a graph input/output, an initializer) pins the input value itself.
    Node* p = in->producer;
    if (!p || in->is_graph_output || in->is_graph_input || in->constant) continue;
    auto slot = std::find(p->outputs.begin(), p->outputs.end(), in);
    *slot = out;
    out->producer = p;
    passes::replace_uses(graph, in, out);
    n->inputs.clear();
    dead.push_back(n);
  }
  if (!dead.empty()) graph.remove_nodes(dead);
  return static_cast<int>(dead.size());
}

}  // namespace kiln
