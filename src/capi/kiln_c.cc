// The C ABI (include/kiln/kiln.h) over the C++ engine API: handles, status codes and the thread-local error,
// build options from JSON, engine/plan introspection as JSON, sessions with host and device runs.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "capi/capi_util.h"
#include "core/dtype.h"
#include "engine/plan.h"
#include "kiln/engine.h"
#include "kiln/kiln.h"
#include "kiln/version.h"

using kiln::Dims;
using kiln::Expected;
using kiln::Status;
using nlohmann::json;

struct kiln_engine {
  std::shared_ptr<kiln::Engine> engine;
};

struct kiln_session {
  std::shared_ptr<kiln::Engine> engine;  // outlives the session's use of it
  std::unique_ptr<kiln::Session> session;
  kiln::DynamicSession* dynamic = nullptr;  // set for dynamic sessions (same object as `session`)
  std::map<std::string, Dims> shapes;       // dynamic: the shapes last set, so unchanged ones are not set again
};

namespace kiln::capi {
namespace {

json shape_map_json(const ShapeMap& m) {
  json j = json::object();
  for (const auto& [name, dims] : m) j[name] = dims;
  return j;
}

json io_json(const std::vector<EngineIO>& ios) {
  json a = json::array();
  for (const EngineIO& io : ios) a.push_back({{"name", io.name}, {"dtype", io.dtype}, {"dims", io.dims}});
  return a;
}

json engine_json(const EngineSummary& s) {
  json profiles = json::array();
  for (const ShapeProfile& p : s.profiles)
    profiles.push_back(
        {{"min", shape_map_json(p.min)}, {"opt", shape_map_json(p.opt)}, {"max", shape_map_json(p.max)}});
  json layers = json::array();
  for (const EngineLayer& l : s.layers)
    layers.push_back({{"name", l.name}, {"op", l.op}, {"precision", l.precision}, {"tactic", l.tactic}});
  return {{"schema", "kiln.engine-info/1"},
          {"precision", s.precision},
          {"gpu_name", s.gpu_name},
          {"sm", s.sm},
          {"inputs", io_json(s.inputs)},
          {"outputs", io_json(s.outputs)},
          {"profiles", profiles},
          {"layers", layers},
          {"weight_bytes", s.weight_bytes},
          {"activation_bytes", s.activation_bytes},
          {"workspace_bytes", s.workspace_bytes},
          {"build_seconds", s.build_seconds}};
}

const EngineIO* find_io(const std::vector<EngineIO>& ios, const std::string& name) {
  for (const EngineIO& io : ios)
    if (io.name == name) return &io;
  return nullptr;
}

std::string io_names(const std::vector<EngineIO>& ios) {
  std::string s;
  for (const EngineIO& io : ios) s += (s.empty() ? "" : ", ") + io.name;
  return s;
}

Expected<Dims> tensor_dims(const kiln_tensor& t, const char* what) {
  if (t.ndim < 0 || (t.ndim > 0 && !t.dims))
    return usage_error(std::string(what) + " '" + t.name + "': ndim " + std::to_string(t.ndim) + " without dims");
  Dims d(t.dims, t.dims + t.ndim);
  for (int64_t v : d)
    if (v < 0) return invalid_input(std::string(what) + " '" + t.name + "' has a negative dim in " + dims_text(d));
  return d;
}

// Name, dtype and null checks shared by inputs and outputs; returns the engine's description of the tensor.
Expected<const EngineIO*> check_tensor(const kiln_tensor& t, const std::vector<EngineIO>& ios, const char* what) {
  if (!t.name) return usage_error(std::string(what) + " tensor without a name");
  const EngineIO* io = find_io(ios, t.name);
  if (!io)
    return invalid_input("the engine has no " + std::string(what) + " named '" + t.name + "' (its " + what +
                         "s: " + io_names(ios) + ")");
  if (!t.dtype) return usage_error(std::string(what) + " '" + t.name + "' without a dtype");
  if (io->dtype != t.dtype)
    return invalid_input(std::string(what) + " '" + t.name + "' is " + t.dtype + " but the engine's " + what + " is " +
                         io->dtype);
  if (!t.data) return usage_error(std::string(what) + " '" + t.name + "': the data pointer is null");
  return io;
}

size_t tensor_bytes(const Dims& dims, const std::string& dtype) {
  DType t = DType::kFloat32;
  parse_dtype(dtype, &t);
  size_t n = dtype_size(t);
  for (int64_t d : dims) n *= static_cast<size_t>(d);
  return n;
}

// Checks every tensor against the engine and the session's shapes (setting a dynamic session's input shapes
// from the inputs first). Fills the byte sizes of inputs and outputs, in argument order.
Status check_run(kiln_session& s, const kiln_tensor* inputs, size_t num_inputs, const kiln_tensor* outputs,
                 size_t num_outputs, std::vector<size_t>& in_bytes, std::vector<size_t>& out_bytes) {
  if ((num_inputs && !inputs) || (num_outputs && !outputs))
    return usage_error("tensor array is null but its count is not zero");
  const EngineSummary& e = s.engine->summary();
  std::map<std::string, bool> given;
  for (size_t i = 0; i < num_inputs; ++i) {
    KILN_ASSIGN_OR_RETURN(const EngineIO* io, check_tensor(inputs[i], e.inputs, "input"));
    if (given[io->name]) return usage_error("input '" + io->name + "' is given twice");
    given[io->name] = true;
    KILN_ASSIGN_OR_RETURN(Dims dims, tensor_dims(inputs[i], "input"));
    if (s.dynamic) {
      auto it = s.shapes.find(io->name);
      if (it == s.shapes.end() || it->second != dims) {
        KILN_RETURN_IF_ERROR(s.dynamic->set_input_shape(io->name, dims));
        s.shapes[io->name] = dims;
      }
    } else {
      KILN_ASSIGN_OR_RETURN(Dims want, s.session->input_dims(io->name));
      if (want != dims)
        return invalid_input("input '" + io->name + "' has shape " + dims_text(dims) +
                             " but this static session runs " + dims_text(want) +
                             " (make a session with these shapes, or a dynamic session)");
    }
    in_bytes.push_back(tensor_bytes(dims, io->dtype));
  }
  for (const EngineIO& io : e.inputs)
    if (!given[io.name]) return invalid_input("no data given for input '" + io.name + "'");
  std::map<std::string, bool> seen;
  for (size_t i = 0; i < num_outputs; ++i) {
    KILN_ASSIGN_OR_RETURN(const EngineIO* io, check_tensor(outputs[i], e.outputs, "output"));
    if (seen[io->name]) return usage_error("output '" + io->name + "' is given twice");
    seen[io->name] = true;
    KILN_ASSIGN_OR_RETURN(Dims dims, tensor_dims(outputs[i], "output"));
    KILN_ASSIGN_OR_RETURN(Dims want, s.session->output_dims(io->name));
    if (want != dims)
      return invalid_input("output '" + io->name + "' buffer has shape " + dims_text(dims) + " but the output is " +
                           dims_text(want) + " at these input shapes");
    out_bytes.push_back(tensor_bytes(dims, io->dtype));
  }
  return Status::Ok();
}

Status copy_dims(const Dims& d, int64_t* dims, int32_t capacity, int32_t* ndim) {
  *ndim = static_cast<int32_t>(d.size());
  if (static_cast<int32_t>(d.size()) > capacity)
    return usage_error("dims buffer holds " + std::to_string(capacity) + " entries, the rank is " +
                       std::to_string(d.size()));
  if (!d.empty()) {
    if (!dims) return usage_error("dims is null");
    std::copy(d.begin(), d.end(), dims);
  }
  return Status::Ok();
}

}  // namespace
}  // namespace kiln::capi

using namespace kiln::capi;  // NOLINT: the extern "C" definitions below

extern "C" {

const char* kiln_version(void) {
  static const std::string v = std::string(KILN_VERSION) + " (" + KILN_GIT_SHA + ")";
  return v.c_str();
}

int kiln_abi_version(void) { return KILN_ABI_VERSION; }

const char* kiln_last_error(void) { return last_error().c_str(); }

void kiln_free_string(char* s) { std::free(s); }

int kiln_cuda_available(int* available, char** why) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(available, "available"));
    std::string reason;
    *available = kiln::cuda_available(&reason) ? 1 : 0;
    if (why) *why = *available ? nullptr : dup_string(reason);
    return Status::Ok();
  });
}

int kiln_engine_build(const char* onnx_path, const char* options_json, kiln_engine** engine) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    *engine = nullptr;
    KILN_RETURN_IF_ERROR(require(onnx_path, "onnx_path"));
    KILN_ASSIGN_OR_RETURN(kiln::BuildOptions options, build_options_from_json(options_json ? options_json : ""));
    if (!file_exists(onnx_path)) return kiln::invalid_input(std::string(onnx_path) + ": no such model file");
    KILN_ASSIGN_OR_RETURN(auto built, kiln::Engine::build(onnx_path, options));
    *engine = new kiln_engine{std::move(built)};
    return Status::Ok();
  });
}

int kiln_engine_load(const char* plan_path, kiln_engine** engine) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    *engine = nullptr;
    KILN_RETURN_IF_ERROR(require(plan_path, "plan_path"));
    KILN_ASSIGN_OR_RETURN(auto loaded, kiln::Engine::load(plan_path));
    *engine = new kiln_engine{std::move(loaded)};
    return Status::Ok();
  });
}

int kiln_engine_save(const kiln_engine* engine, const char* plan_path) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    KILN_RETURN_IF_ERROR(require(plan_path, "plan_path"));
    return engine->engine->save(plan_path);
  });
}

int kiln_engine_info_json(const kiln_engine* engine, char** out) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(out, "json"));
    *out = nullptr;
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    *out = dup_string(engine_json(engine->engine->summary()).dump());
    return Status::Ok();
  });
}

void kiln_engine_destroy(kiln_engine* engine) { delete engine; }

int kiln_plan_info_json(const char* plan_path, char** out) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(out, "json"));
    *out = nullptr;
    KILN_RETURN_IF_ERROR(require(plan_path, "plan_path"));
    if (!file_exists(plan_path)) return kiln::invalid_input(std::string(plan_path) + ": no such plan file");
    KILN_ASSIGN_OR_RETURN(kiln::PlanContents plan, kiln::read_plan(plan_path));
    json j = {{"schema", "kiln.plan-info/1"}, {"plan", plan_path}, {"format_version", plan.format_version}};
    j["header"] = json::parse(kiln::plan_header_json(plan), nullptr, /*allow_exceptions=*/false);
    j["model_bytes"] = plan.model.size();
    *out = dup_string(j.dump(-1, ' ', false, json::error_handler_t::replace));
    return Status::Ok();
  });
}

int kiln_session_create_static(kiln_engine* engine, void* stream, const char* shapes_json, kiln_session** session) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    *session = nullptr;
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    kiln::ShapeMap shapes;
    if (shapes_json && *shapes_json) {
      KILN_ASSIGN_OR_RETURN(shapes, shape_map_from_json(shapes_json, "shapes"));
    }
    KILN_ASSIGN_OR_RETURN(auto created,
                          kiln::StaticSession::create(engine->engine, static_cast<kiln::Stream>(stream), shapes));
    *session = new kiln_session{engine->engine, std::move(created), nullptr, {}};
    return Status::Ok();
  });
}

int kiln_session_create_dynamic(kiln_engine* engine, void* stream, int profile, kiln_session** session) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    *session = nullptr;
    KILN_RETURN_IF_ERROR(require(engine, "engine"));
    KILN_ASSIGN_OR_RETURN(auto created,
                          kiln::DynamicSession::create(engine->engine, static_cast<kiln::Stream>(stream), profile));
    auto* s = new kiln_session{engine->engine, nullptr, created.get(), {}};
    s->session = std::move(created);
    *session = s;
    return Status::Ok();
  });
}

int kiln_session_set_input_shape(kiln_session* session, const char* name, const int64_t* dims, int32_t ndim) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    KILN_RETURN_IF_ERROR(require(name, "name"));
    if (ndim < 0 || (ndim > 0 && !dims)) return kiln::usage_error("ndim " + std::to_string(ndim) + " without dims");
    const Dims d(dims, dims + ndim);
    if (!session->dynamic) {
      KILN_ASSIGN_OR_RETURN(Dims want, session->session->input_dims(name));
      if (want != d)
        return kiln::invalid_input("input '" + std::string(name) + "' of this static session is " + dims_text(want) +
                                   ", not " + dims_text(d) + " (use a dynamic session to change shapes)");
      return Status::Ok();
    }
    KILN_RETURN_IF_ERROR(session->dynamic->set_input_shape(name, d));
    session->shapes[name] = d;
    return Status::Ok();
  });
}

int kiln_session_input_dims(kiln_session* session, const char* name, int64_t* dims, int32_t capacity, int32_t* ndim) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    KILN_RETURN_IF_ERROR(require(name, "name"));
    KILN_RETURN_IF_ERROR(require(ndim, "ndim"));
    KILN_ASSIGN_OR_RETURN(Dims d, session->session->input_dims(name));
    return copy_dims(d, dims, capacity, ndim);
  });
}

int kiln_session_output_dims(kiln_session* session, const char* name, int64_t* dims, int32_t capacity, int32_t* ndim) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    KILN_RETURN_IF_ERROR(require(name, "name"));
    KILN_RETURN_IF_ERROR(require(ndim, "ndim"));
    KILN_ASSIGN_OR_RETURN(Dims d, session->session->output_dims(name));
    return copy_dims(d, dims, capacity, ndim);
  });
}

int kiln_session_run_host(kiln_session* session, const kiln_tensor* inputs, size_t num_inputs,
                          const kiln_tensor* outputs, size_t num_outputs) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    std::vector<size_t> in_bytes, out_bytes;
    KILN_RETURN_IF_ERROR(check_run(*session, inputs, num_inputs, outputs, num_outputs, in_bytes, out_bytes));
    kiln::Session& s = *session->session;
    for (size_t i = 0; i < num_inputs; ++i) {
      KILN_ASSIGN_OR_RETURN(void* pinned, s.host_input(inputs[i].name));
      std::memcpy(pinned, inputs[i].data, in_bytes[i]);
    }
    KILN_RETURN_IF_ERROR(s.run());
    for (size_t i = 0; i < num_outputs; ++i) {
      KILN_ASSIGN_OR_RETURN(void* pinned, s.host_output(outputs[i].name));
      std::memcpy(outputs[i].data, pinned, out_bytes[i]);
    }
    return Status::Ok();
  });
}

int kiln_session_run_device(kiln_session* session, const kiln_tensor* inputs, size_t num_inputs,
                            const kiln_tensor* outputs, size_t num_outputs, void* stream) {
  return guard([&]() -> Status {
    KILN_RETURN_IF_ERROR(require(session, "session"));
    std::vector<size_t> in_bytes, out_bytes;
    KILN_RETURN_IF_ERROR(check_run(*session, inputs, num_inputs, outputs, num_outputs, in_bytes, out_bytes));
    std::map<std::string, const void*> in;
    std::map<std::string, void*> out;
    for (size_t i = 0; i < num_inputs; ++i) in[inputs[i].name] = inputs[i].data;
    for (size_t i = 0; i < num_outputs; ++i) out[outputs[i].name] = outputs[i].data;
    return session->session->enqueue_device(in, out, static_cast<kiln::Stream>(stream));
  });
}

void kiln_session_destroy(kiln_session* session) { delete session; }

}  // extern "C"
