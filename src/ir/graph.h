// The IR: Graph owns Values and Nodes; Nodes are kept in topological order; attributes are typed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln {

class Node;
class Graph;

enum class AttrType { kUndefined, kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kGraph, kOther };
const char* attr_type_name(AttrType t);

struct Attribute {
  AttrType type = AttrType::kUndefined;
  float f = 0.f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  // A subgraph body (kGraph), kept for If only: its graph inputs are the outer values the body reads, in the
  // order of the If node's inputs after the condition (DESIGN.md, "Subgraphs are captured"). Other ops' graph
  // attributes stay markers with no body (nullptr), and those ops are unsupported.
  std::shared_ptr<Graph> g;

  static Attribute make_float(float v) { Attribute a; a.type = AttrType::kFloat; a.f = v; return a; }
  static Attribute make_int(int64_t v) { Attribute a; a.type = AttrType::kInt; a.i = v; return a; }
  static Attribute make_string(std::string v) { Attribute a; a.type = AttrType::kString; a.s = std::move(v); return a; }
  static Attribute make_tensor(Tensor v) { Attribute a; a.type = AttrType::kTensor; a.t = std::move(v); return a; }
  static Attribute make_floats(std::vector<float> v) { Attribute a; a.type = AttrType::kFloats; a.floats = std::move(v); return a; }
  static Attribute make_ints(std::vector<int64_t> v) { Attribute a; a.type = AttrType::kInts; a.ints = std::move(v); return a; }
  static Attribute make_strings(std::vector<std::string> v) { Attribute a; a.type = AttrType::kStrings; a.strings = std::move(v); return a; }
};

// A tensor-valued edge of the graph: a graph input, an initializer (constant data), or a node output.
struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  SymShape shape;                 // inferred or declared; may be partly unknown
  Node* producer = nullptr;       // nullptr for graph inputs and initializers
  std::optional<Tensor> constant; // initializers, and values folded during inference
  // Known contents of a small 1-D int64 tensor whose entries may be symbolic (Shape -> Gather -> Concat
  // chains). Lets Reshape/Expand keep a dynamic batch symbolic.
  std::optional<std::vector<Dim>> dims_value;
  bool is_graph_input = false;
  bool is_graph_output = false;

  bool is_constant() const { return constant.has_value(); }
};

class Node {
 public:
  std::string name;     // may be empty in ONNX; the importer assigns "<op_type>_<index>" then
  std::string op_type;
  std::string domain;   // "" = default ONNX domain
  int opset = 0;        // opset version of `domain` imported by the model
  std::vector<Value*> inputs;   // nullptr for an omitted optional input
  std::vector<Value*> outputs;  // nullptr for an omitted optional output
  std::map<std::string, Attribute> attrs;

  // Input i, or nullptr when absent (beyond the list or omitted).
  Value* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs.size() ? outputs[i] : nullptr; }
  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  const Attribute* attr(const std::string& k) const;
  // Typed getters with defaults; a present attribute of the wrong type is an error, not a silent default.
  Expected<int64_t> attr_int(const std::string& k, int64_t def) const;
  Expected<float> attr_float(const std::string& k, float def) const;
  Expected<std::string> attr_string(const std::string& k, const std::string& def) const;
  Expected<std::vector<int64_t>> attr_ints(const std::string& k, const std::vector<int64_t>& def) const;
  Expected<std::vector<float>> attr_floats(const std::string& k, const std::vector<float>& def) const;
  // "node 'conv1' (Conv)" for error messages.
  std::string describe() const;
  Status error(StatusCode code, const std::string& message) const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::map<std::string, int> opset_imports;  // domain -> version ("" = ai.onnx)
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;

  // Creates a value; names must be unique (returns nullptr-free Expected with an error otherwise).
  Expected<Value*> add_value(const std::string& name, DType dtype = DType::kUndefined, SymShape shape = {});
  Value* find_value(const std::string& name) const;
  // Appends a node (callers keep topological order, or call topological_sort()).
  Node* add_node(std::string op_type, std::string name, std::vector<Value*> inputs, std::vector<Value*> outputs);
  // Adds an initializer (a constant value).
  Expected<Value*> add_initializer(const std::string& name, Tensor data);
  // Removes nodes marked by `dead` and values no longer referenced (used by passes).
  void remove_nodes(const std::vector<Node*>& dead);
  // Reorders nodes topologically; error naming a value on a cycle or a value with no producer.
  Status topological_sort();

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }
  std::vector<Value*> inputs;        // graph inputs that are not initializers, in order
  std::vector<Value*> outputs;       // in order
  std::vector<Value*> initializers;  // in file order
  int opset(const std::string& domain = "") const;

  // Nodes consuming a value (computed on demand: O(nodes)).
  std::vector<Node*> consumers(const Value* v) const;
  std::string unique_name(const std::string& base);  // a value/node name not used yet

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, Value*> by_name_;
  int64_t name_counter_ = 0;
};

// Verifier: topological order, dangling inputs, single producer per value, outputs produced,
// dtype agreement between declared and inferred types. Returns the first problem found.
Status verify_graph(const Graph& g);
// Human-readable dump: inputs, initializers (shape only), nodes with attributes, outputs.
std::string print_graph(const Graph& g, bool with_shapes = true);

}  // namespace kiln
