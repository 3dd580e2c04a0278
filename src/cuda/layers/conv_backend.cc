// cuDNN graph (backend) API for the conv layer, on the C API (the frontend library is not available):
// RAII descriptors, the conv + pointwise-epilogue operation graph, heuristics, execution plans, execution.
// Only attributes and enums present in cuDNN 9.0 are used (the GPU machine runs 9.14, headers are newer).
#include "cuda/layers/conv_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>

namespace kiln::cuda {
namespace {

// Owns one backend descriptor.
class Desc {
 public:
  Desc() = default;
  ~Desc() {
    if (d_) (void)cudnnBackendDestroyDescriptor(d_);  // nothing to do about a failure here
  }
  Desc(Desc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t release() {
    cudnnBackendDescriptor_t d = d_;
    d_ = nullptr;
    return d;
  }
  static Expected<Desc> make(cudnnBackendDescriptorType_t type) {
    Desc d;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendCreateDescriptor(type, &d.d_));
    return d;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// `n` fresh descriptors of `type` and their raw handles, for the attribute getters that fill them.
Status make_descs(cudnnBackendDescriptorType_t type, int64_t n, std::vector<Desc>& owned,
                  std::vector<cudnnBackendDescriptor_t>& raw) {
  for (int64_t i = 0; i < n; ++i) {
    KILN_ASSIGN_OR_RETURN(Desc d, Desc::make(type));
    raw.push_back(d.get());
    owned.push_back(std::move(d));
  }
  return Status::Ok();
}

Status set(const Desc& d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t n,
           const void* v) {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendSetAttribute(d.get(), name, type, n, v));
  return Status::Ok();
}
Status set_desc(const Desc& d, cudnnBackendAttributeName_t name, const Desc& v) {
  cudnnBackendDescriptor_t raw = v.get();
  return set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
}
Status finalize(const Desc& d) {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendFinalize(d.get()));
  return Status::Ok();
}

cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::kFloat16:
      return CUDNN_DATA_HALF;
    case DType::kBFloat16:
      return CUDNN_DATA_BFLOAT16;
    case DType::kInt8:
      return CUDNN_DATA_INT8;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3, kUidB = 4, kUidZ = 5, kUidS = 6, kUidR = 7, kUidVirtual = 100;

// Dims in NCHW order, strides of the real layout.
struct Dims4 {
  int64_t dims[4], strides[4];
};
Dims4 activation_dims(const ConvTensorGeom& g) {
  if (g.nhwc) return {{g.n, g.c, g.h, g.w}, {g.h * g.w * g.c, 1, g.w * g.c, g.c}};
  return {{g.n, g.c, g.h, g.w}, {g.c * g.h * g.w, g.h * g.w, g.w, 1}};
}

Expected<Desc> tensor(int64_t uid, cudnnDataType_t dt, const Dims4& d, bool is_virtual) {
  KILN_ASSIGN_OR_RETURN(Desc t, Desc::make(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  const int64_t align = 16;
  const bool virt = is_virtual;
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, d.dims));
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, d.strides));
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
  KILN_RETURN_IF_ERROR(set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt));
  KILN_RETURN_IF_ERROR(finalize(t));
  return t;
}

// Pointwise descriptor for `mode` in float math; RELU gets explicit clip bounds (clamped to the float range,
// as float math needs) and a zero slope below the lower bound.
Expected<Desc> pointwise(cudnnPointwiseMode_t mode, double lower = 0.0,
                         double upper = std::numeric_limits<float>::max()) {
  KILN_ASSIGN_OR_RETURN(Desc pw, Desc::make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
  const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
  KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
  KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec));
  if (mode == CUDNN_POINTWISE_RELU_FWD) {
    const double fmax = std::numeric_limits<float>::max(), slope = 0.0;
    lower = std::max(lower, -fmax);
    upper = std::min(upper, fmax);
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_DOUBLE, 1, &lower));
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, CUDNN_TYPE_DOUBLE, 1, &upper));
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, CUDNN_TYPE_DOUBLE, 1, &slope));
  }
  if (mode == CUDNN_POINTWISE_SWISH_FWD) {
    const double beta = 1.0;  // x * sigmoid(beta * x): SiLU
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_DOUBLE, 1, &beta));
  }
  KILN_RETURN_IF_ERROR(finalize(pw));
  return pw;
}

Expected<Desc> pointwise_op(const Desc& pw, const Desc& x, const Desc* b, const Desc& y) {
  KILN_ASSIGN_OR_RETURN(Desc op, Desc::make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x));
  if (b) KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y));
  KILN_RETURN_IF_ERROR(finalize(op));
  return op;
}

Expected<Desc> conv_descriptor(const BackendConvProblem& p) {
  KILN_ASSIGN_OR_RETURN(Desc c, Desc::make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
  const cudnnDataType_t comp = p.int8 ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatial = 2;
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, p.pad_begin));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, p.pad_end));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, p.strides));
  KILN_RETURN_IF_ERROR(set(c, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, p.dilations));
  KILN_RETURN_IF_ERROR(finalize(c));
  return c;
}

// The activation's pointwise descriptor (act != kNone and backend_activation_supported()).
Expected<Desc> activation(const BackendConvProblem& p) {
  switch (p.act) {
    case FusedActivation::kRelu:
      return pointwise(CUDNN_POINTWISE_RELU_FWD);
    case FusedActivation::kClip:
      return pointwise(CUDNN_POINTWISE_RELU_FWD, p.alpha, p.beta);
    case FusedActivation::kSigmoid:
      return pointwise(CUDNN_POINTWISE_SIGMOID_FWD);
    case FusedActivation::kSiLU:
      return pointwise(CUDNN_POINTWISE_SWISH_FWD);
    case FusedActivation::kTanh:
      return pointwise(CUDNN_POINTWISE_TANH_FWD);
    default:
      return unsupported("activation has no exact cuDNN pointwise mode");
  }
}

}  // namespace

// The finalized operation graph and every descriptor it refers to.
class BackendGraph {
 public:
  static Expected<std::shared_ptr<BackendGraph>> build(cudnnHandle_t h, const BackendConvProblem& p);
  Expected<std::vector<Desc>> heuristics(cudnnBackendHeurMode_t mode, int64_t max_count) const;
  Expected<std::shared_ptr<BackendConvPlan>> plan(cudnnHandle_t h, const std::shared_ptr<BackendGraph>& self,
                                                  const Desc& cfg, const BackendConvProblem& p,
                                                  size_t max_workspace) const;
  Expected<Desc> config(const BackendEngineChoice& c) const;
  const Desc& graph() const { return graph_; }

 private:
  Status add_epilogue(const BackendConvProblem& p, const Desc& conv_out, const Desc& y);
  std::vector<Desc> keep_;  // tensors, conv/pointwise descriptors
  std::vector<Desc> ops_;
  Desc graph_;
};

bool backend_activation_supported(FusedActivation act, float alpha, float beta) {
  switch (act) {
    case FusedActivation::kNone:
    case FusedActivation::kRelu:
    case FusedActivation::kSigmoid:
    case FusedActivation::kSiLU:
    case FusedActivation::kTanh:
      return true;
    case FusedActivation::kClip:
      return alpha <= beta;  // min(max(x, a), b) with a > b is the constant b, not a clipped relu
    default:
      return false;
  }
}

Status BackendGraph::add_epilogue(const BackendConvProblem& p, const Desc& conv_out, const Desc& y) {
  const Dims4 yd = activation_dims(p.y);
  const Dims4 per_channel = {{1, p.y.c, 1, 1}, {p.y.c, 1, 1, 1}};
  int steps = (p.has_bias ? 1 : 0) + (p.has_residual ? 1 : 0) + (p.act != FusedActivation::kNone ? 1 : 0) +
              (p.int8 ? 1 : 0) + (p.int8 && p.requant ? 1 : 0);
  const Desc* prev = &conv_out;
  int64_t next_uid = kUidVirtual + 1;
  // Each step reads `prev` and writes a new virtual float tensor, the last one writes y.
  auto step = [&](Desc pw, const Desc* b) -> Status {
    const Desc* out = &y;
    if (--steps > 0) {
      KILN_ASSIGN_OR_RETURN(Desc v, tensor(next_uid++, CUDNN_DATA_FLOAT, yd, true));
      keep_.push_back(std::move(v));
      out = &keep_.back();
    }
    KILN_ASSIGN_OR_RETURN(Desc op, pointwise_op(pw, *prev, b, *out));
    keep_.push_back(std::move(pw));
    ops_.push_back(std::move(op));
    prev = out;
    return Status::Ok();
  };
  // A step whose second operand is a tensor the caller binds at run time (uid): scale, bias, residual, 1/y_scale.
  auto operand_step = [&](cudnnPointwiseMode_t mode, int64_t uid, cudnnDataType_t dt, const Dims4& dims) -> Status {
    KILN_ASSIGN_OR_RETURN(Desc t, tensor(uid, dt, dims, false));
    keep_.push_back(std::move(t));
    const Desc* operand = &keep_.back();
    KILN_ASSIGN_OR_RETURN(Desc pw, pointwise(mode));
    return step(std::move(pw), operand);
  };
  if (p.int8) KILN_RETURN_IF_ERROR(operand_step(CUDNN_POINTWISE_MUL, kUidS, CUDNN_DATA_FLOAT, per_channel));
  if (p.has_bias)
    KILN_RETURN_IF_ERROR(
        operand_step(CUDNN_POINTWISE_ADD, kUidB, p.int8 ? CUDNN_DATA_FLOAT : data_type(p.dtype), per_channel));
  if (p.has_residual)
    KILN_RETURN_IF_ERROR(operand_step(CUDNN_POINTWISE_ADD, kUidZ, data_type(p.int8 ? p.z_dtype : p.dtype), yd));
  if (p.act != FusedActivation::kNone) {
    KILN_ASSIGN_OR_RETURN(Desc pw, activation(p));
    KILN_RETURN_IF_ERROR(step(std::move(pw), nullptr));
  }
  if (p.int8 && p.requant)
    KILN_RETURN_IF_ERROR(operand_step(CUDNN_POINTWISE_MUL, kUidR, CUDNN_DATA_FLOAT, Dims4{{1, 1, 1, 1}, {1, 1, 1, 1}}));
  return Status::Ok();
}

Expected<std::shared_ptr<BackendGraph>> BackendGraph::build(cudnnHandle_t h, const BackendConvProblem& p) {
  auto g = std::make_shared<BackendGraph>();
  // add_epilogue() refers to descriptors in keep_ by address while it adds more (at most 13 + 5 here).
  g->keep_.reserve(32);
  const cudnnDataType_t dt = p.int8 ? CUDNN_DATA_INT8 : data_type(p.dtype);
  const cudnnDataType_t ydt = p.int8 ? data_type(p.out_dtype) : dt;
  const int64_t k = p.y.c, c = p.in_c_per_group, r = p.kernel[0], s = p.kernel[1];
  const Dims4 wd =
      p.x.nhwc ? Dims4{{k, c, r, s}, {r * s * c, 1, s * c, c}} : Dims4{{k, c, r, s}, {c * r * s, r * s, s, 1}};
  if (p.int8 && (!p.fuse || !p.x.nhwc))
    return unsupported("an int8 conv graph is NHWC with its scale epilogue fused");
  const bool epilogue = p.fuse && (p.int8 || p.has_bias || p.has_residual || p.act != FusedActivation::kNone);
  KILN_ASSIGN_OR_RETURN(Desc x, tensor(kUidX, dt, activation_dims(p.x), false));
  KILN_ASSIGN_OR_RETURN(Desc w, tensor(kUidW, dt, wd, false));
  KILN_ASSIGN_OR_RETURN(Desc y, tensor(kUidY, ydt, activation_dims(p.y), false));
  Desc conv_out;
  if (epilogue) {
    const cudnnDataType_t vdt = p.int8 && p.int32_virtual ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    KILN_ASSIGN_OR_RETURN(conv_out, tensor(kUidVirtual, vdt, activation_dims(p.y), true));
  }
  KILN_ASSIGN_OR_RETURN(Desc cd, conv_descriptor(p));
  KILN_ASSIGN_OR_RETURN(Desc op, Desc::make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
  const float alpha = 1.f, beta = 0.f;
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, epilogue ? conv_out : y));
  KILN_RETURN_IF_ERROR(set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, cd));
  KILN_RETURN_IF_ERROR(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
  KILN_RETURN_IF_ERROR(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  KILN_RETURN_IF_ERROR(finalize(op));
  g->ops_.push_back(std::move(op));
  if (epilogue) KILN_RETURN_IF_ERROR(g->add_epilogue(p, conv_out, y));
  for (Desc* d : {&x, &w, &y, &conv_out, &cd})
    if (d->get()) g->keep_.push_back(std::move(*d));
  std::vector<cudnnBackendDescriptor_t> ops;
  for (const Desc& o : g->ops_) ops.push_back(o.get());
  KILN_ASSIGN_OR_RETURN(g->graph_, Desc::make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set(g->graph_, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
  KILN_RETURN_IF_ERROR(set(g->graph_, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                           static_cast<int64_t>(ops.size()), ops.data()));
  KILN_RETURN_IF_ERROR(finalize(g->graph_));
  return g;
}

// Up to `max_count` engine configs of heuristics `mode`, best first.
Expected<std::vector<Desc>> BackendGraph::heuristics(cudnnBackendHeurMode_t mode, int64_t max_count) const {
  KILN_ASSIGN_OR_RETURN(Desc heur, Desc::make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph_));
  KILN_RETURN_IF_ERROR(set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
  KILN_RETURN_IF_ERROR(finalize(heur));
  int64_t count = 0;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
  count = std::min(count, max_count);
  std::vector<Desc> cfgs;
  std::vector<cudnnBackendDescriptor_t> raw;
  KILN_RETURN_IF_ERROR(make_descs(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, count, cfgs, raw));
  int64_t got = 0;
  if (count > 0)
    KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()));
  cfgs.resize(static_cast<size_t>(std::max<int64_t>(0, std::min(got, count))));
  return cfgs;
}

namespace {

// The engine descriptor an engine config holds.
Expected<Desc> engine_of(const Desc& cfg) {
  KILN_ASSIGN_OR_RETURN(Desc eng, Desc::make(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  cudnnBackendDescriptor_t eraw = eng.get();
  int64_t n = 0;
  KILN_CUDNN_RETURN_IF_ERROR(
      cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eraw));
  return eng;
}

// The engine's global index, knob choices and whether its numerical notes allow it (no tensor cores or
// down-converted inputs when the problem forbids them).
Status describe_config(const Desc& cfg, const BackendConvProblem& p, BackendEngineChoice& out, bool& allowed) {
  KILN_ASSIGN_OR_RETURN(Desc eng, engine_of(cfg));
  int64_t n = 0;
  KILN_CUDNN_RETURN_IF_ERROR(
      cudnnBackendGetAttribute(eng.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &out.engine));
  allowed = true;
  if (!p.tensor_cores) {
    cudnnBackendNumericalNote_t notes[32];
    KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(eng.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                                        CUDNN_TYPE_NUMERICAL_NOTE, 32, &n, notes));
    for (int64_t i = 0; i < std::min<int64_t>(n, 32); ++i)
      if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
        allowed = false;
  }
  constexpr int64_t kMaxKnobs = 64;
  std::vector<Desc> knobs;
  std::vector<cudnnBackendDescriptor_t> kraw;
  KILN_RETURN_IF_ERROR(make_descs(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, kMaxKnobs, knobs, kraw));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, kMaxKnobs, &n, kraw.data()));
  out.knobs.clear();
  for (int64_t i = 0; i < std::min(n, kMaxKnobs); ++i) {
    cudnnBackendKnobType_t type;
    int64_t value = 0, m = 0;
    KILN_CUDNN_RETURN_IF_ERROR(
        cudnnBackendGetAttribute(kraw[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &m, &type));
    KILN_CUDNN_RETURN_IF_ERROR(
        cudnnBackendGetAttribute(kraw[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &m, &value));
    out.knobs.emplace_back(static_cast<int64_t>(type), value);
  }
  return Status::Ok();
}

// Engines with the runtime-compilation behavior note build their kernels with NVRTC when planned (seconds
// each): left out of the exhaustive part so that builds stay short.
bool compiles_at_runtime(const Desc& cfg) {
  Expected<Desc> eng = engine_of(cfg);
  if (!eng.ok()) return true;
  int64_t n = 0;
  cudnnBackendBehaviorNote_t notes[32];
  if (cudnnBackendGetAttribute(eng->get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, 32, &n, notes) !=
      CUDNN_STATUS_SUCCESS)
    return true;
  for (int64_t i = 0; i < std::min<int64_t>(n, 32); ++i)
    if (notes[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return true;
  return false;
}

}  // namespace

// A config made directly from an engine index and knob choices (a tactic from a plan or the cache).
Expected<Desc> BackendGraph::config(const BackendEngineChoice& c) const {
  KILN_ASSIGN_OR_RETURN(Desc eng, Desc::make(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set_desc(eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph_));
  KILN_RETURN_IF_ERROR(set(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &c.engine));
  KILN_RETURN_IF_ERROR(finalize(eng));
  std::vector<Desc> knobs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (const auto& [type, value] : c.knobs) {
    KILN_ASSIGN_OR_RETURN(Desc k, Desc::make(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR));
    const auto t = static_cast<cudnnBackendKnobType_t>(type);
    KILN_RETURN_IF_ERROR(set(k, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &t));
    KILN_RETURN_IF_ERROR(set(k, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &value));
    KILN_RETURN_IF_ERROR(finalize(k));
    raw.push_back(k.get());
    knobs.push_back(std::move(k));
  }
  KILN_ASSIGN_OR_RETURN(Desc cfg, Desc::make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set_desc(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, eng));
  if (!raw.empty())
    KILN_RETURN_IF_ERROR(set(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                             static_cast<int64_t>(raw.size()), raw.data()));
  KILN_RETURN_IF_ERROR(finalize(cfg));
  return cfg;
}

Expected<std::shared_ptr<BackendConvPlan>> BackendGraph::plan(cudnnHandle_t h,
                                                              const std::shared_ptr<BackendGraph>& self,
                                                              const Desc& cfg, const BackendConvProblem& p,
                                                              size_t max_workspace) const {
  BackendEngineChoice choice;
  bool allowed = true;
  KILN_RETURN_IF_ERROR(describe_config(cfg, p, choice, allowed));
  if (!allowed) return unsupported("engine " + std::to_string(choice.engine) + " uses tensor cores");
  KILN_ASSIGN_OR_RETURN(Desc plan, Desc::make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
  KILN_RETURN_IF_ERROR(set_desc(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfg));
  const auto t0 = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(finalize(plan));
  const double finalize_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  int64_t ws = 0, n = 0;
  KILN_CUDNN_RETURN_IF_ERROR(
      cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws));
  if (ws < 0 || static_cast<size_t>(ws) > max_workspace)
    return unsupported("engine " + std::to_string(choice.engine) + " needs " + std::to_string(ws) +
                       " bytes of workspace");
  std::shared_ptr<BackendConvPlan> out(new BackendConvPlan());
  out->graph_ = self;
  out->plan_ = plan.release();
  out->workspace_ = static_cast<size_t>(ws);
  out->choice_ = std::move(choice);
  out->has_bias_ = p.fuse && p.has_bias;
  out->has_residual_ = p.fuse && p.has_residual;
  out->has_scale_ = p.int8;
  out->has_out_scale_ = p.int8 && p.requant;
  out->runtime_compiled_ = compiles_at_runtime(cfg);
  out->finalize_ms_ = finalize_ms;
  return out;
}

std::string BackendConvPlan::finalize_summary(const std::vector<std::shared_ptr<BackendConvPlan>>& plans) {
  double ms = 0;
  int compiled = 0;
  for (const auto& p : plans) {
    ms += p->finalize_ms_;
    compiled += p->runtime_compiled_ ? 1 : 0;
  }
  return std::to_string(plans.size()) + " graph-API plans (" + std::to_string(compiled) +
         " compiled at run time) finalized in " + std::to_string(static_cast<int64_t>(ms)) + " ms";
}

BackendConvPlan::~BackendConvPlan() {
  if (plan_) (void)cudnnBackendDestroyDescriptor(plan_);
}

Expected<std::vector<std::shared_ptr<BackendConvPlan>>> BackendConvPlan::candidates(cudnnHandle_t h,
                                                                                    const BackendConvProblem& p,
                                                                                    size_t max_workspace,
                                                                                    int max_plans, int max_extra,
                                                                                    int max_compiled) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<BackendGraph> g, BackendGraph::build(h, p));
  std::vector<std::shared_ptr<BackendConvPlan>> out;
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    Expected<std::vector<Desc>> cfgs = g->heuristics(mode, 4 * static_cast<int64_t>(max_plans));
    if (!cfgs.ok()) continue;
    int compiled = 0;
    for (size_t i = 0; i < cfgs->size() && static_cast<int>(out.size()) < max_plans; ++i) {
      if (compiles_at_runtime((*cfgs)[i]) && compiled++ >= max_compiled) continue;  // seconds each: the best few
      Expected<std::shared_ptr<BackendConvPlan>> plan = g->plan(h, g, (*cfgs)[i], p, max_workspace);
      if (!plan.ok()) continue;  // this config cannot run the problem: skipped
      (*plan)->choice_.heur = static_cast<int>(i) + (mode == CUDNN_HEUR_MODE_A ? 0 : 1000);
      out.push_back(std::move(*plan));
    }
    if (!out.empty()) break;
  }
  if (max_extra <= 0) return out;
  // The bounded exhaustive part: every engine of the graph, by global index, that no candidate uses yet.
  int64_t engines = 0, n = 0;
  if (cudnnBackendGetAttribute(g->graph().get(), CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1,
                               &n, &engines) != CUDNN_STATUS_SUCCESS)
    return out;
  int extra = 0;
  for (int64_t e = 0; e < engines && extra < max_extra; ++e) {
    bool seen = false;
    for (const auto& c : out) seen = seen || c->choice_.engine == e;
    if (seen) continue;
    Expected<Desc> cfg = g->config(BackendEngineChoice{e, -1, {}});
    if (!cfg.ok() || compiles_at_runtime(*cfg)) continue;
    Expected<std::shared_ptr<BackendConvPlan>> plan = g->plan(h, g, *cfg, p, max_workspace);
    if (!plan.ok()) continue;
    (*plan)->choice_.heur = 2000 + static_cast<int>(e);
    out.push_back(std::move(*plan));
    ++extra;
  }
  return out;
}

Expected<std::shared_ptr<BackendConvPlan>> BackendConvPlan::rebuild(cudnnHandle_t h, const BackendConvProblem& p,
                                                                    const BackendEngineChoice& want,
                                                                    size_t max_workspace, bool* exact) {
  *exact = false;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<BackendGraph> g, BackendGraph::build(h, p));
  Expected<Desc> cfg = g->config(want);
  if (cfg.ok()) {
    Expected<std::shared_ptr<BackendConvPlan>> plan = g->plan(h, g, *cfg, p, max_workspace);
    if (plan.ok()) {
      (*plan)->choice_.heur = want.heur;
      *exact = true;
      return plan;
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<BackendConvPlan>> all, candidates(h, p, max_workspace, 16));
  if (all.empty()) return unsupported("cuDNN's heuristics offer no engine config for this conv");
  for (auto& c : all)
    if (c->choice_.engine == want.engine) return c;
  return all.front();
}

Status BackendConvPlan::execute(cudnnHandle_t h, const void* x, const void* w, const void* bias, const void* z, void* y,
                                void* workspace, const void* scale, const void* out_scale) const {
  int64_t uids[7] = {kUidX, kUidW, kUidY, 0, 0, 0, 0};
  void* ptrs[7] = {const_cast<void*>(x), const_cast<void*>(w), y, nullptr, nullptr, nullptr, nullptr};
  int64_t n = 3;
  if (has_scale_) {
    uids[n] = kUidS;
    ptrs[n++] = const_cast<void*>(scale);
  }
  if (has_out_scale_) {
    uids[n] = kUidR;
    ptrs[n++] = const_cast<void*>(out_scale);
  }
  if (has_bias_) {
    uids[n] = kUidB;
    ptrs[n++] = const_cast<void*>(bias);
  }
  if (has_residual_) {
    uids[n] = kUidZ;
    ptrs[n++] = const_cast<void*>(z);
  }
  KILN_ASSIGN_OR_RETURN(Desc vp, Desc::make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids));
  KILN_RETURN_IF_ERROR(set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs));
  KILN_RETURN_IF_ERROR(set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  KILN_RETURN_IF_ERROR(finalize(vp));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnBackendExecute(h, plan_, vp.get()));
  return Status::Ok();
}

std::string format_engine_choice(const BackendEngineChoice& c) {
  std::string s = "engine=" + std::to_string(c.engine) + ",heur=" + std::to_string(c.heur);
  for (size_t i = 0; i < c.knobs.size(); ++i)
    s += (i ? ";" : ",knobs=") + std::to_string(c.knobs[i].first) + ":" + std::to_string(c.knobs[i].second);
  return s;
}

namespace {
bool parse_int(const std::string& t, int64_t& v) {
  if (t.empty()) return false;
  char* end = nullptr;
  v = std::strtoll(t.c_str(), &end, 10);
  return end && *end == '\0';
}
}  // namespace

Status parse_engine_choice(const std::string& text, BackendEngineChoice& out) {
  BackendEngineChoice c;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    int64_t v = 0;
    if (key == "engine" && parse_int(val, v) && v >= 0) {
      c.engine = v;
    } else if (key == "heur" && parse_int(val, v)) {
      c.heur = static_cast<int>(v);
    } else if (key == "knobs") {
      for (size_t k = 0; k <= val.size();) {
        const size_t semi = val.find(';', k);
        const std::string kv = val.substr(k, semi == std::string::npos ? std::string::npos : semi - k);
        const size_t colon = kv.find(':');
        int64_t t = 0, x = 0;
        if (colon == std::string::npos || !parse_int(kv.substr(0, colon), t) || !parse_int(kv.substr(colon + 1), x))
          return invalid_input("knob '" + kv + "' is not <type>:<value>");
        c.knobs.emplace_back(t, x);
        if (semi == std::string::npos) break;
        k = semi + 1;
      }
    } else {
      return invalid_input("unknown or malformed part '" + item + "'");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (c.engine < 0) return invalid_input("has no engine=<n>");
  out = std::move(c);
  return Status::Ok();
}

}  // namespace kiln::cuda
