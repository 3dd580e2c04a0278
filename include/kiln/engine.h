// kiln's public C++ API for GPU engines: build an engine from an ONNX model, save/load it as a plan, and
// run it through a StaticSession (fixed shapes, one CUDA graph) or a DynamicSession (shapes per call within
// an optimization profile, one graph cached per shape). Errors are Status values; nothing throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"

struct CUstream_st;  // cudaStream_t without including CUDA headers

namespace kiln {

using Dims = std::vector<int64_t>;
using ShapeMap = std::map<std::string, Dims>;  // input name -> dims
using Stream = CUstream_st*;

// One optimization profile (trtexec --minShapes/--optShapes/--maxShapes). Inputs not named keep the
// model's fixed shape. Tactics are tuned at `opt`; device memory is sized for `max`.
struct ShapeProfile {
  ShapeMap min, opt, max;
};

struct BuildOptions {
  std::string precision = "fp32";  // fp32 | tf32 | fp16 | bf16
  // Static engine: shapes for the inputs' symbolic dims (--shapes). Ignored when profiles are given.
  ShapeMap shapes;
  std::vector<ShapeProfile> profiles;            // dynamic engine when non-empty
  std::map<std::string, std::string> layer_precisions;  // node name -> fp32|fp16|bf16 (--layerPrecisions)
  // --inputIOFormats / --outputIOFormats: the engine's dtype for each graph input / output, in order
  // (fp32 | fp16 | bf16; float I/O only). Empty: the model's dtypes.
  std::vector<std::string> input_io_formats, output_io_formats;
  // --inputValues NAME:V1,V2,...: model inputs fixed to these values at build (in the input's dtype; dims =
  // its declared static dims, or [N] for a rank-1 input, [] for one value of a scalar). They stop being engine
  // inputs and fold like constants, which is how parameter inputs no other input computes (Resize scales or
  // sizes, Slice starts, Pad pads, Reduce axes, Trilu k, TopK k) reach GPU lowerings that need constants,
  // as TensorRT's shape-tensor values do. A run may still feed one of them, with the same values only.
  std::map<std::string, std::vector<double>> input_values;
  size_t workspace_bytes = size_t{256} << 20;    // --memPoolSize=workspace:N (MiB)
  std::string timing_cache_file;                 // --timingCacheFile: read if present, written after
  bool tune = true;                              // time tactics (false: heuristics only)
  // --builderOptimizationLevel (trtexec's name), 0..5: how many conv tactics are timed. 0 = none (as tune
  // = false); 1, 2, 3 = the cuDNN heuristics' top 2, 4, 8 engine configs per graph (3 is the default); 4 and 5
  // add up to 4 and 16 engines the heuristics did not offer (the bounded exhaustive set: longer builds).
  int optimization_level = 3;
  // FP16 range check (fp16 engines, or layers pinned to fp16): before building, run the model once on the CPU
  // reference (seeded random inputs, batch 1) and warn, naming the first layer whose FP32 values would
  // overflow to inf, flush to zero or be subnormal in FP16 (EngineSummary::warnings). --skipRangeCheck.
  bool range_check = true;
  // Q/DQ convolutions (a QDQ model, or --int8's calibrated graph) run as INT8 kernels (kiln.QConv: int8
  // tensors, int32 accumulation). false: the Q/DQ graph runs as simulated quantization in float. A build
  // whose INT8 convs find no cuDNN engine is redone with false, and its summary warns (docs/QUANTIZATION.md).
  // --simulateInt8 sets it false.
  bool int8_kernels = true;
  // --int8: calibrate (or read the calibration cache), insert QuantizeLinear/DequantizeLinear and build the
  // engine from that QDQ graph (docs/QUANTIZATION.md).
  struct Int8 {
    bool enabled = false;
    std::string calib;               // --calib DATA.npz (member = input name, first dim = samples)
    std::string method = "entropy";  // --calib-method entropy | minmax | percentile[=P]
    int64_t max_batches = 0;         // --calib-batches (0 = all)
    int64_t batch = 1;               // samples per calibration batch for a dynamic batch dim
    std::string cache_file;          // --calibCache
    std::string accuracy_budget;     // --accuracy-budget rel=X,top1=P: layers kept in float until it holds
  } int8;
  std::function<void(const std::string&)> progress;  // one line per stage; may be empty
  // One line per conv candidate timed while tuning (its tactic and time, or why it was rejected), and the
  // choice; may be empty (kiln build --verbose prints them).
  std::function<void(const std::string&)> tactic_log;
  // Test-only: this node's first output is made wrong (0.5 - y) after every run, to show that kiln compare
  // catches a bad layer and --bisect names it. Not stored in plans.
  std::string perturb_layer_for_testing;
};

struct EngineIO {
  std::string name;
  std::string dtype;  // "float32", "float16", ...
  Dims dims;          // -1 where the dim is dynamic (then see the profiles)
};

struct EngineLayer {
  std::string name;       // IR node name (or "convert:<value>" for inserted conversions)
  std::string op;         // "Conv", "kiln.FusedConv", ...
  std::string precision;  // fp32 | tf32 | fp16 | bf16
  std::string tactic;     // e.g. "cudnn:algo=1"
};

struct EngineSummary {
  std::string precision;
  std::vector<EngineIO> inputs, outputs;
  std::map<std::string, std::vector<double>> input_values;  // model inputs fixed at build (--inputValues)
  // Layers --accuracy-budget kept in float in an --int8 build: node name -> why (the metrics before and after).
  std::map<std::string, std::string> precision_pins;
  std::vector<ShapeProfile> profiles;
  std::vector<EngineLayer> layers;
  size_t weight_bytes = 0, activation_bytes = 0, workspace_bytes = 0;
  std::string gpu_name;
  int sm = 0;
  double build_seconds = 0;  // 0 for loaded plans
  // Found while building (the FP16 range check; not stored in plans): one line each, for the user to read.
  std::vector<std::string> warnings;
};

class EngineImpl;

class Engine {
 public:
  static Expected<std::shared_ptr<Engine>> build(const std::string& onnx_path, const BuildOptions& options);
  // Loads a plan: refuses a corrupt file, another format version, another GPU or other library
  // versions, with a message saying which.
  static Expected<std::shared_ptr<Engine>> load(const std::string& plan_path);
  // Written atomically (temp file + rename).
  Status save(const std::string& plan_path) const;
  const EngineSummary& summary() const;

  explicit Engine(std::unique_ptr<EngineImpl> impl);
  ~Engine();
  EngineImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<EngineImpl> impl_;
};

class SessionImpl;

// Shared by both session kinds. Host buffers are pinned; device buffers are owned by the session unless the
// caller uses enqueue_device().
class Session {
 public:
  virtual ~Session();
  // Pinned host buffer of an input / output at the current shape (dense row-major, the engine I/O dtype).
  Expected<void*> host_input(const std::string& name);
  Expected<void*> host_output(const std::string& name);
  Expected<Dims> output_dims(const std::string& name) const;
  // The input's dims at the session's current shapes (a StaticSession's fixed ones; a DynamicSession's last set).
  Expected<Dims> input_dims(const std::string& name) const;
  // Copies host inputs in, runs, copies outputs out, and waits for the stream.
  Status run();
  // Same without waiting (the caller synchronises the stream).
  Status enqueue();
  // The three stages of enqueue(), for callers that time them separately (kiln bench's H2D / compute / D2H
  // split): host inputs -> device, the captured graph, device outputs -> host pinned buffers. None waits.
  Status enqueue_inputs();
  // Compute only, on the session's own device buffers (no host transfers): what --noDataTransfers times.
  Status enqueue_compute();
  Status enqueue_outputs();
  // The caller's device buffers (dense row-major, engine I/O dtype), by name; no host transfers.
  // Pointers that are not device memory (pageable or pinned host memory) are refused with kInvalidInput.
  Status enqueue_device(const std::map<std::string, const void*>& inputs, const std::map<std::string, void*>& outputs);
  // The same, ordered on `caller` instead of the session's stream (nullptr: the legacy default stream): the run
  // waits for the work already queued on `caller`, and work queued on `caller` afterwards waits for the run
  // (event record/wait; no host synchronisation). When `caller` is the session's stream no event is used.
  Status enqueue_device(const std::map<std::string, const void*>& inputs, const std::map<std::string, void*>& outputs,
                        Stream caller);
  // Per-layer GPU time of one run, in layer order (for --dumpProfile); not graph-replayed.
  Expected<std::vector<std::pair<std::string, float>>> profile_layers();

 protected:
  explicit Session(std::unique_ptr<SessionImpl> impl);
  std::unique_ptr<SessionImpl> impl_;
};

class StaticSession : public Session {
 public:
  // `shapes` must be inside a profile (may be empty for static engines). Allocates everything and captures
  // the CUDA graph now.
  static Expected<std::unique_ptr<StaticSession>> create(std::shared_ptr<Engine> engine, Stream stream,
                                                         const ShapeMap& shapes = {});

 private:
  using Session::Session;
};

class DynamicSession : public Session {
 public:
  // Buffers are sized for the largest shapes of the profile; graphs are captured per shape on first use.
  static Expected<std::unique_ptr<DynamicSession>> create(std::shared_ptr<Engine> engine, Stream stream,
                                                          int profile = 0);
  // Outside every profile -> kInvalidInput naming the input, the dims and the profile's range.
  Status set_input_shape(const std::string& name, const Dims& dims);

 private:
  using Session::Session;
};

// True when a CUDA device is present and usable (false in CPU-only builds).
bool cuda_available(std::string* why = nullptr);

}  // namespace kiln
