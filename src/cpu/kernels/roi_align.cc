// CPU reference RoiAlign, the ONNX reference's (and ONNX Runtime's) algorithm: each output bin averages (or,
// in max mode, takes the largest weighted corner of) grid_h x grid_w bilinear samples; samples more than one
// pixel outside the map count as 0; an adaptive grid is ceil(roi size / output size) per side (capped at
// kMaxAdaptiveGrid). Computed in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/kernels/common.h"
#include "ops/roi_align.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kMaxAdaptiveGrid = 1024;

struct Corners {
  int64_t i[4] = {0, 0, 0, 0};
  double w[4] = {0, 0, 0, 0};
};

// The four taps and weights of one sample (all weights 0 when it lies more than a pixel outside).
Corners bilinear(double y, double x, int64_t H, int64_t W) {
  Corners c;
  if (H <= 0 || W <= 0) return c;
  if (y < -1.0 || y > static_cast<double>(H) || x < -1.0 || x > static_cast<double>(W)) return c;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= H - 1) {
    y1 = y0 = H - 1;
    y = static_cast<double>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= W - 1) {
    x1 = x0 = W - 1;
    x = static_cast<double>(x0);
  } else {
    x1 = x0 + 1;
  }
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0), hy = 1 - ly, hx = 1 - lx;
  c.i[0] = y0 * W + x0;
  c.i[1] = y0 * W + x1;
  c.i[2] = y1 * W + x0;
  c.i[3] = y1 * W + x1;
  c.w[0] = hy * hx;
  c.w[1] = hy * lx;
  c.w[2] = ly * hx;
  c.w[3] = ly * lx;
  return c;
}

template <typename T>
Status run(KernelContext& ctx, const RoiAlignAttrs& a) {
  const Tensor& x = *ctx.input(0);
  const Tensor& rois = *ctx.input(1);
  const Tensor& idx = *ctx.input(2);
  if (x.rank() != 4 || rois.rank() != 2 || rois.dim(1) != 4 || idx.rank() != 1 || idx.dim(0) != rois.dim(0))
    return ctx.invalid("X " + x.describe() + ", rois " + rois.describe() + " and batch_indices " + idx.describe() +
                       " must be [N,C,H,W], [R,4] and [R]");
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), R = rois.dim(0);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), {R, C, a.out_h, a.out_w}));
  const std::vector<float> box = rois.to_float_vector();
  const T* xd = x.data<T>();
  T* out = y.data<T>();
  const double offset = a.half_pixel ? 0.5 : 0.0;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t b = idx.get_as_int64(r);
    if (b < 0 || b >= N)
      return ctx.invalid("batch_indices[" + std::to_string(r) + "] = " + std::to_string(b) + " is outside 0.." +
                         std::to_string(N - 1));
    const float* q = box.data() + r * 4;
    if (!std::isfinite(q[0]) || !std::isfinite(q[1]) || !std::isfinite(q[2]) || !std::isfinite(q[3]))
      return ctx.invalid("roi " + std::to_string(r) + " has a non-finite coordinate");
    const double x1 = q[0] * static_cast<double>(a.spatial_scale) - offset;
    const double y1 = q[1] * static_cast<double>(a.spatial_scale) - offset;
    double rw = q[2] * static_cast<double>(a.spatial_scale) - offset - x1;
    double rh = q[3] * static_cast<double>(a.spatial_scale) - offset - y1;
    if (!a.half_pixel) {  // the legacy mode forces rois at least 1x1
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    const double bin_h = rh / static_cast<double>(a.out_h), bin_w = rw / static_cast<double>(a.out_w);
    auto grid = [&](double size, int64_t bins) {
      if (a.sampling_ratio > 0) return a.sampling_ratio;
      const double g = std::ceil(size / static_cast<double>(bins));
      return g < 1 ? int64_t{0} : (g > kMaxAdaptiveGrid ? kMaxAdaptiveGrid : static_cast<int64_t>(g));
    };
    const int64_t gh = grid(rh, a.out_h), gw = grid(rw, a.out_w);
    if (a.out_h * a.out_w * gh * gw > (int64_t{1} << 26))
      return ctx.unsupported_here("roi " + std::to_string(r) + " needs " + std::to_string(a.out_h * a.out_w) + " bins of " +
                                  std::to_string(gh * gw) + " samples, over the 2^26 samples per roi kiln allows");
    const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
    // The taps of every sample of every bin, shared by all channels.
    std::vector<Corners> taps;
    taps.reserve(static_cast<size_t>(a.out_h * a.out_w * gh * gw));
    for (int64_t ph = 0; ph < a.out_h; ++ph)
      for (int64_t pw = 0; pw < a.out_w; ++pw)
        for (int64_t iy = 0; iy < gh; ++iy)
          for (int64_t ix = 0; ix < gw; ++ix) {
            const double sy = y1 + static_cast<double>(ph) * bin_h + (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(gh);
            const double sx = x1 + static_cast<double>(pw) * bin_w + (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(gw);
            taps.push_back(bilinear(sy, sx, H, W));
          }
    const int64_t per_bin = gh * gw;
    for (int64_t c = 0; c < C; ++c) {
      const T* plane = xd + (b * C + c) * H * W;
      T* dst = out + (r * C + c) * a.out_h * a.out_w;
      for (int64_t bin = 0; bin < a.out_h * a.out_w; ++bin) {
        double acc = 0;
        for (int64_t s = 0; s < per_bin; ++s) {
          const Corners& k = taps[static_cast<size_t>(bin * per_bin + s)];
          if (a.max_mode) {
            double v = k.w[0] * static_cast<double>(plane[k.i[0]]);
            for (int j = 1; j < 4; ++j) v = std::max(v, k.w[j] * static_cast<double>(plane[k.i[j]]));
            acc = s == 0 ? v : std::max(acc, v);
          } else {
            for (int j = 0; j < 4; ++j) acc += k.w[j] * static_cast<double>(plane[k.i[j]]);
          }
        }
        dst[bin] = static_cast<T>(a.max_mode ? acc : acc / count);
      }
    }
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status roi_align_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(RoiAlignAttrs a, parse_roi_align(ctx.node));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run<decltype(t)>(ctx, a); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(roi_align, CpuKernelDef{"RoiAlign", "", widen_half(roi_align_kernel)});

}  // namespace kiln::cpu
