// The conversion layer the builder inserts between layers: dtype (float32/float16/bfloat16/int/bool) and
// layout (row-major <-> NHWC) changes in one pass, reading through the source strides.
#include "cuda/kernels/convert.h"

#include <fmt/format.h>

#include "cuda/kernels/common.cuh"

namespace kiln::cuda {
namespace {

template <typename In, typename Out>
__global__ void convert_kernel(const In* in, Out* out, int64_t n, IndexMap src, IndexMap dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<In, Out>)
      out[dst.offset(i)] = in[src.offset(i)];
    else
      out[dst.offset(i)] = from_float<Out>(to_float(in[src.offset(i)]));
  }
}

// Integer <-> integer / bool conversions keep integer precision (no float round trip).
template <typename In, typename Out>
__global__ void convert_int_kernel(const In* in, Out* out, int64_t n, IndexMap src, IndexMap dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[dst.offset(i)] = static_cast<Out>(in[src.offset(i)]);
}

template <typename In, typename Out>
void launch(const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d, cudaStream_t stream) {
  convert_kernel<In, Out><<<blocks_for(n), 256, 0, stream>>>(static_cast<const In*>(in), static_cast<Out*>(out), n, s, d);
}

template <typename In>
Status launch_float_to(DType to, const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d,
                       cudaStream_t stream) {
  switch (to) {
    case DType::kFloat32: launch<In, float>(in, out, n, s, d, stream); return Status::Ok();
    case DType::kFloat16: launch<In, __half>(in, out, n, s, d, stream); return Status::Ok();
    case DType::kBFloat16: launch<In, __nv_bfloat16>(in, out, n, s, d, stream); return Status::Ok();
    default: return unsupported(fmt::format("conversion to {}", dtype_name(to)));
  }
}

template <typename In, typename Out>
void launch_int(const void* in, void* out, int64_t n, const IndexMap& s, const IndexMap& d, cudaStream_t stream) {
  convert_int_kernel<In, Out><<<blocks_for(n), 256, 0, stream>>>(static_cast<const In*>(in), static_cast<Out*>(out), n, s, d);
}

}  // namespace

Status enqueue_convert(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t stream) {
  const int64_t n = in.desc.numel();
  if (n == 0) return Status::Ok();
  if (in.desc.shape.size() > size_t(kMaxRank)) return unsupported("conversion of a tensor of rank > 8");
  const IndexMap s = make_index_map(in.desc), d = make_index_map(out.desc);
  const DType a = in.desc.dtype, b = out.desc.dtype;
  if (a == b && in.desc.layout == out.desc.layout) {
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data, in.data, in.desc.bytes(), cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  Status st = unsupported(fmt::format("conversion {} -> {}", in.desc.describe(), out.desc.describe()));
  if (a == b) {
    switch (dtype_size(a)) {
      case 1: launch_int<uint8_t, uint8_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 2: launch_int<uint16_t, uint16_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 4: launch_int<uint32_t, uint32_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      case 8: launch_int<uint64_t, uint64_t>(in.data, out.data, n, s, d, stream); st = Status::Ok(); break;
      default: break;
    }
  } else if (a == DType::kFloat32) {
    st = launch_float_to<float>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kFloat16) {
    st = launch_float_to<__half>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kBFloat16) {
    st = launch_float_to<__nv_bfloat16>(b, in.data, out.data, n, s, d, stream);
  } else if (a == DType::kInt64 && b == DType::kInt32) {
    launch_int<int64_t, int32_t>(in.data, out.data, n, s, d, stream);
    st = Status::Ok();
  } else if (a == DType::kInt32 && b == DType::kInt64) {
    launch_int<int32_t, int64_t>(in.data, out.data, n, s, d, stream);
    st = Status::Ok();
  }
  KILN_RETURN_IF_ERROR(st);
  return check_launch("convert_kernel");
}

class ConvertLayer : public Layer {
 public:
  Status configure(ConfigureContext&) override { return Status::Ok(); }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out) override {
    return enqueue_convert(in[0], out[0], rc.stream);
  }
  std::string tactic() const override { return "kernel:convert"; }
};

std::unique_ptr<Layer> make_convert_layer() { return std::make_unique<ConvertLayer>(); }

}  // namespace kiln::cuda
