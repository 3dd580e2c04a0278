// Model inputs fixed to values at build time (see input_values.h).
#include "engine/input_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "passes/pass_manager.h"

namespace kiln {

std::string describe_values(const std::vector<double>& values) {
  std::string s = "[";
  const size_t shown = std::min<size_t>(values.size(), 8);
  for (size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + fmt::format("{}", values[i]);
  if (shown < values.size()) s += fmt::format(", ... {} values", values.size());
  return s + "]";
}

Expected<Tensor> input_value_tensor(const Value& input, const std::vector<double>& values) {
  const std::string what = "--inputValues " + input.name;
  const DType dt = input.dtype;
  if (!dtype_is_float(dt) && !dtype_is_integer(dt) && dt != DType::kBool)
    return usage_error(fmt::format("{}: the input is {}, which cannot be given as numbers", what, dtype_name(dt)));
  if (dtype_is_integer(dt) || dt == DType::kBool)
    for (double v : values)
      if (!std::isfinite(v) || std::floor(v) != v)
        return usage_error(fmt::format("{}: {} is not a whole number, and the input is {}", what, v, dtype_name(dt)));
  const int64_t n = static_cast<int64_t>(values.size());
  Shape shape;
  if (auto declared = input.shape.to_static()) {
    if (numel(*declared) != n)
      return usage_error(fmt::format("{}: {} values given, the input's shape {} holds {}", what, n,
                                     shape_to_string(*declared), numel(*declared)));
    shape = *declared;
  } else if (input.shape.rank() == 0) {
    if (n != 1) return usage_error(fmt::format("{}: the input is a scalar, {} values given", what, n));
  } else if (input.shape.rank() == 1 || !input.shape.rank_known) {
    shape = {n};
  } else {
    return usage_error(fmt::format("{}: the input {} has symbolic dims of rank {}; only rank-0 and rank-1 inputs "
                                   "take a value list without a static shape",
                                   what, input.shape.to_string(), input.shape.rank()));
  }
  KILN_ASSIGN_OR_RETURN(Tensor as_double, Tensor::create(DType::kFloat64, shape));
  std::copy(values.begin(), values.end(), as_double.data<double>());
  return convert_dtype(as_double, dt);
}

Status fix_input_values(Graph& graph, const InputValues& values) {
  for (const auto& entry : values) {
    const std::string& name = entry.first;
    const std::vector<double>& vals = entry.second;
    auto it = std::find_if(graph.inputs.begin(), graph.inputs.end(), [&](const Value* v) { return v->name == name; });
    if (it == graph.inputs.end()) {
      std::string names;
      for (const Value* v : graph.inputs) names += (names.empty() ? "" : ", ") + v->name;
      return usage_error(fmt::format("--inputValues names '{}', which is not a model input (inputs: {})", name, names));
    }
    Value* v = *it;
    KILN_ASSIGN_OR_RETURN(Tensor t, input_value_tensor(*v, vals));
    graph.inputs.erase(it);
    v->is_graph_input = false;
    passes::make_initializer(graph, v, std::move(t));
  }
  return Status::Ok();
}

Status check_fixed_input_feed(const std::string& name, const std::vector<double>& fixed, const Tensor& feed) {
  bool same = feed.numel() == static_cast<int64_t>(fixed.size());
  for (int64_t i = 0; same && i < feed.numel(); ++i) {
    const double a = feed.get_as_double(i), b = fixed[static_cast<size_t>(i)];
    same = a == b || (std::isnan(a) && std::isnan(b));
  }
  if (same) return Status::Ok();
  std::vector<double> got;
  for (int64_t i = 0; i < std::min<int64_t>(feed.numel(), 9); ++i) got.push_back(feed.get_as_double(i));
  return invalid_input(fmt::format("input '{}' was fixed to {} when the engine was built (--inputValues); the feed "
                                   "holds {}{}: rebuild with those values",
                                   name, describe_values(fixed), describe_values(got),
                                   feed.numel() > 9 ? " (first values)" : ""));
}

namespace {

// Input slots that are parameters of the op (shapes, axes, counts, scales), not data it computes on.
struct ParameterSlots {
  const char* op;
  std::set<size_t> slots;
};
const ParameterSlots kParameterSlots[] = {
    {"Resize", {1, 2, 3}},    {"Upsample", {1}},        {"Slice", {1, 2, 3, 4}},   {"Pad", {1, 2, 3}},
    {"Trilu", {1}},           {"CumSum", {1}},          {"TopK", {1}},             {"Range", {0, 1, 2}},
    {"ConstantOfShape", {0}}, {"OneHot", {1, 2}},       {"Tile", {1}},             {"Expand", {1}},
    {"Reshape", {1}},         {"Unsqueeze", {1}},       {"Squeeze", {1}},          {"Split", {1}},
    {"Dropout", {1, 2}},      {"Clip", {1, 2}},         {"ReduceSum", {1}},        {"ReduceMean", {1}},
    {"ReduceMax", {1}},       {"ReduceMin", {1}},       {"ReduceProd", {1}},       {"ReduceL1", {1}},
    {"ReduceL2", {1}},        {"ReduceLogSum", {1}},    {"ReduceLogSumExp", {1}},  {"ReduceSumSquare", {1}},
    {"QuantizeLinear", {1, 2}}, {"DequantizeLinear", {1, 2}}, {"NonMaxSuppression", {2, 3, 4}},
    {"Conv", {1, 2}},         {"ConvTranspose", {1, 2}},
};

bool is_parameter_slot(const Node& n, size_t slot) {
  if (!n.domain.empty() && n.domain != "ai.onnx") return false;
  for (const auto& p : kParameterSlots)
    if (n.op_type == p.op && p.slots.count(slot)) return true;
  return false;
}

}  // namespace

std::vector<std::string> parameter_inputs(const Graph& graph) {
  std::vector<std::string> out;
  for (const Value* v : graph.inputs) {
    bool used = false, only_parameters = true;
    for (const auto& n : graph.nodes())
      for (size_t i = 0; i < n->inputs.size(); ++i)
        if (n->inputs[i] == v) {
          used = true;
          only_parameters = only_parameters && is_parameter_slot(*n, i);
        }
    if (used && only_parameters && !v->is_graph_output) out.push_back(v->name);
  }
  return out;
}

}  // namespace kiln
