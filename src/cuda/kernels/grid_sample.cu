// CUDA lowering of GridSample on 2-D images (X [N,C,H,W], grid [N,Ho,Wo,2], row-major): one thread per output
// value, with the CPU reference's arithmetic (src/ops/grid_sample_math.h, in double), so every mode, padding and
// align_corners behaves the same on both backends. Float32, float16 and bfloat16 storage.
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/elementwise.cuh"
#include "ops/grid_sample_math.h"

namespace kiln::cuda {
namespace {

using LayerPtr = std::unique_ptr<Layer>;

struct GridGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, ho = 0, wo = 0;
};

template <typename T>
struct PlaneLoad {
  const T* src;
  __device__ double operator()(int64_t i) const { return static_cast<double>(to_float(src[i])); }
};

template <typename T>
__global__ void grid_sample_kernel(const T* x, const T* grid, T* y, GridGeometry g, GridSampleAttrs a) {
  const int64_t total = g.n * g.c * g.ho * g.wo, step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += step) {
    const int64_t k = t % (g.ho * g.wo), nc = t / (g.ho * g.wo), n = nc / g.c;
    const grid_sample::Plane<PlaneLoad<T>> p(PlaneLoad<T>{x + nc * g.h * g.w}, g.h, g.w, a.padding, a.align_corners);
    const T* gp = grid + (n * g.ho * g.wo + k) * 2;
    y[t] = from_float<T>(static_cast<float>(grid_sample::grid_value(p, a, to_float(gp[0]), to_float(gp[1]))));
  }
}

Expected<LayerPtr> make_grid_sample(LowerContext& ctx) {
  if (ctx.inputs.size() < 2) return ctx.invalid("needs X and grid");
  KILN_ASSIGN_OR_RETURN(GridSampleAttrs a, parse_grid_sample(ctx.node));
  KILN_RETURN_IF_ERROR(ew::require_float_inputs(ctx, {0, 1}));
  if (ctx.inputs[0].shape.size() != 4)
    return ctx.unsupported_here("GridSample on " + ctx.inputs[0].describe() + " (the GPU samples 2-D images)");
  KILN_RETURN_IF_ERROR(ctx.require_input(0, ctx.float_dtype(), Layout::kRowMajor));
  KILN_RETURN_IF_ERROR(ctx.require_input(1, ctx.float_dtype(), Layout::kRowMajor));
  const DType dt = ctx.float_dtype();
  ctx.outputs[0].dtype = dt;
  ctx.outputs[0].layout = Layout::kRowMajor;
  const std::string what = ctx.node.describe();
  auto geometry = std::make_shared<GridGeometry>();
  return LayerPtr(new FunctionLayer(
      "kernel:grid_sample",
      [geometry, a, dt, what](const RunContext& rc, const std::vector<DeviceTensor>& in,
                              const std::vector<DeviceTensor>& out) -> Status {
        const GridGeometry g = *geometry;
        const int64_t total = g.n * g.c * g.ho * g.wo;
        if (total == 0) return Status::Ok();
        return dispatch_float(dt, what, [&](auto tag) {
          using T = decltype(tag);
          grid_sample_kernel<T><<<blocks_for(total), 256, 0, rc.stream>>>(in[0].as<const T>(), in[1].as<const T>(),
                                                                          out[0].as<T>(), g, a);
          return check_launch("grid_sample");
        });
      },
      [geometry, what](ConfigureContext& c) -> Status {
        const Shape& x = c.inputs[0].shape;
        const Shape& grid = c.inputs[1].shape;
        if (x.size() != 4 || grid.size() != 4 || grid[3] != 2 || grid[0] != x[0])
          return invalid_input(what + ": X " + c.inputs[0].describe() + " must be [N,C,H,W] and grid " +
                               c.inputs[1].describe() + " [N,Ho,Wo,2]");
        *geometry = GridGeometry{x[0], x[1], x[2], x[3], grid[1], grid[2]};
        return Status::Ok();
      }));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(grid_sample, CudaLoweringDef{"GridSample", "", make_grid_sample});

}  // namespace kiln::cuda
