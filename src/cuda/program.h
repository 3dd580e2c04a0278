// A lowered engine ("program"): the optimized IR graph (source of shapes), the tensor slots the layers read
// and write, the layers in execution order, and the device memory plan. lower.cc builds it from a graph,
// memory_plan.cc places slots in one arena, program.cc (re)configures layers for shapes and runs them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cuda/layer.h"
#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln::cuda {

struct Slot {
  std::string value;        // IR value whose logical shape this slot has (conversions share it)
  TensorDesc desc;          // at the current shapes
  int alias_of = -1;        // a view: same bytes as that slot
  bool constant = false;    // uploaded once (weights the layers did not take, shape tensors ...)
  DeviceBuffer constant_data;
  bool graph_input = false, graph_output = false;
  size_t plan_bytes = 0;    // bytes at the profile's largest shapes
  int64_t arena_offset = -1;
  int first_use = -1, last_use = -1;  // layer indices (inputs: -1 .. ; outputs: .. end)
  // A data-dependent dim `rows_dim` (LowerContext::set_output_bound): desc holds the upper bound and this
  // int64[1] slot the real size of that dim. A count slot has rows_of set to its data slot (it is no IR value).
  int rows_count = -1, rows_of = -1, rows_dim = 0;
};

struct LayerEntry {
  std::string key;  // node name, or "convert:<slot value>:<dtype>:<layout>"
  std::string op;   // "Conv", "kiln.FusedConv", "convert"
  Precision precision = Precision::kFP32;
  std::unique_ptr<Layer> layer;
  std::vector<int> inputs, outputs;  // slot ids; -1 for absent optional inputs
  bool tactic_fixed = false;         // restored from the timing cache: not re-tuned
  // Every output has zero elements at the current shapes: nothing to configure or launch (set by configure()).
  bool empty = false;
};

struct LoweringOptions {
  Precision precision = Precision::kFP32;
  std::map<std::string, Precision> layer_precisions;  // node name -> precision
  std::map<std::string, std::string> tactics;         // layer key -> tactic (plan or timing cache)
  ShapeMap opt_shapes;  // input shapes the layers are first configured for (symbolic inputs must be named)
  std::string perturb_layer;  // test-only: this node's first output is made wrong after it runs
  // The engine has one shape per input: a node whose outputs are all empty at opt_shapes lowers to a layer
  // that does nothing, whatever its op (its kernel is never asked to handle the empty shapes).
  bool static_shapes = false;
};

class Program {
 public:
  std::unique_ptr<Graph> graph;
  std::vector<Slot> slots;
  std::vector<LayerEntry> layers;
  std::vector<int> input_slots, output_slots;  // graph inputs / outputs in order
  size_t arena_bytes = 0, workspace_bytes = 0, weight_bytes = 0;
  GpuHandles handles;

  // Re-infers every slot's shape for these concrete input shapes (all graph inputs must be given or
  // static). Errors name the input and the dims.
  Status set_shapes(const ShapeMap& inputs);
  ShapeMap current_input_shapes() const;
  // Grows each slot's plan_bytes to its bytes at the current shapes (call after set_shapes at each
  // profile's largest shapes), then plan_memory() places non-constant slots in one arena by liveness.
  void record_plan_bytes();
  void plan_memory();
  // Restores the symbolic shapes the graph was lowered with (before serializing it into a plan).
  void restore_symbolic_shapes();
  // Device pointer of a slot inside `arena` (constants: their own buffer).
  void* slot_data(int slot, void* arena) const;
  DeviceTensor slot_tensor(int slot, void* arena) const;
  // Configures every layer for the current shapes. With tune, layers time their candidates on the real
  // activations: each layer is run after its configure so the next layer sees real inputs (`arena` must be
  // a plan-sized arena whose input slots are filled).
  Status configure(cudaStream_t stream, bool tune, size_t max_workspace, void* arena, void* workspace,
                   const std::function<void(const std::string&)>& progress = nullptr);
  int optimization_level = 3;  // BuildOptions::optimization_level, handed to each layer's configure
  std::function<void(const std::string&)> tactic_log;  // BuildOptions::tactic_log, likewise (tuning only)
  // Enqueues every layer (capturable). `profile` (optional) receives per-layer milliseconds (not capturable).
  Status enqueue(cudaStream_t stream, void* arena, void* workspace,
                 std::vector<std::pair<std::string, float>>* profile = nullptr) const;

  // Original (symbolic) shapes etc. of non-constant values, restored before each re-inference.
  struct SavedValue {
    Value* value;
    SymShape shape;
    std::optional<std::vector<Dim>> dims_value;
  };
  std::vector<SavedValue> saved_values;
};

// Lowers an optimized, shape-inferred graph (taken over). An op with no GPU lowering is a kUnsupported
// error naming it and the node.
Expected<std::unique_ptr<Program>> lower_graph(std::unique_ptr<Graph> graph, const LoweringOptions& options,
                                               const GpuHandles& handles);

// Names of the ops that have a GPU lowering ("Conv", "kiln.FusedConv", ...), sorted.
std::vector<std::string> lowered_ops();

}  // namespace kiln::cuda
