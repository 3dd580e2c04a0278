// Seeded device-side fill for build-time tuning inputs: floats uniform in [-1, 1), integers and bools 0.
#pragma once

#include "cuda/layer.h"

namespace kiln::cuda {
Status fill_random(const DeviceTensor& t, uint64_t seed, cudaStream_t stream);
// Test-only: t = 0.5 - t in place (float dtypes), the wrong answer of BuildOptions::perturb_layer_for_testing.
Status perturb_for_testing(const DeviceTensor& t, cudaStream_t stream);
}  // namespace kiln::cuda
