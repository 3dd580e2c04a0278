// Elementwise chain fusion: two or more unary activations applied one after another to one tensor
// (each intermediate used once) become one kiln.FusedElementwise with the op list as attributes.
#include <algorithm>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

// Activations only (no SiLU here: it reads its input twice); Tanh and HardSigmoid are plain unary ops.
bool match_unary(const Graph& g, Value* v, passes::ActivationMatch& m) {
  Node* n = passes::sole_consumer(g, v);
  if (n && n->domain.empty() && n->input(0) == v && n->inputs.size() == 1 && n->output(0)) {
    if (n->op_type == "Tanh") {
      m = passes::ActivationMatch{"Tanh", 0.f, 0.f, {n}, n->output(0)};
      return true;
    }
    if (n->op_type == "HardSigmoid") {
      auto a = n->attr_float("alpha", 0.2f), b = n->attr_float("beta", 0.5f);
      if (!a.ok() || !b.ok()) return false;
      m = passes::ActivationMatch{"HardSigmoid", *a, *b, {n}, n->output(0)};
      return true;
    }
  }
  return passes::match_activation(g, v, m) && m.name != "SiLU";
}

}  // namespace

Expected<int> fuse_elementwise(Graph& graph) {
  std::vector<Node*> dead;
  int fused = 0;
  std::vector<Node*> order;  // add_node below grows the node list: iterate over a snapshot
  for (const auto& n : graph.nodes()) order.push_back(n.get());
  // In topological order the first node met of a chain is its head; later members are already in `dead`.
  for (Node* first : order) {
    if (std::find(dead.begin(), dead.end(), first) != dead.end() || !first->input(0) ||
        !dtype_is_float(first->input(0)->dtype))
      continue;
    passes::ActivationMatch m;
    Value* in = first->input(0);
    if (!match_unary(graph, in, m) || m.nodes[0] != first) continue;
    std::vector<passes::ActivationMatch> chain{m};
    while (match_unary(graph, chain.back().output, m)) chain.push_back(m);
    if (chain.size() < 2) continue;
    std::vector<std::string> ops;
    std::vector<float> alphas, betas;
    for (const auto& c : chain) {
      ops.push_back(c.name);
      alphas.push_back(c.alpha);
      betas.push_back(c.beta);
      dead.push_back(c.nodes[0]);
    }
    Value* out = chain.back().output;
    Node* f = graph.add_node("FusedElementwise", graph.unique_name(first->name + "_chain"), {in}, {out});
    f->domain = "kiln";
    f->opset = 1;
    f->attrs["ops"] = Attribute::make_strings(ops);
    f->attrs["alphas"] = Attribute::make_floats(alphas);
    f->attrs["betas"] = Attribute::make_floats(betas);
    ++fused;
  }
  if (!fused) return 0;
  graph.remove_nodes(dead);  // their outputs' producer is already the new node, which add_node set
  passes::use_kiln_domain(graph);
  KILN_RETURN_IF_ERROR(graph.topological_sort());
  return fused;
}

}  // namespace kiln
