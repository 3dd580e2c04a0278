// Graph optimization passes: the pass manager, the individual passes and the standard pipeline
// (optimize_graph) that `kiln info --passes` and the engine builders run before lowering.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// A pass rewrites the graph in place and returns how many rewrites it made (0 = nothing to do).
using PassFn = std::function<Expected<int>(Graph&)>;

struct PassReport {
  std::string pass;
  int changes = 0;
};

class PassManager {
 public:
  // `to_fixed_point`: re-run the pass until it reports no change (bounded by kMaxIterations).
  void add(std::string name, PassFn fn, bool to_fixed_point = false);
  // Runs the passes in order; after each pass that changed something the graph is re-sorted and
  // shapes are re-inferred so the next pass sees consistent shapes and constants.
  Expected<std::vector<PassReport>> run(Graph& graph) const;
  static constexpr int kMaxIterations = 16;

 private:
  struct Entry {
    std::string name;
    PassFn fn;
    bool to_fixed_point;
  };
  std::vector<Entry> passes_;
};

struct OptimizeOptions {
  bool fold_constants = true;  // also shape-subgraph folding
  bool fold_batchnorm = true;
  bool fuse_conv = true;
  bool fuse_gemm = true;
  bool fuse_elementwise = true;
  bool decompose_einsum = true;  // two-operand contractions as Transpose/Reshape/MatMul
  bool decompose_conv_transpose = true;  // constant-weight ConvTranspose as Conv (+ DepthToSpace / Pad)
  bool decompose_composites = true;  // losses, run-time-parameter norms, Clip, Hardmax, IsInf... as primitives
  // Folded results larger than this many elements stay computed at run time (keeps plans small).
  int64_t max_fold_elements = int64_t{1} << 20;
  // > 0: Q/DQ convolutions whose input and output channels are multiples of it become kiln.QConv (INT8
  // kernels; the CUDA builder's choice). 0: Q/DQ graphs stay simulated quantization in float.
  int64_t int8_conv_channel_multiple = 0;
};

// The CUDA engine builder's pipeline: the standard one, with Q/DQ convs folded into INT8 kiln.QConv nodes when
// `int8_kernels` (channels a multiple of 4, what cuDNN's int8 engines take).
OptimizeOptions cuda_engine_optimize_options(bool int8_kernels);

// Infers shapes, runs the standard pipeline, then re-infers shapes and verifies the graph.
Expected<std::vector<PassReport>> optimize_graph(Graph& graph, const OptimizeOptions& options = {});

// Op histogram ("Conv" -> 20, "kiln.FusedConv" -> 3): non-default domains are prefixed.
std::map<std::string, int> op_histogram(const Graph& graph);

// ---- The passes (each in its own file) ----
Expected<int> eliminate_dead_code(Graph& graph);                   // dce.cc
Expected<int> remove_identity(Graph& graph);                       // remove_identity.cc
// `keep_quantized_weights`: DequantizeLinear of int8 constants that only Convs read as weights stays
// (fold_qdq_conv takes the int8 weights from it).
Expected<int> fold_constants(Graph& graph, int64_t max_elements,
                             bool keep_quantized_weights = false);  // fold_constants.cc
Expected<int> fold_shapes(Graph& graph);                           // fold_shapes.cc
Expected<int> fold_batchnorm(Graph& graph);                        // fold_batchnorm.cc
Expected<int> fuse_conv(Graph& graph);                             // fuse_conv.cc
Expected<int> fuse_gemm(Graph& graph);                             // fuse_gemm.cc
Expected<int> fuse_elementwise(Graph& graph);                      // fuse_elementwise.cc
Expected<int> decompose_einsum(Graph& graph);                      // decompose_einsum.cc
Expected<int> decompose_conv_transpose(Graph& graph);              // decompose_conv_transpose.cc
Expected<int> decompose_composites(Graph& graph);                  // decompose_composites.cc
Expected<int> inline_constant_if(Graph& graph);                    // inline_if.cc
// Conv / kiln.FusedConv reading int8 activations and int8 constant weights through DequantizeLinear (zero
// points 0; input and output channels multiples of `channel_multiple`, group 1) -> kiln.QConv, which also
// absorbs the QuantizeLinear readers of its output when they share one scale.
Expected<int> fold_qdq_conv(Graph& graph, int64_t channel_multiple);  // fold_qdq.cc
// Conv/Gemm/MatMul: activations named in `activation_scales` through QuantizeLinear -> DequantizeLinear
// (int8, zero point 0); constant float weights as int8 + per-output-channel DequantizeLinear (opset 13+;
// one scale before). Activations without a scale stay float. Not in the standard pipeline.
// `skip_nodes`: Conv/Gemm/MatMul nodes (by name) left in float (--accuracy-budget's pins).
Expected<int> insert_qdq(Graph& graph, const std::map<std::string, float>& activation_scales,
                         const std::set<std::string>& skip_nodes = {});  // insert_qdq.cc

// ---- Helpers shared by the passes (pass_util.cc) ----
namespace passes {
// The only node consuming `v`, or nullptr when v has zero or several consumers or is a graph output.
Node* sole_consumer(const Graph& g, const Value* v);
// Redirects every node input reading `from` to `to` (graph outputs are left alone).
void replace_uses(Graph& g, const Value* from, Value* to);
// Turns a node output into an initializer holding `data` (the producing node is then removed by the caller).
void make_initializer(Graph& g, Value* v, Tensor data);
// Reads a float tensor as double / writes doubles back in `dtype` (float16/bfloat16/float32/float64).
std::vector<double> to_doubles(const Tensor& t);
Expected<Tensor> from_doubles(DType dtype, const Shape& shape, const std::vector<double>& v);
// An activation that can become a fused epilogue, found on the sole use of `v`: its name (as in
// ops/fused.h), alpha/beta, the nodes it spans (two for SiLU = x * Sigmoid(x)) and its output.
struct ActivationMatch {
  std::string name;
  float alpha = 0.f, beta = 0.f;
  std::vector<Node*> nodes;
  Value* output = nullptr;
};
bool match_activation(const Graph& g, Value* v, ActivationMatch& m);
// Marks the graph as using the kiln domain (fused ops) so writers declare it.
void use_kiln_domain(Graph& g);
// The compute nodes INT8 quantization reads through QDQ: Conv, Gemm and MatMul of the default domain (the
// targets of insert_qdq, of calibration and of --accuracy-budget's search).
bool is_qdq_compute(const Node& n);
// Symmetric per-channel weight scales along `axis`: max|w| / 127 (1/127 for an all-zero channel).
std::vector<float> weight_channel_scales(const Tensor& w, int64_t axis);
// A fresh initializer named after `base`.
Expected<Value*> add_constant(Graph& g, const std::string& base, Tensor data);
// Decomposition passes: for every default-domain node (a snapshot of the graph's nodes) for which `pick` gives
// a rewrite, runs it; a rewrite that returns true has written the node's outputs with new nodes, and the node
// is then detached and removed. Returns how many nodes were rewritten.
using NodeRewrite = std::function<Expected<bool>(Graph&, Node&)>;
Expected<int> rewrite_nodes(Graph& g, const std::function<NodeRewrite(const Node&)>& pick);
// Adds the nodes that replace `n` (decomposition passes): values and nodes named "<n.name>/<base>", nodes at
// n's opset (the graph's default-domain opset when n has none).
class NodeBuilder {
 public:
  NodeBuilder(Graph& g, const Node& n) : g_(g), n_(n), opset_(n.opset > 0 ? n.opset : g.opset("")) {}
  Expected<Value*> value(const std::string& base, DType dtype, const Shape& shape);
  Node* node(const std::string& op, std::vector<Value*> in, Value* out);
  Expected<Value*> ints(const std::string& base, const std::vector<int64_t>& v);  // a 1-D int64 constant
  Expected<Value*> reshape(Value* x, const Shape& to);  // x itself when its shape is already `to`
  // A value whose shape the shape inference after the pass fills in.
  Expected<Value*> fresh(const std::string& base, DType dtype);
  // A rank-0 constant of a float type, int32 or int64.
  Expected<Value*> scalar(const std::string& base, DType dtype, double v);
  // A float constant of `shape` filled with `v`.
  Expected<Value*> filled(const std::string& base, DType dtype, const Shape& shape, double v);
  // op(inputs) into a fresh value of `dtype`, or into `out` when given.
  Expected<Value*> apply(const std::string& op, std::vector<Value*> in, DType dtype, Value* out = nullptr);
  // Unsqueeze / Squeeze (`op`): axes as an attribute before opset 13, an input from 13.
  Expected<Value*> squeeze_op(const std::string& op, Value* x, const std::vector<int64_t>& axes, Value* out = nullptr);
  // Reduce* over `axes` (empty: every axis): axes as an input from opset 13 for ReduceSum, 18 for the others.
  Expected<Value*> reduce(const std::string& op, Value* x, const std::vector<int64_t>& axes, bool keepdims,
                          Value* out = nullptr);
  Expected<Value*> cast(Value* x, DType to, Value* out = nullptr);
  int opset() const { return opset_; }

 protected:
  Graph& g_;
  const Node& n_;
  int opset_;
};
}  // namespace passes

}  // namespace kiln
