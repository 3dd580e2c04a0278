// QDQ insertion: Conv / Gemm / MatMul read their calibrated activations through QuantizeLinear ->
// DequantizeLinear (int8, zero point 0) and their constant weights as int8 + per-channel DequantizeLinear.
// Bias stays float. The result is plain ONNX that the CPU reference runs (simulated quantization).
#include <algorithm>
#include <cmath>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

Node* add_qdq_node(Graph& g, const std::string& op, const std::string& base, std::vector<Value*> inputs, Value* out,
                   int opset, int64_t axis) {
  Node* n = g.add_node(op, g.unique_name(base), std::move(inputs), {out});
  n->opset = opset;
  if (axis >= 0) n->attrs["axis"] = Attribute::make_int(axis);
  return n;
}

// v -> QuantizeLinear -> DequantizeLinear -> returned value (float, v's dtype and shape).
Expected<Value*> quantize_activation(Graph& g, Value* v, float scale, int opset) {
  KILN_ASSIGN_OR_RETURN(Value * s, passes::add_constant(g, v->name + "_scale", Tensor::scalar<float>(scale)));
  KILN_ASSIGN_OR_RETURN(Value * zp, passes::add_constant(g, v->name + "_zero_point", Tensor::scalar<int8_t>(0)));
  KILN_ASSIGN_OR_RETURN(Value * q, g.add_value(g.unique_name(v->name + "_quantized"), DType::kInt8, v->shape));
  KILN_ASSIGN_OR_RETURN(Value * dq, g.add_value(g.unique_name(v->name + "_dequantized"), v->dtype, v->shape));
  add_qdq_node(g, "QuantizeLinear", v->name + "_QuantizeLinear", {v, s, zp}, q, opset, -1);
  add_qdq_node(g, "DequantizeLinear", v->name + "_DequantizeLinear", {q, s, zp}, dq, opset, -1);
  return dq;
}

// Constant float weight w -> int8 initializer + DequantizeLinear with one scale per slice along `axis`
// (one scale in all before opset 13, which has no per-axis QDQ).
Expected<Value*> quantize_weight(Graph& g, Value* w, int64_t axis, int opset) {
  const Tensor& t = *w->constant;
  std::vector<float> scales = passes::weight_channel_scales(t, axis);
  int64_t channels = static_cast<int64_t>(scales.size()), inner = 1;
  for (int64_t d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
  const bool per_axis = opset >= 13;
  if (!per_axis) {
    float m = 0;
    for (float s : scales) m = std::max(m, s);
    scales.assign(1, m);
  }
  const std::vector<float> v = t.to_float_vector();
  KILN_ASSIGN_OR_RETURN(Tensor q, Tensor::create(DType::kInt8, t.shape()));
  int8_t* qd = q.data<int8_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = per_axis ? static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels) : 0;
    const double r = std::nearbyint(static_cast<double>(v[i] / scales[c]));  // |r| <= 127 by construction
    qd[i] = static_cast<int8_t>(std::max(-127.0, std::min(127.0, r)));
  }
  const Shape param_shape = per_axis ? Shape{channels} : Shape{};
  KILN_ASSIGN_OR_RETURN(Value * qv, passes::add_constant(g, w->name + "_quantized", std::move(q)));
  KILN_ASSIGN_OR_RETURN(Value * s,
                        passes::add_constant(g, w->name + "_scale", Tensor::from_vector<float>(param_shape, scales)));
  KILN_ASSIGN_OR_RETURN(Value * zp, passes::add_constant(g, w->name + "_zero_point",
                                                         Tensor::from_vector<int8_t>(
                                                             param_shape, std::vector<int8_t>(scales.size(), 0))));
  KILN_ASSIGN_OR_RETURN(Value * dq, g.add_value(g.unique_name(w->name + "_dequantized"), w->dtype, w->shape));
  add_qdq_node(g, "DequantizeLinear", w->name + "_DequantizeLinear", {qv, s, zp}, dq, opset, per_axis ? axis : -1);
  return dq;
}

// The output-channel axis of a node's constant weight (input 1), or -1 when it is not quantized.
Expected<int64_t> weight_axis(const Node& n, const Value* w) {
  if (!w || !w->constant || w->dtype != DType::kFloat32 || w->constant->rank() < 1) return -1;
  if (n.op_type == "Conv") return 0;  // [C_out, C_in/group, k...]
  if (w->constant->rank() != 2 && n.op_type == "Gemm") return -1;
  if (n.op_type == "Gemm") {
    KILN_ASSIGN_OR_RETURN(int64_t transB, n.attr_int("transB", 0));
    return transB ? 0 : 1;  // B is [N, K] with transB, else [K, N]
  }
  if (w->constant->rank() < 2) return -1;  // MatMul with a 1-D B has no output channels
  return w->constant->rank() - 1;          // MatMul: [..., K, N], N last
}

}  // namespace

namespace passes {
bool is_qdq_compute(const Node& n) {
  return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

std::vector<float> weight_channel_scales(const Tensor& w, int64_t axis) {
  const int64_t channels = w.dim(axis);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  std::vector<double> amax(static_cast<size_t>(channels), 0.0);
  const std::vector<float> v = w.to_float_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    amax[c] = std::max(amax[c], static_cast<double>(std::fabs(v[i])));
  }
  std::vector<float> scales(amax.size());
  for (size_t c = 0; c < amax.size(); ++c)
    scales[c] = amax[c] > 0 ? static_cast<float>(amax[c] / 127.0) : 1.0f / 127.0f;
  return scales;
}

}  // namespace passes

Expected<int> insert_qdq(Graph& g, const std::map<std::string, float>& activation_scales,
                         const std::set<std::string>& skip_nodes) {
  const int opset = g.opset();
  if (opset < 10)
    return unsupported("QDQ insertion needs opset 10 or later (the model imports opset " + std::to_string(opset) + ")");
  std::vector<Node*> targets;
  for (const auto& n : g.nodes())
    if (passes::is_qdq_compute(*n) && !skip_nodes.count(n->name)) targets.push_back(n.get());
  std::map<const Value*, Value*> dequantized;  // one Q/DQ pair per activation, shared by its readers
  std::map<const Value*, Value*> weights;
  int changes = 0;
  for (Node* n : targets) {
    for (size_t i = 0; i < 2 && i < n->inputs.size(); ++i) {
      Value* v = n->inputs[i];
      if (!v || (v->producer && v->producer->op_type == "DequantizeLinear")) continue;  // already QDQ
      if (!v->is_constant()) {
        if (i == 1 && n->op_type == "Conv") continue;
        auto s = activation_scales.find(v->name);
        if (s == activation_scales.end() || v->dtype != DType::kFloat32) continue;
        if (!dequantized.count(v)) {
          KILN_ASSIGN_OR_RETURN(dequantized[v], quantize_activation(g, v, s->second, opset));
        }
        n->inputs[i] = dequantized[v];
        ++changes;
      } else if (i == 1) {
        KILN_ASSIGN_OR_RETURN(int64_t axis, weight_axis(*n, v));
        if (axis < 0) continue;
        if (!weights.count(v)) {
          KILN_ASSIGN_OR_RETURN(weights[v], quantize_weight(g, v, axis, opset));
        }
        n->inputs[i] = weights[v];
        ++changes;
      }
    }
  }
  if (changes == 0) return 0;
  KILN_RETURN_IF_ERROR(g.topological_sort());
  KILN_RETURN_IF_ERROR(eliminate_dead_code(g).status());
  return changes;
}

}  // namespace kiln
