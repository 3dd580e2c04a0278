// A small graph builder for the model zoo: torchvision-style layers (conv, BN, activations, pools, linear,
// shape ops) emitted into an IR Graph with seeded He-scaled weights, counting parameters and MACs as it goes.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::models {

// Deterministic normal/uniform numbers: kiln's xoshiro256** (core/random.h), Box-Muller for normals.
class Rng {
 public:
  explicit Rng(uint64_t seed) : core_(seed) {}
  uint64_t next_u64() { return core_.next(); }
  double uniform();  // in (0, 1], so log() in Box-Muller never sees 0
  double normal();   // mean 0, std 1

 private:
  kiln::Rng core_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// FNV-1a of a name; mixed with the seed so every tensor has its own stream (changing one layer leaves the
// others' weights as they were).
uint64_t hash_name(const std::string& name);

// torchvision's _make_divisible: rounds v to a multiple of divisor, never going below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8);

struct BuildOptions {
  Dim batch = Dim(1);  // Dim::sym("batch") for a dynamic batch
  int64_t height = 224;
  int64_t width = 224;
  int64_t classes = 1000;
  uint64_t seed = 0;
  int opset = 17;
  double width_mult = 1.0;
  std::map<std::string, double> prune;  // layer (module) name -> fraction of output channels removed
  bool nms = false;                     // detection models: append NonMaxSuppression
};

// An activation flowing through the builder: its IR value (null when only counting) and its dims after the
// batch dim (C,H,W for feature maps, F for vectors). `batched` is false for constants without a batch dim.
struct Act {
  Value* value = nullptr;
  std::vector<int64_t> dims;
  bool batched = true;

  int64_t c() const { return dims.empty() ? 0 : dims[0]; }
  int64_t h() const { return dims.size() > 1 ? dims[1] : 1; }
  int64_t w() const { return dims.size() > 2 ? dims[2] : 1; }
};

enum class Activation { kNone, kRelu, kRelu6, kSilu };

// Groups value for conv(): one group per input channel (depthwise).
constexpr int64_t kDepthwise = -1;

struct ConvSpec {
  int64_t out_channels = 0;
  int64_t kernel = 3;
  int64_t stride = 1;
  int64_t groups = 1;  // or kDepthwise
  bool bias = false;
  int64_t padding = -1;  // -1: (kernel - 1) / 2, torchvision's "same" for odd kernels
  // Weight std is gain / sqrt(fan_in); 0 means He's sqrt(2) (input after a ReLU). Inputs after SiLU or a
  // gate need more to keep the activations' scale through deep nets.
  double gain = 0.0;
  double bias_mean = 0.0;  // mean of the (normal) bias; an SE gate's fc2 starts mostly open with > 0
};

// Errors are sticky: after the first failure every call is a no-op returning its input, and status()
// reports that first failure. Model code stays a readable list of layers and checks once at the end.
class Builder {
 public:
  // `graph` may be null: then only shapes, parameters and MACs are tracked (no weights are generated).
  Builder(const BuildOptions& options, Graph* graph);

  const BuildOptions& options() const { return opt_; }
  const Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  void fail(Status s);
  int64_t params() const { return params_; }    // torchvision's count: weights, biases, BN gamma/beta
  int64_t buffers() const { return buffers_; }  // BN running mean/var
  int64_t macs() const { return macs_; }        // per sample (batch 1)
  // Conv layers --prune accepts (all but depthwise), in build order.
  const std::vector<std::string>& prunable_layers() const { return prunable_; }
  // Scales a channel count by --width-mult (torchvision rounding).
  int64_t scaled(int64_t channels) const;

  Act input(const std::string& name, int64_t channels);
  void output(const Act& x);

  // Layers with parameters. Names are torchvision module paths ("layer1.0.conv1"); initializers are
  // "<name>.weight", "<name>.bias", "<name>.running_mean", ... in state_dict order.
  Act conv(const Act& x, const std::string& name, const ConvSpec& spec);
  // gamma_scale < 1 tames the growth of residual sums (the last BN of a residual branch).
  Act batchnorm(const Act& x, const std::string& name, float eps = 1e-5f, float gamma_scale = 1.0f);
  Act linear(const Act& x, const std::string& name, int64_t out_features, const std::string& out_name = "");
  // torchvision's Conv2dNormActivation: "<name>.0" conv, "<name>.1" BN, then the activation.
  Act conv_bn_act(const Act& x, const std::string& name, const ConvSpec& spec, Activation act,
                  float gamma_scale = 1.0f);
  Act activation(const Act& x, Activation act);

  // Parameter-free ops.
  Act relu(const Act& x);
  Act relu6(const Act& x);
  Act sigmoid(const Act& x);
  Act silu(const Act& x);  // x * Sigmoid(x)
  Act exp(const Act& x);
  Act add(const Act& a, const Act& b, const std::string& out_name = "");
  Act sub(const Act& a, const Act& b);
  Act mul(const Act& a, const Act& b);
  Act max_pool(const Act& x, int64_t kernel, int64_t stride, int64_t pad);
  Act avg_pool(const Act& x, int64_t kernel, int64_t stride);
  Act global_avg_pool(const Act& x);
  // torchvision's AdaptiveAvgPool2d for the cases ONNX can express: an exact divisor or a 1x1 input.
  Act adaptive_avg_pool(const Act& x, int64_t out_hw);
  Act flatten(const Act& x);
  // Reshape to [batch, dims...]; dims may hold one -1.
  Act reshape(const Act& x, const std::vector<int64_t>& dims);
  // Permutation of the full shape (batch included when batched).
  Act transpose(const Act& x, const std::vector<int64_t>& perm);
  Act concat(const std::vector<Act>& xs, int64_t axis, const std::string& out_name = "");
  // Slice along one full-shape axis.
  Act slice(const Act& x, int64_t axis, int64_t start, int64_t end);
  Act softmax(const Act& x, int64_t axis, const std::string& out_name = "");
  // A float constant (Constant node; not a parameter) without a batch dim.
  Act constant(const std::string& name, const Shape& shape, const std::vector<float>& values);
  // NonMaxSuppression over boxes [N,T,4] and scores [N,K,T]; output int64 [M,3].
  Act nms(const Act& boxes, const Act& scores, int64_t max_per_class, float iou, float score_threshold,
          const std::string& out_name);

 private:
  Act emit(const std::string& op, const std::string& name, std::vector<Value*> inputs,
           std::map<std::string, Attribute> attrs, std::vector<int64_t> dims, bool batched = true,
           const std::string& out_name = "", DType dtype = DType::kFloat32);
  Value* weight(const std::string& name, const Shape& shape, double std);
  Value* filled(const std::string& name, const Shape& shape, double lo, double hi, bool normal);
  Value* int_constant(const std::vector<int64_t>& values);
  Value* float_scalar(float v);
  std::string node_name(const std::string& base);
  int64_t pruned(const std::string& name, int64_t channels);
  bool checks(bool ok, const std::string& message);

  BuildOptions opt_;
  Graph* g_;
  Status status_;
  int64_t params_ = 0;
  int64_t buffers_ = 0;
  int64_t macs_ = 0;
  std::set<std::string> node_names_;
  std::set<std::string> used_prune_;
  std::vector<std::string> prunable_;
  std::map<std::string, Value*> constants_;
  int64_t counter_ = 0;

 public:
  // Fails when a --prune entry named no prunable layer (call after building).
  Status check_prune_used();
};

}  // namespace kiln::models
