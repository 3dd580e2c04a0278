// Lowering an optimized IR graph to a Program: one layer per node found through the CUDA lowering registry,
// slots for every tensor, conversion layers where a layer wants another dtype/layout, constants uploaded.
#include <fmt/format.h>

#include <set>
#include <tuple>

#include "cuda/kernels/convert.h"
#include "cuda/kernels/fill.h"
#include "cuda/program.h"
#include "ops/registry.h"

namespace kiln::cuda {
namespace {

Expected<Shape> static_shape(const Value* v) {
  auto s = v->shape.to_static();
  if (!s)
    return invalid_input(fmt::format("the shape of '{}' is {} at these input shapes; the GPU engine needs it known",
                                     v->name, v->shape.to_string()));
  return *s;
}

// True when the node has outputs and every one of them has a static shape with a zero dim.
bool outputs_empty(const Node& n) {
  bool any = false;
  for (const Value* o : n.outputs) {
    if (!o) continue;
    auto s = o->shape.to_static();
    if (!s || numel(*s) != 0) return false;
    any = true;
  }
  return any;
}

// Test-only (LoweringOptions::perturb_layer): the wrapped layer's first output is made wrong after every run,
// so that kiln compare and --bisect can be shown to catch and locate a bad layer.
class PerturbedLayer : public Layer {
 public:
  explicit PerturbedLayer(std::unique_ptr<Layer> inner) : inner_(std::move(inner)) {}
  Status configure(ConfigureContext& ctx) override { return inner_->configure(ctx); }
  size_t workspace_bytes() const override { return inner_->workspace_bytes(); }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    KILN_RETURN_IF_ERROR(inner_->enqueue(rc, inputs, outputs));
    return outputs.empty() ? Status::Ok() : perturb_for_testing(outputs[0], rc.stream);
  }
  std::string tactic() const override { return inner_->tactic(); }
  Status set_tactic(const std::string& t) override { return inner_->set_tactic(t); }
  size_t weight_bytes() const override { return inner_->weight_bytes(); }

 private:
  std::unique_ptr<Layer> inner_;
};

// Host-side NCHW -> NHWC copy of a constant (element size only matters).
Tensor to_nhwc(const Tensor& t) {
  Tensor out = Tensor::create(t.dtype(), {t.dim(0), t.dim(2), t.dim(3), t.dim(1)}).value();
  const size_t es = dtype_size(t.dtype());
  const int64_t N = t.dim(0), C = t.dim(1), H = t.dim(2), W = t.dim(3);
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          std::memcpy(dst + (((n * H + h) * W + w) * C + c) * es, src + (((n * C + c) * H + h) * W + w) * es, es);
  return out;
}

class Lowerer {
 public:
  Lowerer(Program& p, const LoweringOptions& o, const std::set<const Value*>& constants)
      : prog_(p), opt_(o), constants_(constants) {}

  Status run() {
    for (Value* v : prog_.graph->inputs) {
      KILN_ASSIGN_OR_RETURN(Shape s, static_shape(v));
      const int id = add_slot(v->name, TensorDesc{v->dtype, s, Layout::kRowMajor});
      prog_.slots[id].graph_input = true;
      slot_of_[v] = id;
      prog_.input_slots.push_back(id);
    }
    for (const auto& n : prog_.graph->nodes()) KILN_RETURN_IF_ERROR(lower_node(*n));
    for (Value* v : prog_.graph->outputs) KILN_RETURN_IF_ERROR(bind_output(v));
    prune_unused_conversions();
    if (!opt_.perturb_layer.empty() && !perturbed_)
      return usage_error(
          fmt::format("the layer to perturb for testing, '{}', is not a layer of the optimized graph "
                      "(or it is a view, which has no output of its own)",
                      opt_.perturb_layer));
    return Status::Ok();
  }

 private:
  int add_slot(const std::string& value, TensorDesc desc) {
    Slot s;
    s.value = value;
    s.desc = std::move(desc);
    prog_.slots.push_back(std::move(s));
    return static_cast<int>(prog_.slots.size()) - 1;
  }

  bool is_constant(const Value* v) const { return v && constants_.count(v); }

  // Uploads a constant in `dtype` and `layout` (cached per combination).
  Expected<int> constant_slot(const Value* v, DType dtype, Layout layout) {
    auto key = std::make_tuple(v, dtype, layout);
    if (auto it = const_slots_.find(key); it != const_slots_.end()) return it->second;
    Tensor t = *v->constant;
    if (t.dtype() != dtype) {
      KILN_ASSIGN_OR_RETURN(t, convert_dtype(t, dtype));
    }
    if (layout == Layout::kNHWC) t = to_nhwc(t);
    KILN_ASSIGN_OR_RETURN(DeviceBuffer buf, DeviceBuffer::upload(t.raw(), t.nbytes(), "a constant tensor"));
    const int id = add_slot(v->name, TensorDesc{dtype, v->constant->shape(), layout});
    prog_.slots[id].constant = true;
    prog_.weight_bytes += buf.bytes();
    prog_.slots[id].constant_data = std::move(buf);
    const_slots_[key] = id;
    return id;
  }

  // A slot holding `src`'s tensor in dtype/layout: itself, a cached conversion, a relabelled view when the
  // bytes are the same, or a new conversion layer.
  Expected<int> converted(int src, DType dtype, Layout layout) {
    const TensorDesc d = prog_.slots[src].desc;  // a copy: add_slot below may reallocate the slots
    if (d.dtype == dtype && d.layout == layout) return src;
    // src is itself a conversion: convert the original in one pass instead of chaining two.
    if (auto o = origin_.find(src); o != origin_.end()) return converted(o->second, dtype, layout);
    auto key = std::make_tuple(src, dtype, layout);
    if (auto it = conversions_.find(key); it != conversions_.end()) return it->second;
    TensorDesc want{dtype, d.shape, layout};
    const int id = add_slot(prog_.slots[src].value, want);
    if (d.dtype == dtype && d.same_bytes_as_row_major() && want.same_bytes_as_row_major()) {
      prog_.slots[id].alias_of = root(src);
    } else {
      LayerEntry e;
      e.key = fmt::format("convert:{}:{}:{}", prog_.slots[src].value, dtype_name(dtype), layout_name(layout));
      e.op = "convert";
      e.precision = opt_.precision;
      e.layer = make_convert_layer();
      e.inputs = {src};
      e.outputs = {id};
      prog_.layers.push_back(std::move(e));
    }
    conversions_[key] = id;
    origin_[id] = src;
    return id;
  }

  int root(int s) const {
    while (prog_.slots[s].alias_of >= 0) s = prog_.slots[s].alias_of;
    return s;
  }

  Status lower_node(const Node& n) {
    const std::string op = n.domain.empty() ? n.op_type : n.domain + "." + n.op_type;
    const CudaLoweringDef* def = CudaLoweringRegistry::instance().find(n.op_type, n.domain);
    if (!def)
      return n.error(StatusCode::kUnsupported,
                     fmt::format("op {} has no GPU lowering in kiln's CUDA backend (run `kiln ops` for the list); "
                                 "the CPU backend (--backend cpu) runs it",
                                 op));
    Precision p = opt_.precision;
    if (auto it = opt_.layer_precisions.find(n.name); it != opt_.layer_precisions.end()) p = it->second;
    LowerContext ctx(n, p);
    std::vector<int> in_slots(n.inputs.size(), -1);
    ctx.inputs.resize(n.inputs.size());
    ctx.constants_.resize(n.inputs.size(), nullptr);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value* v = n.inputs[i];
      if (!v) continue;
      if (is_constant(v)) {
        ctx.inputs[i] = TensorDesc{v->constant->dtype(), v->constant->shape(), Layout::kRowMajor};
        ctx.constants_[i] = &*v->constant;
        continue;
      }
      auto it = slot_of_.find(v);
      if (it == slot_of_.end())
        return n.error(StatusCode::kInvalidInput, fmt::format("input '{}' has no producer", v->name));
      int s = it->second;
      if (prog_.slots[s].rows_count >= 0)
        return n.error(StatusCode::kUnsupported,
                       fmt::format("input '{}' has a data-dependent size (rows chosen at run time); on the GPU such "
                                   "a tensor can only be a graph output for now",
                                   v->name));
      // Every float activation reaches a layer in the layer's float storage dtype.
      if (is_float_storage(prog_.slots[s].desc.dtype) && prog_.slots[s].desc.dtype != ctx.float_dtype()) {
        KILN_ASSIGN_OR_RETURN(s, converted(s, ctx.float_dtype(), prog_.slots[s].desc.layout));
      }
      in_slots[i] = s;
      ctx.inputs[i] = prog_.slots[s].desc;
    }
    ctx.convert_ = [&](size_t i, DType dtype, Layout layout) -> Status {
      const Value* v = n.inputs[i];
      if (is_constant(v)) {
        KILN_ASSIGN_OR_RETURN(int s, constant_slot(v, dtype, layout));
        in_slots[i] = s;
        ctx.taken_.resize(n.inputs.size(), false);
        ctx.taken_[i] = true;  // now a materialized input, not a constant for the factory
        ctx.constants_[i] = nullptr;
      } else {
        KILN_ASSIGN_OR_RETURN(int s, converted(in_slots[i], dtype, layout));
        in_slots[i] = s;
      }
      ctx.inputs[i] = prog_.slots[in_slots[i]].desc;
      return Status::Ok();
    };
    ctx.outputs.resize(n.outputs.size());
    std::unique_ptr<Layer> layer;
    if (opt_.static_shapes && outputs_empty(n)) {
      layer = std::make_unique<FunctionLayer>("empty", nullptr);  // Program::configure skips it
      for (size_t i = 0; i < n.inputs.size(); ++i) ctx.take_constant(i);  // nothing reads them
    } else {
      KILN_ASSIGN_OR_RETURN(layer, def->make(ctx));
    }
    if (!opt_.perturb_layer.empty() && n.name == opt_.perturb_layer && !ctx.output_aliases_input()) {
      layer = std::make_unique<PerturbedLayer>(std::move(layer));
      perturbed_ = true;
    }
    // Constants the factory neither took nor asked for in another form become ordinary inputs.
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value* v = n.inputs[i];
      if (!is_constant(v) || in_slots[i] >= 0 || ctx.constant_taken(i)) continue;
      const DType dt = is_float_storage(v->constant->dtype()) ? ctx.float_dtype() : v->constant->dtype();
      KILN_ASSIGN_OR_RETURN(in_slots[i], constant_slot(v, dt, Layout::kRowMajor));
    }
    LayerEntry e;
    e.key = n.name;
    e.op = op;
    e.precision = p;
    e.inputs = in_slots;
    for (size_t j = 0; j < n.outputs.size(); ++j) {
      const Value* o = n.outputs[j];
      if (!o) {
        e.outputs.push_back(-1);
        continue;
      }
      const bool bounded = ctx.output_bounded(j);
      if (bounded && !opt_.static_shapes)
        return n.error(StatusCode::kUnsupported,
                       "a data-dependent output size needs a static engine (--shapes, no min/max profile) for now");
      TensorDesc d = ctx.outputs[j];
      if (!bounded) {
        KILN_ASSIGN_OR_RETURN(d.shape, static_shape(o));
      }
      if (d.dtype == DType::kUndefined) d.dtype = is_float_storage(o->dtype) ? ctx.float_dtype() : o->dtype;
      const int id = add_slot(o->name, d);
      if (j == 0 && ctx.output_aliases_input()) {
        if (in_slots.empty() || in_slots[0] < 0)
          return n.error(StatusCode::kRuntime, "internal: a view layer needs a non-constant input 0");
        prog_.slots[id].alias_of = root(in_slots[0]);
      }
      slot_of_[o] = id;
      e.outputs.push_back(id);
    }
    for (size_t j = 0; j < n.outputs.size(); ++j) {  // the row counts of bounded outputs follow the outputs
      if (!n.outputs[j] || !ctx.output_bounded(j)) continue;
      const int data = e.outputs[j];
      const int count = add_slot(n.outputs[j]->name + ":rows", TensorDesc{DType::kInt64, Shape{1}, Layout::kRowMajor});
      prog_.slots[data].rows_count = count;
      prog_.slots[data].rows_dim = ctx.output_bound_dim(j);
      prog_.slots[count].rows_of = data;
      e.outputs.push_back(count);
    }
    if (auto it = opt_.tactics.find(e.key); it != opt_.tactics.end())
      KILN_RETURN_IF_ERROR(layer->set_tactic(it->second).with_context(n.describe() + ": "));
    e.layer = std::move(layer);
    prog_.layers.push_back(std::move(e));
    return Status::Ok();
  }

  // Graph outputs leave in the model's dtype, row-major, in a slot of their own.
  Status bind_output(Value* v) {
    int s;
    if (is_constant(v)) {
      KILN_ASSIGN_OR_RETURN(s, constant_slot(v, v->dtype, Layout::kRowMajor));
    } else {
      auto it = slot_of_.find(v);
      if (it == slot_of_.end()) return invalid_input(fmt::format("graph output '{}' is not produced", v->name));
      s = it->second;
    }
    const Slot& src = prog_.slots[s];
    const bool bounded = src.rows_count >= 0;
    if (bounded && (src.desc.dtype != v->dtype || src.graph_output))
      return invalid_input(fmt::format("graph output '{}' has a data-dependent size and would need a conversion or a "
                                       "second binding, which the GPU engine does not do for such outputs",
                                       v->name));
    if (src.desc.dtype != v->dtype || src.desc.layout != Layout::kRowMajor || src.alias_of >= 0 || src.graph_input ||
        src.constant || src.graph_output) {
      const Shape shape = src.desc.shape;  // `src` dangles once add_slot reallocates
      const int id = add_slot(v->name, TensorDesc{v->dtype, shape, Layout::kRowMajor});
      LayerEntry e;
      e.key = "convert:output:" + v->name;
      e.op = "convert";
      e.precision = opt_.precision;
      e.layer = make_convert_layer();
      e.inputs = {s};
      e.outputs = {id};
      prog_.layers.push_back(std::move(e));
      s = id;
    }
    prog_.slots[s].graph_output = true;
    prog_.output_slots.push_back(s);
    return Status::Ok();
  }

  // Conversions made for a float input that a layer then asked for in yet another form are read by nobody.
  void prune_unused_conversions() {
    for (bool changed = true; changed;) {
      changed = false;
      std::set<int> used(prog_.output_slots.begin(), prog_.output_slots.end());
      for (const auto& l : prog_.layers) used.insert(l.inputs.begin(), l.inputs.end());
      for (size_t i = 0; i < prog_.slots.size(); ++i)  // a used view keeps its source's producer
        if (used.count(static_cast<int>(i)) && prog_.slots[i].alias_of >= 0) used.insert(root(static_cast<int>(i)));
      for (auto it = prog_.layers.begin(); it != prog_.layers.end(); ++it)
        if (it->op == "convert" && !used.count(it->outputs[0])) {
          prog_.layers.erase(it);
          changed = true;
          break;
        }
    }
  }

  Program& prog_;
  const LoweringOptions& opt_;
  std::map<int, int> origin_;  // conversion (or relabelled view) slot -> the slot it was made from
  const std::set<const Value*>& constants_;
  std::map<const Value*, int> slot_of_;
  std::map<std::tuple<const Value*, DType, Layout>, int> const_slots_;
  std::map<std::tuple<int, DType, Layout>, int> conversions_;
  bool perturbed_ = false;
};

}  // namespace

Expected<std::unique_ptr<Program>> lower_graph(std::unique_ptr<Graph> graph, const LoweringOptions& options,
                                               const GpuHandles& handles) {
  auto prog = std::make_unique<Program>();
  prog->graph = std::move(graph);
  prog->handles = handles;
  std::set<const Value*> constants;
  for (const auto& v : prog->graph->values()) {
    if (v->is_constant())
      constants.insert(v.get());
    else
      prog->saved_values.push_back(Program::SavedValue{v.get(), v->shape, v->dims_value});
  }
  KILN_RETURN_IF_ERROR(prog->set_shapes(options.opt_shapes));
  Lowerer lowerer(*prog, options, constants);
  KILN_RETURN_IF_ERROR(lowerer.run());
  return prog;
}

std::vector<std::string> lowered_ops() {
  std::vector<std::string> v;
  for (const auto* d : CudaLoweringRegistry::instance().all())
    v.push_back(d->domain.empty() ? d->op_type : d->domain + "." + d->op_type);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace kiln::cuda
