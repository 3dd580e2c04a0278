// Tactic timing (CUDA events, median of runs) and the output-agreement check used to reject candidates.
#include "cuda/tactic.h"

#include <algorithm>
#include <vector>

#include "cuda/kernels/common.cuh"

namespace kiln::cuda {

Expected<float> time_candidate(cudaStream_t stream, const std::function<Status()>& launch, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) KILN_RETURN_IF_ERROR(launch());
  cudaEvent_t start = nullptr, stop = nullptr;
  KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<float> ms;
  Status st;
  for (int i = 0; i < runs && st.ok(); ++i) {
    cudaEventRecord(start, stream);
    st = launch();
    cudaEventRecord(stop, stream);
    if (!st.ok()) break;
    st = cuda_status(cudaEventSynchronize(stop), "timing a tactic");
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  KILN_RETURN_IF_ERROR(st);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

namespace {

// Block-wide partial maxima of |a-b| and |b|; combined on the host (few blocks).
template <typename T>
__global__ void diff_kernel(const T* a, const T* b, int64_t n, float* out_diff, float* out_ref) {
  float d = 0.f, r = 0.f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float x = to_float(a[i]), y = to_float(b[i]);
    const float e = fabsf(x - y);
    d = (e != e) ? INFINITY : fmaxf(d, e);  // NaN counts as disagreement
    r = fmaxf(r, fabsf(y));
  }
  __shared__ float sd[256], sr[256];
  sd[threadIdx.x] = d;
  sr[threadIdx.x] = r;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      sd[threadIdx.x] = fmaxf(sd[threadIdx.x], sd[threadIdx.x + s]);
      sr[threadIdx.x] = fmaxf(sr[threadIdx.x], sr[threadIdx.x + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out_diff[blockIdx.x] = sd[0];
    out_ref[blockIdx.x] = sr[0];
  }
}

}  // namespace

Expected<double> max_relative_difference(const void* a, const void* b, int64_t n, DType dtype, cudaStream_t stream) {
  constexpr int kBlocks = 128;
  KILN_ASSIGN_OR_RETURN(DeviceBuffer partial, DeviceBuffer::allocate(2 * kBlocks * sizeof(float), "tactic check"));
  float* pd = partial.as<float>();
  float* pr = pd + kBlocks;
  if (dtype == DType::kFloat32)
    diff_kernel<<<kBlocks, 256, 0, stream>>>(static_cast<const float*>(a), static_cast<const float*>(b), n, pd, pr);
  else if (dtype == DType::kFloat16)
    diff_kernel<<<kBlocks, 256, 0, stream>>>(static_cast<const __half*>(a), static_cast<const __half*>(b), n, pd, pr);
  else if (dtype == DType::kBFloat16)
    diff_kernel<<<kBlocks, 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(a),
                                             static_cast<const __nv_bfloat16*>(b), n, pd, pr);
  else if (dtype == DType::kInt8)
    diff_kernel<<<kBlocks, 256, 0, stream>>>(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b), n, pd, pr);
  else
    return unsupported(std::string("tactic check on ") + dtype_name(dtype) + " outputs");
  KILN_RETURN_IF_ERROR(check_launch("diff_kernel"));
  std::vector<float> host(2 * kBlocks);
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host.data(), pd, host.size() * sizeof(float), cudaMemcpyDeviceToHost, stream));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  float d = 0, r = 0;
  for (int i = 0; i < kBlocks; ++i) {
    d = std::max(d, host[i]);
    r = std::max(r, host[kBlocks + i]);
  }
  return double(d) / std::max(double(r), 1e-6);
}

double tactic_tolerance(DType dtype) {
  if (dtype == DType::kFloat16) return 2e-2;
  if (dtype == DType::kBFloat16) return 5e-2;
  if (dtype == DType::kInt8) return 0.1;  // requantized outputs: a step or two where the float sum lands near .5
  return 1e-3;
}

}  // namespace kiln::cuda
