// Seeded device-side fill for build-time tuning inputs: floats uniform in [-1, 1), integers and bools 0.
#pragma once

#include "cuda/layer.h"

namespace kiln::cuda {
Status fill_random(const DeviceTensor& t, uint64_t seed, cudaStream_t stream);
}
