// Host interface of the pooling kernels (kernels/pool.cu): windowed max/average pooling over 1 to 3
// spatial dims (row-major, or NHWC for 4-D tensors, output in the input's layout) and global pools.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

// Spatial dims are padded at the front to three (D, H, W): 2-D pooling has D = 1, 1-D has D = H = 1, with
// kernel 1, stride 1, no pads on the added dims.
struct PoolParams {
  int64_t n = 0, c = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1};
  int64_t pad_begin[3] = {}, pad_end[3] = {};
  bool channels_last = false;      // input and output stored N, spatial..., C
  bool max = true;                 // max pooling, else average
  bool count_include_pad = false;  // average: divide by the window's extent within the padded input
};
Status launch_pool(const PoolParams& p, DType dtype, const void* in, void* out, cudaStream_t stream);

// Max or mean over `area` spatial elements of each (n, c): row-major input [N, C, area] or channels-last
// [N, area, C]. The output is [N, C] (dense). Channels-last pools split the pixels over several blocks when
// one block per (image, channel chunk) would leave the GPU idle; the float partials need
// plan_global_pool(...).workspace_bytes of `workspace`.
struct GlobalPoolSplit {
  int lanes = 1, gx = 1, splits = 1;
  int64_t per_split = 0;
  size_t workspace_bytes = 0;
};
GlobalPoolSplit plan_global_pool(bool channels_last, int64_t n, int64_t c, int64_t area, DType dtype);
Status launch_global_pool(bool max, bool channels_last, int64_t n, int64_t c, int64_t area, DType dtype, const void* in,
                          void* out, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace kiln::cuda
