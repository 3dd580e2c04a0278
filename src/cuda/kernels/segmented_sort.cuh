// CUB's stable segmented radix sort of (float key, int position) pairs, shared by TopK and NonMaxSuppression:
// equal keys keep their input order, so the lower position comes first as ONNX asks of both.
#pragma once

#include <cub/device/device_segmented_radix_sort.cuh>

namespace kiln::cuda {

// Workspace parts start on 256-byte boundaries.
inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }

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

}  // namespace kiln::cuda
