// BatchNormalization folding: Conv / ConvTranspose / Gemm followed by an inference BatchNormalization on
// its output becomes the same producer with rescaled weights and bias (computed in float64).
#include <cmath>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

// Per-channel y = x * scale + shift of an inference BatchNormalization with constant parameters.
struct Affine {
  std::vector<double> scale, shift;
};

bool bn_affine(const Node& bn, int64_t channels, Affine& a) {
  if (bn.inputs.size() < 5) return false;
  for (size_t i = 1; i < 5; ++i)
    if (!bn.input(i) || !bn.input(i)->constant || bn.input(i)->constant->numel() != channels) return false;
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (bn.outputs[i]) return false;  // training-mode running statistics requested
  auto training = bn.attr_int("training_mode", 0);
  auto eps = bn.attr_float("epsilon", 1e-5f);
  if (!training.ok() || *training != 0 || !eps.ok()) return false;
  const auto gamma = passes::to_doubles(*bn.input(1)->constant), beta = passes::to_doubles(*bn.input(2)->constant);
  const auto mean = passes::to_doubles(*bn.input(3)->constant), var = passes::to_doubles(*bn.input(4)->constant);
  a.scale.resize(static_cast<size_t>(channels));
  a.shift.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < a.scale.size(); ++c) {
    a.scale[c] = gamma[c] / std::sqrt(var[c] + static_cast<double>(*eps));
    a.shift[c] = beta[c] - mean[c] * a.scale[c];
  }
  return true;
}

// Output channel of each weight element, for the producer's weight layout.
std::vector<int64_t> weight_channels(const Node& p, const Tensor& w, int64_t transB, int64_t group) {
  std::vector<int64_t> ch(static_cast<size_t>(w.numel()));
  const int64_t inner = w.rank() >= 2 ? w.numel() / (w.dim(0) * w.dim(1)) : 1;
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (p.op_type == "Conv") {
      ch[static_cast<size_t>(i)] = i / (w.numel() / w.dim(0));
    } else if (p.op_type == "ConvTranspose") {  // W is [C_in, C_out/group, k...]
      const int64_t per_group = w.dim(0) / group, c_in = i / (w.dim(1) * inner), j = (i / inner) % w.dim(1);
      ch[static_cast<size_t>(i)] = (c_in / per_group) * w.dim(1) + j;
    } else {  // Gemm: B is [K, N], or [N, K] when transB
      ch[static_cast<size_t>(i)] = transB ? i / w.dim(1) : i % w.dim(1);
    }
  }
  return ch;
}

// Folds `bn` into producer `p`; false when a precondition fails (the graph is then untouched).
Expected<bool> fold_into(Graph& g, Node& p, Node& bn) {
  const Value* wv = p.input(1);
  if (!wv || !wv->constant || !dtype_is_float(wv->dtype)) return false;
  const Tensor& w = *wv->constant;
  int64_t transB = 0, channels = 0, group = 1;
  double beta_c = 1.0;
  if (p.op_type == "Gemm") {
    KILN_ASSIGN_OR_RETURN(transB, p.attr_int("transB", 0));
    KILN_ASSIGN_OR_RETURN(float alpha, p.attr_float("alpha", 1.f));
    KILN_ASSIGN_OR_RETURN(float beta, p.attr_float("beta", 1.f));
    if (w.rank() != 2 || alpha != 1.f) return false;
    beta_c = beta;
    channels = transB ? w.dim(0) : w.dim(1);
  } else {
    if (w.rank() < 3) return false;
    KILN_ASSIGN_OR_RETURN(group, p.attr_int("group", 1));
    if (group < 1) return false;
    channels = p.op_type == "Conv" ? w.dim(0) : w.dim(1) * group;
  }
  const Value* bv = p.input(2);
  if (bv && (!bv->constant || bv->constant->numel() != channels)) return false;  // Gemm's C: per-channel only
  Affine a;
  if (!bn_affine(bn, channels, a)) return false;
  std::vector<double> wd = passes::to_doubles(w);
  const std::vector<int64_t> ch = weight_channels(p, w, transB, group);
  for (size_t i = 0; i < wd.size(); ++i) wd[i] *= a.scale[static_cast<size_t>(ch[i])];
  std::vector<double> bd = bv ? passes::to_doubles(*bv->constant) : std::vector<double>(a.scale.size(), 0.0);
  for (size_t c = 0; c < bd.size(); ++c) bd[c] = bd[c] * beta_c * a.scale[c] + a.shift[c];
  KILN_ASSIGN_OR_RETURN(Tensor nw, passes::from_doubles(w.dtype(), w.shape(), wd));
  KILN_ASSIGN_OR_RETURN(Tensor nb, passes::from_doubles(w.dtype(), {channels}, bd));
  // New initializers: the old ones may be shared with other nodes (DCE drops them when not).
  KILN_ASSIGN_OR_RETURN(Value * w2, passes::add_constant(g, wv->name + "_bnfold", std::move(nw)));
  KILN_ASSIGN_OR_RETURN(Value * b2, passes::add_constant(g, bn.name + "_bias", std::move(nb)));
  p.inputs.resize(3);
  p.inputs[1] = w2;
  p.inputs[2] = b2;
  if (p.op_type == "Gemm") p.attrs["beta"] = Attribute::make_float(1.f);
  // p now writes BN's output value directly (keeps a graph output's name).
  Value* out = bn.outputs[0];
  passes::replace_uses(g, p.outputs[0], out);
  p.outputs[0] = out;
  out->producer = &p;
  bn.inputs.clear();
  return true;
}

}  // namespace

Expected<int> fold_batchnorm(Graph& graph) {
  std::vector<Node*> dead;
  for (const auto& node : graph.nodes()) {
    Node& p = *node;
    if (!p.domain.empty() || (p.op_type != "Conv" && p.op_type != "ConvTranspose" && p.op_type != "Gemm")) continue;
    Node* bn = passes::sole_consumer(graph, p.output(0));
    if (!bn || bn->op_type != "BatchNormalization" || !bn->domain.empty() || bn->input(0) != p.output(0)) continue;
    KILN_ASSIGN_OR_RETURN(bool folded, fold_into(graph, p, *bn));
    if (folded) dead.push_back(bn);
  }
  if (!dead.empty()) graph.remove_nodes(dead);
  return static_cast<int>(dead.size());
}

}  // namespace kiln
