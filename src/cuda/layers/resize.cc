// CUDA lowering of Resize and Upsample. The host turns the ONNX coordinate rules (ops/resize.h geometry,
// coordinate_transformation_mode, nearest_mode, linear/cubic filters, antialias, exclude_outside) into
// per-axis tap tables, uploaded once per input shape; the kernel (kernels/resize.cu) only gathers and sums.
#include "cuda/kernels/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "cuda/layers/move_util.h"
#include "ops/resize.h"

namespace kiln::cuda {
namespace {

struct AxisTable {
  int taps = 1;
  std::vector<int64_t> index;  // out_len * taps; -1 in the first tap: outside the input
  std::vector<float> weight;
};

// Input coordinate of output coordinate x. Lengths that divide use the unrounded output length
// scale * in_len, as the ONNX reference (and kiln's CPU kernel) do.
double input_coord(const ResizeAttrs& a, double x, double scale, int64_t in_len, int64_t out_len, double roi0,
                   double roi1) {
  const double in = static_cast<double>(in_len);
  const double out = scale * in;
  const bool one = std::abs(out - 1.0) < 1e-9;
  const std::string& m = a.coord;
  if (m == "asymmetric") return x / scale;
  if (m == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (m == "pytorch_half_pixel") return one ? -0.5 : (x + 0.5) / scale - 0.5;
  if (m == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (m == "align_corners") return one ? 0.0 : x * (in - 1) / (out - 1);
  if (m == "half_pixel_symmetric") return in / 2 * (1 - static_cast<double>(out_len) / out) + (x + 0.5) / scale - 0.5;
  // tf_crop_and_resize
  if (one) return 0.5 * (roi0 + roi1) * (in - 1);
  return roi0 * (in - 1) + x * (roi1 - roi0) * (in - 1) / (out - 1);
}

int64_t nearest_of(const ResizeAttrs& a, double x, double scale) {
  if (a.legacy) return static_cast<int64_t>(scale < 1 ? std::ceil(x) : std::floor(x));
  const double lo = std::floor(x);
  const bool tie = x - lo == 0.5;
  if (a.nearest_mode == "floor") return static_cast<int64_t>(lo);
  if (a.nearest_mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (a.nearest_mode == "round_prefer_ceil") return static_cast<int64_t>(tie ? lo + 1 : std::round(x));
  return static_cast<int64_t>(tie ? lo : std::round(x));
}

double cubic_weight(double d, double A) {
  d = std::abs(d);
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

// Taps (index, weight) of output coordinate j for linear/cubic; antialias stretches the filter by 1/scale
// when shrinking, and exclude_outside / antialias renormalise the weights.
std::vector<std::pair<int64_t, double>> filter(const ResizeAttrs& a, double x, double scale, int64_t in_len) {
  double base = std::floor(x);
  if (base == x) base -= 1;  // weights for ratio in (0, 1]
  const double ratio = x - base;
  const bool cubic = a.mode == "cubic";
  const double s = a.antialias ? std::min(scale, 1.0) : 1.0;
  const int64_t first = static_cast<int64_t>(std::floor(-(cubic ? 2.0 : 1.0) / s)) + 1;
  std::vector<std::pair<int64_t, double>> taps;
  double sum = 0;
  for (int64_t i = first; i < 2 - first; ++i) {
    const double arg = s * (static_cast<double>(i) - ratio);
    double w = cubic ? cubic_weight(arg, a.cubic_a) : std::max(0.0, 1.0 - std::abs(arg));
    const int64_t at = static_cast<int64_t>(base) + i;
    if (a.exclude_outside && (at < 0 || at >= in_len)) w = 0;
    sum += w;
    taps.emplace_back(std::clamp<int64_t>(at, 0, in_len - 1), w);
  }
  if ((a.antialias || a.exclude_outside) && sum != 0)
    for (auto& t : taps) t.second /= sum;
  taps.erase(std::remove_if(taps.begin(), taps.end(), [](const auto& t) { return t.second == 0; }), taps.end());
  return taps;
}

AxisTable axis_table(const ResizeAttrs& a, int64_t in_len, int64_t out_len, double scale, double roi0, double roi1) {
  std::vector<std::vector<std::pair<int64_t, double>>> per(static_cast<size_t>(out_len));
  for (int64_t j = 0; j < out_len; ++j) {
    const double x = input_coord(a, static_cast<double>(j), scale, in_len, out_len, roi0, roi1);
    if (a.coord == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in_len - 1))) {
      per[j] = {{-1, 0.0}};
    } else if (a.mode == "nearest") {
      per[j] = {{std::clamp<int64_t>(nearest_of(a, x, scale), 0, in_len - 1), 1.0}};
    } else {
      per[j] = filter(a, x, scale, in_len);
    }
  }
  AxisTable t;
  for (const auto& p : per) t.taps = std::max<int>(t.taps, static_cast<int>(p.size()));
  t.index.assign(static_cast<size_t>(out_len * t.taps), 0);  // padding taps: index 0, weight 0
  t.weight.assign(t.index.size(), 0.f);
  for (int64_t j = 0; j < out_len; ++j)
    for (size_t k = 0; k < per[j].size(); ++k) {
      t.index[j * t.taps + k] = per[j][k].first;
      t.weight[j * t.taps + k] = static_cast<float>(per[j][k].second);
    }
  return t;
}

struct ResizeTables {
  ResizePlan plan;
  DeviceBuffer index, weight;
};

class ResizeLayer : public Layer {
 public:
  ResizeLayer(const Node& node, ResizeAttrs attrs, std::map<size_t, Tensor> constants, bool sizes_at_run_time)
      : node_(detached_node(node)),
        attrs_(std::move(attrs)),
        constants_(std::move(constants)),
        sizes_at_run_time_(sizes_at_run_time) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    const TensorDesc& y = ctx.outputs[0];
    if (x.shape.size() > static_cast<size_t>(kMaxResizeRank))
      return node_.error(StatusCode::kUnsupported, "Resize of rank > 8 has no CUDA lowering");
    if (y.layout != x.layout || y.dtype != x.dtype)
      return node_.error(StatusCode::kRuntime, "output " + y.describe() + " must keep the input's dtype and layout");
    Shape key = x.shape;
    key.insert(key.end(), y.shape.begin(), y.shape.end());
    auto found = tables_.find(key);
    if (found == tables_.end()) {
      // Tables stay alive for every shape seen: CUDA graphs captured at other shapes keep their pointers.
      Expected<ResizeTables> t = build(x, y);
      if (!t.ok()) return in_node(node_, t.status());
      found = tables_.emplace(key, std::move(t).value()).first;
    }
    current_ = &found->second;
    dtype_ = x.dtype;
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    const ResizeTables& t = *current_;
    const Status s = attrs_.mode == "nearest"
                         ? launch_resize_nearest(t.plan, t.index.as<int64_t>(), in[0].data, out[0].data,
                                                 dtype_size(dtype_), extrapolation_bits_, rc.stream)
                         : launch_resize_weighted(t.plan, t.index.as<int64_t>(), t.weight.as<float>(), in[0].data,
                                                  out[0].data, dtype_, rc.stream);
    return s.with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return "kernel:" + attrs_.mode; }

 private:
  Expected<ResizeTables> build(const TensorDesc& x, const TensorDesc& y) {
    auto constant = [&](size_t i) -> const Tensor* {
      auto it = constants_.find(i);
      return it == constants_.end() ? nullptr : &it->second;
    };
    KILN_ASSIGN_OR_RETURN(ResizeRequest req, resize_request(node_, constant));
    if (sizes_at_run_time_) {  // sizes came from a run-time tensor: the output shape carries them
      std::vector<int64_t> sizes;
      if (attrs_.axes.empty()) {
        sizes = y.shape;
      } else {
        for (int64_t a : attrs_.axes) {
          KILN_ASSIGN_OR_RETURN(int64_t n, normalize_axis(a, static_cast<int64_t>(y.shape.size()), "axes"));
          sizes.push_back(y.shape[n]);
        }
      }
      req.sizes = sizes;
    }
    KILN_ASSIGN_OR_RETURN(ResizeGeometry g, resize_geometry(node_, attrs_, x.shape, req));
    KILN_RETURN_IF_ERROR(expect_shape(node_, y, g.out, "output"));
    const size_t r = x.shape.size();
    for (size_t d = 0; d < r; ++d)
      if (x.shape[d] == 0 && y.shape[d] > 0)
        return node_.error(StatusCode::kInvalidInput,
                           "cannot resize an empty axis to length " + std::to_string(y.shape[d]));
    const std::vector<int64_t> xs = x.strides(), ys = y.strides();
    std::vector<size_t> order(r);
    for (size_t d = 0; d < r; ++d) order[d] = d;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ys[a] > ys[b]; });
    ResizeTables t;
    ResizePlan& p = t.plan;
    p.rank = static_cast<int>(r);
    p.numel = y.numel();
    p.extrapolation = static_cast<float>(attrs_.extrapolation);
    std::vector<int64_t> index;
    std::vector<float> weight;
    for (size_t k = 0; k < r; ++k) {
      const size_t d = order[k];
      AxisTable a = axis_table(attrs_, x.shape[d], y.shape[d], g.scales[d], g.roi_start[d], g.roi_end[d]);
      p.out_dims[k] = y.shape[d];
      p.in_strides[k] = xs[d];
      p.table[k] = static_cast<int64_t>(index.size());
      p.taps[k] = a.taps;
      p.combos *= a.taps;
      index.insert(index.end(), a.index.begin(), a.index.end());
      weight.insert(weight.end(), a.weight.begin(), a.weight.end());
    }
    if (p.combos > 4096)
      return node_.error(StatusCode::kUnsupported, "the filter touches " + std::to_string(p.combos) +
                                                       " input elements per output; the CUDA kernel allows 4096");
    if (index.empty()) index.push_back(0);  // empty output: keep the buffers non-null
    if (weight.empty()) weight.push_back(0.f);
    KILN_ASSIGN_OR_RETURN(t.index, DeviceBuffer::upload(index.data(), index.size() * sizeof(int64_t), "Resize taps"));
    KILN_ASSIGN_OR_RETURN(t.weight,
                          DeviceBuffer::upload(weight.data(), weight.size() * sizeof(float), "Resize weights"));
    if (attrs_.mode == "nearest") {
      KILN_ASSIGN_OR_RETURN(Tensor fill, convert_dtype(Tensor::scalar<double>(attrs_.extrapolation), x.dtype));
      extrapolation_bits_ = 0;
      std::memcpy(&extrapolation_bits_, fill.raw(), dtype_size(x.dtype));
    }
    return Expected<ResizeTables>(std::move(t));
  }

  Node node_;
  ResizeAttrs attrs_;
  std::map<size_t, Tensor> constants_;  // roi / scales / sizes by input slot
  bool sizes_at_run_time_;
  std::map<Shape, ResizeTables> tables_;
  const ResizeTables* current_ = nullptr;
  DType dtype_ = DType::kUndefined;
  uint64_t extrapolation_bits_ = 0;
};

Expected<std::unique_ptr<Layer>> make_resize(LowerContext& ctx) {
  const Node& node = ctx.node;
  KILN_ASSIGN_OR_RETURN(ResizeAttrs attrs, parse_resize_attrs(node));
  const DType dtype = stored_dtype(ctx, 0);
  if (attrs.mode != "nearest" && dtype != DType::kFloat32 && dtype != DType::kFloat16 && dtype != DType::kBFloat16)
    return ctx.unsupported_here("mode '" + attrs.mode + "' on " + dtype_name(dtype) +
                                " has no CUDA lowering (float32, float16, bfloat16)");
  const ResizeSlots slots = resize_slots(node);
  std::map<size_t, Tensor> constants;
  bool sizes_at_run_time = false;
  for (int slot : {slots.roi, slots.scales, slots.sizes}) {
    if (slot < 0 || static_cast<size_t>(slot) >= ctx.inputs.size() || ctx.inputs[slot].dtype == DType::kUndefined)
      continue;
    const size_t i = static_cast<size_t>(slot);
    if (const Tensor* t = ctx.take_constant(i)) {
      constants[i] = *t;
    } else if (slot == slots.sizes && attrs.aspect_policy == "stretch") {
      sizes_at_run_time = true;
    } else if (slot == slots.roi && attrs.coord != "tf_crop_and_resize") {
      continue;  // a placeholder roi: not read in this mode
    } else {
      return ctx.unsupported_here("input " + std::to_string(i) + " computed at run time has no CUDA lowering");
    }
  }
  ctx.outputs[0].dtype = dtype;
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  return make_layer<ResizeLayer>(node, std::move(attrs), std::move(constants), sizes_at_run_time);
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(resize, CudaLoweringDef{"Resize", "", make_resize},
                             CudaLoweringDef{"Upsample", "", make_resize});

}  // namespace kiln::cuda
