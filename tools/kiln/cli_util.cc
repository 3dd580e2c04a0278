// Shared CLI helpers: error line, --shapes, tensor statistics and number formatting.
#include "tools/kiln/cli_util.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "ops/registry.h"

namespace kiln::cli {

int fail(const std::string& command, const Status& status) {
  std::cerr << "kiln" << (command.empty() ? "" : " " + command) << ": error: " << status.message() << std::endl;
  return status.ok() ? 5 : status.exit_code();
}

Expected<std::map<std::string, Shape>> parse_shape_overrides(const std::vector<std::string>& specs) {
  std::map<std::string, Shape> out;
  for (const auto& spec : specs) {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      const size_t colon = item.rfind(':');
      if (colon == std::string::npos || colon == 0)
        return usage_error("--shapes '" + item + "' is not NAME:DIMS (e.g. --shapes input:1x3x224x224)");
      const std::string name = item.substr(0, colon);
      auto shape = parse_shape(item.substr(colon + 1));
      if (!shape.ok()) return usage_error("--shapes '" + item + "': " + shape.status().message());
      if (out.count(name)) return usage_error("--shapes gives input '" + name + "' twice");
      out[name] = *shape;
    }
  }
  return out;
}

Status apply_input_shapes(Graph& graph, const std::map<std::string, Shape>& shapes, bool skip_unsupported) {
  if (shapes.empty()) return Status::Ok();
  for (const auto& [name, shape] : shapes) {
    Value* in = nullptr;
    for (Value* v : graph.inputs)
      if (v->name == name) in = v;
    if (!in) {
      std::string names;
      for (const Value* v : graph.inputs) names += (names.empty() ? "" : ", ") + v->name;
      return invalid_input("--shapes names '" + name + "' but the model has no such input (its inputs: " + names + ")");
    }
    if (!in->shape.accepts(shape))
      return invalid_input("--shapes " + name + ":" + shape_to_string(shape) + " does not fit input '" + name +
                           "' of shape " + in->shape.to_string());
    in->shape = SymShape::from(shape);
  }
  InferOptions options;
  options.skip_unsupported = skip_unsupported;
  return infer_shapes(graph, options).with_context("with --shapes: ");
}

Status require_static_input(const Value& in, const std::string& hint) {
  const std::string tail = hint.empty() ? "" : " " + hint;
  if (!in.shape.rank_known)
    return invalid_input("input '" + in.name + "' has an unknown rank; give its shape with --shapes " + in.name +
                         ":DIMS" + tail);
  std::string example;  // the declared shape with every unknown dim set to 1
  for (size_t k = 0; k < in.shape.dims.size(); ++k)
    example += (k ? "x" : "") + (in.shape.dims[k].known() ? std::to_string(in.shape.dims[k].value) : "1");
  for (size_t d = 0; d < in.shape.dims.size(); ++d) {
    const Dim& dim = in.shape.dims[d];
    if (dim.known()) continue;
    return invalid_input("input '" + in.name + "' has symbolic dim " + std::to_string(d) + " ('" + dim.to_string() +
                         "') in shape " + in.shape.to_string() + "; give its size with --shapes " + in.name + ":" +
                         example + tail);
  }
  return Status::Ok();
}

Status require_static_inputs(const Graph& graph, const std::string& hint) {
  for (const Value* in : graph.inputs) KILN_RETURN_IF_ERROR(require_static_input(*in, hint));
  return Status::Ok();
}

std::string sanitize_file_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

TensorStats tensor_stats(const Tensor& t) {
  TensorStats s;
  double sum = 0, sum_sq = 0;
  s.min = INFINITY;
  s.max = -INFINITY;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.get_as_double(i);
    if (std::isnan(v)) {
      ++s.nan;
    } else if (std::isinf(v)) {
      ++s.inf;
    } else {
      ++s.finite;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
      sum += v;
      sum_sq += v * v;
    }
  }
  if (s.finite == 0) {
    s.min = s.max = 0;
    return s;
  }
  s.mean = sum / static_cast<double>(s.finite);
  s.std = std::sqrt(std::max(0.0, sum_sq / static_cast<double>(s.finite) - s.mean * s.mean));
  return s;
}

std::string first_values(const Tensor& t, int count) {
  std::ostringstream o;
  o.precision(6);
  o << "[";
  const int64_t n = std::min<int64_t>(count, t.numel());
  for (int64_t i = 0; i < n; ++i) {
    if (i) o << ", ";
    if (dtype_is_float(t.dtype()))
      o << t.get_as_double(i);
    else
      o << t.get_as_int64(i);
  }
  if (t.numel() > n) o << (n ? ", ..." : "...");
  o << "]";
  return o.str();
}

std::string group_thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

std::string si_units(double v, int digits) {
  const char* units[] = {"", " K", " M", " G", " T", " P"};
  int u = 0;
  while (std::fabs(v) >= 1000 && u < 5) {
    v /= 1000;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g%s", digits, v, units[u]);
  return buf;
}

}  // namespace kiln::cli
