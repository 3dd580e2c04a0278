// Dtype/layout conversion between layers (inserted by the builder, also used for engine I/O).
#pragma once

#include <memory>

#include "cuda/layer.h"

namespace kiln::cuda {

// out = in converted to out's dtype and layout (same logical shape).
Status enqueue_convert(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t stream);
std::unique_ptr<Layer> make_convert_layer();

}  // namespace kiln::cuda
