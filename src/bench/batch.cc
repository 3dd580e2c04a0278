// Batch-sweep input shapes and the list flags of kiln bench.
#include "bench/batch.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kiln::bench {

Expected<std::map<std::string, Shape>> batch_shapes(const Graph& graph, const std::map<std::string, Shape>& overrides,
                                                    int64_t batch) {
  std::map<std::string, Shape> out;
  const std::string b = std::to_string(batch);
  for (const Value* in : graph.inputs) {
    auto given = overrides.find(in->name);
    if (!in->shape.rank_known && given == overrides.end())
      return invalid_input("input '" + in->name + "' has an unknown rank; give its shape with --shapes " + in->name +
                           ":DIMS so --batches can set its batch dim");
    const bool scalar = given != overrides.end() ? given->second.empty() : in->shape.dims.empty();
    if (scalar) continue;  // no batch dim to sweep
    if (in->shape.rank_known && !in->shape.dims.empty()) {
      const Dim& d0 = in->shape.dims[0];
      if (d0.known() && d0.value != batch)
        return invalid_input("--batches " + b + ": input '" + in->name + "' has a fixed batch dim of " +
                             std::to_string(d0.value) + " (shape " + in->shape.to_string() +
                             "); a batch sweep needs a symbolic batch dim: export the model with a dynamic batch "
                             "axis, or drop --batches");
    }
    Shape shape;
    if (given != overrides.end()) {
      shape = given->second;
    } else {
      for (size_t k = 0; k < in->shape.dims.size(); ++k) {
        const Dim& d = in->shape.dims[k];
        if (k > 0 && !d.known())
          return invalid_input("input '" + in->name + "' has symbolic dim " + std::to_string(k) + " ('" +
                               d.to_string() + "') besides the batch dim; give it with --shapes " + in->name +
                               ":DIMS (dim 0 is replaced by each --batches value)");
        shape.push_back(d.known() ? d.value : 1);
      }
    }
    shape[0] = batch;
    out[in->name] = shape;
  }
  return out;
}

namespace {
Expected<std::vector<double>> parse_numbers(const std::string& text, const std::string& flag, const char* example) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const char* s = item.c_str();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s, &end);
    if (item.empty() || end == s || *end != '\0' || errno != 0 || !std::isfinite(v))
      return usage_error(flag + " '" + text + "': '" + item + "' is not a number (e.g. " + flag + " " + example + ")");
    out.push_back(v);
  }
  if (out.empty()) return usage_error(flag + " is empty (e.g. " + flag + " " + example + ")");
  return out;
}
}  // namespace

Expected<std::vector<int64_t>> parse_int_list(const std::string& text, const std::string& flag) {
  KILN_ASSIGN_OR_RETURN(auto values, parse_numbers(text, flag, "1,8,32"));
  std::vector<int64_t> out;
  for (double v : values) {
    if (v < 1 || v != std::floor(v) || v > 1e9)
      return usage_error(flag + " '" + text + "': values must be positive integers (e.g. " + flag + " 1,8,32)");
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

Expected<std::vector<double>> parse_percentile_list(const std::string& text) {
  KILN_ASSIGN_OR_RETURN(auto values, parse_numbers(text, "--percentile", "90,95,99"));
  for (double v : values)
    if (v < 0 || v > 100)
      return usage_error("--percentile '" + text + "': percentiles must lie in [0, 100] (e.g. --percentile 90,95,99)");
  return values;
}

}  // namespace kiln::bench
