// ConvLayer: shapes -> pads and cuDNN descriptors, the tactic choice among legacy forward algorithms and
// graph-API plans (heuristics, a kept or given tactic, or timing under tune), and the run (legacy: optional
// pad kernel, cuDNN, optional epilogue; graph API: one plan, optional epilogue).
#include "cuda/layers/conv_layer.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <limits>

#include "cuda/tactic.h"

namespace kiln::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr const char* kUnconfigured = "cudnn:unconfigured";
// Per graph (fused and conv-only), by BuildOptions::optimization_level 0..5: the heuristics' best configs
// timed, and engines the heuristics did not offer (default knobs) timed too. Of the heuristics' configs
// whose engine compiles its kernel at run time (cuDNN's runtime fusion engines: 0.3 to 5 s to finalize
// each), only the first kCompiledPlans: on an H100 (2026-12-07), efficientnet_b0 FP16 at batch 32 spent 88
// of its 94 s build finalizing them at level 3 with no cap, and the engine that came out was 0.5% faster
// than level 1's (14.7 s).
constexpr int kBackendPlans[6] = {1, 2, 4, 8, 8, 8};
constexpr int kExhaustivePlans[6] = {0, 0, 0, 0, 4, 16};
constexpr int kCompiledPlans[6] = {1, 1, 2, 2, 8, 1 << 20};
ConvCandidates g_candidates = ConvCandidates::kAll;
std::string g_own_tactic;  // with kOwnOnly: the only tactic tried (empty: all)
size_t align_up(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::kFloat16:
      return CUDNN_DATA_HALF;
    case DType::kBFloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

// fp32 engines promise true fp32 (rtol 1e-4), so tensor cores (TF32) are kept out of them.
cudnnMathType_t math_type(Precision p) { return p == Precision::kFP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH; }

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

std::string geom_string(const ConvTensorGeom& g) {
  return std::to_string(g.n) + "x" + std::to_string(g.c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) +
         (g.nhwc ? " nhwc" : " nchw");
}

}  // namespace

ConvLayer::ConvLayer(ConvSpec spec, ConvBuffers b)
    : spec_(std::move(spec)),
      weights_(std::move(b.weights)),
      bias_f32_(std::move(b.bias_f32)),
      bias_act_(std::move(b.bias_act)),
      dw_weights_(std::move(b.depthwise)) {
  create_status_ = create_descriptors();
}

ConvLayer::~ConvLayer() {
  // Destruction failures cannot be reported from a destructor and leak nothing worth handling.
  if (x_desc_) (void)cudnnDestroyTensorDescriptor(x_desc_);
  if (y_desc_) (void)cudnnDestroyTensorDescriptor(y_desc_);
  if (bias_desc_) (void)cudnnDestroyTensorDescriptor(bias_desc_);
  if (w_desc_) (void)cudnnDestroyFilterDescriptor(w_desc_);
  if (conv_desc_) (void)cudnnDestroyConvolutionDescriptor(conv_desc_);
  if (act_desc_) (void)cudnnDestroyActivationDescriptor(act_desc_);
}

Status ConvLayer::create_descriptors() {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&x_desc_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&y_desc_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&bias_desc_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&w_desc_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&conv_desc_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&act_desc_));
  if (!fits_int(spec_.out_c)) return error(StatusCode::kUnsupported, "too many output channels for cuDNN");
  // The fused call wants a 1xKx1x1 bias in the data type of y.
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(bias_desc_, CUDNN_TENSOR_NCHW, cudnn_dtype(spec_.dtype), 1,
                                                        static_cast<int>(spec_.out_c), 1, 1));
  const cudnnActivationMode_t mode =
      spec_.act == FusedActivation::kRelu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(act_desc_, mode, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  return Status::Ok();
}

// Output extent and the (begin, end) pads of spatial dim d (0 = height, 1 = width) for input extent `in`;
// the same rule as window_output_size (ops/window.cc), which the IR's shapes came from.
Status ConvLayer::resolve_dim(int d, int64_t in, int64_t& begin, int64_t& end, int64_t& out) const {
  const int64_t k = (spec_.kernel[d] - 1) * spec_.dilations[d] + 1, s = spec_.strides[d];
  if (spec_.auto_pad == "SAME_UPPER" || spec_.auto_pad == "SAME_LOWER") {
    out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
    const int64_t small = total / 2, big = total - small;
    const bool upper = spec_.auto_pad == "SAME_UPPER";
    begin = upper ? small : big;
    end = upper ? big : small;
    return Status::Ok();
  }
  const bool valid = spec_.auto_pad == "VALID";
  begin = valid ? 0 : spec_.pads[d];
  end = valid ? 0 : spec_.pads[d + 2];
  const int64_t span = in + begin + end - k;
  if (span < 0)
    return error(StatusCode::kInvalidInput, "spatial extent " + std::to_string(in) + " (padded " +
                                                std::to_string(in + begin + end) +
                                                ") is smaller than the dilated kernel " + std::to_string(k));
  out = span / s + 1;
  return Status::Ok();
}

Status ConvLayer::set_geometry(const ConfigureContext& ctx) {
  if (ctx.inputs.empty() || ctx.outputs.empty())
    return error(StatusCode::kRuntime, "configure() got no input or output descriptors");
  const TensorDesc& x = ctx.inputs[0];
  const size_t rank = static_cast<size_t>(spec_.spatial) + 2;
  if (x.shape.size() != rank)
    return error(StatusCode::kInvalidInput, "input X is " + x.describe() + ", expected rank " + std::to_string(rank));
  if (x.dtype != spec_.dtype || (rank == 4 && x.layout != spec_.layout))
    return error(StatusCode::kRuntime, "input X arrives as " + x.describe() + ", the layer was lowered for " +
                                           dtype_name(spec_.dtype) + " " + layout_name(spec_.layout));
  Geometry g;
  g.x = {x.shape[0], x.shape[1], spec_.spatial == 2 ? x.shape[2] : 1, x.shape[rank - 1],
         rank == 4 && x.layout == Layout::kNHWC};
  if (g.x.c != spec_.in_c_per_group * spec_.group)
    return error(StatusCode::kInvalidInput, "input X " + x.describe() + " has " + std::to_string(g.x.c) +
                                                " channels, the weights expect " +
                                                std::to_string(spec_.in_c_per_group * spec_.group));
  const int64_t in[2] = {g.x.h, g.x.w};
  int64_t out[2] = {0, 0}, padded[2] = {0, 0};
  for (int d = 0; d < 2; ++d) {
    int64_t b = 0, e = 0;
    KILN_RETURN_IF_ERROR(resolve_dim(d, in[d], b, e, out[d]));
    // cuDNN pads symmetrically; the pad kernel adds what one side has beyond the other.
    g.sym_pad[d] = std::min(b, e);
    g.extra_begin[d] = b - g.sym_pad[d];
    padded[d] = in[d] + (b - g.sym_pad[d]) + (e - g.sym_pad[d]);
    g.explicit_pad = g.explicit_pad || b != e;
    g.pad_begin[d] = b;
    g.pad_end[d] = e;
  }
  g.xp = g.x;
  g.xp.h = padded[0];
  g.xp.w = padded[1];
  g.y = {g.x.n, spec_.out_c, out[0], out[1], g.x.nhwc};
  Shape want = spec_.spatial == 2 ? Shape{g.y.n, g.y.c, g.y.h, g.y.w} : Shape{g.y.n, g.y.c, g.y.w};
  const TensorDesc& y = ctx.outputs[0];
  if (!y.shape.empty() && y.shape != want)
    return error(StatusCode::kInvalidInput, "output Y is " + y.describe() + " but the conv of " + x.describe() +
                                                " gives " + TensorDesc{spec_.dtype, want, spec_.layout}.describe());
  if (spec_.has_residual) {
    if (ctx.inputs.size() < 4 || ctx.inputs[3].shape != want || ctx.inputs[3].dtype != spec_.dtype ||
        (rank == 4 && ctx.inputs[3].layout != spec_.layout))
      return error(StatusCode::kInvalidInput,
                   "residual Z must match the output " + TensorDesc{spec_.dtype, want, spec_.layout}.describe() +
                       ", got " + (ctx.inputs.size() < 4 ? std::string("none") : ctx.inputs[3].describe()));
  }
  for (int64_t v : {g.xp.n, g.xp.c, g.xp.h, g.xp.w, g.y.h, g.y.w, g.xp.numel(), g.y.numel()})
    if (!fits_int(v))
      return error(StatusCode::kUnsupported, "input " + x.describe() + " is too large for cuDNN (int dims)");
  geom_ = g;
  dw_.x = g.x;
  dw_.y = g.y;
  dw_.multiplier = spec_.group > 0 ? spec_.out_c / spec_.group : 1;
  for (int d = 0; d < 2; ++d) {
    dw_.kernel[d] = spec_.kernel[d];
    dw_.strides[d] = spec_.strides[d];
    dw_.dilations[d] = spec_.dilations[d];
    dw_.pad_begin[d] = g.pad_begin[d];
  }
  pad_region_ = g.explicit_pad ? align_up(static_cast<size_t>(g.xp.numel()) * dtype_size(spec_.dtype)) : 0;
  return Status::Ok();
}

Status ConvLayer::set_descriptors() {
  const cudnnDataType_t dt = cudnn_dtype(spec_.dtype);
  const cudnnTensorFormat_t fmt = geom_.x.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const ConvTensorGeom &xp = geom_.xp, &y = geom_.y;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(x_desc_, fmt, dt, i(xp.n), i(xp.c), i(xp.h), i(xp.w)));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(y_desc_, fmt, dt, i(y.n), i(y.c), i(y.h), i(y.w)));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(w_desc_, dt, fmt, i(spec_.out_c), i(spec_.in_c_per_group),
                                                        i(spec_.kernel[0]), i(spec_.kernel[1])));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolution2dDescriptor(
      conv_desc_, i(geom_.sym_pad[0]), i(geom_.sym_pad[1]), i(spec_.strides[0]), i(spec_.strides[1]),
      i(spec_.dilations[0]), i(spec_.dilations[1]), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(conv_desc_, i(spec_.group)));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_desc_, math_type(spec_.precision)));
  int n = 0, c = 0, h = 0, w = 0;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolution2dForwardOutputDim(conv_desc_, x_desc_, w_desc_, &n, &c, &h, &w));
  if (n != y.n || c != y.c || h != y.h || w != y.w)
    return error(StatusCode::kRuntime, "cuDNN computes output " + std::to_string(n) + "x" + std::to_string(c) + "x" +
                                           std::to_string(h) + "x" + std::to_string(w) + ", the graph says " +
                                           geom_string(y));
  return Status::Ok();
}

// The heuristic's algorithms that support this shape and fit the workspace (with the pad region), best
// first, each with its workspace size.
Expected<std::vector<ConvChoice>> ConvLayer::usable_algos(cudnnHandle_t handle, size_t max_workspace) const {
  int max_count = 0, returned = 0;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(
      handle, x_desc_, w_desc_, conv_desc_, y_desc_, static_cast<int>(perf.size()), &returned, perf.data()));
  std::vector<ConvChoice> out;
  for (int k = 0; k < returned; ++k) {
    const cudnnConvolutionFwdAlgoPerf_t& p = perf[static_cast<size_t>(k)];
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (spec_.precision == Precision::kFP32 && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH)
      continue;
    const int algo = static_cast<int>(p.algo);
    if (std::any_of(out.begin(), out.end(), [&](const ConvChoice& c) { return c.algo == algo; })) continue;
    size_t ws = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(handle, x_desc_, w_desc_, conv_desc_, y_desc_, p.algo, &ws) !=
        CUDNN_STATUS_SUCCESS)
      continue;
    if (pad_region_ + ws > max_workspace) continue;
    out.push_back(ConvChoice{ConvPath::kConv, algo, ws});
  }
  return out;
}

void ConvLayer::set_candidates_for_testing(ConvCandidates c, const std::string& own_tactic) {
  g_candidates = c;
  g_own_tactic = own_tactic;
}

std::string ConvLayer::own_tactic_string(int width) { return "kiln:depthwise,width=" + std::to_string(width); }

// Our depthwise kernel at each width when the vector kernel applies, else the one-output-per-thread kernel
// (width 1).
std::vector<ConvChoice> ConvLayer::own_candidates() const {
  std::vector<ConvChoice> out;
  if (!own_supported()) return out;
  auto add = [&](int width) {
    ConvChoice c;
    c.own_width = width;
    out.push_back(c);
  };
  if (g_candidates == ConvCandidates::kOwnOnly && !g_own_tactic.empty()) {
    ConvChoice c;
    if (parse_tactic(g_own_tactic, c).ok() && c.own()) add(c.own_width);
    return out;
  }
  const bool vec = depthwise_vectorizable(spec_.dtype, dw_);
  for (int w : kDepthwiseWidths)
    if (w == 1 || vec) add(w);
  return out;
}

Status ConvLayer::configure(ConfigureContext& ctx) {
  configured_ = false;
  KILN_RETURN_IF_ERROR(create_status_);
  KILN_RETURN_IF_ERROR(set_geometry(ctx));
  KILN_RETURN_IF_ERROR(set_descriptors());
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.handles.cudnn, ctx.stream));
  const ConvCandidates which = g_candidates;
  const bool can_time = !ctx.sample_inputs.empty() && !ctx.sample_outputs.empty() && ctx.sample_workspace;
  if (which == ConvCandidates::kOwnOnly) {
    std::vector<ConvChoice> own = own_candidates();
    if (own.empty()) return error(StatusCode::kUnsupported, "kiln's depthwise kernel does not run this conv");
    if (ctx.tune && can_time) {
      KILN_RETURN_IF_ERROR(tune(ctx, own));
    } else if (!choice_.own()) {
      choice_ = own.front();
    }
    configured_ = true;
    return Status::Ok();
  }
  // Our kernel depends on nothing the shapes can change: a given or kept choice of it stays.
  if (choice_.own() && own_supported() && !ctx.tune) {
    configured_ = true;
    return Status::Ok();
  }
  std::vector<ConvChoice> algos;
  if (which != ConvCandidates::kBackendOnly) {
    KILN_ASSIGN_OR_RETURN(algos, usable_algos(ctx.handles.cudnn, ctx.max_workspace_bytes));
  }
  const std::string none = "cuDNN has no forward algorithm for input " + geom_string(geom_.xp) + " -> " +
                           geom_string(geom_.y) + " (group " + std::to_string(spec_.group) +
                           ") within a workspace of " + std::to_string(ctx.max_workspace_bytes >> 20) +
                           " MiB (raise --memPoolSize=workspace:N)";
  if (ctx.tune && can_time) {
    if (which != ConvCandidates::kLegacyOnly)
      for (ConvChoice& c : backend_candidates(ctx)) algos.push_back(std::move(c));
    if (which == ConvCandidates::kAll)
      for (ConvChoice& c : own_candidates()) algos.push_back(std::move(c));
    if (algos.empty()) return error(StatusCode::kUnsupported, none);
    KILN_RETURN_IF_ERROR(tune(ctx, algos));
    configured_ = true;
    return Status::Ok();
  }
  // A graph-API tactic (given or kept) is rebuilt for these shapes; when cuDNN no longer has any plan for
  // it, the legacy heuristic's choice runs and tactic() says "+fallback".
  if ((choice_.backend || which == ConvCandidates::kBackendOnly) && which != ConvCandidates::kLegacyOnly &&
      configure_backend_untuned(ctx)) {
    configured_ = true;
    return Status::Ok();
  }
  if (choice_.backend) {
    be_fallback_ = true;
    choice_ = ConvChoice{};
  }
  if (algos.empty()) return error(StatusCode::kUnsupported, none);
  configured_ = true;
  // A legacy tactic from set_tactic() or an earlier configure() stays while cuDNN still offers its algorithm
  // for the new shape; otherwise the heuristic's best plain conv.
  if (choice_.algo >= 0) {
    auto it = std::find_if(algos.begin(), algos.end(), [&](const ConvChoice& c) { return c.algo == choice_.algo; });
    if (it != algos.end() && (choice_.path == ConvPath::kConv || bias_act_.get())) {
      choice_.cudnn_workspace = it->cudnn_workspace;
      return Status::Ok();
    }
  }
  choice_ = algos.front();
  return Status::Ok();
}

BackendConvProblem ConvLayer::backend_problem(bool fuse) const {
  BackendConvProblem p;
  p.x = geom_.x;
  p.y = geom_.y;
  p.dtype = spec_.dtype;
  p.in_c_per_group = spec_.in_c_per_group;
  for (int d = 0; d < 2; ++d) {
    p.kernel[d] = spec_.kernel[d];
    p.strides[d] = spec_.strides[d];
    p.dilations[d] = spec_.dilations[d];
    p.pad_begin[d] = geom_.pad_begin[d];
    p.pad_end[d] = geom_.pad_end[d];
  }
  p.tensor_cores = spec_.precision != Precision::kFP32;
  p.fuse = fuse;
  p.has_bias = spec_.has_bias;
  p.has_residual = spec_.has_residual;
  p.act = spec_.act;
  p.alpha = spec_.alpha;
  p.beta = spec_.beta;
  return p;
}

// Graph-API plans for this shape: with the epilogue fused when cuDNN has its activation, and of the conv
// alone (our epilogue kernel after it). Any failure only means fewer candidates.
std::vector<ConvChoice> ConvLayer::backend_candidates(const ConfigureContext& ctx) const {
  std::vector<ConvChoice> out;
  for (bool fuse : {true, false}) {
    if (fuse && !spec_.backend_fusable()) continue;
    if (fuse && spec_.has_bias && !bias_act_.get()) continue;
    const int level = std::min(5, std::max(0, ctx.optimization_level));
    auto plans = BackendConvPlan::candidates(ctx.handles.cudnn, backend_problem(fuse), ctx.max_workspace_bytes,
                                             kBackendPlans[level], kExhaustivePlans[level], kCompiledPlans[level]);
    if (!plans.ok()) continue;
    if (ctx.tactic_log)
      ctx.tactic_log("  " + spec_.where + (fuse ? " fused: " : " conv: ") + BackendConvPlan::finalize_summary(*plans));
    for (std::shared_ptr<BackendConvPlan>& p : *plans) {
      ConvChoice c;
      c.backend = true;
      c.path = fuse ? ConvPath::kFused : ConvPath::kConv;
      c.be = p->choice();
      c.cudnn_workspace = p->workspace();
      c.plan = std::move(p);
      out.push_back(std::move(c));
    }
  }
  return out;
}

// A plan's cache key: the input geometry (the output follows from it and the attributes), fused or not,
// and the engine with its knobs (the heuristics' position is informational).
std::string ConvLayer::plan_key(const ConvChoice& c) const {
  BackendEngineChoice k = c.be;
  k.heur = -1;
  return geom_string(geom_.x) + (c.path == ConvPath::kFused ? "|fused|" : "|conv|") + format_engine_choice(k);
}

// The chosen graph-API plan stays alive as long as the layer: CUDA graphs captured for earlier shapes
// replay its kernels (cuDNN's runtime-compiled engines are owned by the plan), and a later configure() for
// the same shapes reuses it instead of finalizing again.
void ConvLayer::keep_plan() {
  if (!choice_.backend || !choice_.plan) return;
  plans_.emplace(plan_key(choice_), CachedPlan{choice_.plan, true});
}

// Without timing: the given/kept graph-API tactic rebuilt for the current shapes (or, when only the graph
// API may run, the heuristics' first plan, fused when possible). False when no plan could be made.
bool ConvLayer::configure_backend_untuned(const ConfigureContext& ctx) {
  const bool can_fuse = spec_.backend_fusable() && (!spec_.has_bias || bias_act_.get());
  if (choice_.backend) {
    const bool fuse = choice_.path == ConvPath::kFused;
    if (fuse && !can_fuse) return false;
    const std::string key = plan_key(choice_);
    auto cached = plans_.find(key);
    if (cached == plans_.end()) {
      bool exact = false;
      auto plan = BackendConvPlan::rebuild(ctx.handles.cudnn, backend_problem(fuse), choice_.be,
                                           ctx.max_workspace_bytes, &exact);
      if (!plan.ok()) return false;
      cached = plans_.emplace(key, CachedPlan{std::move(*plan), exact}).first;
    }
    const CachedPlan& cp = cached->second;
    be_fallback_ = be_fallback_ || !cp.exact;
    choice_.be = cp.plan->choice();
    choice_.cudnn_workspace = cp.plan->workspace();
    choice_.plan = cp.plan;
    return true;
  }
  for (bool fuse : {can_fuse, false}) {
    auto plans = BackendConvPlan::candidates(ctx.handles.cudnn, backend_problem(fuse), ctx.max_workspace_bytes, 1);
    if (!plans.ok() || plans->empty()) continue;
    ConvChoice c;
    c.backend = true;
    c.path = fuse ? ConvPath::kFused : ConvPath::kConv;
    c.be = plans->front()->choice();
    c.cudnn_workspace = plans->front()->workspace();
    c.plan = plans->front();
    choice_ = std::move(c);
    keep_plan();
    return true;
  }
  return false;
}

// Times every candidate on the sample tensors; the first one that runs is the reference (a legacy plain
// conv when there is one: they come first), and a candidate whose output differs from it beyond
// tactic_tolerance() is rejected however fast it is.
Status ConvLayer::tune(ConfigureContext& ctx, const std::vector<ConvChoice>& algos) {
  std::vector<ConvChoice> cands = algos;
  if (spec_.fusable() && bias_act_.get())
    for (ConvChoice c : algos)
      // cuDNN documents identity-activation fusion for IMPLICIT_PRECOMP_GEMM only.
      if (!c.backend && !c.own() &&
          (spec_.act == FusedActivation::kRelu || c.algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)) {
        c.path = ConvPath::kFused;
        cands.push_back(c);
      }
  const void* x = ctx.sample_inputs[0].data;
  const void* z = spec_.has_residual && ctx.sample_inputs.size() > 3 ? ctx.sample_inputs[3].data : nullptr;
  void* y = ctx.sample_outputs[0].data;
  const int64_t n = geom_.y.numel();
  const size_t y_bytes = static_cast<size_t>(n) * dtype_size(spec_.dtype);
  KILN_ASSIGN_OR_RETURN(DeviceBuffer ref, DeviceBuffer::allocate(y_bytes, "conv tactic reference output"));
  RunContext rc;
  rc.stream = ctx.stream;
  rc.handles = ctx.handles;
  rc.workspace = ctx.sample_workspace;
  rc.workspace_bytes = ctx.max_workspace_bytes;
  bool have_ref = false, have_best = false;
  float best_ms = std::numeric_limits<float>::infinity();
  Status last = Status::Ok();
  auto log = [&](const ConvChoice& c, const std::string& what) {
    if (ctx.tactic_log)
      ctx.tactic_log("  " + spec_.where + " " + geom_string(geom_.x) + ": " + describe(c) + " " + what);
  };
  for (const ConvChoice& c : cands) {
    auto launch = [&]() { return run(rc, c, x, z, y); };
    Status s = launch();
    if (!s.ok()) {  // this candidate cannot run this shape: not chosen
      (void)cudaGetLastError();
      last = s;
      log(c, "cannot run: " + s.message());
      continue;
    }
    if (!have_ref) {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ref.get(), y, y_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
      have_ref = true;
    } else {
      KILN_ASSIGN_OR_RETURN(double diff, max_relative_difference(y, ref.get(), n, spec_.dtype, ctx.stream));
      if (!(diff <= tactic_tolerance(spec_.dtype))) {
        log(c, "rejected: differs from the reference candidate by " + std::to_string(diff));
        continue;
      }
    }
    Expected<float> ms = time_candidate(ctx.stream, launch);
    if (!ms.ok()) {
      (void)cudaGetLastError();
      last = ms.status();
      log(c, "cannot run: " + ms.status().message());
      continue;
    }
    log(c, std::to_string(*ms) + " ms");
    if (*ms < best_ms) {
      best_ms = *ms;
      choice_ = c;
      be_fallback_ = false;
      have_best = true;
    }
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream));  // `ref` is freed on return
  if (!have_best) return error(StatusCode::kRuntime, "no conv candidate ran: " + last.to_string());
  keep_plan();
  if (ctx.tactic_log)
    ctx.tactic_log("  " + spec_.where + ": chose " + tactic() + " (" + std::to_string(best_ms) + " ms)");
  return Status::Ok();
}

Status ConvLayer::run(const RunContext& rc, const ConvChoice& c, const void* x, const void* z, void* y) const {
  if (rc.workspace_bytes < workspace_for(c))
    return error(StatusCode::kRuntime, "workspace of " + std::to_string(rc.workspace_bytes) + " bytes, need " +
                                           std::to_string(workspace_for(c)));
  if (c.own()) {
    return launch_depthwise_conv(spec_.dtype, dw_, x, dw_weights_.as<float>(), y, epilogue(z), c.own_width, rc.stream)
        .with_context(spec_.where + ": ");
  }
  cudnnHandle_t h = rc.handles.cudnn;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(h, rc.stream));
  if (c.backend) {
    if (!c.plan) return error(StatusCode::kRuntime, "graph-API tactic without an execution plan (not configured)");
    KILN_RETURN_IF_ERROR(
        c.plan->execute(h, x, weights_.get(), bias_act_.get(), z, y, rc.workspace).with_context(spec_.where + ": "));
    if (c.path == ConvPath::kFused) return Status::Ok();
    return run_epilogue(rc, z, y);
  }
  char* ws = static_cast<char*>(rc.workspace);
  const void* src = x;
  if (geom_.explicit_pad) {
    KILN_RETURN_IF_ERROR(
        launch_conv_pad(spec_.dtype, x, geom_.x, ws, geom_.xp, geom_.extra_begin[0], geom_.extra_begin[1], rc.stream));
    src = ws;
    ws += pad_region_;
  }
  void* cudnn_ws = c.cudnn_workspace ? ws : nullptr;
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(c.algo);
  const float one = 1.f, zero = 0.f;
  if (c.path == ConvPath::kFused) {
    // y = act(conv(x) + alpha2 * z + bias); without a residual z aliases y with alpha2 = 0, as cuDNN allows.
    const float alpha2 = z ? 1.f : 0.f;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBiasActivationForward(
        h, &one, x_desc_, src, w_desc_, weights_.get(), conv_desc_, algo, cudnn_ws, c.cudnn_workspace, &alpha2, y_desc_,
        z ? z : y, bias_desc_, bias_act_.get(), act_desc_, y_desc_, y));
    return Status::Ok();
  }
  KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(h, &one, x_desc_, src, w_desc_, weights_.get(), conv_desc_, algo,
                                                     cudnn_ws, c.cudnn_workspace, &zero, y_desc_, y));
  return run_epilogue(rc, z, y);
}

ConvEpilogue ConvLayer::epilogue(const void* z) const {
  ConvEpilogue e;
  e.act = spec_.act;
  e.alpha = spec_.alpha;
  e.beta = spec_.beta;
  e.bias = spec_.has_bias ? bias_f32_.as<float>() : nullptr;
  e.z = z;
  return e;
}

// Bias, residual and activation in place on the conv output, when the node has any.
Status ConvLayer::run_epilogue(const RunContext& rc, const void* z, void* y) const {
  if (!spec_.needs_epilogue()) return Status::Ok();
  return launch_conv_epilogue(spec_.dtype, y, geom_.y, epilogue(z), rc.stream);
}

Status ConvLayer::enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                          const std::vector<DeviceTensor>& outputs) {
  if (!configured_ || !choice_.chosen()) return error(StatusCode::kRuntime, "enqueue() before configure()");
  if (inputs.empty() || outputs.empty() || !inputs[0].data || !outputs[0].data)
    return error(StatusCode::kRuntime, "enqueue() without input X or output Y buffers");
  const void* z = nullptr;
  if (spec_.has_residual) {
    if (inputs.size() < 4 || !inputs[3].data) return error(StatusCode::kRuntime, "residual Z has no buffer");
    z = inputs[3].data;
  }
  if (geom_.y.numel() == 0) return Status::Ok();
  return run(rc, choice_, inputs[0].data, z, outputs[0].data);
}

std::string ConvLayer::describe(const ConvChoice& c) const {
  if (!c.chosen()) return kUnconfigured;
  if (c.own()) return own_tactic_string(c.own_width);
  const char* path = c.path == ConvPath::kFused ? "fused" : "conv";
  std::string s = c.backend ? std::string("cudnn-be:") + path + "," + format_engine_choice(c.be)
                            : std::string("cudnn:") + path + ",algo=" + std::to_string(c.algo);
  if (!c.backend && geom_.explicit_pad) s += "+pad";
  if (c.path == ConvPath::kConv && spec_.needs_epilogue()) s += "+epilogue";
  return s;
}

std::string ConvLayer::tactic() const {
  return describe(choice_) + (be_fallback_ && choice_.chosen() ? "+fallback" : "");
}

Status ConvLayer::parse_tactic(const std::string& tactic, ConvChoice& out) {
  auto bad = [&](const std::string& why) {
    return invalid_input("conv tactic '" + tactic + "' " + why +
                         " (expected cudnn:<conv|fused>,algo=<n>[+pad][+epilogue], "
                         "cudnn-be:<conv|fused>,engine=<n>,heur=<i>[,knobs=<t>:<v>;...][+epilogue] or "
                         "kiln:depthwise,width=<1|2|4>)");
  };
  if (tactic.compare(0, 15, "kiln:depthwise,") == 0) {
    for (int width : kDepthwiseWidths)
      if (tactic == own_tactic_string(width)) {
        out = ConvChoice{};
        out.own_width = width;
        return Status::Ok();
      }
    return bad("has no valid width");
  }
  const std::string legacy = "cudnn:", backend = "cudnn-be:";
  const bool is_backend = tactic.compare(0, backend.size(), backend) == 0;
  if (!is_backend && tactic.compare(0, legacy.size(), legacy) != 0)
    return bad("does not start with cudnn:, cudnn-be: or kiln:");
  std::string rest = tactic.substr(is_backend ? backend.size() : legacy.size());
  const size_t plus = rest.find('+');
  std::string head = rest.substr(0, plus);
  for (size_t p = plus; p != std::string::npos;) {
    const size_t next = rest.find('+', p + 1);
    const std::string suffix = rest.substr(p + 1, next == std::string::npos ? std::string::npos : next - p - 1);
    if (suffix != "pad" && suffix != "epilogue" && suffix != "fallback")
      return bad("has an unknown part '+" + suffix + "'");
    p = next;
  }
  ConvChoice c;
  std::string args;
  if (head.rfind("conv,", 0) == 0) {
    c.path = ConvPath::kConv;
    args = head.substr(5);
  } else if (head.rfind("fused,", 0) == 0) {
    c.path = ConvPath::kFused;
    args = head.substr(6);
  } else {
    return bad("names no known path");
  }
  if (is_backend) {
    c.backend = true;
    Status s = parse_engine_choice(args, c.be);
    if (!s.ok()) return bad(s.message());
    out = c;
    return Status::Ok();
  }
  if (args.rfind("algo=", 0) != 0) return bad("has no algo=<n>");
  const std::string algo_text = args.substr(5);
  char* end = nullptr;
  const long algo = algo_text.empty() ? -1 : std::strtol(algo_text.c_str(), &end, 10);
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT || (end && *end != '\0'))
    return bad("has no valid algorithm number");
  c.algo = static_cast<int>(algo);
  out = c;
  return Status::Ok();
}

Status ConvLayer::set_tactic(const std::string& tactic) {
  if (tactic == kUnconfigured) {  // what tactic() said before any configure(): no preference
    choice_ = ConvChoice{};
    be_fallback_ = false;
    return Status::Ok();
  }
  ConvChoice c;
  KILN_RETURN_IF_ERROR(parse_tactic(tactic, c));  // the lowering prefixes the node
  if (c.own() && !own_supported())
    return error(StatusCode::kInvalidInput,
                 "tactic '" + tactic + "' is kiln's depthwise kernel, and this conv is not depthwise");
  if (c.path == ConvPath::kFused && !c.backend && !(spec_.fusable() && bias_act_.get()))
    return error(StatusCode::kInvalidInput,
                 "tactic '" + tactic + "' uses the fused cuDNN call, which this node's epilogue cannot use");
  if (c.path == ConvPath::kFused && c.backend && !(spec_.backend_fusable() && (!spec_.has_bias || bias_act_.get())))
    return error(
        StatusCode::kInvalidInput,
        "tactic '" + tactic + "' fuses the epilogue in a cuDNN graph, which this node's activation cannot use");
  choice_ = c;
  be_fallback_ = false;
  return Status::Ok();
}

}  // namespace kiln::cuda
