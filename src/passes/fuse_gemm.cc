// GEMM epilogue fusion: Gemm -> activation, and 2-D MatMul -> (+ constant bias [N] / [1,N]) -> (activation),
// become one kiln.FusedGemm computing act(alpha * op(A) * op(B) + beta * C) (cuBLASLt's epilogues).
#include "passes/pass_manager.h"

namespace kiln {
namespace {

// A constant that broadcasts over the rows of an [M, N] product.
bool is_row_bias(const Value& c, int64_t n) {
  if (!c.constant || c.constant->numel() != n) return false;
  const Shape& s = c.constant->shape();
  return (s.size() == 1 && s[0] == n) || (s.size() == 2 && s[0] == 1 && s[1] == n);
}

bool is_2d(const Value* v) { return v && v->shape.rank_known && v->shape.rank() == 2; }

Expected<bool> fuse_one(Graph& g, Node& n) {
  if (!n.output(0) || !is_2d(n.input(0)) || !is_2d(n.input(1)) || !dtype_is_float(n.input(0)->dtype)) return false;
  std::vector<Node*> absorbed;
  Value* cur = n.output(0);
  if (n.op_type == "MatMul") {
    const Dim cols = n.input(1)->shape.dims[1];
    Node* add = passes::sole_consumer(g, cur);
    if (cols.known() && add && add->op_type == "Add" && add->domain.empty() && add->inputs.size() == 2) {
      Value* other = add->input(0) == cur ? add->input(1) : add->input(0);
      if (other && other->dtype == cur->dtype && is_row_bias(*other, cols.value)) {
        n.inputs.push_back(other);
        absorbed.push_back(add);
        cur = add->output(0);
      }
    }
  }
  passes::ActivationMatch act;
  if (passes::match_activation(g, cur, act)) {
    absorbed.insert(absorbed.end(), act.nodes.begin(), act.nodes.end());
    cur = act.output;
  }
  if (absorbed.empty()) return false;
  if (n.op_type == "MatMul") {  // Gemm's defaults (alpha = beta = 1, no transposes) are MatMul + C
    n.attrs.clear();
  }
  n.op_type = "FusedGemm";
  n.domain = "kiln";
  n.opset = 1;
  n.attrs["activation"] = Attribute::make_string(act.name);
  n.attrs["activation_alpha"] = Attribute::make_float(act.alpha);
  n.attrs["activation_beta"] = Attribute::make_float(act.beta);
  n.outputs[0] = cur;
  cur->producer = &n;
  g.remove_nodes(absorbed);
  return true;
}

}  // namespace

Expected<int> fuse_gemm(Graph& graph) {
  std::vector<Node*> candidates;
  for (const auto& n : graph.nodes())
    if ((n->op_type == "Gemm" || n->op_type == "MatMul") && n->domain.empty()) candidates.push_back(n.get());
  int fused = 0;
  for (Node* n : candidates) {
    KILN_ASSIGN_OR_RETURN(bool done, fuse_one(graph, *n));
    fused += done ? 1 : 0;
  }
  if (fused) passes::use_kiln_domain(graph);
  return fused;
}

}  // namespace kiln
