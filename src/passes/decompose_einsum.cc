// Two-operand Einsum contractions (the ones vision models write: attention's "bghid,bghjd->bghij",
// "bhwc,hkc->bhwk", ...) rewritten as Transpose -> Reshape -> MatMul -> Reshape -> Transpose, so that every
// backend with a batched GEMM runs them (the GPU engine through cuBLASLt) and the GEMM fusions apply.
//
// Labels split into four roles: batch (both operands and the output), contracted (both operands, not the
// output), kept from A or from B (one operand and the output). A label in one operand only and not in the
// output is summed first (ReduceSum). Each operand is transposed to [batch, kept, contracted] (A) or
// [batch, contracted, kept] (B), its kept and contracted runs flattened to one dim each, so MatMul gives
// [batch, M, N], which is unflattened and transposed to the output's label order. Batch dims broadcast as
// MatMul's do (an ellipsis dim of extent 1 against n). Equations with a diagonal (a label repeated in an
// operand), one or three+ operands, or shapes not known at this point are left to the Einsum kernel.
#include <algorithm>

#include "ops/einsum.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

bool contains(const std::vector<int>& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); }

class Rewriter : public passes::NodeBuilder {
 public:
  using NodeBuilder::NodeBuilder;

  // x (labels `from`, dims `dims`) transposed to label order `to`; x itself when the order is the same.
  Expected<Value*> transpose(Value* x, std::vector<int>& from, Shape& dims, const std::vector<int>& to) {
    if (from == to) return x;
    std::vector<int64_t> perm;
    Shape out;
    for (int l : to) {
      const auto p = std::find(from.begin(), from.end(), l) - from.begin();
      perm.push_back(p);
      out.push_back(dims[static_cast<size_t>(p)]);
    }
    KILN_ASSIGN_OR_RETURN(Value * y, value("transposed", x->dtype, out));
    node("Transpose", {x}, y)->attrs["perm"] = Attribute::make_ints(perm);
    from = to;
    dims = out;
    return y;
  }

  // Sums away the labels of x not in `keep` (ReduceSum with keepdims 0; axes as an input from opset 13).
  Expected<Value*> sum_unused(Value* x, std::vector<int>& labels, Shape& dims, const std::vector<int>& keep) {
    std::vector<int64_t> axes;
    std::vector<int> left;
    Shape out;
    for (size_t d = 0; d < labels.size(); ++d) {
      if (contains(keep, labels[d])) {
        left.push_back(labels[d]);
        out.push_back(dims[d]);
      } else {
        axes.push_back(static_cast<int64_t>(d));
      }
    }
    if (axes.empty()) return x;
    KILN_ASSIGN_OR_RETURN(Value * y, value("summed", x->dtype, out));
    Node* r;
    if (opset() >= 13) {
      KILN_ASSIGN_OR_RETURN(Value * a, ints("axes", axes));
      r = node("ReduceSum", {x, a}, y);
    } else {
      r = node("ReduceSum", {x}, y);
      r->attrs["axes"] = Attribute::make_ints(axes);
    }
    r->attrs["keepdims"] = Attribute::make_int(0);
    labels = left;
    dims = out;
    return y;
  }
};

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// True when the node was rewritten (its output is then produced by the new nodes).
Expected<bool> decompose(Graph& g, Node& n) {
  if (n.inputs.size() != 2 || !n.input(0) || !n.input(1) || !n.output(0)) return false;
  Value *a = n.input(0), *b = n.input(1), *y = n.output(0);
  auto sa = a->shape.to_static(), sb = b->shape.to_static(), sy = y->shape.to_static();
  if (!sa || !sb || !sy || a->dtype != b->dtype || y->dtype != a->dtype) return false;
  if (a->dtype != DType::kFloat32 && a->dtype != DType::kFloat16 && a->dtype != DType::kBFloat16 &&
      a->dtype != DType::kFloat64)
    return false;
  auto eq = n.attr_string("equation", "");
  if (!eq.ok()) return false;
  auto parsed = parse_einsum(*eq, {sa->size(), sb->size()});
  if (!parsed.ok()) return false;  // the shape rule reports it
  std::vector<int> la = parsed->inputs[0], lb = parsed->inputs[1];
  const std::vector<int>& lo = parsed->output;
  for (const auto* l : {&la, &lb}) {
    std::vector<int> s = *l;
    std::sort(s.begin(), s.end());
    if (std::adjacent_find(s.begin(), s.end()) != s.end()) return false;  // a diagonal
  }
  Shape da = *sa, db = *sb;
  Rewriter rw(g, n);
  // Labels each operand needs: the output's and the other operand's.
  std::vector<int> need_a = lo, need_b = lo;
  need_a.insert(need_a.end(), lb.begin(), lb.end());
  need_b.insert(need_b.end(), la.begin(), la.end());
  // Dims of extent 1 on a non-ellipsis label that the other operand has larger: Einsum does not broadcast
  // those, so the shape rule would have refused them; leave anything unusual to the kernel.
  for (size_t i = 0; i < la.size(); ++i)
    for (size_t j = 0; j < lb.size(); ++j)
      if (la[i] == lb[j] && da[i] != db[j] && (la[i] < kEinsumEllipsisBase || contains(lo, la[i]) == false))
        return false;
  std::vector<int> batch, kept_a, kept_b, contracted;
  for (int l : lo) {
    const bool ia = contains(la, l), ib = contains(lb, l);
    if (ia && ib) batch.push_back(l);
    else if (ia) kept_a.push_back(l);
    else if (ib) kept_b.push_back(l);
    else return false;
  }
  for (int l : la)
    if (contains(lb, l) && !contains(lo, l)) contracted.push_back(l);
  KILN_ASSIGN_OR_RETURN(Value * xa, rw.sum_unused(a, la, da, need_a));
  KILN_ASSIGN_OR_RETURN(Value * xb, rw.sum_unused(b, lb, db, need_b));
  auto concat = [](std::initializer_list<const std::vector<int>*> parts) {
    std::vector<int> r;
    for (const auto* p : parts) r.insert(r.end(), p->begin(), p->end());
    return r;
  };
  KILN_ASSIGN_OR_RETURN(xa, rw.transpose(xa, la, da, concat({&batch, &kept_a, &contracted})));
  KILN_ASSIGN_OR_RETURN(xb, rw.transpose(xb, lb, db, concat({&batch, &contracted, &kept_b})));
  const size_t nb = batch.size();
  const int64_t M = product(da, nb, nb + kept_a.size()), K = product(da, nb + kept_a.size(), da.size());
  const int64_t N = product(db, nb + contracted.size(), db.size());
  Shape ma(da.begin(), da.begin() + static_cast<long>(nb)), mb(db.begin(), db.begin() + static_cast<long>(nb));
  ma.push_back(M);
  ma.push_back(K);
  mb.push_back(K);
  mb.push_back(N);
  KILN_ASSIGN_OR_RETURN(xa, rw.reshape(xa, ma));
  KILN_ASSIGN_OR_RETURN(xb, rw.reshape(xb, mb));
  // MatMul's output: the batch dims broadcast, then [M, N].
  Shape mm;
  for (size_t i = 0; i < nb; ++i) mm.push_back(std::max(da[i], db[i]));
  Shape unflat = mm;
  mm.push_back(M);
  mm.push_back(N);
  for (size_t i = nb; i < nb + kept_a.size(); ++i) unflat.push_back(da[i]);
  for (size_t i = nb + contracted.size(); i < db.size(); ++i) unflat.push_back(db[i]);
  KILN_ASSIGN_OR_RETURN(Value * prod, rw.value("matmul", a->dtype, mm));
  rw.node("MatMul", {xa, xb}, prod);
  std::vector<int> lz = concat({&batch, &kept_a, &kept_b});
  KILN_ASSIGN_OR_RETURN(Value * z, rw.reshape(prod, unflat));
  KILN_ASSIGN_OR_RETURN(z, rw.transpose(z, lz, unflat, lo));
  if (unflat != *sy) return Status(StatusCode::kRuntime, n.describe() + ": decomposed shape differs");
  // The last new node writes the Einsum's output value itself (its name may be a graph output).
  Node* last = z->producer;
  if (!last) return Status(StatusCode::kRuntime, n.describe() + ": decomposition produced no node");
  last->outputs[0] = y;
  y->producer = last;
  n.inputs.clear();
  return true;
}

}  // namespace

Expected<int> decompose_einsum(Graph& graph) {
  return passes::rewrite_nodes(graph, [](const Node& n) -> passes::NodeRewrite {
    return n.op_type == "Einsum" ? passes::NodeRewrite(decompose) : nullptr;
  });
}

}  // namespace kiln
