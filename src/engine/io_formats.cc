// Cast nodes at the graph's edges for --inputIOFormats / --outputIOFormats (see io_formats.h).
#include "engine/io_formats.h"

#include <fmt/format.h>

namespace kiln {
namespace {

bool is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

Expected<std::vector<DType>> parse_formats(const char* flag, const std::vector<std::string>& formats,
                                           const std::vector<Value*>& values, const char* what) {
  std::vector<DType> out;
  if (formats.empty()) return out;
  if (formats.size() != values.size())
    return usage_error(fmt::format("{} gives {} type(s) but the model has {} {}(s): give one per {}, in order", flag,
                                   formats.size(), values.size(), what, what));
  for (size_t i = 0; i < formats.size(); ++i) {
    DType t = DType::kUndefined;
    if (!parse_dtype(formats[i], &t) || !is_float(t))
      return usage_error(fmt::format("{}: '{}' for {} '{}' is not fp32, fp16 or bf16", flag, formats[i], what,
                                     values[i]->name));
    if (t != values[i]->dtype && !is_float(values[i]->dtype))
      return usage_error(fmt::format("{}: {} '{}' is {}, not a float tensor; only float I/O can change type", flag,
                                     what, values[i]->name, dtype_name(values[i]->dtype)));
    out.push_back(t);
  }
  return out;
}

Node* add_cast(Graph& g, Value* in, Value* out, DType to) {
  Node* n = g.add_node("Cast", g.unique_name("io_format:" + out->name), {in}, {out});
  n->opset = g.opset("");
  n->attrs["to"] = Attribute::make_int(static_cast<int64_t>(to));
  return n;
}

}  // namespace

Status apply_io_formats(Graph& g, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  KILN_ASSIGN_OR_RETURN(auto in_types, parse_formats("--inputIOFormats", inputs, g.inputs, "input"));
  KILN_ASSIGN_OR_RETURN(auto out_types, parse_formats("--outputIOFormats", outputs, g.outputs, "output"));
  bool changed = false;
  for (size_t i = 0; i < in_types.size(); ++i) {
    Value* x = g.inputs[i];
    if (in_types[i] == x->dtype) continue;
    if (x->is_graph_output)
      return usage_error(fmt::format("--inputIOFormats: input '{}' is also a graph output; its type cannot change",
                                     x->name));
    // Consumers read a new value, the Cast of X to the model's dtype; X itself takes the engine I/O dtype.
    KILN_ASSIGN_OR_RETURN(Value * model_typed, g.add_value(g.unique_name(x->name + ":model_dtype"), x->dtype, x->shape));
    for (Node* n : g.consumers(x))
      for (Value*& v : n->inputs)
        if (v == x) v = model_typed;
    add_cast(g, x, model_typed, x->dtype);
    x->dtype = in_types[i];
    changed = true;
  }
  for (size_t i = 0; i < out_types.size(); ++i) {
    Value* y = g.outputs[i];
    if (out_types[i] == y->dtype) continue;
    if (y->is_graph_input || y->is_constant() || !y->producer)
      return usage_error(fmt::format(
          "--outputIOFormats: output '{}' is a graph input or a constant, not computed; its type cannot change",
          y->name));
    // The producer now writes a new value in the model's dtype; Y becomes its Cast to the engine I/O dtype.
    KILN_ASSIGN_OR_RETURN(Value * computed, g.add_value(g.unique_name(y->name + ":model_dtype"), y->dtype, y->shape));
    computed->producer = y->producer;
    for (Value*& v : y->producer->outputs)
      if (v == y) v = computed;
    for (Node* n : g.consumers(y))
      for (Value*& v : n->inputs)
        if (v == y) v = computed;
    y->producer = nullptr;
    Node* cast = add_cast(g, computed, y, out_types[i]);
    y->producer = cast;
    y->dtype = out_types[i];
    changed = true;
  }
  if (changed) KILN_RETURN_IF_ERROR(g.topological_sort());
  return Status::Ok();
}

}  // namespace kiln
