// Engine (CUDA builds): building from a graph (passes, lowering, memory plan, tactic tuning, timing cache),
// saving to and loading from plans, and the one-shot run_engine used by kiln run and the tests.
#if KILN_WITH_CUDA
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cuda/kernels/fill.h"
#include "engine/builder.h"
#include "engine/engine_impl.h"
#include "engine/input_values.h"
#include "engine/io_formats.h"
#include "engine/profiles.h"
#include "engine/range_check.h"
#include "engine/timing_cache.h"
#include "kiln/version.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"
#include "ir/split.h"
#include "quant/quantize_model.h"

namespace kiln {

bool cuda_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why) *why = err == cudaSuccess ? "no CUDA device found" : std::string(cudaGetErrorString(err));
    cudaGetLastError();
    return false;
  }
  return true;
}

Expected<PlanEnvironment> current_environment() {
  PlanEnvironment env;
  int dev = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, dev));
  env.gpu_name = prop.name;
  env.sm = prop.major * 10 + prop.minor;
  KILN_CUDA_RETURN_IF_ERROR(cudaRuntimeGetVersion(&env.cuda_runtime));
  env.cudnn = static_cast<int>(cudnnGetVersion());
  env.cublas = static_cast<int>(cublasLtGetVersion());
  env.kiln_version = KILN_VERSION;
  env.git_sha = KILN_GIT_SHA;
  return env;
}

Expected<cuda::GpuHandles> create_handles() {
  cuda::GpuHandles h;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&h.cudnn));
  const cublasStatus_t st = cublasLtCreate(&h.cublaslt);
  if (st != CUBLAS_STATUS_SUCCESS) {
    cudnnDestroy(h.cudnn);
    return cuda::cublas_status(st, "cublasLtCreate");
  }
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, dev);
  h.sm_count = prop.multiProcessorCount;
  h.compute_capability = prop.major * 10 + prop.minor;
  return h;
}

void destroy_handles(cuda::GpuHandles& h) {
  if (h.cudnn) cudnnDestroy(h.cudnn);
  if (h.cublaslt) cublasLtDestroy(h.cublaslt);
  h = cuda::GpuHandles{};
}

EngineImpl::~EngineImpl() {
  program.reset();  // layers release their cuDNN/cuBLASLt objects before the handles go
  destroy_handles(handles);
}

Status EngineImpl::configure_for(const ShapeMap& shapes, cudaStream_t stream) {
  if (shapes == configured) return Status::Ok();
  KILN_RETURN_IF_ERROR(program->set_shapes(shapes));
  KILN_RETURN_IF_ERROR(program->configure(stream, false, workspace_limit, nullptr, nullptr));
  configured = shapes;
  return Status::Ok();
}

Expected<int> EngineImpl::find_profile(const ShapeMap& shapes) const {
  std::string why;
  for (size_t p = 0; p < profiles.size(); ++p) {
    std::string r = shape_outside_profile(profiles[p], shapes);
    if (r.empty()) return static_cast<int>(p);
    why += fmt::format("{}profile {}: {}", why.empty() ? "" : "; ", p, r);
  }
  return invalid_input("input shapes outside every optimization profile of this engine: " + why);
}

void EngineImpl::fill_summary() {
  summary.precision = cuda::precision_name(precision);
  summary.profiles = profiles;
  summary.input_values = input_values;
  summary.precision_pins = precision_pins;
  summary.inputs.clear();
  summary.outputs.clear();
  for (const Value* v : program->graph->inputs) {
    EngineIO io{v->name, dtype_name(v->dtype), {}};
    const Dims& mn = profiles[0].min.at(v->name);
    const Dims& mx = profiles[0].max.at(v->name);
    for (size_t i = 0; i < mn.size(); ++i) io.dims.push_back(mn[i] == mx[i] ? mn[i] : -1);
    summary.inputs.push_back(io);
  }
  for (size_t i = 0; i < program->output_slots.size(); ++i) {
    const cuda::Slot& s = program->slots[program->output_slots[i]];
    EngineIO io{program->graph->outputs[i]->name, dtype_name(s.desc.dtype), {}};
    const SymShape* sym = nullptr;
    for (const auto& sv : program->saved_values)
      if (sv.value == program->graph->outputs[i]) sym = &sv.shape;
    for (size_t d = 0; d < s.desc.shape.size(); ++d) {
      // A dynamic dim, or a size chosen at run time (the session's output_dims says): -1.
      const bool at_run_time = dynamic || (s.rows_count >= 0 && static_cast<int>(d) == s.rows_dim);
      io.dims.push_back(at_run_time && sym && d < sym->dims.size() && !sym->dims[d].known() ? -1 : s.desc.shape[d]);
    }
    summary.outputs.push_back(io);
  }
  summary.layers.clear();
  for (const auto& e : program->layers)
    summary.layers.push_back(EngineLayer{e.key, e.op, cuda::precision_name(e.precision), e.layer->tactic()});
  summary.weight_bytes = program->weight_bytes;
  for (const auto& e : program->layers) summary.weight_bytes += e.layer->weight_bytes();
  summary.activation_bytes = program->arena_bytes;
  summary.workspace_bytes = program->workspace_bytes;
  summary.gpu_name = env.gpu_name;
  summary.sm = env.sm;
}

namespace {

void say(const BuildOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

// Lowers, plans memory and configures: shared by build (tune) and load (tactics given).
Status finish_program(EngineImpl& impl, bool tune, cudaStream_t stream, const BuildOptions* o) {
  cuda::Program& prog = *impl.program;
  for (const auto& p : impl.profiles) {
    KILN_RETURN_IF_ERROR(prog.set_shapes(p.max));
    prog.record_plan_bytes();
  }
  prog.plan_memory();
  const ShapeMap& opt = impl.profiles[0].opt;
  KILN_RETURN_IF_ERROR(prog.set_shapes(opt));
  cuda::DeviceBuffer arena, workspace;
  if (tune) {
    KILN_ASSIGN_OR_RETURN(arena, cuda::DeviceBuffer::allocate(prog.arena_bytes, "the build's activations"));
    KILN_ASSIGN_OR_RETURN(workspace, cuda::DeviceBuffer::allocate(impl.workspace_limit, "the build's workspace"));
    uint64_t seed = 1;
    for (int s : prog.input_slots)
      KILN_RETURN_IF_ERROR(cuda::fill_random(prog.slot_tensor(s, arena.get()), seed++, stream));
  }
  std::function<void(const std::string&)> progress;
  if (o && o->progress) progress = o->progress;
  KILN_RETURN_IF_ERROR(prog.configure(stream, tune, impl.workspace_limit, arena.get(), workspace.get(), progress));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  impl.configured = opt;
  return Status::Ok();
}

Expected<std::map<std::string, cuda::Precision>> parse_layer_precisions(const std::map<std::string, std::string>& m) {
  std::map<std::string, cuda::Precision> out;
  for (const auto& [name, p] : m) {
    cuda::Precision q;
    if (!cuda::parse_precision(p, &q))
      return usage_error(
          fmt::format("--layerPrecisions: '{}' for layer '{}' is not fp32, tf32, fp16 or bf16", p, name));
    out[name] = q;
  }
  return out;
}

struct StreamGuard {
  cudaStream_t s = nullptr;
  ~StreamGuard() {
    if (s) cudaStreamDestroy(s);
  }
};

}  // namespace

Status check_cuda_lowerings(std::unique_ptr<Graph> graph) {
  KILN_RETURN_IF_ERROR(optimize_graph(*graph, cuda_engine_optimize_options(true)).status());
  for (const auto& n : graph->nodes())
    if (!cuda::CudaLoweringRegistry::instance().find(n->op_type, n->domain))
      return n->error(StatusCode::kUnsupported,
                      fmt::format("op {} has no GPU lowering in kiln's CUDA backend",
                                  n->domain.empty() ? n->op_type : n->domain + "." + n->op_type));
  return Status::Ok();
}

namespace {

// The FP16 range check's warnings (also said as progress lines), with the --layerPrecisions that avoids them
// when that is short enough to type.
Expected<std::vector<std::string>> range_check_warnings(const Graph& graph, const BuildOptions& o) {
  if (!builds_in_fp16(o)) return std::vector<std::string>{};
  say(o, "checking FP16 value ranges on the CPU reference (--skipRangeCheck skips it)");
  KILN_ASSIGN_OR_RETURN(RangeReport report, fp16_range_check_for_build(graph, o));
  std::vector<std::string> warnings = report.warnings();
  if (report.checked_values == 0) {
    say(o, "FP16 range check " + (report.feeds.empty() ? std::string("found no float values") : report.feeds));
    return warnings;
  }
  if (warnings.empty()) {
    say(o, fmt::format("FP16 range check: all {} float values fit FP16 ({})", report.checked_values, report.feeds));
    return warnings;
  }
  const std::string pin = report.suggested_layer_precisions();
  const size_t pinned = std::count(pin.begin(), pin.end(), ',') + 1;
  if (!pin.empty() && pinned <= 8)
    warnings.push_back("to keep those layers in FP32: --layerPrecisions " + pin);
  else if (!pin.empty())
    warnings.push_back(
        fmt::format("{} layers leave FP16's range: consider --bf16 (FP32's range), or "
                    "--layerPrecisions NAME:fp32 for the first ones",
                    pinned));
  for (const auto& w : warnings) say(o, "warning: " + w);
  return warnings;
}

}  // namespace

namespace {

Expected<std::shared_ptr<Engine>> build_engine_once(std::unique_ptr<Graph> graph, const BuildOptions& o,
                                                    std::vector<std::string> warnings) {
  const auto t0 = std::chrono::steady_clock::now();
  // Inputs fixed at build first: a name or value that does not fit the model is a usage error with or
  // without a GPU.
  KILN_RETURN_IF_ERROR(fix_input_values(*graph, o.input_values));
  std::string why;
  if (!cuda_available(&why)) return runtime_error("cannot build a CUDA engine: " + why);
  auto impl = std::make_unique<EngineImpl>();
  if (!cuda::parse_precision(o.precision, &impl->precision))
    return usage_error(fmt::format("precision '{}' is not one of fp32, tf32, fp16, bf16", o.precision));
  KILN_ASSIGN_OR_RETURN(auto layer_precisions, parse_layer_precisions(o.layer_precisions));
  for (const auto& [name, p] : o.layer_precisions) {
    bool found = false;
    for (const auto& n : graph->nodes()) found |= n->name == name;
    if (!found)
      return usage_error(fmt::format("--layerPrecisions names layer '{}', which the model does not have", name));
  }
  if (o.optimization_level < 0 || o.optimization_level > 5)
    return usage_error(fmt::format("--builderOptimizationLevel {} is not 0..5", o.optimization_level));
  impl->layer_precisions = o.layer_precisions;
  impl->workspace_limit = o.workspace_bytes;
  if (!o.input_values.empty()) {
    impl->input_values = o.input_values;
    for (const auto& [name, values] : o.input_values)
      say(o, fmt::format("input '{}' fixed to {} (--inputValues)", name, describe_values(values)));
  }
  if (o.range_check) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> range, range_check_warnings(*graph, o));
    warnings.insert(warnings.end(), range.begin(), range.end());
  }
  KILN_ASSIGN_OR_RETURN(impl->profiles, resolve_profiles(*graph, o.shapes, o.profiles));
  impl->dynamic = !o.profiles.empty() && !profiles_are_static(impl->profiles);
  if (!impl->dynamic) {  // static: concrete shapes before the passes, so shape subgraphs fold away
    for (Value* v : graph->inputs) v->shape = SymShape::from(impl->profiles[0].opt.at(v->name));
  }
  KILN_RETURN_IF_ERROR(apply_io_formats(*graph, o.input_io_formats, o.output_io_formats));
  say(o, fmt::format("optimizing the graph ({} nodes)", graph->nodes().size()));
  KILN_RETURN_IF_ERROR(optimize_graph(*graph, cuda_engine_optimize_options(o.int8_kernels)).status());
  KILN_ASSIGN_OR_RETURN(impl->env, current_environment());
  KILN_ASSIGN_OR_RETURN(impl->handles, create_handles());
  cuda::LoweringOptions lo;
  lo.precision = impl->precision;
  lo.layer_precisions = layer_precisions;
  lo.opt_shapes = impl->profiles[0].opt;
  lo.static_shapes = !impl->dynamic;
  lo.perturb_layer = o.perturb_layer_for_testing;
  say(o, fmt::format("lowering {} nodes to CUDA ({})", graph->nodes().size(), cuda::precision_name(impl->precision)));
  KILN_ASSIGN_OR_RETURN(impl->program, cuda::lower_graph(std::move(graph), lo, impl->handles));
  TimingCache cache;
  if (!o.timing_cache_file.empty()) {
    std::string note;
    KILN_RETURN_IF_ERROR(cache.load(o.timing_cache_file, impl->env, &note));
    if (!note.empty()) say(o, note);
    const int hits = cache.apply(*impl->program);
    say(o, fmt::format("timing cache {}: {} of {} layers reuse a recorded tactic", o.timing_cache_file, hits,
                       impl->program->layers.size()));
  }
  StreamGuard stream;
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream.s, cudaStreamNonBlocking));
  impl->program->optimization_level = o.optimization_level;
  impl->program->tactic_log = o.tactic_log;
  KILN_RETURN_IF_ERROR(finish_program(*impl, o.tune && o.optimization_level > 0, stream.s, &o));
  if (!o.timing_cache_file.empty()) {
    cache.record(*impl->program);
    KILN_RETURN_IF_ERROR(cache.save(o.timing_cache_file, impl->env));
  }
  impl->fill_summary();
  impl->summary.warnings = warnings;
  impl->summary.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int int8_convs = 0;
  for (const auto& l : impl->summary.layers) int8_convs += l.op == "kiln.QConv" ? 1 : 0;
  say(o, fmt::format("built: {} layers{}, {:.1f} MiB weights, {:.1f} MiB activations, {:.1f} MiB workspace, {:.2f} s",
                     impl->program->layers.size(),
                     int8_convs ? fmt::format(" ({} INT8 convs)", int8_convs) : std::string(),
                     impl->summary.weight_bytes / 1048576.0,
                     impl->program->arena_bytes / 1048576.0, impl->program->workspace_bytes / 1048576.0,
                     impl->summary.build_seconds));
  return std::make_shared<Engine>(std::move(impl));
}

}  // namespace

// A Q/DQ graph builds with INT8 convs; when that build fails (cuDNN has no INT8 engine for one of them, ...),
// the graph is built again as simulated quantization in float (the CPU reference's numbers at float speed) and
// the summary warns why. A failure that has nothing to do with INT8 fails the second build the same way.
Expected<std::shared_ptr<Engine>> build_engine(std::unique_ptr<Graph> graph, const BuildOptions& o) {
  bool qdq = false;
  for (const auto& n : graph->nodes()) qdq = qdq || (n->op_type == "DequantizeLinear" && n->domain.empty());
  if (!o.int8_kernels || !qdq) return build_engine_once(std::move(graph), o, {});
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> copy, copy_graph(*graph));
  Expected<std::shared_ptr<Engine>> engine = build_engine_once(std::move(graph), o, {});
  if (engine.ok() || engine.status().code() == StatusCode::kUsage) return engine;
  const std::string warning = "INT8 kernels unavailable (" + engine.status().message() +
                              "): the Q/DQ graph runs as simulated quantization in float";
  say(o, warning);
  BuildOptions f = o;
  f.int8_kernels = false;
  return build_engine_once(std::move(copy), f, {warning});
}

Expected<std::shared_ptr<Engine>> Engine::build(const std::string& onnx_path, const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(onnx_path));
  std::map<std::string, std::string> pins;
  if (options.int8.enabled) {
    KILN_ASSIGN_OR_RETURN(pins, quant::quantize_for_build(*graph, onnx_path, options));
  }
  KILN_ASSIGN_OR_RETURN(auto engine, build_engine(std::move(graph), options));
  engine->impl_->precision_pins = pins;  // plans record them; kiln info shows them
  engine->impl_->summary.precision_pins = std::move(pins);
  return engine;
}

Status Engine::save(const std::string& path) const {
  EngineImpl& e = *impl_;
  PlanContents plan;
  plan.env = e.env;
  plan.precision = cuda::precision_name(e.precision);
  plan.profiles = e.profiles;
  plan.layer_precisions = e.layer_precisions;
  plan.input_values = e.input_values;
  plan.precision_pins = e.precision_pins;
  plan.workspace_limit = e.workspace_limit;
  for (const auto& l : e.program->layers)
    plan.layers.push_back(PlanLayer{l.key, l.op, cuda::precision_name(l.precision), l.layer->tactic()});
  plan.weight_bytes = e.summary.weight_bytes;
  plan.activation_bytes = e.program->arena_bytes;
  plan.workspace_bytes = e.program->workspace_bytes;
  plan.inputs = e.summary.inputs;
  plan.outputs = e.summary.outputs;
  e.program->restore_symbolic_shapes();
  auto bytes = serialize_onnx(*e.program->graph);
  Status back = e.program->set_shapes(e.configured);
  KILN_RETURN_IF_ERROR(bytes.status());
  KILN_RETURN_IF_ERROR(back);
  plan.model = std::move(*bytes);
  return write_plan(plan, path);
}

Expected<std::shared_ptr<Engine>> Engine::load(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(PlanContents plan, read_plan(path));
  std::string why;
  if (!cuda_available(&why)) return runtime_error("cannot load a CUDA engine: " + why);
  auto impl = std::make_unique<EngineImpl>();
  KILN_ASSIGN_OR_RETURN(impl->env, current_environment());
  KILN_RETURN_IF_ERROR(check_plan_environment(plan.env, impl->env).with_context(path + ": "));
  if (!cuda::parse_precision(plan.precision, &impl->precision))
    return invalid_input(fmt::format("{}: unknown precision '{}' in the plan", path, plan.precision));
  if (plan.profiles.empty()) return invalid_input(path + ": the plan has no shape profile");
  KILN_ASSIGN_OR_RETURN(auto layer_precisions, parse_layer_precisions(plan.layer_precisions));
  ImportOptions io;
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx_from_bytes(plan.model.data(), plan.model.size(), "", io));
  impl->profiles = plan.profiles;
  impl->dynamic = !profiles_are_static(plan.profiles);
  impl->layer_precisions = plan.layer_precisions;
  impl->input_values = plan.input_values;
  impl->precision_pins = plan.precision_pins;
  impl->workspace_limit = plan.workspace_limit;
  KILN_ASSIGN_OR_RETURN(impl->handles, create_handles());
  cuda::LoweringOptions lo;
  lo.precision = impl->precision;
  lo.layer_precisions = layer_precisions;
  lo.opt_shapes = plan.profiles[0].opt;
  lo.static_shapes = !impl->dynamic;
  for (const auto& l : plan.layers) lo.tactics[l.key] = l.tactic;
  KILN_ASSIGN_OR_RETURN(impl->program, cuda::lower_graph(std::move(graph), lo, impl->handles));
  if (impl->program->layers.size() != plan.layers.size())
    return invalid_input(fmt::format("{}: the plan lists {} layers but its graph lowers to {}; rebuild the engine",
                                     path, plan.layers.size(), impl->program->layers.size()));
  StreamGuard stream;
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream.s, cudaStreamNonBlocking));
  KILN_RETURN_IF_ERROR(finish_program(*impl, false, stream.s, nullptr));
  impl->fill_summary();
  return std::make_shared<Engine>(std::move(impl));
}

Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
const EngineSummary& Engine::summary() const { return impl_->summary; }

}  // namespace kiln
#endif  // KILN_WITH_CUDA
