// CPU reference executor: feed validation, node-by-node execution, freeing values after their last use.
#include "cpu/executor.h"

#include <unordered_map>

#include "cpu/kernel_registry.h"
#include "ops/registry.h"

namespace kiln {

CpuKernelRegistry& CpuKernelRegistry::instance() {
  static CpuKernelRegistry r;
  return r;
}

void CpuKernelRegistry::add(CpuKernelDef def) { defs_.push_back(std::move(def)); }

const CpuKernelDef* CpuKernelRegistry::find(const std::string& op_type, const std::string& domain) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& def : defs_)
    if (def.op_type == op_type && def.domain == d) return &def;
  return nullptr;
}

namespace {
// Lets shape inference fold constant subgraphs with the reference kernels (see set_constant_evaluator).
Expected<std::vector<Tensor>> evaluate_constant_node(const Node& node, const std::vector<const Tensor*>& inputs) {
  const CpuKernelDef* k = CpuKernelRegistry::instance().find(node.op_type, node.domain);
  if (!k) return node.error(StatusCode::kUnsupported, "no CPU kernel");
  KernelContext ctx{node, inputs, {}};
  ctx.outputs.resize(node.outputs.size());
  try {
    KILN_RETURN_IF_ERROR(k->run(ctx));
  } catch (const std::exception& e) {
    return node.error(StatusCode::kRuntime, e.what());
  }
  return std::move(ctx.outputs);
}
const bool kEvaluatorInstalled = (set_constant_evaluator(evaluate_constant_node), true);
}  // namespace

Status check_feeds(const Graph& graph, const TensorMap& feeds) {
  for (const auto& kv : feeds) {
    bool known = false;
    for (const Value* in : graph.inputs) known |= in->name == kv.first;
    if (!known) {
      std::string names;
      for (const Value* in : graph.inputs) names += (names.empty() ? "" : ", ") + in->name;
      return invalid_input("the model has no input named '" + kv.first + "' (its inputs: " + names + ")");
    }
  }
  std::map<std::string, int64_t> bound;  // symbolic dim -> size seen first
  for (const Value* in : graph.inputs) {
    auto it = feeds.find(in->name);
    if (it == feeds.end()) return invalid_input("no data given for model input '" + in->name + "'");
    const Tensor& t = it->second;
    if (in->dtype != DType::kUndefined && t.dtype() != in->dtype)
      return invalid_input("input '" + in->name + "' expects " + dtype_name(in->dtype) + " but got " +
                           dtype_name(t.dtype()));
    if (!in->shape.accepts(t.shape()))
      return invalid_input("input '" + in->name + "' expects shape " + in->shape.to_string() + " but got " +
                           shape_to_string(t.shape()));
    if (in->shape.rank_known) {
      for (size_t d = 0; d < in->shape.dims.size(); ++d) {
        const Dim& dim = in->shape.dims[d];
        if (!dim.is_symbol()) continue;
        auto b = bound.find(dim.symbol);
        if (b == bound.end()) {
          bound[dim.symbol] = t.shape()[d];
        } else if (b->second != t.shape()[d]) {
          return invalid_input("input '" + in->name + "' dim " + std::to_string(d) + " ('" + dim.symbol + "') is " +
                               std::to_string(t.shape()[d]) + " but another input set '" + dim.symbol + "' to " +
                               std::to_string(b->second));
        }
      }
    }
  }
  return Status::Ok();
}

Expected<TensorMap> run_cpu(const Graph& graph, const TensorMap& feeds, const CpuRunOptions& options) {
  KILN_RETURN_IF_ERROR(check_feeds(graph, feeds));
  std::unordered_map<const Value*, Tensor> live;
  for (const Value* in : graph.inputs) live[in] = feeds.at(in->name);
  for (const Value* init : graph.initializers) live[init] = *init->constant;

  // Last node index using each value, so intermediates can be freed early.
  std::unordered_map<const Value*, size_t> last_use;
  const auto& nodes = graph.nodes();
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value* v : nodes[i]->inputs)
      if (v) last_use[v] = i;
  std::unordered_map<const Value*, bool> is_output;
  for (const Value* v : graph.outputs) is_output[v] = true;

  TensorMap result;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = *nodes[i];
    const CpuKernelDef* k = CpuKernelRegistry::instance().find(node.op_type, node.domain);
    if (!k) return node.error(StatusCode::kUnsupported, "the CPU reference has no kernel for " + node.op_type);
    KernelContext ctx{node, {}, {}};
    for (const Value* v : node.inputs) {
      if (!v) {
        ctx.inputs.push_back(nullptr);
        continue;
      }
      auto it = live.find(v);
      if (it == live.end()) {
        if (v->constant) {
          live[v] = *v->constant;
          it = live.find(v);
        } else {
          return node.error(StatusCode::kInvalidInput, "input '" + v->name + "' has not been computed");
        }
      }
      ctx.inputs.push_back(&it->second);
    }
    ctx.outputs.resize(node.outputs.size());
    Status s;
    try {
      s = k->run(ctx);
    } catch (const std::bad_alloc&) {
      s = node.error(StatusCode::kRuntime, "out of host memory");
    }
    if (!s.ok()) {
      if (s.message().find(node.describe()) == std::string::npos) return s.with_context(node.describe() + ": ");
      return s;
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const Value* v = node.outputs[o];
      if (!v) continue;
      Tensor& t = ctx.outputs[o];
      if (!t.defined())
        return node.error(StatusCode::kRuntime, "internal: CPU kernel did not produce output '" + v->name + "'");
      if (v->dtype != DType::kUndefined && t.dtype() != v->dtype)
        return node.error(StatusCode::kRuntime, "internal: CPU kernel produced " + std::string(dtype_name(t.dtype())) +
                                                    " for '" + v->name + "', shape inference said " +
                                                    dtype_name(v->dtype));
      if (!v->shape.accepts(t.shape()))
        return node.error(StatusCode::kRuntime, "internal: CPU kernel produced shape " + shape_to_string(t.shape()) +
                                                    " for '" + v->name + "', shape inference said " +
                                                    v->shape.to_string());
      if (options.keep_intermediates || is_output.count(v)) result[v->name] = t;
      live[v] = std::move(t);
    }
    // Free inputs whose last consumer was this node (graph outputs are already copied to result).
    for (const Value* v : node.inputs)
      if (v && last_use[v] == i && !v->is_graph_input) live.erase(v);
  }
  for (const Value* v : graph.outputs) {
    if (result.count(v->name)) continue;
    auto it = live.find(v);
    if (it != live.end()) {
      result[v->name] = it->second;
    } else if (v->constant) {
      result[v->name] = *v->constant;
    } else {
      return invalid_input("graph output '" + v->name + "' is never computed");
    }
  }
  return result;
}

}  // namespace kiln
