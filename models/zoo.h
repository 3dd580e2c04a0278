// The model zoo: registry of built-in architectures (torchvision layer for layer where it has them) and the
// entry points that build one into a Graph or just count its parameters and MACs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "models/builder.h"

namespace kiln::models {

using ModelFn = void (*)(Builder&);

struct ZooModel {
  std::string name;
  std::string description;
  ModelFn build;
  int64_t default_height;
  int64_t default_width;
  int64_t default_classes;
  int64_t min_classes;
};

// Every model, in --list order.
const std::vector<ZooModel>& zoo_models();
const ZooModel* find_zoo_model(const std::string& name);

// The default model that demos and tests use when none is given (tiny_cnn, well under 5 MB).
constexpr const char* kDefaultZooModel = "tiny_cnn";

// Options as the user gives them; 0 / empty means the model's default.
struct ZooOptions {
  Dim batch = Dim(1);
  int64_t height = 0;
  int64_t width = 0;
  int64_t classes = 0;
  uint64_t seed = 0;
  int opset = 17;
  double width_mult = 1.0;
  std::map<std::string, double> prune;
  bool nms = false;
};

struct ZooStats {
  int64_t params = 0;   // torchvision's count: weights, biases, BN gamma/beta (not running stats)
  int64_t buffers = 0;  // BN running mean/var elements
  int64_t macs = 0;     // per sample, conv + linear layers
  std::vector<std::string> prunable_layers;
};

// Builds the model with its weights; kUsage for bad options (message says which and what is allowed).
Expected<std::unique_ptr<Graph>> build_zoo_model(const std::string& name, const ZooOptions& options);
// Same checks and counts without generating weights (fast even for vgg11_bn).
Expected<ZooStats> zoo_model_stats(const std::string& name, const ZooOptions& options);

// The `kiln zoo --list` table: name, parameters, MACs at the default input (batch 1), input, description.
Expected<std::string> zoo_list_text();

// 25557032 -> "25,557,032".
std::string thousands(int64_t v);

// Parses "layer1.0.conv1=0.5,features.2.conv.0.0=0.25" (fractions of output channels removed, 0 <= f < 1).
Expected<std::map<std::string, double>> parse_prune_spec(const std::string& text);
// Parses --batch: a positive integer or "dynamic" (symbolic dim "batch").
Expected<Dim> parse_batch(const std::string& text);

// Per-architecture builders (models/<family>.cc).
void build_resnet18(Builder& b);
void build_resnet34(Builder& b);
void build_resnet50(Builder& b);
void build_mobilenet_v2(Builder& b);
void build_efficientnet_b0(Builder& b);
void build_vgg11_bn(Builder& b);
void build_ssd_lite(Builder& b);
void build_tiny_cnn(Builder& b);

// MobileNetV2 feature extractor shared with ssd_lite: returns the outputs of features.<tap> (or the input
// of the last block when tap < 0) and of features.18.
struct MobileNetV2Features {
  Act stride16;
  Act stride32;
};
MobileNetV2Features mobilenet_v2_features(Builder& b, const Act& input, const std::string& prefix);

}  // namespace kiln::models
