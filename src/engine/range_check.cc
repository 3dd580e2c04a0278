// FP16 range check on the CPU reference: which layers' FP32 values lie outside what FP16 can hold.
#include "engine/range_check.h"

#include <fmt/format.h>

#include <cmath>

#include "core/random.h"
#include "onnx/importer.h"

namespace kiln {

const char* range_kind_name(RangeKind k) {
  switch (k) {
    case RangeKind::kNonFinite:
      return "non-finite";
    case RangeKind::kOverflow:
      return "overflow";
    case RangeKind::kFlushToZero:
      return "flush-to-zero";
    case RangeKind::kSubnormal:
      return "subnormal";
  }
  return "?";
}

namespace {

// max |x| over a float32 tensor; +inf when any value is inf or NaN.
double max_abs_of(const Tensor& t) {
  const float* p = t.data<float>();
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float a = std::fabs(p[i]);
    if (!std::isfinite(a)) return INFINITY;
    if (a > m) m = a;
  }
  return m;
}

bool classify(double max_abs, RangeKind* kind) {
  if (std::isinf(max_abs))
    *kind = RangeKind::kNonFinite;
  else if (max_abs > kFp16Max)
    *kind = RangeKind::kOverflow;
  else if (max_abs > 0 && max_abs < kFp16MinSubnormal)
    *kind = RangeKind::kFlushToZero;
  else if (max_abs > 0 && max_abs < kFp16MinNormal)
    *kind = RangeKind::kSubnormal;
  else
    return false;
  return true;
}

std::string what_happens(RangeKind k) {
  switch (k) {
    case RangeKind::kNonFinite:
      return "is already inf/NaN in FP32 (a property of the model, not of FP16)";
    case RangeKind::kOverflow:
      return fmt::format("is above FP16's largest value {:g}: it overflows to inf", kFp16Max);
    case RangeKind::kFlushToZero:
      return fmt::format("is below FP16's smallest subnormal {:.3g}: it flushes to zero", kFp16MinSubnormal);
    case RangeKind::kSubnormal:
      return fmt::format("is below FP16's smallest normal {:.3g}: every value is subnormal (fewer significant bits)",
                         kFp16MinNormal);
  }
  return "";
}

}  // namespace

std::vector<std::string> RangeReport::warnings() const {
  std::vector<std::string> out;
  for (RangeKind k : {RangeKind::kNonFinite, RangeKind::kOverflow, RangeKind::kFlushToZero, RangeKind::kSubnormal}) {
    const RangeFinding* first = nullptr;
    int count = 0;
    for (const auto& f : findings) {
      if (f.kind != k) continue;
      if (!first) first = &f;
      ++count;
    }
    if (!first) continue;
    std::string line =
        fmt::format("FP16 range ({}): layer '{}' ({}) output '{}' has max |x| = {:.3g} in FP32, which {}",
                    range_kind_name(k), first->node, first->op, first->value, first->max_abs, what_happens(k));
    if (count > 1) line += fmt::format("; {} layers in all", count);
    out.push_back(line + fmt::format(" (checked on {})", feeds));
  }
  return out;
}

std::string RangeReport::suggested_layer_precisions() const {
  std::string s;
  std::set<std::string> seen;
  for (const auto& f : findings) {
    if (f.kind == RangeKind::kNonFinite || !seen.insert(f.node).second) continue;
    s += (s.empty() ? "" : ",") + f.node + ":fp32";
  }
  return s;
}

Expected<RangeReport> check_fp16_ranges(const Graph& graph, const TensorMap& feeds,
                                        const std::function<bool(const std::string&)>& in_fp16) {
  CpuRunOptions options;
  options.keep_intermediates = true;
  KILN_ASSIGN_OR_RETURN(TensorMap values, run_cpu(graph, feeds, options));
  RangeReport report;
  for (const auto& node : graph.nodes()) {
    if (in_fp16 && !in_fp16(node->name)) continue;
    for (const Value* v : node->outputs) {
      if (!v) continue;
      auto it = values.find(v->name);
      if (it == values.end() || it->second.dtype() != DType::kFloat32) continue;
      ++report.checked_values;
      RangeFinding f;
      f.max_abs = max_abs_of(it->second);
      if (!classify(f.max_abs, &f.kind)) continue;
      f.node = node->name;
      f.op = node->op_type;
      f.value = v->name;
      report.findings.push_back(f);
    }
  }
  return report;
}

Expected<TensorMap> range_check_feeds(const Graph& graph, const ShapeMap& shapes, uint64_t seed, int64_t max_elements) {
  TensorMap feeds;
  int64_t total = 0;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const Value* v = graph.inputs[i];
    if (v->shape.rank() < 0) return unsupported(fmt::format("input '{}' has an unknown rank", v->name));
    Shape s;
    auto given = shapes.find(v->name);
    for (int64_t d = 0; d < v->shape.rank(); ++d) {
      const Dim& dim = v->shape.dims[static_cast<size_t>(d)];
      if (dim.known())
        s.push_back(dim.value);
      else if (d == 0)
        s.push_back(1);  // a symbolic batch: one sample shows the ranges
      else if (given != shapes.end() && static_cast<int64_t>(given->second.size()) > d)
        s.push_back(given->second[d]);
      else
        s.push_back(1);
    }
    total += numel(s);
    if (total > max_elements)
      return unsupported(
          fmt::format("the inputs at {} exceed {} elements", SymShape::from(s).to_string(), max_elements));
    KILN_ASSIGN_OR_RETURN(Tensor t, random_tensor(v->dtype, s, splitmix64(seed + i)));
    feeds[v->name] = std::move(t);
  }
  return feeds;
}

bool builds_in_fp16(const BuildOptions& options) {
  if (options.precision == "fp16") return true;
  for (const auto& [node, p] : options.layer_precisions)
    if (p == "fp16") return true;
  return false;
}

Expected<RangeReport> fp16_range_check_for_build(const Graph& graph, const BuildOptions& options) {
  // Which layers will compute in FP16: all unless pinned elsewhere (fp16 engines), or those pinned to fp16.
  const bool all_fp16 = options.precision == "fp16";
  auto in_fp16 = [&](const std::string& node) {
    auto it = options.layer_precisions.find(node);
    return it == options.layer_precisions.end() ? all_fp16 : it->second == "fp16";
  };
  RangeReport report;
  if (!builds_in_fp16(options)) return report;
  ShapeMap shapes = options.shapes;
  if (!options.profiles.empty()) shapes = options.profiles[0].min;
  constexpr int64_t kMaxElements = int64_t{1} << 22;
  auto skipped = [&](const Status& why) {
    report.feeds = "skipped: " + why.message();
    return report;
  };
  auto bytes = serialize_onnx(graph);  // a copy to run: the builder's graph is specialised and optimised next
  if (!bytes.ok()) return skipped(bytes.status());
  auto copy_or = load_onnx_from_bytes(bytes->data(), bytes->size(), "");
  if (!copy_or.ok()) return skipped(copy_or.status());
  auto& copy = *copy_or;
  auto feeds = range_check_feeds(*copy, shapes, 0, kMaxElements);
  if (!feeds.ok()) return skipped(feeds.status());
  std::string shape_text;
  for (const auto& [name, t] : *feeds) shape_text += (shape_text.empty() ? "" : ", ") + name + " " + t.describe();
  auto checked = check_fp16_ranges(*copy, *feeds, in_fp16);
  if (!checked.ok()) return skipped(checked.status());
  report = std::move(*checked);
  report.feeds = "seeded random inputs (" + shape_text + ") on the CPU reference";
  return report;
}

}  // namespace kiln
