// The op registry: one entry per ONNX op (schema limits, attribute checks and the shape/type rule).
// Each src/ops/<family>.cc registers its ops with KILN_REGISTER_OPS; nothing else lists ops.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// What a shape rule sees: the node, its inputs' types/shapes and (when known) constant contents.
class InferContext {
 public:
  explicit InferContext(Node& node) : node_(node) {}
  Node& node() const { return node_; }
  int opset() const { return node_.opset; }
  size_t num_inputs() const { return node_.inputs.size(); }
  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_input(size_t i) const { return node_.input(i) != nullptr; }
  bool has_output(size_t i) const { return node_.output(i) != nullptr; }
  const Value* input(size_t i) const { return node_.input(i); }
  DType input_dtype(size_t i) const { return has_input(i) ? node_.input(i)->dtype : DType::kUndefined; }
  const SymShape& input_shape(size_t i) const;
  // Constant contents of input i (initializer or folded), or nullptr.
  const Tensor* input_constant(size_t i) const;
  // Known contents of a 1-D int64 input, possibly with symbolic entries (see Value::dims_value), or nullptr.
  const std::vector<Dim>* input_dims_value(size_t i) const;

  void set_output(size_t i, DType dtype, SymShape shape);
  // Records the constant value of output i (also sets its dtype/shape).
  void set_output_constant(size_t i, Tensor value);
  void set_output_dims_value(size_t i, std::vector<Dim> dims);

  // Errors that name the node.
  Status invalid(const std::string& m) const { return node_.error(StatusCode::kInvalidInput, m); }
  Status unsupported_here(const std::string& m) const { return node_.error(StatusCode::kUnsupported, m); }

 private:
  Node& node_;
};

using ShapeRule = std::function<Status(InferContext&)>;
// Multiply-accumulates of one node once its input/output shapes are known (static); 0 = not counted.
using MacsRule = std::function<int64_t(const Node&)>;

struct OpDef {
  std::string op_type;
  std::string domain;   // "" = ai.onnx
  int min_opset = 1;    // earliest opset version kiln supports for this op
  int min_inputs = 0;
  int max_inputs = 64;
  ShapeRule infer;
  std::string doc;      // one line for the README op table
  MacsRule macs;        // set by compute-heavy ops (Conv, Gemm, MatMul ...); FLOPs = 2 * MACs
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  void add(OpDef def);
  const OpDef* find(const std::string& op_type, const std::string& domain = "") const;
  std::vector<const OpDef*> all() const;  // sorted by op_type

 private:
  std::vector<OpDef> defs_;
};

// Highest default-domain opset kiln imports.
constexpr int kMaxSupportedOpset = 21;
constexpr int kMinSupportedOpset = 7;

// Looks up the node's op, checks the opset and input count: an Unsupported status naming op, opset and
// node when kiln cannot handle it.
Expected<const OpDef*> lookup_op(const Node& node);

// Runs shape/type inference over the whole graph in order. Declared output shapes/types in the model
// are checked against (and refined by) the inferred ones. A node whose inputs are all small constants
// is evaluated (see set_constant_evaluator) so shape subgraphs fold into known shapes.
Status infer_shapes(Graph& graph);

struct InferOptions {
  // Instead of failing, leave nodes kiln cannot handle (unknown op, kUnsupported from the rule, inputs of
  // unknown type) and everything computed from them with their declared or unknown types (kiln info).
  bool skip_unsupported = false;
};
Status infer_shapes(Graph& graph, const InferOptions& options);

// Evaluates one node on constant inputs, returning its outputs. The CPU reference backend installs
// this at static-init time: the ops layer may not include cpu/, so the dependency is inverted here.
using ConstantEvaluator =
    std::function<Expected<std::vector<Tensor>>(const Node& node, const std::vector<const Tensor*>& inputs)>;
void set_constant_evaluator(ConstantEvaluator evaluator);
// The installed evaluator (empty when no backend installed one); the constant-folding pass uses it.
const ConstantEvaluator& constant_evaluator();
// Inputs up to this many elements in total are folded during inference; larger ones are left to run time.
constexpr int64_t kMaxFoldElements = int64_t{1} << 16;

struct OpRegistrar {
  explicit OpRegistrar(std::vector<OpDef> defs) {
    for (auto& d : defs) OpRegistry::instance().add(std::move(d));
  }
};

}  // namespace kiln

// Registers a family's table at static-init time. The kiln library is linked whole-archive so these survive.
#define KILN_REGISTER_OPS(family, ...) \
  static ::kiln::OpRegistrar kiln_op_registrar_##family(std::vector<::kiln::OpDef>{__VA_ARGS__})
