// Small helpers shared by the pooling, data-movement, view and resize lowerings (src/cuda/layers/).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/shape.h"
#include "cuda/kernels/layout.h"
#include "cuda/layer.h"
#include "ir/graph.h"

namespace kiln::cuda {

template <typename L, typename... Args>
Expected<std::unique_ptr<Layer>> make_layer(Args&&... args) {
  return Expected<std::unique_ptr<Layer>>(std::unique_ptr<Layer>(new L(std::forward<Args>(args)...)));
}

// The node's identity and attributes without its graph edges: layers keep this for configure() and error
// messages, since the graph may be gone by then (plan load).
inline Node detached_node(const Node& n) {
  Node d;
  d.name = n.name;
  d.op_type = n.op_type;
  d.domain = n.domain;
  d.opset = n.opset;
  d.attrs = n.attrs;
  return d;
}

// The dtype input i has at run time: a float constant the factory does not take is uploaded by the builder
// in the layer's float dtype (its desc still shows the constant's own dtype).
inline DType stored_dtype(const LowerContext& ctx, size_t i) {
  const DType t = ctx.inputs[i].dtype;
  const bool is_float = t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16;
  return ctx.constant(i) && is_float ? ctx.float_dtype() : t;
}

// Prefixes the node to a failure that does not name it yet.
inline Status in_node(const Node& node, const Status& s) {
  if (s.ok()) return s;
  const std::string prefix = node.describe() + ": ";
  return s.message().compare(0, prefix.size(), prefix) == 0 ? s : s.with_context(prefix);
}

// Fails (naming the node) when a configured output shape differs from what the layer computes.
inline Status expect_shape(const Node& node, const TensorDesc& got, const Shape& want, const char* what) {
  if (got.shape == want) return Status::Ok();
  return node.error(StatusCode::kInvalidInput, std::string(what) + " has shape " + shape_to_string(got.shape) +
                                                   " but the op computes " + shape_to_string(want));
}

// One strided copy from input `input` to output `output`.
struct CopyJob {
  CopyPlan plan;
  size_t input = 0, output = 0;
};
// Computes a layer's copies from the configured descriptors (shapes change between configure calls).
using CopyPlanner = std::function<Expected<std::vector<CopyJob>>(const Node&, const ConfigureContext&)>;

// A layer made of strided copies (Transpose, Concat, Split, Slice, Expand, Tile, DepthToSpace).
class CopyLayer : public Layer {
 public:
  CopyLayer(const Node& node, CopyPlanner planner) : node_(detached_node(node)), planner_(std::move(planner)) {}

  Status configure(ConfigureContext& ctx) override {
    auto jobs = planner_(node_, ctx);
    if (!jobs.ok()) return in_node(node_, jobs.status());
    for (const CopyJob& j : *jobs)
      if (ctx.inputs[j.input].dtype != ctx.outputs[j.output].dtype)
        return node_.error(StatusCode::kRuntime, "input " + ctx.inputs[j.input].describe() + " and output " +
                                                     ctx.outputs[j.output].describe() + " differ in dtype");
    jobs_ = std::move(jobs).value();
    elem_size_.clear();
    for (const TensorDesc& o : ctx.outputs) elem_size_.push_back(dtype_size(o.dtype));
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    for (const CopyJob& j : jobs_)
      KILN_RETURN_IF_ERROR(launch_copy(j.plan, in[j.input].data, out[j.output].data, elem_size_[j.output], rc.stream)
                               .with_context(node_.describe() + ": "));
    return Status::Ok();
  }
  std::string tactic() const override { return "kernel:copy"; }

 private:
  Node node_;
  CopyPlanner planner_;
  std::vector<CopyJob> jobs_;
  std::vector<size_t> elem_size_;
};

// Element strides that read `x` broadcast (numpy rules, dims aligned right) over `shape`.
inline Expected<std::vector<int64_t>> broadcast_read_strides(const TensorDesc& x, const Shape& shape) {
  const std::vector<int64_t> xs = x.strides();
  const size_t rx = x.shape.size(), ry = shape.size();
  if (rx > ry) return invalid_input("cannot broadcast " + x.describe() + " to " + shape_to_string(shape));
  std::vector<int64_t> s(ry, 0);
  for (size_t k = 0; k < rx; ++k) {
    const size_t o = ry - rx + k;
    if (x.shape[k] == shape[o]) {
      s[o] = shape[o] == 1 ? 0 : xs[k];
    } else if (x.shape[k] != 1) {
      return invalid_input("cannot broadcast " + x.describe() + " to " + shape_to_string(shape));
    }
  }
  return s;
}

}  // namespace kiln::cuda
