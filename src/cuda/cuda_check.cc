// CUDA / cuDNN / cuBLAS status conversion and DeviceBuffer.
#include "cuda/cuda_check.h"

#include <fmt/format.h>

namespace kiln::cuda {

Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear the sticky-free error so later calls are not blamed for it
  const StatusCode code = StatusCode::kRuntime;
  if (err == cudaErrorMemoryAllocation)
    return Status(code, fmt::format("out of GPU memory in {} ({}): use a smaller batch or --memPoolSize", what,
                                    cudaGetErrorString(err)));
  return Status(code, fmt::format("CUDA error in {}: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err)));
}

Status cudnn_status(cudnnStatus_t err, const char* what) {
  if (err == CUDNN_STATUS_SUCCESS) return Status::Ok();
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  return runtime_error(fmt::format("cuDNN error in {}: {}{}{}", what, cudnnGetErrorString(err), detail[0] ? ": " : "",
                                   detail));
}

Status cublas_status(cublasStatus_t err, const char* what) {
  if (err == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return runtime_error(fmt::format("cuBLAS error in {}: status {}", what, static_cast<int>(err)));
}

Expected<DeviceBuffer> DeviceBuffer::allocate(size_t bytes, const char* what) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return runtime_error(fmt::format("cannot allocate {:.1f} MiB of GPU memory for {}: {}", bytes / 1048576.0, what,
                                     cudaGetErrorString(err)));
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return b;
}

Expected<DeviceBuffer> DeviceBuffer::upload(const void* host, size_t bytes, const char* what) {
  KILN_ASSIGN_OR_RETURN(DeviceBuffer b, allocate(bytes, what));
  if (bytes) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(b.ptr_, host, bytes, cudaMemcpyHostToDevice));
  return b;
}

void DeviceBuffer::reset() {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace kiln::cuda
