// The CUDA backend's contract: tensor descriptors with a memory layout, the Layer interface every GPU
// lowering implements, and the lowering registry (op type -> layer factory), filled per op family from
// src/cuda/layers/<family>.cc with KILN_REGISTER_CUDA_LOWERINGS. The builder (builder.cc) never lists ops.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "cuda/cuda_check.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cuda {

// Engine precision. kTF32 keeps float32 storage with TF32 tensor-core math in convs/GEMMs.
enum class Precision { kFP32, kTF32, kFP16, kBF16 };
const char* precision_name(Precision p);  // "fp32", "tf32", "fp16", "bf16"
bool parse_precision(const std::string& s, Precision* out);
// Storage dtype of float activations under `p`: float32 for fp32/tf32, float16, bfloat16.
DType activation_dtype(Precision p);

// How a tensor's logical (ONNX-order) dims lie in memory. kNHWC only for rank 4: logical [N,C,H,W]
// stored as [N,H,W,C]. Everything else is dense row-major in ONNX order.
enum class Layout : uint8_t { kRowMajor = 0, kNHWC = 1 };

// The float dtypes GPU activations are stored in: float32, float16, bfloat16.
inline bool is_float_storage(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }
const char* layout_name(Layout l);

struct TensorDesc {
  DType dtype = DType::kUndefined;
  Shape shape;  // logical dims, ONNX order (NCHW for images) whatever the layout
  Layout layout = Layout::kRowMajor;

  int64_t numel() const;
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  // Element stride of each logical dim in memory (size rank); for kNHWC: N:HWC, C:1, H:WC, W:C.
  std::vector<int64_t> strides() const;
  // True when this layout has the same bytes as row-major (e.g. NHWC with H = W = 1, or C = 1).
  bool same_bytes_as_row_major() const;
  std::string describe() const;  // "float16[8x64x56x56] nhwc"
};

struct DeviceTensor {
  TensorDesc desc;
  void* data = nullptr;
  template <typename T> T* as() const { return static_cast<T*>(data); }
};

struct GpuHandles {
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  int sm_count = 0;
  int compute_capability = 0;  // 90 for H100
};

// What enqueue() gets: the stream (possibly under CUDA-graph capture: no sync, no allocation, no
// host<->device copies of pageable memory), the handles (already bound to that stream) and this
// layer's share of workspace (workspace_bytes() as last reported by configure()).
struct RunContext {
  cudaStream_t stream = nullptr;
  GpuHandles handles;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// What configure() gets: shapes are final here (the build's opt shapes, a plan load, or a new shape of a
// dynamic session). With `tune`, the layer may time candidate tactics on `sample_inputs` /
// `sample_outputs` (device memory, inputs filled with seeded random data) and keep the fastest one that
// agrees with its reference candidate (see tactic.h). Without `tune`, keep the tactic given to
// set_tactic() (from a plan or the timing cache), or choose by heuristics when there is none.
struct ConfigureContext {
  std::vector<TensorDesc> inputs;   // dtype/undefined for absent optional inputs
  std::vector<TensorDesc> outputs;
  GpuHandles handles;
  cudaStream_t stream = nullptr;
  size_t max_workspace_bytes = size_t{256} << 20;  // --memPoolSize=workspace:N
  bool tune = false;
  int optimization_level = 3;                // BuildOptions::optimization_level (1..5 when tune)
  std::vector<DeviceTensor> sample_inputs;   // only when tune
  std::vector<DeviceTensor> sample_outputs;  // only when tune
  void* sample_workspace = nullptr;          // max_workspace_bytes of scratch, only when tune
  std::function<void(const std::string&)> tactic_log;  // when set: one line per timed candidate, then the choice
};

class Layer {
 public:
  virtual ~Layer() = default;
  // Called whenever the input shapes change (and once after the build/load); sets up descriptors,
  // chooses/validates the tactic, computes workspace_bytes(). Must not launch work into the run stream
  // except for timing under `tune`.
  virtual Status configure(ConfigureContext& ctx) = 0;
  virtual size_t workspace_bytes() const { return 0; }
  // Launches the layer's work on rc.stream. Inputs/outputs follow the descriptors given to configure().
  virtual Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                         const std::vector<DeviceTensor>& outputs) = 0;
  // The chosen tactic as a short printable string ("cudnn:algo=6", "lt:algo=23,tile=..", "kernel:nhwc");
  // stored in the plan and the timing cache and given back through set_tactic() at load.
  virtual std::string tactic() const { return "kernel"; }
  virtual Status set_tactic(const std::string& tactic) { return Status::Ok(); }
  // Device bytes of weights the layer uploaded itself (for the plan's and the summary's weight figure).
  virtual size_t weight_bytes() const { return 0; }
};

// What a layer factory sees when the builder lowers one IR node.
class LowerContext {
 public:
  const Node& node;
  Precision precision;  // this layer's precision (the engine's, or pinned by --layerPrecisions)
  // Input descriptors as the values are currently stored (dtype undefined for absent inputs). Shapes are
  // the ones inferred at the build's opt shapes; do not bake them in (dynamic sessions reconfigure).
  std::vector<TensorDesc> inputs;
  // The factory sets dtype and layout of each output; the builder fills the shapes from IR inference.
  // Default: the IR dtype (float32 mapped to activation_dtype(precision)), row-major.
  std::vector<TensorDesc> outputs;

  LowerContext(const Node& n, Precision p) : node(n), precision(p) {}
  DType float_dtype() const { return activation_dtype(precision); }
  // Host data of constant input i (an initializer or a folded value), or nullptr when it is computed at
  // run time. A factory that turns it into its own weights (uploading it in the form it needs) calls
  // take_constant(); constants not taken are uploaded by the builder as ordinary inputs in the engine's
  // float dtype, row-major.
  const Tensor* constant(size_t i) const;
  const Tensor* take_constant(size_t i);
  bool constant_taken(size_t i) const;
  // Asks for input i in `dtype` and `layout`: the builder inserts a conversion layer before this one (or
  // reuses one already made for that value) and updates inputs[i]. No-op when it already matches.
  Status require_input(size_t i, DType dtype, Layout layout);
  // Output 0 is a view of input 0 (same bytes, new shape: Reshape, Flatten, Squeeze, Unsqueeze). The
  // factory then returns a layer whose enqueue does nothing; the memory planner shares the buffer.
  void alias_output_to_input() { output_aliases_input_ = true; }
  bool output_aliases_input() const { return output_aliases_input_; }
  // Output j has one data-dependent dim `dim` (NonMaxSuppression's selected rows: dim 0; NonZero's count: dim
  // 1): the engine allocates `bound` (its largest possible shape) and the layer gets one more output after its
  // own, an int64[1] where it writes the real size of that dim; the layer writes the tensor packed at that size
  // (row-major [.., count, ..] from the buffer's start), and sessions report the count in output_dims(). Only
  // graph outputs of static engines.
  void set_output_bound(size_t j, Shape bound, int dim = 0) {
    outputs[j].shape = std::move(bound);
    if (bound_dim_.size() <= j) bound_dim_.resize(j + 1, -1);
    bound_dim_[j] = dim;
  }
  bool output_bounded(size_t j) const { return output_bound_dim(j) >= 0; }
  int output_bound_dim(size_t j) const { return j < bound_dim_.size() ? bound_dim_[j] : -1; }
  // Error helpers naming the node.
  Status invalid(const std::string& m) const { return node.error(StatusCode::kInvalidInput, m); }
  Status unsupported_here(const std::string& m) const { return node.error(StatusCode::kUnsupported, m); }

  // Set by the builder.
  std::vector<const Tensor*> constants_;
  std::vector<bool> taken_;
  std::function<Status(size_t, DType, Layout)> convert_;

 private:
  bool output_aliases_input_ = false;
  std::vector<int> bound_dim_;  // per output: its data-dependent dim, -1 none
};

using LayerFactory = std::function<Expected<std::unique_ptr<Layer>>(LowerContext&)>;

struct CudaLoweringDef {
  std::string op_type;
  std::string domain;  // "" = ai.onnx, "kiln" for fused ops
  LayerFactory make;
};

class CudaLoweringRegistry {
 public:
  static CudaLoweringRegistry& instance();
  void add(CudaLoweringDef def);
  const CudaLoweringDef* find(const std::string& op_type, const std::string& domain = "") const;
  std::vector<const CudaLoweringDef*> all() const;

 private:
  std::vector<CudaLoweringDef> defs_;
};

struct CudaLoweringRegistrar {
  explicit CudaLoweringRegistrar(std::vector<CudaLoweringDef> defs) {
    for (auto& d : defs) CudaLoweringRegistry::instance().add(std::move(d));
  }
};

// A layer that does nothing at run time (views) or runs one lambda; handy for simple kernels.
class FunctionLayer : public Layer {
 public:
  using ConfigureFn = std::function<Status(ConfigureContext&)>;
  using EnqueueFn = std::function<Status(const RunContext&, const std::vector<DeviceTensor>&,
                                         const std::vector<DeviceTensor>&)>;
  FunctionLayer(std::string tactic, EnqueueFn enqueue, ConfigureFn configure = nullptr)
      : tactic_(std::move(tactic)), enqueue_(std::move(enqueue)), configure_(std::move(configure)) {}
  Status configure(ConfigureContext& ctx) override { return configure_ ? configure_(ctx) : Status::Ok(); }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    return enqueue_ ? enqueue_(rc, in, out) : Status::Ok();
  }
  std::string tactic() const override { return tactic_; }

 private:
  std::string tactic_;
  EnqueueFn enqueue_;
  ConfigureFn configure_;
};

}  // namespace kiln::cuda

#define KILN_REGISTER_CUDA_LOWERINGS(family, ...) \
  static ::kiln::cuda::CudaLoweringRegistrar kiln_cuda_registrar_##family(std::vector<::kiln::cuda::CudaLoweringDef>{__VA_ARGS__})
