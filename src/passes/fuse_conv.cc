// Conv epilogue fusion: Conv -> (+ per-channel constant bias) -> (+ residual Z) -> (activation) becomes
// one kiln.FusedConv computing act(conv(X, W) + B + Z), the order cuDNN's fused epilogues use.
#include "passes/pass_manager.h"

namespace kiln {
namespace {

bool same_shape(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.dims.size(); ++i) {
    const Dim &x = a.dims[i], &y = b.dims[i];
    if (!(x.known() && y.known() && x.value == y.value) && !(x.is_symbol() && y.is_symbol() && x.symbol == y.symbol))
      return false;
  }
  return true;
}

// A constant that broadcasts along the channel axis (1) only, e.g. [C,1,1] or [1,C,1,1] for an NCHW output.
bool is_channel_bias(const Value& c, const SymShape& y, int64_t channels) {
  if (!c.constant || c.constant->numel() != channels || !y.rank_known) return false;
  const Shape& s = c.constant->shape();
  const int64_t axis = 1 - (y.rank() - static_cast<int64_t>(s.size()));
  if (axis < 0 || static_cast<int64_t>(s.size()) > y.rank()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != (static_cast<int64_t>(i) == axis ? channels : 1)) return false;
  return true;
}

// What gets absorbed into one conv.
struct Epilogue {
  std::vector<double> bias;  // conv bias plus constant per-channel adds
  bool bias_changed = false;
  Value* residual = nullptr;
  passes::ActivationMatch act;
  std::vector<Node*> absorbed;
  Value* out = nullptr;
};

// Follows the conv output through up to two Adds (bias and/or residual) and one activation.
void collect(const Graph& g, const Node& conv, int64_t channels, Epilogue& e) {
  Value* cur = conv.output(0);
  for (int adds = 0; adds < 2; ++adds) {
    Node* add = passes::sole_consumer(g, cur);
    if (!add || add->op_type != "Add" || !add->domain.empty() || add->inputs.size() != 2) break;
    Value* other = add->input(0) == cur ? add->input(1) : add->input(0);
    if (!other || other->dtype != cur->dtype || !same_shape(add->output(0)->shape, cur->shape)) break;
    if (is_channel_bias(*other, cur->shape, channels)) {
      const std::vector<double> b = passes::to_doubles(*other->constant);
      for (size_t c = 0; c < b.size(); ++c) e.bias[c] += b[c];
      e.bias_changed = true;
    } else if (!e.residual && !other->constant && same_shape(other->shape, cur->shape)) {
      e.residual = other;
    } else {
      break;
    }
    e.absorbed.push_back(add);
    cur = add->output(0);
  }
  if (passes::match_activation(g, cur, e.act)) {
    e.absorbed.insert(e.absorbed.end(), e.act.nodes.begin(), e.act.nodes.end());
    cur = e.act.output;
  }
  e.out = cur;
}

Expected<bool> fuse_one(Graph& g, Node& conv) {
  const Value* w = conv.input(1);
  const Value* b = conv.input(2);
  if (!conv.output(0) || !w || !w->shape.rank_known || !w->shape.dims[0].known() || !dtype_is_float(w->dtype))
    return false;
  const int64_t channels = w->shape.dims[0].value;
  if (b && (!b->constant || b->constant->numel() != channels)) return false;
  Epilogue e;
  e.bias = b ? passes::to_doubles(*b->constant) : std::vector<double>(static_cast<size_t>(channels), 0.0);
  collect(g, conv, channels, e);
  if (e.absorbed.empty()) return false;
  Value* bias = conv.input(2);
  if (e.bias_changed) {
    KILN_ASSIGN_OR_RETURN(Tensor t, passes::from_doubles(w->dtype, {channels}, e.bias));
    KILN_ASSIGN_OR_RETURN(bias, passes::add_constant(g, conv.name + "_fused_bias", std::move(t)));
  }
  conv.inputs = {conv.input(0), conv.input(1), bias};
  if (e.residual) conv.inputs.push_back(e.residual);
  conv.op_type = "FusedConv";
  conv.domain = "kiln";
  conv.opset = 1;
  conv.attrs["activation"] = Attribute::make_string(e.act.name);
  conv.attrs["alpha"] = Attribute::make_float(e.act.alpha);
  conv.attrs["beta"] = Attribute::make_float(e.act.beta);
  conv.outputs[0] = e.out;
  e.out->producer = &conv;
  g.remove_nodes(e.absorbed);
  return true;
}

}  // namespace

Expected<int> fuse_conv(Graph& graph) {
  std::vector<Node*> convs;
  for (const auto& n : graph.nodes())
    if (n->op_type == "Conv" && n->domain.empty()) convs.push_back(n.get());
  int fused = 0;
  for (Node* c : convs) {
    KILN_ASSIGN_OR_RETURN(bool done, fuse_one(graph, *c));
    fused += done ? 1 : 0;
  }
  if (fused) {
    passes::use_kiln_domain(graph);
    KILN_RETURN_IF_ERROR(graph.topological_sort());
  }
  return fused;
}

}  // namespace kiln
