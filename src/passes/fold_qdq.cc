// INT8 convolutions from Q/DQ graphs (explicit quantization, whether the scales came from kiln's calibration or
// from the model): a Conv or kiln.FusedConv that reads DequantizeLinear(int8 activations, one scale, zero point
// 0) and DequantizeLinear(int8 constant weights, one scale per output channel or one in all, zero point 0)
// becomes kiln.QConv on the int8 tensors, the scales as inputs. When its float output is read only by
// QuantizeLinear nodes to int8 with one and the same scale and zero point 0, QConv writes their int8 tensor
// itself (y_scale): consecutive INT8 convs then pass int8 tensors, no float round trip between them.
// QConv's CPU kernel computes exactly what the nodes it replaces computed, so the reference still checks the
// optimized graph. Runs after fuse_conv and before the weights' DequantizeLinear is constant-folded.
#include <cmath>

#include "ops/quantize.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

// A DequantizeLinear / QuantizeLinear zero point that is absent or an int8 constant of zeros.
bool zero_point_is_zero(const Node& n) {
  const Value* zp = n.input(2);
  if (!zp) return n.op_type == "DequantizeLinear";  // QuantizeLinear without one writes uint8
  if (!zp->constant || zp->constant->dtype() != DType::kInt8) return false;
  for (int64_t i = 0; i < zp->constant->numel(); ++i)
    if (zp->constant->data<int8_t>()[i] != 0) return false;
  return true;
}

// A constant float32 scale of `count` entries (1: per tensor), every one positive and finite.
bool usable_scale(const Value* s, int64_t count) {
  if (!s || !s->constant || s->constant->dtype() != DType::kFloat32 || s->constant->numel() != count) return false;
  for (int64_t i = 0; i < count; ++i) {
    const float v = s->constant->data<float>()[i];
    if (!(v > 0.f) || !std::isfinite(v)) return false;
  }
  return true;
}

Node* producer_of(const Value* v, const char* op) {
  return v && v->producer && v->producer->op_type == op && v->producer->domain.empty() ? v->producer : nullptr;
}

// The int8 activations and their scale behind `x`, or nullptrs.
std::pair<Value*, Value*> quantized_activation(const Value* x) {
  const Node* dq = producer_of(x, "DequantizeLinear");
  if (!dq || !dq->input(0) || dq->input(0)->constant || dq->input(0)->dtype != DType::kInt8) return {};
  if (!usable_scale(dq->input(1), 1) || !zero_point_is_zero(*dq)) return {};
  return {dq->input(0), dq->input(1)};
}

// The int8 constant weights [K, C, kh, kw] and their scale (K entries along axis 0, or one) behind `w`.
std::pair<Value*, Value*> quantized_weight(const Value* w) {
  const Node* dq = producer_of(w, "DequantizeLinear");
  if (!dq || !dq->input(0) || !dq->input(0)->constant || dq->input(0)->dtype != DType::kInt8) return {};
  const Tensor& q = *dq->input(0)->constant;
  const Value* s = dq->input(1);
  if (q.rank() != 4 || !s || !s->constant || !zero_point_is_zero(*dq)) return {};
  Expected<ops::QdqAttrs> a = ops::parse_qdq_attrs(*dq, q.rank(), s->constant->shape());
  if (!a.ok() || (a->per_axis && a->axis != 0)) return {};
  if (!usable_scale(s, a->per_axis ? q.dim(0) : 1)) return {};
  return {dq->input(0), dq->input(1)};
}

// The one scale every reader of `y` quantizes it with, when every reader is a QuantizeLinear to int8 with
// zero point 0 and the same scale value; nullptr otherwise.
Value* common_output_scale(const Graph& g, const Value* y, std::vector<Node*>& quantizers) {
  for (const Value* o : g.outputs)
    if (o == y) return nullptr;
  quantizers = g.consumers(y);
  if (quantizers.empty()) return nullptr;
  Value* scale = nullptr;
  for (Node* q : quantizers) {
    if (q->op_type != "QuantizeLinear" || !q->domain.empty() || q->input(0) != y || !q->output(0)) return nullptr;
    for (const Value* o : g.outputs)  // the graph's output names stay
      if (o == q->output(0)) return nullptr;
    if (!usable_scale(q->input(1), 1) || !zero_point_is_zero(*q) || q->output(0)->dtype != DType::kInt8) return nullptr;
    if (scale && scale->constant->data<float>()[0] != q->input(1)->constant->data<float>()[0]) return nullptr;
    if (!scale) scale = q->input(1);
  }
  return scale;
}

Expected<bool> fold_one(Graph& g, Node& conv, int64_t channel_multiple) {
  KILN_ASSIGN_OR_RETURN(int64_t group, conv.attr_int("group", 1));
  if (group != 1 || !conv.output(0) || conv.output(0)->dtype != DType::kFloat32) return false;
  auto [xq, x_scale] = quantized_activation(conv.input(0));
  auto [wq, w_scale] = quantized_weight(conv.input(1));
  if (!xq || !wq) return false;
  const Value* b = conv.input(2);
  if (b && (!b->constant || b->dtype != DType::kFloat32)) return false;
  const Value* z = conv.inputs.size() > 3 ? conv.input(3) : nullptr;
  if (z && z->dtype != DType::kFloat32) return false;
  const Shape& ws = wq->constant->shape();
  if (ws[0] % channel_multiple != 0 || ws[1] % channel_multiple != 0) return false;
  std::vector<Node*> quantizers;
  Value* y_scale = common_output_scale(g, conv.output(0), quantizers);
  const bool fused = conv.domain == "kiln";
  conv.inputs = {xq, wq, conv.input(2), fused && conv.inputs.size() > 3 ? conv.input(3) : nullptr, x_scale, w_scale};
  if (y_scale) conv.inputs.push_back(y_scale);
  conv.op_type = "QConv";
  conv.domain = "kiln";
  conv.opset = 1;
  if (y_scale) {
    Value* out = quantizers[0]->output(0);
    for (size_t i = 1; i < quantizers.size(); ++i) passes::replace_uses(g, quantizers[i]->output(0), out);
    conv.outputs[0] = out;
    out->producer = &conv;
    g.remove_nodes(quantizers);
  }
  return true;
}

}  // namespace

Expected<int> fold_qdq_conv(Graph& graph, int64_t channel_multiple) {
  std::vector<Node*> convs;
  for (const auto& n : graph.nodes())
    if ((n->op_type == "Conv" && n->domain.empty()) || (n->op_type == "FusedConv" && n->domain == "kiln"))
      convs.push_back(n.get());
  int folded = 0;
  for (Node* c : convs) {
    KILN_ASSIGN_OR_RETURN(bool done, fold_one(graph, *c, channel_multiple));
    folded += done ? 1 : 0;
  }
  if (folded) {
    passes::use_kiln_domain(graph);
    KILN_RETURN_IF_ERROR(graph.topological_sort());
  }
  return folded;
}

}  // namespace kiln
