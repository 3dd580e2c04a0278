// Turning CUDA, cuDNN and cuBLAS(Lt) error codes into kiln Status values, and a device-buffer owner.
// C++ side only (no kernels here); .cu files include it too.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "kiln/status.h"

namespace kiln::cuda {

Status cuda_status(cudaError_t err, const char* what);
Status cudnn_status(cudnnStatus_t err, const char* what);
Status cublas_status(cublasStatus_t err, const char* what);

// Device memory owned by one object; moves only. Allocation failure is a kRuntime Status naming the size.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  static Expected<DeviceBuffer> allocate(size_t bytes, const char* what);
  // Allocates and copies `bytes` from host memory (synchronous; build/load time only).
  static Expected<DeviceBuffer> upload(const void* host, size_t bytes, const char* what);
  void reset();
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace kiln::cuda

#define KILN_CUDA_RETURN_IF_ERROR(expr) \
  do { const cudaError_t kiln_cuda_err_ = (expr); \
       if (kiln_cuda_err_ != cudaSuccess) return ::kiln::cuda::cuda_status(kiln_cuda_err_, #expr); } while (0)
#define KILN_CUDNN_RETURN_IF_ERROR(expr) \
  do { const cudnnStatus_t kiln_cudnn_err_ = (expr); \
       if (kiln_cudnn_err_ != CUDNN_STATUS_SUCCESS) return ::kiln::cuda::cudnn_status(kiln_cudnn_err_, #expr); } while (0)
#define KILN_CUBLAS_RETURN_IF_ERROR(expr) \
  do { const cublasStatus_t kiln_cublas_err_ = (expr); \
       if (kiln_cublas_err_ != CUBLAS_STATUS_SUCCESS) return ::kiln::cuda::cublas_status(kiln_cublas_err_, #expr); } while (0)
