// NumPy .npy (format v1/v2/v3, little-endian, C order) and .npz (zip of .npy) reading and writing.
// Malformed files give kInvalidInput naming the file; valid files kiln cannot hold give kUnsupported.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln {

// Tensors in file order; names are the .npz member names without their ".npy" suffix.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Decodes one .npy image; `what` names it in error messages (a path, or "x.npy in data.npz").
Expected<Tensor> npy_decode(const void* data, size_t size, const std::string& what);
// Encodes a tensor as .npy (v1 header, v2 when the header needs it). bfloat16 has no NumPy dtype.
Expected<std::string> npy_encode(const Tensor& t);

Expected<Tensor> read_npy(const std::string& path);
// Atomic: the file appears complete or not at all.
Status write_npy(const std::string& path, const Tensor& t);

// Reads every member of an .npz archive (stored or deflated members).
Expected<NamedTensors> npz_decode(const void* data, size_t size, const std::string& what);
// Encodes an .npz with stored (uncompressed) members named "<name>.npy".
Expected<std::string> npz_encode(const NamedTensors& tensors);
Expected<NamedTensors> read_npz(const std::string& path);
Status write_npz(const std::string& path, const NamedTensors& tensors);

// Whole-file helpers shared by the readers and writers above (and the CLI).
Expected<std::string> read_file_bytes(const std::string& path);
// Writes to "<path>.tmp.<pid>" then renames over `path`, so readers never see a partial file.
Status write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace kiln
