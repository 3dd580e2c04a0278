// Helpers for tactic selection: timing a candidate on a stream, and checking a candidate's output against
// the reference candidate's (a candidate that disagrees is rejected, never chosen for being fast).
#pragma once

#include <functional>

#include "cuda/layer.h"

namespace kiln::cuda {

// Median milliseconds of `launch` (which enqueues on `stream`) over `runs` runs after `warmup` runs,
// timed with CUDA events. A launch that fails returns its Status.
Expected<float> time_candidate(cudaStream_t stream, const std::function<Status()>& launch, int warmup = 2,
                               int runs = 7);

// max |a - b| / max(max |b|, 1e-6) over `n` elements of float32/float16/bfloat16/int8 device data (synchronises
// the stream). Candidates are accepted when this is below tolerance_for(dtype).
Expected<double> max_relative_difference(const void* a, const void* b, int64_t n, DType dtype,
                                         cudaStream_t stream);
double tactic_tolerance(DType dtype);  // 1e-3 float32 (TF32 candidates differ), 2e-2 half, 5e-2 bf16, 0.1 int8

}  // namespace kiln::cuda
