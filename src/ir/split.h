// Splitting a graph where its sizes stop being known before it runs (NonZero's count, NonMaxSuppression's
// rows, everything computed from them), and running such a graph as a chain of stages that each have known
// shapes: run the head, read the sizes it produced, specialize the rest for them, repeat.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln {

using TensorMap = std::map<std::string, Tensor>;

struct GraphSplit {
  // Every node whose inputs all have known (static) shapes, in order: nodes with data-dependent output sizes
  // (NonZero, NonMaxSuppression, a Reshape whose shape is computed from data) end up here too, as long as
  // they read only known values. Outputs: the graph's outputs it makes, then the values the tail reads.
  std::unique_ptr<Graph> head;
  // The other nodes (nullptr when every shape is known: the graph runs in one stage). Inputs: the graph
  // inputs and head values it reads, in the head's output order; outputs: the graph's outputs it makes.
  std::unique_ptr<Graph> tail;
};

// `g` must be shape-inferred for concrete input shapes. Constants either part reads are copied into it
// (tensor storage is shared, not duplicated).
Expected<GraphSplit> split_at_unknown_shapes(const Graph& g);

// Runs one stage: a graph whose input shapes are static, with feeds for all its inputs; returns (at least)
// its graph outputs by name.
using StageRunner = std::function<Expected<TensorMap>(const Graph& stage, const TensorMap& feeds)>;
// Prepares a stage graph before it is split and run (shape inference and folding for its now concrete
// input shapes: optimize_graph, or infer_shapes alone).
using StagePreparer = std::function<Status(Graph& stage)>;

struct StagedRunReport {
  int stages = 0;
  std::vector<std::string> stage_ops;  // per stage: its node count and op histogram, for logs
};

// Runs `g` on `feeds` stage by stage: prepare, split, run the head, feed the tail with the head's results
// (their shapes now known), until a stage has no tail. Returns the graph outputs by name. At most
// `max_stages` stages (a graph that never becomes static is an error naming the node that stops it).
Expected<TensorMap> run_in_stages(const Graph& g, const TensorMap& feeds, const StagePreparer& prepare,
                                  const StageRunner& run, StagedRunReport* report = nullptr, int max_stages = 64);

// A copy of `g` (nodes, values, constants sharing storage, subgraph attributes shared) with its inputs'
// shapes set to the given ones (inputs not named keep theirs).
Expected<std::unique_ptr<Graph>> copy_graph(const Graph& g, const std::map<std::string, Shape>& input_shapes = {});

}  // namespace kiln
