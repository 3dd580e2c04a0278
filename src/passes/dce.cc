// Dead-code elimination: drops nodes none of whose outputs reach a graph output, then unused initializers.
#include <set>

#include "passes/pass_manager.h"

namespace kiln {

Expected<int> eliminate_dead_code(Graph& graph) {
  std::set<const Value*> live(graph.outputs.begin(), graph.outputs.end());
  std::vector<Node*> dead;
  // Nodes are in topological order, so one backward sweep sees every consumer before its producer.
  for (auto it = graph.nodes().rbegin(); it != graph.nodes().rend(); ++it) {
    Node* n = it->get();
    bool used = false;
    for (const Value* o : n->outputs) used = used || (o && live.count(o));
    if (!used) {
      dead.push_back(n);
      continue;
    }
    for (const Value* in : n->inputs)
      if (in) live.insert(in);
  }
  const size_t before = graph.initializers.size();
  std::vector<Value*> kept;
  for (Value* init : graph.initializers)
    if (live.count(init) || init->is_graph_input) kept.push_back(init);
  graph.initializers = std::move(kept);
  const int removed = static_cast<int>(dead.size() + (before - graph.initializers.size()));
  if (removed) graph.remove_nodes(dead);
  return removed;
}

}  // namespace kiln
