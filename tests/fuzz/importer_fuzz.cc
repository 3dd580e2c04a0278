// libFuzzer target: arbitrary bytes -> load_onnx_from_bytes with inference on, then the printer and a
// writer round trip on whatever imports. Any crash, sanitizer report or huge allocation is a bug.
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"
#include "onnx/importer.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // A model may legitimately ask for big tensors; under -rss_limit_mb the fuzzer would call that a
  // crash, so cap one tensor well below it. Bigger requests must fail cleanly, which is what we test.
  kiln::set_max_tensor_bytes(size_t{64} << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::ImportOptions options;
  options.infer_shapes = true;
  // Lenient: unknown ops are skipped instead of stopping the import, so inference and the verifier
  // see every node the fuzzer builds.
  options.require_supported_ops = false;
  auto graph = kiln::load_onnx_from_bytes(data, size, "", options);
  if (!graph.ok()) return 0;
  (void)kiln::print_graph(**graph);
  auto bytes = kiln::serialize_onnx(**graph);
  if (!bytes.ok()) return 0;
  kiln::ImportOptions structure;
  structure.infer_shapes = false;
  structure.require_supported_ops = false;
  // Not required to succeed: inference may have computed dims the importer refuses as declared ones.
  (void)kiln::load_onnx_from_bytes(bytes->data(), bytes->size(), "", structure);
  return 0;
}
