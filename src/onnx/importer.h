// ONNX <-> IR: the importer (protobuf -> Graph, with external data and strict validation) and the writer.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct ImportOptions {
  // Run shape/type inference and the verifier after import (what every tool wants).
  bool infer_shapes = true;
  // Fail on ops kiln does not support. When false (kiln info), unsupported ops keep unknown output
  // shapes and are listed instead.
  bool require_supported_ops = true;
};

// Reads a model file. Errors (kInvalidInput / kUnsupported) name the problem and the node or tensor:
// missing or unreadable file, not ONNX, truncated/corrupt protobuf, unsupported opset, cycles, dangling
// inputs, initializers whose bytes disagree with their shape, absurd dims, external data that escapes
// the model's folder or is missing.
Expected<std::unique_ptr<Graph>> load_onnx(const std::string& path, const ImportOptions& options = {});
// Same from bytes in memory; external data is resolved against `base_dir` (empty: external data refused).
Expected<std::unique_ptr<Graph>> load_onnx_from_bytes(const void* data, size_t size, const std::string& base_dir,
                                                      const ImportOptions& options = {});

// Decodes a serialized onnx.TensorProto (the .pb files of the ONNX test data).
Expected<Tensor> load_tensor_pb(const std::string& path);
Expected<Tensor> tensor_from_pb_bytes(const void* data, size_t size);

// Writes a Graph as an ONNX model (initializers inline; tensors over `external_threshold` bytes go to
// `<path>.data` when it is nonzero). Atomic: temp file + rename.
struct WriteOptions {
  size_t external_threshold = 0;
  std::string producer_name = "kiln";
};
Status write_onnx(const Graph& graph, const std::string& path, const WriteOptions& options = {});
Expected<std::string> serialize_onnx(const Graph& graph);
Status write_tensor_pb(const Tensor& t, const std::string& name, const std::string& path);

}  // namespace kiln
