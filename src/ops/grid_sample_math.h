// GridSample's arithmetic, one source for the CPU reference (src/cpu/kernels/grid_sample.cc) and the CUDA kernel
// (src/cuda/kernels/grid_sample.cu): normalized grid -> pixel coordinates (align_corners decides whether -1/1 are
// the corner pixels' centres or their outer edges), the padding mode applied to the coordinate (border: clamped;
// reflection: mirrored at the borders) and to every tap (zeros: 0 outside), then nearest (round half to even),
// bilinear or bicubic (A = -0.75) interpolation, all in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/grid_sample.h"

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::grid_sample {

KILN_HOST_DEVICE inline double denormalize(double g, int64_t size, bool align) {
  return align ? (g + 1) / 2 * static_cast<double>(size - 1) : ((g + 1) * static_cast<double>(size) - 1) / 2;
}

// Mirrors x at lo and hi until it lies between them.
KILN_HOST_DEVICE inline double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double d = lo - x;
    const double n = ::floor(d / range);
    const double r = d - n * range;
    return ::fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double d = x - hi;
    const double n = ::floor(d / range);
    const double r = d - n * range;
    return ::fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

KILN_HOST_DEVICE inline int64_t clamp_index(int64_t i, int64_t size) { return i < 0 ? 0 : (i >= size ? size - 1 : i); }

KILN_HOST_DEVICE inline double clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

// One image plane; Load(index) returns pixel r * w + c as a double.
template <typename Load>
struct Plane {
  Load load;
  int64_t h, w;
  GridSamplePadding padding;
  double lo_x, lo_y, hi_x, hi_y;  // the reflection borders

  KILN_HOST_DEVICE Plane(Load l, int64_t height, int64_t width, GridSamplePadding pad, bool align)
      : load(l), h(height), w(width), padding(pad) {
    if (align) {
      lo_x = lo_y = 0;
      hi_x = static_cast<double>(w - 1);
      hi_y = static_cast<double>(h - 1);
    } else {
      lo_x = lo_y = -0.5;
      hi_x = static_cast<double>(w) - 0.5;
      hi_y = static_cast<double>(h) - 0.5;
    }
  }

  KILN_HOST_DEVICE double at(int64_t r, int64_t c) const {
    switch (padding) {
      case GridSamplePadding::kZeros:
        if (r < 0 || r >= h || c < 0 || c >= w) return 0;
        break;
      case GridSamplePadding::kBorder:
        r = clamp_index(r, h);
        c = clamp_index(c, w);
        break;
      case GridSamplePadding::kReflection:
        r = clamp_index(static_cast<int64_t>(reflect(static_cast<double>(r), lo_y, hi_y)), h);
        c = clamp_index(static_cast<int64_t>(reflect(static_cast<double>(c), lo_x, hi_x)), w);
        break;
    }
    return load(r * w + c);
  }
};

KILN_HOST_DEVICE inline void cubic_coeffs(double t, double* k) {
  constexpr double A = -0.75;
  const double x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  k[0] = ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A;
  k[1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
  k[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  k[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
}

// The value at pixel coordinates (x, y).
template <typename Load>
KILN_HOST_DEVICE double sample(const Plane<Load>& p, const GridSampleAttrs& a, double x, double y) {
  if (a.padding == GridSamplePadding::kBorder) {
    x = clamp(x, 0.0, static_cast<double>(p.w - 1));
    y = clamp(y, 0.0, static_cast<double>(p.h - 1));
  } else if (a.padding == GridSamplePadding::kReflection) {
    x = reflect(x, p.lo_x, p.hi_x);
    y = reflect(y, p.lo_y, p.hi_y);
  } else {
    // Zeros: a point further out than any tap reaches reads only zeros; clamping it there keeps the integer
    // conversions below in range for any finite grid value.
    x = clamp(x, -4.0, static_cast<double>(p.w) + 3);
    y = clamp(y, -4.0, static_cast<double>(p.h) + 3);
  }
  switch (a.mode) {
    case GridSampleMode::kNearest:
      return p.at(static_cast<int64_t>(::nearbyint(y)), static_cast<int64_t>(::nearbyint(x)));
    case GridSampleMode::kLinear: {
      const double fx = ::floor(x), fy = ::floor(y);
      const int64_t c0 = static_cast<int64_t>(fx), r0 = static_cast<int64_t>(fy);
      const double wx = x - fx, wy = y - fy;
      return (1 - wy) * ((1 - wx) * p.at(r0, c0) + wx * p.at(r0, c0 + 1)) +
             wy * ((1 - wx) * p.at(r0 + 1, c0) + wx * p.at(r0 + 1, c0 + 1));
    }
    case GridSampleMode::kCubic: {
      const double fx = ::floor(x), fy = ::floor(y);
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

// One output value for grid point (gx, gy): 0 from an empty image, NaN for a non-finite grid value.
template <typename Load>
KILN_HOST_DEVICE double grid_value(const Plane<Load>& p, const GridSampleAttrs& a, double gx, double gy) {
  if (p.h == 0 || p.w == 0) return 0;
  if (!(gx - gx == 0) || !(gy - gy == 0)) return NAN;  // inf - inf and NaN - NaN are NaN: not finite
  return sample(p, a, denormalize(gx, p.w, a.align_corners), denormalize(gy, p.h, a.align_corners));
}

}  // namespace kiln::grid_sample
