// Shape-subgraph folding for static shapes: Shape and Size of a value whose shape is fully known become
// constants (fold_constants then folds the Gather/Concat/... chains built on them).
#include <algorithm>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

// Shape's output for a static input shape, honouring start/end (opset 15) with clamping as in the spec.
Expected<Tensor> shape_constant(const Node& n, const Shape& s) {
  const int64_t r = static_cast<int64_t>(s.size());
  KILN_ASSIGN_OR_RETURN(int64_t start, n.attr_int("start", 0));
  KILN_ASSIGN_OR_RETURN(int64_t end, n.attr_int("end", r));
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<size_t>(i)]);
  const int64_t count = static_cast<int64_t>(dims.size());
  return Tensor::from_vector<int64_t>({count}, dims);
}

}  // namespace

Expected<int> fold_shapes(Graph& graph) {
  std::vector<Node*> dead;
  for (const auto& node : graph.nodes()) {
    Node& n = *node;
    if (!n.domain.empty() || (n.op_type != "Shape" && n.op_type != "Size")) continue;
    const Value* in = n.input(0);
    Value* out = n.output(0);
    if (!in || !out) continue;
    auto s = in->shape.to_static();
    if (!s) continue;
    if (n.op_type == "Shape") {
      KILN_ASSIGN_OR_RETURN(Tensor t, shape_constant(n, *s));
      passes::make_initializer(graph, out, std::move(t));
    } else {
      passes::make_initializer(graph, out, Tensor::scalar<int64_t>(numel(*s)));
    }
    dead.push_back(&n);
  }
  if (!dead.empty()) graph.remove_nodes(dead);
  return static_cast<int>(dead.size());
}

}  // namespace kiln
