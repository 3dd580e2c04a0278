// CUB's stable segmented radix sort of (float key, int position) pairs in a layer's workspace, shared by TopK
// and NonMaxSuppression: equal keys keep their input order, so the lower position comes first as ONNX asks of
// both. The workspace holds keys and positions in and out, the segment offsets, the caller's own scratch
// (`extra` bytes) and CUB's.
#pragma once

#include <cub/device/device_segmented_radix_sort.cuh>

#include <string>

#include "cuda/kernels/common.cuh"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cuda {

// Sorts `lines` segments [offsets[i], offsets[i + 1]) of n pairs, descending for the largest first. With a null
// `scratch` it only sets `bytes` to the scratch it needs.
inline cudaError_t segmented_sort(bool descending, void* scratch, size_t& bytes, const float* keys_in,
                                  float* keys_out, const int* pos_in, int* pos_out, int n, int lines,
                                  const int* offsets, cudaStream_t s) {
  if (descending)
    return cub::DeviceSegmentedRadixSort::SortPairsDescending(scratch, bytes, keys_in, keys_out, pos_in, pos_out, n,
                                                              lines, offsets, offsets + 1, 0, 32, s);
  return cub::DeviceSegmentedRadixSort::SortPairs(scratch, bytes, keys_in, keys_out, pos_in, pos_out, n, lines,
                                                  offsets, offsets + 1, 0, 32, s);
}

// Byte offsets of the workspace parts, and typed views of them in a workspace pointer.
struct SortWorkspace {
  bool descending = true;
  int64_t items = 0, lines = 0;
  size_t keys_out = 0, pos_in = 0, pos_out = 0, offsets = 0, extra = 0, scratch = 0, total = 0;

  float* keys_in_at(void* w) const { return static_cast<float*>(w); }
  float* keys_out_at(void* w) const { return reinterpret_cast<float*>(static_cast<char*>(w) + keys_out); }
  int* pos_in_at(void* w) const { return reinterpret_cast<int*>(static_cast<char*>(w) + pos_in); }
  int* pos_out_at(void* w) const { return reinterpret_cast<int*>(static_cast<char*>(w) + pos_out); }
  int* offsets_at(void* w) const { return reinterpret_cast<int*>(static_cast<char*>(w) + offsets); }
  char* extra_at(void* w) const { return static_cast<char*>(w) + extra; }

  // Sizes everything (CUB's scratch asked of CUB); refuses 2^31 items or more, and more than `max_bytes`.
  Status plan(const Node& node, bool desc, int64_t n_items, int64_t n_lines, size_t extra_bytes, size_t max_bytes,
              cudaStream_t stream) {
    if (n_items >= (int64_t{1} << 31)) return node.error(StatusCode::kUnsupported, "more than 2^31 values to sort");
    descending = desc;
    items = n_items;
    lines = n_lines;
    size_t cub_bytes = 0;
    if (items > 0) {
      cudaError_t e = segmented_sort(descending, nullptr, cub_bytes, nullptr, nullptr, nullptr, nullptr,
                                     static_cast<int>(items), static_cast<int>(lines), nullptr, stream);
      if (e != cudaSuccess)
        return node.error(StatusCode::kRuntime, std::string("CUB sort sizing failed: ") + cudaGetErrorString(e));
    }
    const size_t part = align256(static_cast<size_t>(items) * 4);
    keys_out = part;
    pos_in = 2 * part;
    pos_out = 3 * part;
    offsets = 4 * part;
    extra = offsets + align256((static_cast<size_t>(lines) + 1) * 4);
    scratch = extra + align256(extra_bytes);
    total = scratch + align256(cub_bytes);
    if (total > max_bytes)
      return node.error(StatusCode::kRuntime, "needs " + std::to_string(total >> 20) +
                                                  " MiB of workspace, more than --memPoolSize allows");
    return Status::Ok();
  }

  // The run's workspace holds the planned parts: check before the caller's pack kernel writes into it.
  Status check(const Node& node, const void* w, size_t workspace_bytes) const {
    if (workspace_bytes < total || !w) return node.error(StatusCode::kRuntime, "workspace smaller than configured");
    return Status::Ok();
  }

  // Sorts keys_in/pos_in (filled by the caller, with the offsets) into keys_out/pos_out; `w` passed check().
  Status sort(const Node& node, void* w, cudaStream_t stream) const {
    size_t bytes = total - scratch;
    cudaError_t e = segmented_sort(descending, static_cast<char*>(w) + scratch, bytes, keys_in_at(w), keys_out_at(w),
                                   pos_in_at(w), pos_out_at(w), static_cast<int>(items), static_cast<int>(lines),
                                   offsets_at(w), stream);
    if (e != cudaSuccess)
      return node.error(StatusCode::kRuntime, std::string("CUB segmented sort: ") + cudaGetErrorString(e));
    return Status::Ok();
  }
};

}  // namespace kiln::cuda
