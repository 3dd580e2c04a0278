// StaticSession / DynamicSession (CUDA builds): the session's activation arena, pinned host I/O buffers, and
// one captured CUDA graph per input-shape set; plus run_engine (one inference on host tensors).
#if KILN_WITH_CUDA
#include <fmt/format.h>

#include <cstring>

#include "engine/builder.h"
#include "engine/engine_impl.h"
#include "engine/input_values.h"
#include "engine/profiles.h"

namespace kiln {

class SessionImpl {
 public:
  std::shared_ptr<Engine> engine;
  EngineImpl& e;
  cudaStream_t stream = nullptr;
  bool own_stream = false;
  int profile = 0;
  cuda::DeviceBuffer arena;
  std::vector<cuda::DeviceBuffer> workspaces;  // the last one is current; older ones back cached graphs
  struct Host {
    void* ptr = nullptr;
    size_t capacity = 0;
  };
  std::map<std::string, Host> host_in, host_out;
  // Output slots with a data-dependent dim -> pinned int64 count of that dim, copied back with the outputs.
  std::map<int, int64_t*> host_rows;
  ShapeMap shapes;
  struct Prepared {
    cudaGraphExec_t exec = nullptr;
    std::map<int, cuda::TensorDesc> descs;  // I/O slot -> desc at these shapes
  };
  std::map<ShapeMap, Prepared> prepared;
  Prepared* current = nullptr;
  cudaEvent_t caller_ready = nullptr, run_done = nullptr;  // enqueue_device on a caller's stream

  SessionImpl(std::shared_ptr<Engine> eng) : engine(std::move(eng)), e(engine->impl()) {}
  ~SessionImpl() {
    for (auto& [k, p] : prepared)
      if (p.exec) cudaGraphExecDestroy(p.exec);
    for (auto& [k, h] : host_in) cudaFreeHost(h.ptr);
    for (auto& [k, h] : host_out) cudaFreeHost(h.ptr);
    for (auto& [k, r] : host_rows) cudaFreeHost(r);
    if (caller_ready) cudaEventDestroy(caller_ready);
    if (run_done) cudaEventDestroy(run_done);
    if (own_stream && stream) cudaStreamDestroy(stream);
  }

  Status init(Stream user_stream, int prof) {
    profile = prof;
    if (user_stream) {
      stream = reinterpret_cast<cudaStream_t>(user_stream);
    } else {
      KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      own_stream = true;
    }
    const cuda::Program& p = *e.program;
    KILN_ASSIGN_OR_RETURN(arena, cuda::DeviceBuffer::allocate(p.arena_bytes, "the session's activations"));
    KILN_ASSIGN_OR_RETURN(auto ws, cuda::DeviceBuffer::allocate(p.workspace_bytes, "the session's workspace"));
    workspaces.push_back(std::move(ws));
    auto pin = [&](int slot, std::map<std::string, Host>& m, const std::string& name) -> Status {
      Host h;
      h.capacity = std::max<size_t>(p.slots[slot].plan_bytes, 1);
      KILN_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&h.ptr, h.capacity, cudaHostAllocDefault));
      std::memset(h.ptr, 0, h.capacity);
      m[name] = h;
      return Status::Ok();
    };
    for (size_t i = 0; i < p.input_slots.size(); ++i)
      KILN_RETURN_IF_ERROR(pin(p.input_slots[i], host_in, p.graph->inputs[i]->name));
    for (size_t i = 0; i < p.output_slots.size(); ++i)
      KILN_RETURN_IF_ERROR(pin(p.output_slots[i], host_out, p.graph->outputs[i]->name));
    for (int s : p.output_slots) {
      if (p.slots[s].rows_count < 0) continue;
      void* count = nullptr;
      KILN_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&count, sizeof(int64_t), cudaHostAllocDefault));
      host_rows[s] = static_cast<int64_t*>(count);
      *host_rows[s] = 0;  // no run yet: no rows
    }
    return Status::Ok();
  }

  // Configures the engine for `shapes` and captures its graph (once per shape set).
  Status prepare() {
    if (current) return Status::Ok();  // set_input_shape() resets it whenever the shapes change
    if (auto it = prepared.find(shapes); it != prepared.end()) {
      current = &it->second;
      return Status::Ok();
    }
    KILN_RETURN_IF_ERROR(e.configure_for(shapes, stream));
    const cuda::Program& p = *e.program;
    if (p.workspace_bytes > workspaces.back().bytes()) {
      KILN_ASSIGN_OR_RETURN(auto ws, cuda::DeviceBuffer::allocate(p.workspace_bytes, "the session's workspace"));
      workspaces.push_back(std::move(ws));
    }
    Prepared prep;
    for (int s : p.input_slots) prep.descs[s] = p.slots[s].desc;
    for (int s : p.output_slots) prep.descs[s] = p.slots[s].desc;
    cudaGraph_t graph = nullptr;
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    Status st = p.enqueue(stream, arena.get(), workspaces.back().get());
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    KILN_RETURN_IF_ERROR(st.with_context("capturing the CUDA graph: "));
    KILN_CUDA_RETURN_IF_ERROR(end);
    const cudaError_t inst = cudaGraphInstantiate(&prep.exec, graph, 0);
    cudaGraphDestroy(graph);
    KILN_CUDA_RETURN_IF_ERROR(inst);
    auto [it, ok] = prepared.emplace(shapes, std::move(prep));
    current = &it->second;
    return Status::Ok();
  }

  Status copy_inputs_in() {
    const cuda::Program& p = *e.program;
    for (size_t i = 0; i < p.input_slots.size(); ++i) {
      const int s = p.input_slots[i];
      if (current->descs[s].bytes() == 0) continue;  // an empty tensor: nothing to copy
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(p.slot_data(s, arena.get()), host_in[p.graph->inputs[i]->name].ptr,
                                                current->descs[s].bytes(), cudaMemcpyHostToDevice, stream));
    }
    return Status::Ok();
  }

  // The real row count of a data-dependent output, into its pinned host word (read by output_dims).
  Status copy_rows_out(int slot) {
    auto it = host_rows.find(slot);
    if (it == host_rows.end()) return Status::Ok();
    const cuda::Program& p = *e.program;
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(it->second, p.slot_data(p.slots[slot].rows_count, arena.get()),
                                              sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
    return Status::Ok();
  }

  Status copy_outputs_out() {
    const cuda::Program& p = *e.program;
    for (size_t i = 0; i < p.output_slots.size(); ++i) {
      const int s = p.output_slots[i];
      KILN_RETURN_IF_ERROR(copy_rows_out(s));
      if (current->descs[s].bytes() == 0) continue;
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_out[p.graph->outputs[i]->name].ptr, p.slot_data(s, arena.get()),
                                                current->descs[s].bytes(), cudaMemcpyDeviceToHost, stream));
    }
    return Status::Ok();
  }

  Status launch() {
    KILN_RETURN_IF_ERROR(prepare());
    KILN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(current->exec, stream));
    return Status::Ok();
  }
};

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Expected<void*> Session::host_input(const std::string& name) {
  auto it = impl_->host_in.find(name);
  if (it == impl_->host_in.end()) return invalid_input("the engine has no input named '" + name + "'");
  return it->second.ptr;
}

Expected<void*> Session::host_output(const std::string& name) {
  auto it = impl_->host_out.find(name);
  if (it == impl_->host_out.end()) return invalid_input("the engine has no output named '" + name + "'");
  return it->second.ptr;
}

Expected<Dims> Session::output_dims(const std::string& name) const {
  KILN_RETURN_IF_ERROR(impl_->prepare());
  const cuda::Program& p = *impl_->e.program;
  for (size_t i = 0; i < p.output_slots.size(); ++i) {
    if (p.graph->outputs[i]->name != name) continue;
    Dims dims = impl_->current->descs[p.output_slots[i]].shape;
    // A data-dependent dim: the count of the last finished run (the buffer holds the upper bound).
    const int rows_dim = p.slots[p.output_slots[i]].rows_dim;
    if (auto r = impl_->host_rows.find(p.output_slots[i]);
        r != impl_->host_rows.end() && rows_dim >= 0 && static_cast<size_t>(rows_dim) < dims.size())
      dims[rows_dim] = *r->second;
    return dims;
  }
  return invalid_input("the engine has no output named '" + name + "'");
}

Expected<Dims> Session::input_dims(const std::string& name) const {
  auto it = impl_->shapes.find(name);
  if (it == impl_->shapes.end()) return invalid_input("the engine has no input named '" + name + "'");
  return it->second;
}

Status Session::enqueue() {
  KILN_RETURN_IF_ERROR(enqueue_inputs());
  KILN_RETURN_IF_ERROR(enqueue_compute());
  return enqueue_outputs();
}

Status Session::enqueue_inputs() {
  KILN_RETURN_IF_ERROR(impl_->prepare());
  return impl_->copy_inputs_in();
}

Status Session::enqueue_outputs() {
  KILN_RETURN_IF_ERROR(impl_->prepare());
  return impl_->copy_outputs_out();
}

Status Session::run() {
  KILN_RETURN_IF_ERROR(enqueue());
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl_->stream));
  return Status::Ok();
}

Status Session::enqueue_compute() { return impl_->launch(); }

namespace {

// Device (or managed) memory is what enqueue_device copies from with cudaMemcpyDeviceToDevice; host memory
// (a NumPy array, a CPU tensor) is refused with a message instead of a CUDA error or a crash.
Status check_device_pointer(const void* ptr, const char* what, const std::string& name) {
  if (!ptr) return invalid_input(fmt::format("enqueue_device: the buffer of {} '{}' is null", what, name));
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();
    return invalid_input(fmt::format("enqueue_device: the buffer of {} '{}' is not CUDA memory", what, name));
  }
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    return invalid_input(
        fmt::format("enqueue_device: the buffer of {} '{}' is host memory, not device memory (copy it "
                    "to the GPU, or use the session's host buffers and run())",
                    what, name));
  return Status::Ok();
}

}  // namespace

Status Session::enqueue_device(const std::map<std::string, const void*>& inputs,
                               const std::map<std::string, void*>& outputs) {
  SessionImpl& s = *impl_;
  KILN_RETURN_IF_ERROR(s.prepare());
  const cuda::Program& p = *s.e.program;
  for (size_t i = 0; i < p.input_slots.size(); ++i) {
    auto it = inputs.find(p.graph->inputs[i]->name);
    if (it == inputs.end())
      return invalid_input("enqueue_device: no buffer given for input '" + p.graph->inputs[i]->name + "'");
    KILN_RETURN_IF_ERROR(check_device_pointer(it->second, "input", it->first));
  }
  for (const auto& [name, ptr] : outputs) KILN_RETURN_IF_ERROR(check_device_pointer(ptr, "output", name));
  for (size_t i = 0; i < p.input_slots.size(); ++i) {
    const void* src = inputs.at(p.graph->inputs[i]->name);
    const int slot = p.input_slots[i];
    if (s.current->descs[slot].bytes() == 0) continue;
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(p.slot_data(slot, s.arena.get()), src, s.current->descs[slot].bytes(),
                                              cudaMemcpyDeviceToDevice, s.stream));
  }
  KILN_RETURN_IF_ERROR(s.launch());
  for (size_t i = 0; i < p.output_slots.size(); ++i) {
    auto it = outputs.find(p.graph->outputs[i]->name);
    if (it == outputs.end()) continue;  // outputs the caller does not want
    const int slot = p.output_slots[i];
    KILN_RETURN_IF_ERROR(s.copy_rows_out(slot));
    if (s.current->descs[slot].bytes() == 0) continue;
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(it->second, p.slot_data(slot, s.arena.get()),
                                              s.current->descs[slot].bytes(), cudaMemcpyDeviceToDevice, s.stream));
  }
  return Status::Ok();
}

Status Session::enqueue_device(const std::map<std::string, const void*>& inputs,
                               const std::map<std::string, void*>& outputs, Stream caller) {
  SessionImpl& s = *impl_;
  const auto caller_stream = reinterpret_cast<cudaStream_t>(caller);
  if (caller_stream == s.stream) return enqueue_device(inputs, outputs);
  if (!s.caller_ready) {
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&s.caller_ready, cudaEventDisableTiming));
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&s.run_done, cudaEventDisableTiming));
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.caller_ready, caller_stream));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(s.stream, s.caller_ready, 0));
  Status st = enqueue_device(inputs, outputs);
  // Recorded even after a failure, so the caller's stream never waits on an event that was not recorded.
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.run_done, s.stream));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(caller_stream, s.run_done, 0));
  return st;
}

Expected<std::vector<std::pair<std::string, float>>> Session::profile_layers() {
  SessionImpl& s = *impl_;
  KILN_RETURN_IF_ERROR(s.prepare());
  KILN_RETURN_IF_ERROR(s.e.configure_for(s.shapes, s.stream));
  std::vector<std::pair<std::string, float>> out;
  KILN_RETURN_IF_ERROR(s.e.program->enqueue(s.stream, s.arena.get(), s.workspaces.back().get(), &out));
  return out;
}

Expected<std::unique_ptr<StaticSession>> StaticSession::create(std::shared_ptr<Engine> engine, Stream stream,
                                                               const ShapeMap& shapes) {
  if (!engine) return invalid_input("StaticSession::create: no engine");
  auto impl = std::make_unique<SessionImpl>(engine);
  ShapeMap full = engine->impl().profiles[0].opt;
  for (const auto& [k, v] : shapes) full[k] = v;
  if (shapes.empty() && engine->impl().dynamic)
    return invalid_input("this engine is dynamic: give the StaticSession its input shapes (or use a DynamicSession)");
  KILN_ASSIGN_OR_RETURN(int profile, engine->impl().find_profile(full));
  KILN_RETURN_IF_ERROR(impl->init(stream, profile));
  impl->shapes = full;
  KILN_RETURN_IF_ERROR(impl->prepare());
  return std::unique_ptr<StaticSession>(new StaticSession(std::move(impl)));
}

Expected<std::unique_ptr<DynamicSession>> DynamicSession::create(std::shared_ptr<Engine> engine, Stream stream, int profile) {
  if (!engine) return invalid_input("DynamicSession::create: no engine");
  const int n = static_cast<int>(engine->impl().profiles.size());
  if (profile < 0 || profile >= n)
    return invalid_input(fmt::format("profile {} does not exist (the engine has {})", profile, n));
  auto impl = std::make_unique<SessionImpl>(engine);
  KILN_RETURN_IF_ERROR(impl->init(stream, profile));
  impl->shapes = engine->impl().profiles[profile].opt;
  return std::unique_ptr<DynamicSession>(new DynamicSession(std::move(impl)));
}

Status DynamicSession::set_input_shape(const std::string& name, const Dims& dims) {
  SessionImpl& s = *impl_;
  const ShapeProfile& p = s.e.profiles[s.profile];
  if (!p.min.count(name)) return invalid_input("the engine has no input named '" + name + "'");
  ShapeMap next = s.shapes;
  next[name] = dims;
  ShapeProfile one;  // check just this input against the session's profile
  one.min[name] = p.min.at(name);
  one.max[name] = p.max.at(name);
  const std::string why = shape_outside_profile(one, ShapeMap{{name, dims}});
  if (!why.empty()) return invalid_input(fmt::format("profile {}: {}", s.profile, why));
  s.shapes = std::move(next);
  s.current = nullptr;
  return Status::Ok();
}

Expected<TensorMap> run_engine(const std::shared_ptr<Engine>& engine, const TensorMap& feeds) {
  const EngineImpl& e = engine->impl();
  ShapeMap shapes;
  TensorMap converted;  // float feeds in another float dtype than the engine's input (--inputIOFormats)
  for (const Value* v : e.program->graph->inputs) {
    auto it = feeds.find(v->name);
    if (it == feeds.end()) return invalid_input("no data given for input '" + v->name + "'");
    if (it->second.dtype() != v->dtype) {
      if (!cuda::is_float_storage(it->second.dtype()) || !cuda::is_float_storage(v->dtype))
        return invalid_input(fmt::format("input '{}' is {} but the engine takes {}", v->name,
                                         dtype_name(it->second.dtype()), dtype_name(v->dtype)));
      KILN_ASSIGN_OR_RETURN(converted[v->name], convert_dtype(it->second, v->dtype));
    }
    shapes[v->name] = it->second.shape();
  }
  for (const auto& [name, t] : feeds) {
    if (shapes.count(name)) continue;
    auto fixed = e.input_values.find(name);
    if (fixed == e.input_values.end()) return invalid_input("the engine has no input named '" + name + "'");
    KILN_RETURN_IF_ERROR(check_fixed_input_feed(name, fixed->second, t));  // fixed at build: same values only
  }
  std::unique_ptr<Session> session;
  if (e.dynamic) {
    KILN_ASSIGN_OR_RETURN(auto ds, DynamicSession::create(engine, nullptr, 0));
    for (const auto& [name, dims] : shapes) KILN_RETURN_IF_ERROR(ds->set_input_shape(name, dims));
    session = std::move(ds);
  } else {
    KILN_ASSIGN_OR_RETURN(auto ss, StaticSession::create(engine, nullptr, shapes));
    session = std::move(ss);
  }
  for (const auto& [name, fed] : feeds) {
    if (!shapes.count(name)) continue;  // an input fixed at build, checked above
    const Tensor& t = converted.count(name) ? converted.at(name) : fed;
    KILN_ASSIGN_OR_RETURN(void* p, session->host_input(name));
    if (t.nbytes() > 0) std::memcpy(p, t.raw(), t.nbytes());
  }
  KILN_RETURN_IF_ERROR(session->run());
  TensorMap out;
  for (const auto& io : engine->summary().outputs) {
    KILN_ASSIGN_OR_RETURN(Dims dims, session->output_dims(io.name));
    DType dt;
    parse_dtype(io.dtype, &dt);
    KILN_ASSIGN_OR_RETURN(void* p, session->host_output(io.name));
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::from_bytes(dt, dims, p, numel(dims) * dtype_size(dt)));
    out[io.name] = std::move(t);
  }
  return out;
}

}  // namespace kiln
#endif  // KILN_WITH_CUDA
