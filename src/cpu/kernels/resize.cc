// CPU reference kernel for Resize and Upsample. Each resized axis gets a list of (input index, weight)
// taps per output index; nearest gathers directly (any dtype, exact), linear and cubic apply the taps
// axis by axis in double (separable N-D interpolation), as the ONNX reference does.
#include "ops/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

struct Tap {
  int64_t index;
  double weight;
};

struct AxisPlan {
  int64_t in_len = 0, out_len = 0;
  std::vector<std::vector<Tap>> taps;  // per output index
  std::vector<char> outside;           // per output index: tf_crop_and_resize point outside the input

  bool identity() const {
    if (in_len != out_len) return false;
    for (int64_t j = 0; j < out_len; ++j)
      if (outside[j] || taps[j].size() != 1 || taps[j][0].index != j || taps[j][0].weight != 1.0) return false;
    return true;
  }
};

// Maps output coordinate x to the input coordinate (coordinate_transformation_mode).
double source_coord(const ResizeAttrs& a, double x, double scale, int64_t in_len, int64_t out_len, double roi_start,
                    double roi_end) {
  const double in = static_cast<double>(in_len), out = static_cast<double>(out_len);
  if (a.coord == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (a.coord == "half_pixel_symmetric") {
    const double adjustment = out / (scale * in);
    const double offset = in / 2 * (1 - adjustment);
    return offset + (x + 0.5) / scale - 0.5;
  }
  if (a.coord == "pytorch_half_pixel") return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  // The ONNX reference divides by the unrounded output length (scale * in), which matters for scales
  // whose product is fractional (0.6 * 4 = 2.4).
  if (a.coord == "align_corners") return scale * in != 1.0 && out_len > 1 ? x * (in - 1) / (scale * in - 1) : 0.0;
  if (a.coord == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (a.coord == "tf_crop_and_resize") {
    if (out_len > 1) return roi_start * (in - 1) + x * (roi_end - roi_start) * (in - 1) / (out - 1);
    return 0.5 * (roi_start + roi_end) * (in - 1);
  }
  return x / scale;  // asymmetric
}

int64_t nearest_index(const ResizeAttrs& a, double x, double scale) {
  if (a.legacy) return static_cast<int64_t>(scale < 1 ? std::ceil(x) : std::floor(x));
  const double fl = std::floor(x);
  const bool half = x - fl == 0.5;
  if (a.nearest_mode == "floor") return static_cast<int64_t>(fl);
  if (a.nearest_mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (a.nearest_mode == "round_prefer_ceil") return static_cast<int64_t>(half ? fl + 1 : std::round(x));
  return static_cast<int64_t>(half ? fl : std::round(x));  // round_prefer_floor
}

// Interpolation weights for offsets start..start+n-1 from base, where x = base + ratio, ratio in (0, 1].
// Antialias widens the kernel by 1/scale when shrinking (the ONNX reference's definition).
double cubic_kernel(double x, double A) {
  x = std::abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

std::vector<Tap> filter_taps(const ResizeAttrs& a, double ratio, int64_t base, double scale) {
  const bool cubic = a.mode == "cubic";
  const double s = a.antialias ? std::min(scale, 1.0) : 1.0;
  const double support = cubic ? 2.0 : 1.0;
  const int64_t start = static_cast<int64_t>(std::floor(-support / s)) + 1;
  const int64_t end = 2 - start;  // taps start..1-start, symmetric around the cell
  std::vector<Tap> taps;
  for (int64_t i = start; i < end; ++i) {
    const double arg = s * (static_cast<double>(i) - ratio);
    const double w = cubic ? cubic_kernel(arg, a.cubic_a) : std::max(0.0, 1.0 - std::abs(arg));
    taps.push_back(Tap{base + i, w});
  }
  return taps;
}

Expected<AxisPlan> plan_axis(const KernelContext& ctx, const ResizeAttrs& a, int64_t in_len, int64_t out_len,
                             double scale, double roi_start, double roi_end) {
  AxisPlan p;
  p.in_len = in_len;
  p.out_len = out_len;
  p.taps.resize(static_cast<size_t>(out_len));
  p.outside.assign(static_cast<size_t>(out_len), 0);
  if (out_len > 0 && in_len == 0)
    return ctx.invalid("cannot resize an empty axis to length " + std::to_string(out_len));
  for (int64_t j = 0; j < out_len; ++j) {
    const double x = source_coord(a, static_cast<double>(j), scale, in_len, out_len, roi_start, roi_end);
    if (a.coord == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in_len - 1))) {
      p.outside[j] = 1;
      continue;
    }
    if (a.mode == "nearest") {
      p.taps[j] = {Tap{std::clamp<int64_t>(nearest_index(a, x, scale), 0, in_len - 1), 1.0}};
      continue;
    }
    double base = std::floor(x);
    if (base == x) base -= 1;  // ratio in (0, 1]: an exact hit is the right end of the left cell
    std::vector<Tap> taps = filter_taps(a, x - base, static_cast<int64_t>(base), scale);
    double sum = 0;
    for (Tap& t : taps) {
      if (a.exclude_outside && (t.index < 0 || t.index >= in_len)) t.weight = 0;
      t.index = std::clamp<int64_t>(t.index, 0, in_len - 1);
      sum += t.weight;
    }
    const bool renormalize = a.antialias || a.exclude_outside;
    for (const Tap& t : taps) {
      if (t.weight == 0) continue;
      p.taps[j].push_back(Tap{t.index, renormalize && sum != 0 ? t.weight / sum : t.weight});
    }
  }
  return p;
}

// Nearest: out element = input element at the per-axis picked indices (byte copy, any dtype).
Status gather_nearest(KernelContext& ctx, const Tensor& x, const std::vector<AxisPlan>& plans, const Shape& out_shape,
                      double extrapolation) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(x.dtype(), out_shape));
  KILN_ASSIGN_OR_RETURN(Tensor fill, convert_dtype(Tensor::from_vector<double>({1}, {extrapolation}), x.dtype()));
  const size_t esize = dtype_size(x.dtype());
  const std::vector<int64_t> strides = row_major_strides(x.shape());
  const size_t rank = out_shape.size();
  std::vector<int64_t> counter(rank, 0);
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t offset = 0;
    bool outside = false;
    for (size_t d = 0; d < rank; ++d) {
      outside = outside || plans[d].outside[counter[d]];
      if (!outside) offset += plans[d].taps[counter[d]][0].index * strides[d];
    }
    std::memcpy(dst + i * esize, outside ? fill.raw() : src + offset * esize, esize);
    for (size_t d = rank; d-- > 0;) {
      if (++counter[d] < out_shape[d]) break;
      counter[d] = 0;
    }
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// One separable pass: interpolates `data` (shape `shape`) along `axis`.
std::vector<double> apply_axis(const std::vector<double>& data, Shape& shape, size_t axis, const AxisPlan& p,
                               double extrapolation) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<double> out(static_cast<size_t>(outer * p.out_len * inner), 0.0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < p.out_len; ++j) {
      double* dst = out.data() + (o * p.out_len + j) * inner;
      if (p.outside[j]) {
        std::fill(dst, dst + inner, extrapolation);
        continue;
      }
      for (const Tap& t : p.taps[j]) {
        const double* src = data.data() + (o * p.in_len + t.index) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += t.weight * src[i];
      }
    }
  }
  shape[axis] = p.out_len;
  return out;
}

Status interpolate(KernelContext& ctx, const Tensor& x, const std::vector<AxisPlan>& plans, const Shape& out_shape,
                   double extrapolation) {
  return visit_float(
      x.dtype(), ctx.node.describe() + " (" + ctx.node.op_type + " linear/cubic)", [&](auto tag) -> Status {
        using T = decltype(tag);
        std::vector<double> data(x.data<T>(), x.data<T>() + x.numel());
        Shape shape = x.shape();
        for (size_t d = 0; d < plans.size(); ++d)
          if (!plans[d].identity()) data = apply_axis(data, shape, d, plans[d], extrapolation);
        KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(x.dtype(), out_shape));
        std::transform(data.begin(), data.end(), out.data<T>(), [](double v) { return static_cast<T>(v); });
        ctx.outputs[0] = std::move(out);
        return Status::Ok();
      });
}

Status run_resize(KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(ResizeAttrs attrs, parse_resize_attrs(node));
  KILN_ASSIGN_OR_RETURN(ResizeRequest req, resize_request(node, [&](size_t i) { return ctx.input(i); }));
  KILN_ASSIGN_OR_RETURN(ResizeGeometry g, resize_geometry(node, attrs, x.shape(), req));
  std::vector<AxisPlan> plans;
  for (int64_t d = 0; d < x.rank(); ++d) {
    KILN_ASSIGN_OR_RETURN(AxisPlan p,
                          plan_axis(ctx, attrs, x.dim(d), g.out[d], g.scales[d], g.roi_start[d], g.roi_end[d]));
    plans.push_back(std::move(p));
  }
  if (attrs.mode == "nearest") return gather_nearest(ctx, x, plans, g.out, attrs.extrapolation);
  return interpolate(ctx, x, plans, g.out, attrs.extrapolation);
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(resize, CpuKernelDef{"Resize", "", widen_half(run_resize)},
                          CpuKernelDef{"Upsample", "", widen_half(run_resize)});

}  // namespace kiln::cpu
