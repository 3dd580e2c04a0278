// CPU reference GridSample on 2-D images: normalized grid -> pixel coordinates (align_corners decides whether
// -1/1 are the corner pixels' centres or their outer edges), the padding mode applied to the coordinate
// (border: clamped; reflection: mirrored at the borders) and to every tap (zeros: 0 outside), then nearest
// (round half to even), bilinear or bicubic (A = -0.75) interpolation. Computed in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/kernels/common.h"
#include "ops/grid_sample.h"

namespace kiln::cpu {
namespace {

double denormalize(double g, int64_t size, bool align) {
  return align ? (g + 1) / 2 * static_cast<double>(size - 1) : ((g + 1) * static_cast<double>(size) - 1) / 2;
}

// Mirrors x at lo and hi until it lies between them.
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double d = lo - x;
    const double n = std::floor(d / range);
    const double r = d - n * range;
    return std::fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double d = x - hi;
    const double n = std::floor(d / range);
    const double r = d - n * range;
    return std::fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

struct Plane {
  const double* data;
  int64_t h, w;
  GridSamplePadding padding;
  double lo_x, lo_y, hi_x, hi_y;  // the reflection borders

  double at(int64_t r, int64_t c) const {
    switch (padding) {
      case GridSamplePadding::kZeros:
        if (r < 0 || r >= h || c < 0 || c >= w) return 0;
        break;
      case GridSamplePadding::kBorder:
        r = std::min(std::max<int64_t>(r, 0), h - 1);
        c = std::min(std::max<int64_t>(c, 0), w - 1);
        break;
      case GridSamplePadding::kReflection:
        r = static_cast<int64_t>(reflect(static_cast<double>(r), lo_y, hi_y));
        c = static_cast<int64_t>(reflect(static_cast<double>(c), lo_x, hi_x));
        r = std::min(std::max<int64_t>(r, 0), h - 1);
        c = std::min(std::max<int64_t>(c, 0), w - 1);
        break;
    }
    return data[r * w + c];
  }
};

void cubic_coeffs(double t, double* k) {
  constexpr double A = -0.75;
  const double x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  k[0] = ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A;
  k[1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
  k[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  k[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
}

double sample(const Plane& p, const GridSampleAttrs& a, double x, double y) {
  if (a.padding == GridSamplePadding::kBorder) {
    x = std::min(std::max(x, 0.0), static_cast<double>(p.w - 1));
    y = std::min(std::max(y, 0.0), static_cast<double>(p.h - 1));
  } else if (a.padding == GridSamplePadding::kReflection) {
    x = reflect(x, p.lo_x, p.hi_x);
    y = reflect(y, p.lo_y, p.hi_y);
  } else {
    // Zeros: a point further out than any tap reaches reads only zeros; clamping it there keeps the integer
    // conversions below in range for any finite grid value.
    x = std::min(std::max(x, -4.0), static_cast<double>(p.w) + 3);
    y = std::min(std::max(y, -4.0), static_cast<double>(p.h) + 3);
  }
  switch (a.mode) {
    case GridSampleMode::kNearest:
      return p.at(static_cast<int64_t>(std::nearbyint(y)), static_cast<int64_t>(std::nearbyint(x)));
    case GridSampleMode::kLinear: {
      const double fx = std::floor(x), fy = std::floor(y);
      const int64_t c0 = static_cast<int64_t>(fx), r0 = static_cast<int64_t>(fy);
      const double wx = x - fx, wy = y - fy;
      return (1 - wy) * ((1 - wx) * p.at(r0, c0) + wx * p.at(r0, c0 + 1)) +
             wy * ((1 - wx) * p.at(r0 + 1, c0) + wx * p.at(r0 + 1, c0 + 1));
    }
    case GridSampleMode::kCubic: {
      const double fx = std::floor(x), fy = std::floor(y);
      const int64_t c0 = static_cast<int64_t>(fx) - 1, r0 = static_cast<int64_t>(fy) - 1;
      double kx[4], ky[4];
      cubic_coeffs(x - fx, kx);
      cubic_coeffs(y - fy, ky);
      double s = 0;
      for (int i = 0; i < 4; ++i) {
        double row = 0;
        for (int j = 0; j < 4; ++j) row += kx[j] * p.at(r0 + i, c0 + j);
        s += ky[i] * row;
      }
      return s;
    }
  }
  return 0;
}

template <typename T>
Status run(KernelContext& ctx, const GridSampleAttrs& a) {
  const Tensor& x = *ctx.input(0);
  const Tensor& grid = *ctx.input(1);
  if (x.rank() != 4 || grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0))
    return ctx.invalid("X " + x.describe() + " must be [N,C,H,W] and grid " + grid.describe() + " [N,Ho,Wo,2]");
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = grid.dim(1), Wo = grid.dim(2);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), {N, C, Ho, Wo}));
  const std::vector<float> g = grid.to_float_vector();
  const T* xd = x.data<T>();
  T* out = y.data<T>();
  std::vector<double> plane(static_cast<size_t>(H * W));
  Plane p{plane.data(), H, W, a.padding, 0, 0, 0, 0};
  if (a.align_corners) {
    p.hi_x = static_cast<double>(W - 1);
    p.hi_y = static_cast<double>(H - 1);
  } else {
    p.lo_x = p.lo_y = -0.5;
    p.hi_x = static_cast<double>(W) - 0.5;
    p.hi_y = static_cast<double>(H) - 0.5;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T* src = xd + (n * C + c) * H * W;
      for (int64_t i = 0; i < H * W; ++i) plane[static_cast<size_t>(i)] = static_cast<double>(src[i]);
      T* dst = out + (n * C + c) * Ho * Wo;
      const float* gn = g.data() + n * Ho * Wo * 2;
      for (int64_t k = 0; k < Ho * Wo; ++k) {
        const double gx = gn[2 * k], gy = gn[2 * k + 1];
        if (H == 0 || W == 0 || !std::isfinite(gx) || !std::isfinite(gy)) {
          dst[k] = static_cast<T>(H == 0 || W == 0 ? 0.0 : std::nan(""));
          continue;
        }
        dst[k] = static_cast<T>(sample(p, a, denormalize(gx, W, a.align_corners), denormalize(gy, H, a.align_corners)));
      }
    }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status grid_sample_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(GridSampleAttrs a, parse_grid_sample(ctx.node));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run<decltype(t)>(ctx, a); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(grid_sample, CpuKernelDef{"GridSample", "", widen_half(grid_sample_kernel)});

}  // namespace kiln::cpu
