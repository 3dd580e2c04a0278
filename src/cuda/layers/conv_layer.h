// The cuDNN convolution layer behind the Conv and kiln.FusedConv lowerings (conv.cc makes it): geometry
// from the node's attributes, cuDNN legacy-API descriptors and graph-API plans, tactic choice and the run.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cuda/kernels/conv_epilogue.h"
#include "cuda/kernels/depthwise_conv.h"
#include "cuda/layer.h"
#include "cuda/layers/conv_backend.h"
#include "ops/fused.h"

namespace kiln::cuda {

// Everything the lowering fixes once: attributes, epilogue and storage. 1-D convs are run as 2-D ones
// with a unit height (index 0 = height, 1 = width).
struct ConvSpec {
  std::string where;  // "node 'c1' (Conv)", the prefix of every message
  int spatial = 2;    // 1 or 2 in the model
  int64_t group = 1, out_c = 0, in_c_per_group = 0;
  int64_t kernel[2] = {1, 1}, strides[2] = {1, 1}, dilations[2] = {1, 1};
  int64_t pads[4] = {0, 0, 0, 0};  // h_begin, w_begin, h_end, w_end (NOTSET only)
  std::string auto_pad = "NOTSET";
  FusedActivation act = FusedActivation::kNone;
  float alpha = 0.f, beta = 0.f;
  bool has_bias = false, has_residual = false;
  Precision precision = Precision::kFP32;
  DType dtype = DType::kFloat32;  // storage of x, y, z and the weights
  Layout layout = Layout::kRowMajor;

  bool needs_epilogue() const { return has_bias || has_residual || act != FusedActivation::kNone; }
  // cudnnConvolutionBiasActivationForward fuses only Relu and identity.
  bool fusable() const { return (act == FusedActivation::kNone || act == FusedActivation::kRelu) && needs_epilogue(); }
  // The graph API fuses the epilogue as pointwise ops when cuDNN has the exact activation.
  bool backend_fusable() const { return needs_epilogue() && backend_activation_supported(act, alpha, beta); }
};

// One way to run the conv. Legacy API: plain cudnnConvolutionForward (+ our epilogue kernel when the node
// needs one) or cudnnConvolutionBiasActivationForward, with a forward algorithm. Graph API (`backend`): an
// execution plan of the conv alone (kConv, + our epilogue kernel) or with the epilogue fused (kFused).
// Our depthwise kernel (`own_width` > 0, depthwise convs only): epilogue always fused, no cuDNN.
enum class ConvPath { kConv, kFused };
struct ConvChoice {
  ConvPath path = ConvPath::kConv;
  int algo = -1;
  size_t cudnn_workspace = 0;
  bool backend = false;
  BackendEngineChoice be;                 // backend: what the tactic string records
  std::shared_ptr<BackendConvPlan> plan;  // backend: the finalized plan for the current shapes
  int own_width = 0;                      // > 0: kiln's depthwise kernel, output columns per thread
  bool own() const { return own_width > 0; }
  bool chosen() const { return own() || (backend ? be.engine >= 0 : algo >= 0); }
};

// The device buffers a conv layer runs with (conv.cc uploads them).
struct ConvBuffers {
  DeviceBuffer weights;   // filter in spec.dtype, KCRS (row-major) or KRSC (NHWC)
  DeviceBuffer bias_f32;  // out_c floats; empty when the node has no bias
  // The bias (zeros when absent) in spec.dtype for the fused cuDNN calls; empty when the node has no bias
  // and cannot take the legacy fused call.
  DeviceBuffer bias_act;
  DeviceBuffer depthwise;  // depthwise convs (in_c_per_group 1): float32 [R*S][K] for our kernel; else empty
};

// Which candidates tune() and the heuristic choice consider; tests force one API (or our kernel) with it.
enum class ConvCandidates { kAll, kLegacyOnly, kBackendOnly, kOwnOnly };

class ConvLayer : public Layer {
 public:
  ConvLayer(ConvSpec spec, ConvBuffers buffers);
  ~ConvLayer() override;
  ConvLayer(const ConvLayer&) = delete;
  ConvLayer& operator=(const ConvLayer&) = delete;

  Status configure(ConfigureContext& ctx) override;
  size_t workspace_bytes() const override { return workspace_for(choice_); }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string tactic() const override;
  Status set_tactic(const std::string& tactic) override;
  size_t weight_bytes() const override {
    return weights_.bytes() + bias_f32_.bytes() + bias_act_.bytes() + dw_weights_.bytes();
  }

  // "cudnn:<conv|fused>,algo=<n>[+pad][+epilogue]",
  // "cudnn-be:<conv|fused>,engine=<n>,heur=<i>[,knobs=<t>:<v>;..][+epilogue][+fallback]" or
  // "kiln:depthwise,width=<1|2|4>" -> choice; the suffixes only describe.
  static Status parse_tactic(const std::string& tactic, ConvChoice& out);
  // Process-wide, for tests: restrict the candidates of layers configured afterwards; with kOwnOnly, a
  // non-empty `own_tactic` ("kiln:depthwise,...") is the only candidate.
  static void set_candidates_for_testing(ConvCandidates c, const std::string& own_tactic = "");
  static std::string own_tactic_string(int width);

 private:
  struct Geometry {
    ConvTensorGeom x, xp, y;          // input, input as cuDNN reads it (padded), output
    int64_t sym_pad[2] = {0, 0};      // the symmetric part of the pads, given to cuDNN
    int64_t extra_begin[2] = {0, 0};  // what the pad kernel adds before (after: xp minus x minus this)
    int64_t pad_begin[2] = {0, 0}, pad_end[2] = {0, 0};  // the real pads (the graph API takes them as they are)
    bool explicit_pad = false;
  };

  Status error(StatusCode code, const std::string& m) const { return Status(code, spec_.where + ": " + m); }
  Status set_geometry(const ConfigureContext& ctx);
  Status resolve_dim(int d, int64_t in, int64_t& begin, int64_t& end, int64_t& out) const;
  Status set_descriptors();
  Expected<std::vector<ConvChoice>> usable_algos(cudnnHandle_t handle, size_t max_workspace) const;
  Status tune(ConfigureContext& ctx, const std::vector<ConvChoice>& algos);
  BackendConvProblem backend_problem(bool fuse) const;
  std::vector<ConvChoice> backend_candidates(const ConfigureContext& ctx) const;
  bool own_supported() const { return dw_weights_.get() != nullptr; }
  std::vector<ConvChoice> own_candidates() const;
  bool configure_backend_untuned(const ConfigureContext& ctx);
  std::string plan_key(const ConvChoice& c) const;
  void keep_plan();
  Status run(const RunContext& rc, const ConvChoice& c, const void* x, const void* z, void* y) const;
  Status run_epilogue(const RunContext& rc, const void* z, void* y) const;
  ConvEpilogue epilogue(const void* z) const;  // the node's bias, activation and residual `z`
  std::string describe(const ConvChoice& c) const;  // tactic() of `c`, without "+fallback"
  // Graph-API plans take asymmetric pads themselves: no padded copy of the input in the workspace.
  size_t workspace_for(const ConvChoice& c) const {
    return c.own() ? 0 : (c.backend ? 0 : pad_region_) + c.cudnn_workspace;
  }
  Status create_descriptors();

  ConvSpec spec_;
  DeviceBuffer weights_, bias_f32_, bias_act_, dw_weights_;
  Geometry geom_;
  DepthwiseConv dw_;  // our kernel's view of geom_ (depthwise convs only)
  size_t pad_region_ = 0;  // bytes of workspace holding the padded input (0 without explicit padding)
  bool configured_ = false;
  ConvChoice choice_;  // unchosen until configured or given by set_tactic()
  // Every graph-API plan this layer has run, by plan_key(): never freed before the layer (see keep_plan()).
  struct CachedPlan {
    std::shared_ptr<BackendConvPlan> plan;
    bool exact = true;  // the requested engine and knobs (false: the heuristics' substitute)
  };
  std::map<std::string, CachedPlan> plans_;
  bool be_fallback_ = false;  // a backend tactic could not be rebuilt exactly: the heuristics' choice runs
  Status create_status_;      // descriptor creation failure, reported by configure()

  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr, bias_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnActivationDescriptor_t act_desc_ = nullptr;
};

}  // namespace kiln::cuda
