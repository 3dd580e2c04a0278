// TEMPORARY (delete when src/onnx/importer.cc lands on main): weak stand-ins so the CLI and the
// conformance runner link before the importer exists. The real definitions override these at link time.
#include "onnx/importer.h"

namespace kiln {

__attribute__((weak)) Expected<std::unique_ptr<Graph>> load_onnx(const std::string& path, const ImportOptions&) {
  return runtime_error(path + ": the ONNX importer is not linked into this build yet");
}

__attribute__((weak)) Expected<Tensor> load_tensor_pb(const std::string& path) {
  return runtime_error(path + ": the ONNX importer is not linked into this build yet");
}

}  // namespace kiln
