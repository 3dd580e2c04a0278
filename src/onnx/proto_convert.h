// Internal to src/onnx: conversions between onnx.proto messages and kiln tensors/types, shared by the
// importer and the writer. Not part of the public API (it exposes the generated protobuf classes).
#pragma once

#include <string>

#include "core/tensor.h"
#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln {
namespace onnx_detail {

// Protobuf cannot parse messages of 2 GiB or more; bigger models must use external data.
constexpr size_t kMaxProtoBytes = size_t{2} * 1024 * 1024 * 1024 - 1;

// Where a tensor's external data may be read from: `base_dir` is the model's folder; empty refuses it.
struct ExternalDataContext {
  std::string base_dir;
};

// TensorProto -> Tensor: checks dims (negative, overflow, over max_tensor_bytes()) before allocating,
// checks the byte/element count against the shape, reads raw_data, typed fields or external data.
// `what` names the tensor in errors ("initializer 'w'", "attribute 'value' of node ...").
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const ExternalDataContext& ext,
                                   const std::string& what);

// Tensor -> TensorProto with raw_data (little-endian, as kiln stores it).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

// Reads a whole file into memory, refusing files over `max_bytes`; `what` names it in errors.
Expected<std::string> read_file_bytes(const std::string& path, size_t max_bytes, const std::string& what);
// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
Status write_file_atomic(const std::string& path, const std::string& bytes);

// Parses a protobuf message from memory with the size limit above; false when it is not a valid message.
bool parse_proto(const void* data, size_t size, google::protobuf::MessageLite* msg);

}  // namespace onnx_detail
}  // namespace kiln
