// The GEMM epilogue kernel (see gemm_epilogue.h): one grid-stride pass over the product, float math,
// with the same activation formulas as ops/fused.h so the CPU reference and the GPU agree.
#include "cuda/kernels/activation.cuh"
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/gemm_epilogue.h"

namespace kiln::cuda {
namespace {

template <typename T>
__global__ void gemm_tail_kernel(T* y, int64_t n, const T* c, IndexMap cmap, float beta, FusedActivation act,
                                 float act_alpha, float act_beta) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    float v = to_float(y[i]);
    if (c) v += beta * to_float(c[cmap.offset(i)]);
    y[i] = from_float<T>(activate(act, v, act_alpha, act_beta));
  }
}

template <typename T>
Status launch(const GemmTail& t, const DeviceTensor& y, cudaStream_t stream) {
  const int64_t n = y.desc.numel();
  IndexMap cmap;
  if (t.c) cmap = make_index_map(t.c_desc, y.desc.shape);
  gemm_tail_kernel<T><<<blocks_for(n), 256, 0, stream>>>(y.as<T>(), n, static_cast<const T*>(t.c), cmap, t.beta, t.act,
                                                         t.act_alpha, t.act_beta);
  return check_launch("gemm_tail_kernel");
}

}  // namespace

Status launch_gemm_tail(const GemmTail& tail, const DeviceTensor& y, cudaStream_t stream) {
  if (y.desc.numel() == 0) return Status::Ok();
  switch (y.desc.dtype) {
    case DType::kFloat32:
      return launch<float>(tail, y, stream);
    case DType::kFloat16:
      return launch<__half>(tail, y, stream);
    case DType::kBFloat16:
      return launch<__nv_bfloat16>(tail, y, stream);
    default:
      return Status(StatusCode::kUnsupported,
                    std::string("GEMM epilogue: output dtype ") + dtype_name(y.desc.dtype) + " is not a float type");
  }
}

}  // namespace kiln::cuda
