// Engine API in builds without the CUDA backend: every entry point says so (exit code 5 in the CLI). Building
// and loading first check the model or plan file as the CUDA build does, so a missing or corrupt file is bad
// input (exit code 2) here too, and the refusal reads like a CUDA build's on a machine without a GPU.
#if !KILN_WITH_CUDA
#include "engine/builder.h"
#include "engine/input_values.h"
#include "engine/plan.h"
#include "onnx/importer.h"

namespace kiln {
namespace {
constexpr const char* kWhy = "this kiln was built without the CUDA backend (no CUDA toolkit at build time)";
Status no_cuda() { return runtime_error(kWhy); }
}  // namespace

class EngineImpl {};
class SessionImpl {};

bool cuda_available(std::string* why) {
  if (why) *why = kWhy;
  return false;
}
Expected<std::shared_ptr<Engine>> build_engine(std::unique_ptr<Graph> graph, const BuildOptions& options) {
  KILN_RETURN_IF_ERROR(fix_input_values(*graph, options.input_values));  // usage errors first, as with CUDA
  return runtime_error(std::string("cannot build a CUDA engine: ") + kWhy);
}
Status check_cuda_lowerings(std::unique_ptr<Graph>) {
  return unsupported("this kiln was built without the CUDA backend");
}
Expected<std::shared_ptr<Engine>> Engine::build(const std::string& onnx_path, const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(onnx_path));
  return build_engine(std::move(graph), options);
}
Expected<std::shared_ptr<Engine>> Engine::load(const std::string& path) {
  KILN_RETURN_IF_ERROR(read_plan(path).status());
  return runtime_error(std::string("cannot load a CUDA engine: ") + kWhy);
}
Status Engine::save(const std::string&) const { return no_cuda(); }
Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
const EngineSummary& Engine::summary() const {
  static EngineSummary s;
  return s;
}
Expected<TensorMap> run_engine(const std::shared_ptr<Engine>&, const TensorMap&) { return no_cuda(); }
Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Expected<void*> Session::host_input(const std::string&) { return no_cuda(); }
Expected<void*> Session::host_output(const std::string&) { return no_cuda(); }
Expected<Dims> Session::output_dims(const std::string&) const { return no_cuda(); }
Expected<Dims> Session::input_dims(const std::string&) const { return no_cuda(); }
Status Session::run() { return no_cuda(); }
Status Session::enqueue() { return no_cuda(); }
Status Session::enqueue_compute() { return no_cuda(); }
Status Session::enqueue_inputs() { return no_cuda(); }
Status Session::enqueue_outputs() { return no_cuda(); }
Status Session::enqueue_device(const std::map<std::string, const void*>&, const std::map<std::string, void*>&) {
  return no_cuda();
}
Status Session::enqueue_device(const std::map<std::string, const void*>&, const std::map<std::string, void*>&,
                               Stream) {
  return no_cuda();
}
Expected<std::vector<std::pair<std::string, float>>> Session::profile_layers() { return no_cuda(); }
Expected<std::unique_ptr<StaticSession>> StaticSession::create(std::shared_ptr<Engine>, Stream, const ShapeMap&) {
  return no_cuda();
}
Expected<std::unique_ptr<DynamicSession>> DynamicSession::create(std::shared_ptr<Engine>, Stream, int) {
  return no_cuda();
}
Status DynamicSession::set_input_shape(const std::string&, const Dims&) { return no_cuda(); }

}  // namespace kiln
#endif
