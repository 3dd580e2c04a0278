// Zoo registry, option checks, and the build/count entry points.
#include "models/zoo.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln::models {

const std::vector<ZooModel>& zoo_models() {
  static const std::vector<ZooModel> kModels = {
      {"tiny_cnn", "small default CNN: conv-BN-ReLU blocks, a residual add, global pool, Gemm", build_tiny_cnn, 64, 64,
       10, 1},
      {"resnet18", "torchvision resnet18 (BasicBlock [2,2,2,2])", build_resnet18, 224, 224, 1000, 1},
      {"resnet34", "torchvision resnet34 (BasicBlock [3,4,6,3])", build_resnet34, 224, 224, 1000, 1},
      {"resnet50", "torchvision resnet50 (Bottleneck [3,4,6,3], v1.5)", build_resnet50, 224, 224, 1000, 1},
      {"mobilenet_v2", "torchvision mobilenet_v2 (inverted residuals, ReLU6 as Clip)", build_mobilenet_v2, 224, 224,
       1000, 1},
      {"efficientnet_b0", "torchvision efficientnet_b0 (MBConv, squeeze-excitation, SiLU as x*Sigmoid(x))",
       build_efficientnet_b0, 224, 224, 1000, 1},
      {"vgg11_bn", "torchvision vgg11_bn (needs H/32 and W/32 of 1, 7 or a multiple of 7)", build_vgg11_bn, 224, 224,
       1000, 1},
      {"ssd_lite", "SSDLite detector: MobileNetV2 backbone, separable heads, anchor decoding (--nms)", build_ssd_lite,
       320, 320, 21, 2},
  };
  return kModels;
}

const ZooModel* find_zoo_model(const std::string& name) {
  for (const ZooModel& m : zoo_models())
    if (m.name == name) return &m;
  return nullptr;
}

namespace {

std::string model_names() {
  std::string s;
  for (const ZooModel& m : zoo_models()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

// ONNX IR version that introduced each opset (opset 13/14: IR 7, 15-18: IR 8, 19-20: IR 9, 21: IR 10).
int64_t ir_version_for_opset(int opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

Expected<BuildOptions> resolve(const std::string& name, const ZooOptions& o, const ZooModel** model) {
  *model = find_zoo_model(name);
  if (!*model) return usage_error("unknown zoo model '" + name + "'; models: " + model_names());
  const ZooModel& m = **model;
  if (o.opset < 13 || o.opset > 21)
    return usage_error("--opset " + std::to_string(o.opset) + " is out of range; the zoo writes opsets 13 to 21");
  if (!(o.width_mult >= 0.25 && o.width_mult <= 1.0))
    return usage_error("--width-mult " + std::to_string(o.width_mult) + " is out of range 0.25..1.0");
  if (o.batch.known() && (o.batch.value < 1 || o.batch.value > 4096))
    return usage_error("--batch " + std::to_string(o.batch.value) + " is out of range 1..4096 (or 'dynamic')");
  if (!o.batch.known() && !o.batch.is_symbol()) return usage_error("--batch must be a number or 'dynamic'");
  for (int64_t v : {o.height, o.width})
    if (v != 0 && (v < 16 || v > 4096))
      return usage_error("--height/--width " + std::to_string(v) + " is out of range 16..4096");
  if (o.classes != 0 && (o.classes < m.min_classes || o.classes > 100000))
    return usage_error("--classes " + std::to_string(o.classes) + " is out of range " + std::to_string(m.min_classes) +
                       "..100000 for " + name);
  if (o.nms && name != "ssd_lite") return usage_error("--nms applies to detection models only (ssd_lite)");
  for (const auto& [layer, f] : o.prune)
    if (!(f >= 0.0 && f < 1.0))
      return usage_error("--prune " + layer + "=" + std::to_string(f) + ": the fraction must be in [0, 1)");
  BuildOptions b;
  b.batch = o.batch;
  b.height = o.height ? o.height : m.default_height;
  b.width = o.width ? o.width : m.default_width;
  b.classes = o.classes ? o.classes : m.default_classes;
  b.seed = o.seed;
  b.opset = o.opset;
  b.width_mult = o.width_mult;
  b.prune = o.prune;
  b.nms = o.nms;
  return b;
}

}  // namespace

Expected<std::unique_ptr<Graph>> build_zoo_model(const std::string& name, const ZooOptions& options) {
  const ZooModel* m = nullptr;
  KILN_ASSIGN_OR_RETURN(BuildOptions opts, resolve(name, options, &m));
  auto g = std::make_unique<Graph>();
  g->name = name;
  g->opset_imports[""] = opts.opset;
  g->ir_version = ir_version_for_opset(opts.opset);
  g->producer_name = "kiln zoo";
  Builder b(opts, g.get());
  m->build(b);
  KILN_RETURN_IF_ERROR(b.status().with_context(name + ": "));
  KILN_RETURN_IF_ERROR(b.check_prune_used().with_context(name + ": "));
  KILN_RETURN_IF_ERROR(verify_graph(*g).with_context("internal: zoo model " + name + " fails the verifier: "));
  return g;
}

Expected<ZooStats> zoo_model_stats(const std::string& name, const ZooOptions& options) {
  const ZooModel* m = nullptr;
  KILN_ASSIGN_OR_RETURN(BuildOptions opts, resolve(name, options, &m));
  Builder b(opts, nullptr);
  m->build(b);
  KILN_RETURN_IF_ERROR(b.status().with_context(name + ": "));
  KILN_RETURN_IF_ERROR(b.check_prune_used().with_context(name + ": "));
  ZooStats s;
  s.params = b.params();
  s.buffers = b.buffers();
  s.macs = b.macs();
  s.prunable_layers = b.prunable_layers();
  return s;
}

std::string thousands(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Expected<std::string> zoo_list_text() {
  char line[256];
  std::snprintf(line, sizeof(line), "%-16s %12s %9s  %-10s %s\n", "model", "params", "GMACs", "input", "description");
  std::string out = line;
  for (const ZooModel& m : zoo_models()) {
    KILN_ASSIGN_OR_RETURN(ZooStats s, zoo_model_stats(m.name, {}));
    const std::string input = "3x" + std::to_string(m.default_height) + "x" + std::to_string(m.default_width);
    std::snprintf(line, sizeof(line), "%-16s %12s %9.3f  %-10s %s\n", m.name.c_str(), thousands(s.params).c_str(),
                  static_cast<double>(s.macs) / 1e9, input.c_str(), m.description.c_str());
    out += line;
  }
  return out;
}

Expected<std::map<std::string, double>> parse_prune_spec(const std::string& text) {
  std::map<std::string, double> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return usage_error("--prune: '" + item + "' is not layer=fraction (e.g. layer1.0.conv1=0.5)");
    const std::string value = item.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    const double f = std::strtod(value.c_str(), &end);
    if (errno != 0 || end != value.c_str() + value.size() || !(f >= 0.0 && f < 1.0))
      return usage_error("--prune: fraction '" + value + "' for " + item.substr(0, eq) +
                         " must be a number in [0, 1) (the share of output channels removed)");
    if (!out.emplace(item.substr(0, eq), f).second)
      return usage_error("--prune: layer '" + item.substr(0, eq) + "' is given twice");
    pos = comma + 1;
  }
  return out;
}

Expected<Dim> parse_batch(const std::string& text) {
  if (text == "dynamic") return Dim::sym("batch");
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || end != text.c_str() + text.size() || v < 1 || v > 4096)
    return usage_error("--batch '" + text + "' must be a number in 1..4096 or 'dynamic'");
  return Dim(static_cast<int64_t>(v));
}

}  // namespace kiln::models
