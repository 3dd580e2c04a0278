// The pass manager, the standard optimization pipeline and the op histogram.
#include "passes/pass_manager.h"

#include "ops/registry.h"

namespace kiln {

void PassManager::add(std::string name, PassFn fn, bool to_fixed_point) {
  passes_.push_back({std::move(name), std::move(fn), to_fixed_point});
}

namespace {
// Passes may append nodes and rewire edges: restore topological order and shapes before the next one.
Status resync(Graph& graph, const std::string& after) {
  Status s = graph.topological_sort();
  if (s.ok()) s = infer_shapes(graph);
  if (!s.ok()) return Status(s.code(), "after pass '" + after + "': " + s.message());
  return Status::Ok();
}
}  // namespace

Expected<std::vector<PassReport>> PassManager::run(Graph& graph) const {
  std::vector<PassReport> reports;
  for (const Entry& e : passes_) {
    PassReport r{e.name, 0};
    for (int it = 0; it < (e.to_fixed_point ? kMaxIterations : 1); ++it) {
      auto changed = e.fn(graph);
      if (!changed.ok()) return Status(changed.status().code(), "pass '" + e.name + "': " + changed.status().message());
      if (*changed == 0) break;
      r.changes += *changed;
      KILN_RETURN_IF_ERROR(resync(graph, e.name));
    }
    reports.push_back(r);
  }
  return reports;
}

OptimizeOptions cuda_engine_optimize_options(bool int8_kernels) {
  OptimizeOptions o;
  o.int8_conv_channel_multiple = int8_kernels ? 4 : 0;
  return o;
}

Expected<std::vector<PassReport>> optimize_graph(Graph& graph, const OptimizeOptions& o) {
  KILN_RETURN_IF_ERROR(infer_shapes(graph));
  PassManager pm;
  pm.add("remove_identity", remove_identity, true);
  const int64_t limit = o.max_fold_elements;
  const bool int8 = o.int8_conv_channel_multiple > 0;
  if (o.fold_constants) {
    pm.add("fold_shapes", fold_shapes, true);
    pm.add(
        "fold_constants", [limit, int8](Graph& g) { return fold_constants(g, limit, int8); }, true);
    // An If whose condition folding made constant becomes its branch's ops, which may fold in turn.
    pm.add("inline_constant_if", inline_constant_if, true);
    pm.add("fold_shapes", fold_shapes, true);
    pm.add(
        "fold_constants", [limit, int8](Graph& g) { return fold_constants(g, limit, int8); }, true);
  }
  pm.add("dce", eliminate_dead_code, true);
  if (o.decompose_composites) pm.add("decompose_composites", decompose_composites, true);
  if (o.decompose_einsum) pm.add("decompose_einsum", decompose_einsum, false);
  if (o.decompose_conv_transpose) pm.add("decompose_conv_transpose", decompose_conv_transpose, false);
  if (o.fold_batchnorm) pm.add("fold_batchnorm", fold_batchnorm, true);
  if (o.fuse_conv) pm.add("fuse_conv", fuse_conv, false);
  if (o.fuse_gemm) pm.add("fuse_gemm", fuse_gemm, false);
  if (o.fuse_elementwise) pm.add("fuse_elementwise", fuse_elementwise, false);
  if (int8) {
    const int64_t multiple = o.int8_conv_channel_multiple;
    pm.add("fold_qdq_conv", [multiple](Graph& g) { return fold_qdq_conv(g, multiple); }, false);
    pm.add("dce", eliminate_dead_code, true);
    // The weights' DequantizeLinear no QConv took (Gemm, grouped or odd-channel convs) fold as usual.
    if (o.fold_constants)
      pm.add("fold_constants", [limit](Graph& g) { return fold_constants(g, limit); }, true);
  }
  pm.add("dce", eliminate_dead_code, true);
  KILN_ASSIGN_OR_RETURN(std::vector<PassReport> reports, pm.run(graph));
  KILN_RETURN_IF_ERROR(graph.topological_sort());
  KILN_RETURN_IF_ERROR(infer_shapes(graph));
  KILN_RETURN_IF_ERROR(verify_graph(graph));
  return reports;
}

std::map<std::string, int> op_histogram(const Graph& graph) {
  std::map<std::string, int> h;
  for (const auto& n : graph.nodes())
    ++h[(n->domain.empty() || n->domain == "ai.onnx" ? std::string() : n->domain + ".") + n->op_type];
  return h;
}

}  // namespace kiln
