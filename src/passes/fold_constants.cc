// Constant folding: a node whose inputs are all constant is evaluated once (with the evaluator the CPU
// backend installs) and its outputs become initializers, when the results are not too large.
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

bool is_nondeterministic(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" || op == "RandomUniformLike" ||
         op == "Bernoulli" || op == "Multinomial";
}

// Inputs of `n` when every present one is constant; false otherwise.
bool constant_inputs(const Node& n, std::vector<const Tensor*>& inputs) {
  for (const Value* in : n.inputs) {
    if (in && !in->constant) return false;
    inputs.push_back(in ? &*in->constant : nullptr);
  }
  return true;
}

// Folds one node; false when it must stay (evaluation failed or the result is too large).
bool fold_node(Graph& graph, Node& n, const std::vector<const Tensor*>& inputs, int64_t max_elements) {
  std::vector<Tensor> results;
  bool all_known = true;
  for (const Value* o : n.outputs) all_known = all_known && (!o || o->constant);
  if (all_known) {  // shape inference already evaluated it
    for (const Value* o : n.outputs) results.push_back(o ? *o->constant : Tensor());
  } else {
    const ConstantEvaluator& eval = constant_evaluator();
    if (!eval) return false;
    auto r = eval(n, inputs);
    if (!r.ok() || r->size() != n.outputs.size()) return false;
    results = std::move(*r);
  }
  for (size_t i = 0; i < results.size(); ++i)
    if (n.outputs[i] && (!results[i].defined() || results[i].numel() > max_elements)) return false;
  for (size_t i = 0; i < results.size(); ++i)
    if (n.outputs[i]) passes::make_initializer(graph, n.outputs[i], std::move(results[i]));
  return true;
}

// DequantizeLinear of int8 constants read only as Conv / kiln.FusedConv weights (input 1).
bool dequantizes_conv_weights(const Graph& g, const Node& n) {
  if (n.op_type != "DequantizeLinear" || !n.domain.empty() || !n.input(0) || n.input(0)->dtype != DType::kInt8 ||
      !n.output(0))
    return false;
  const std::vector<Node*> readers = g.consumers(n.output(0));
  for (const Node* r : readers) {
    const bool conv = (r->op_type == "Conv" && r->domain.empty()) || (r->op_type == "FusedConv" && r->domain == "kiln");
    if (!conv || r->input(1) != n.output(0) || r->input(0) == n.output(0)) return false;
  }
  return !readers.empty();
}

}  // namespace

Expected<int> fold_constants(Graph& graph, int64_t max_elements, bool keep_quantized_weights) {
  std::vector<Node*> dead;
  for (const auto& node : graph.nodes()) {
    Node& n = *node;
    if (is_nondeterministic(n.op_type) || n.domain == "kiln") continue;
    if (keep_quantized_weights && dequantizes_conv_weights(graph, n)) continue;
    std::vector<const Tensor*> inputs;
    if (!constant_inputs(n, inputs)) continue;
    if (fold_node(graph, n, inputs, max_elements)) dead.push_back(&n);
  }
  if (!dead.empty()) graph.remove_nodes(dead);
  return static_cast<int>(dead.size());
}

}  // namespace kiln
