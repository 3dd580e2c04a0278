// GPU BatchNormalization (inference, when the passes did not fold it), InstanceNormalization and
// LayerNormalization, all in float32 math. Per-channel / per-element parameters are constants folded to
// float32 device arrays at lowering; BatchNormalization keeps the input's layout (NHWC included).
#include <cmath>

#include "core/shape.h"
#include "cuda/kernels/reduce_util.cuh"

namespace kiln::cuda {
namespace {

using namespace fp32math;  // NOLINT: block reductions, dtype dispatch

Expected<DeviceBuffer> upload_floats(const std::vector<float>& v, const char* what) {
  return DeviceBuffer::upload(v.data(), v.size() * sizeof(float), what);
}

Expected<std::vector<float>> constant_floats(LowerContext& ctx, size_t i, const char* what) {
  const Tensor* t = ctx.constant(i);
  if (!t) return ctx.unsupported_here(std::string(what) + " computed at run time (the GPU lowering needs a constant)");
  std::vector<float> v = t->to_float_vector();
  ctx.take_constant(i);
  return v;
}

// y = x * a[c] + b[c]; c found from the memory index through the channel stride (works for any layout).
template <typename T>
__global__ void batch_norm_kernel(const T* x, T* y, int64_t n, int64_t channel_stride, int64_t channels, const float* a,
                                  const float* b) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t c = (i / channel_stride) % channels;
    y[i] = from_float<T>(to_float(x[i]) * a[c] + b[c]);
  }
}

class BatchNormLayer : public Layer {
 public:
  BatchNormLayer(std::string name, DeviceBuffer a, DeviceBuffer b, int64_t channels)
      : name_(std::move(name)), a_(std::move(a)), b_(std::move(b)), channels_(channels) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    if (x.shape.size() < 2 || x.shape[1] != channels_)
      return Status(StatusCode::kInvalidInput,
                    name_ + ": input " + x.describe() + " does not have " + std::to_string(channels_) + " channels");
    channel_stride_ = x.strides()[1];
    n_ = x.numel();
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (n_ == 0) return Status::Ok();
    return dispatch_float(in[0].desc.dtype, name_, [&](auto tag) {
      using T = decltype(tag);
      batch_norm_kernel<T><<<blocks_for(n_), 256, 0, rc.stream>>>(
          in[0].as<const T>(), out[0].as<T>(), n_, channel_stride_, channels_, a_.as<float>(), b_.as<float>());
      return check_launch("batch_norm_kernel");
    });
  }

 private:
  std::string name_;
  DeviceBuffer a_, b_;
  int64_t channels_, channel_stride_ = 1, n_ = 0;
};

Expected<std::unique_ptr<Layer>> make_batch_norm(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(int64_t spatial, ctx.node.attr_int("spatial", 1));
  if (spatial == 0) return ctx.unsupported_here("spatial=0 (per-position statistics) has no GPU lowering");
  std::vector<float> p[4];
  const char* names[4] = {"scale", "B", "input_mean", "input_var"};
  for (size_t i = 0; i < 4; ++i) {
    KILN_ASSIGN_OR_RETURN(p[i], constant_floats(ctx, i + 1, names[i]));
  }
  const size_t c = p[0].size();
  for (size_t i = 1; i < 4; ++i)
    if (p[i].size() != c) return ctx.invalid(std::string(names[i]) + " does not have one value per channel");
  // Folded as on the CPU: a = scale / sqrt(var + eps), b = B - mean * a (computed in double).
  std::vector<float> a(c), b(c);
  for (size_t k = 0; k < c; ++k) {
    const double s = double(p[0][k]) / std::sqrt(double(p[3][k]) + double(eps));
    a[k] = static_cast<float>(s);
    b[k] = static_cast<float>(double(p[1][k]) - double(p[2][k]) * s);
  }
  KILN_ASSIGN_OR_RETURN(DeviceBuffer da, upload_floats(a, "BatchNormalization scale"));
  KILN_ASSIGN_OR_RETURN(DeviceBuffer db, upload_floats(b, "BatchNormalization shift"));
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, ctx.inputs[0].layout));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  return std::unique_ptr<Layer>(
      std::make_unique<BatchNormLayer>(ctx.node.describe(), std::move(da), std::move(db), static_cast<int64_t>(c)));
}

// One block per normalized row of `inner` contiguous values: mean, then the (two-pass) variance, then
// y = (x - mean) * inv_std * scale[j] + bias[j] with j = row % param_rows (the channel) for instance norm
// or j = i (per normalized element) for layer norm.
template <typename T>
__global__ void normalize_rows_kernel(const T* x, T* y, int64_t rows, int64_t inner, float eps, const float* scale,
                                      const float* bias, bool per_row_params, int64_t param_rows, float* mean_out,
                                      float* inv_std_out) {
  __shared__ float smem[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * inner;
    T* out = y + r * inner;
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) sum += to_float(in[i]);
    const float mean = block_reduce<ReduceOp::kSum>(sum, smem) / static_cast<float>(inner);
    float sq = 0.f;
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
      const float d = to_float(in[i]) - mean;
      sq += d * d;
    }
    const float inv_std = rsqrtf(block_reduce<ReduceOp::kSum>(sq, smem) / static_cast<float>(inner) + eps);
    const int64_t c = per_row_params ? r % param_rows : 0;
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
      const float s = per_row_params ? scale[c] : scale[i];
      const float b = bias ? (per_row_params ? bias[c] : bias[i]) : 0.f;
      out[i] = from_float<T>((to_float(in[i]) - mean) * inv_std * s + b);
    }
    if (threadIdx.x == 0 && mean_out) mean_out[r] = mean;
    if (threadIdx.x == 0 && inv_std_out) inv_std_out[r] = inv_std;
  }
}

// InstanceNormalization (per_row_params: rows are (n, c) planes) and LayerNormalization (rows are the
// dims before axis, parameters span the normalized dims).
class NormalizeRowsLayer : public Layer {
 public:
  NormalizeRowsLayer(std::string name, bool instance, int64_t axis, float eps, int64_t params, DeviceBuffer scale,
                     DeviceBuffer bias)
      : name_(std::move(name)),
        instance_(instance),
        axis_(axis),
        eps_(eps),
        params_(params),
        scale_(std::move(scale)),
        bias_(std::move(bias)) {}

  Status configure(ConfigureContext& ctx) override {
    const Shape& x = ctx.inputs[0].shape;
    const int64_t split = instance_ ? 2 : axis_;
    if (static_cast<int64_t>(x.size()) < std::max<int64_t>(split, 1))
      return Status(StatusCode::kInvalidInput, name_ + ": input " + ctx.inputs[0].describe() + " has too few dims");
    rows_ = numel(Shape(x.begin(), x.begin() + split));
    inner_ = numel(Shape(x.begin() + split, x.end()));
    const int64_t want = instance_ ? x[1] : inner_;
    if (want != params_)
      return Status(StatusCode::kInvalidInput, name_ + ": scale/bias hold " + std::to_string(params_) +
                                                   " values but input " + ctx.inputs[0].describe() + " needs " +
                                                   std::to_string(want));
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (rows_ * inner_ == 0) return Status::Ok();
    float* mean = out.size() > 1 ? out[1].as<float>() : nullptr;
    float* inv_std = out.size() > 2 ? out[2].as<float>() : nullptr;
    return dispatch_float(in[0].desc.dtype, name_, [&](auto tag) {
      using T = decltype(tag);
      normalize_rows_kernel<T><<<blocks_for(rows_, 1), threads_for_row(inner_), 0, rc.stream>>>(
          in[0].as<const T>(), out[0].as<T>(), rows_, inner_, eps_, scale_.as<float>(), bias_.as<float>(), instance_,
          params_, mean, inv_std);
      return check_launch("normalize_rows_kernel");
    });
  }

 private:
  std::string name_;
  bool instance_;
  int64_t axis_;
  float eps_;
  int64_t params_;
  DeviceBuffer scale_, bias_;
  int64_t rows_ = 0, inner_ = 0;
};

Expected<std::unique_ptr<Layer>> make_instance_norm(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(std::vector<float> scale, constant_floats(ctx, 1, "scale"));
  KILN_ASSIGN_OR_RETURN(std::vector<float> bias, constant_floats(ctx, 2, "B"));
  if (scale.size() != bias.size()) return ctx.invalid("scale and B differ in length");
  KILN_ASSIGN_OR_RETURN(DeviceBuffer ds, upload_floats(scale, "InstanceNormalization scale"));
  KILN_ASSIGN_OR_RETURN(DeviceBuffer db, upload_floats(bias, "InstanceNormalization B"));
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, Layout::kRowMajor));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::make_unique<NormalizeRowsLayer>(
      ctx.node.describe(), true, 2, eps, static_cast<int64_t>(scale.size()), std::move(ds), std::move(db)));
}

// Scale / B broadcast (one way) to the normalized shape; expanded here to one float per normalized element.
Expected<std::vector<float>> expand_to(LowerContext& ctx, size_t i, const Shape& norm, const char* what) {
  const Shape s = ctx.constant(i) ? ctx.constant(i)->shape() : Shape{};
  KILN_ASSIGN_OR_RETURN(std::vector<float> v, constant_floats(ctx, i, what));
  auto merged = broadcast_shapes(s, norm);
  if (s.size() > norm.size() || !merged.ok() || *merged != norm)
    return ctx.invalid(std::string(what) + " does not broadcast to the normalized shape " + shape_to_string(norm));
  std::vector<float> out(static_cast<size_t>(numel(norm)));
  for (size_t k = 0; k < out.size(); ++k) {  // right-aligned broadcast index into v
    int64_t rem = static_cast<int64_t>(k), off = 0, stride = 1;
    for (size_t d = norm.size(); d-- > 0;) {
      const int64_t idx = rem % norm[d];
      rem /= norm[d];
      const size_t from_end = norm.size() - 1 - d;
      if (from_end < s.size()) {
        const int64_t sd = s[s.size() - 1 - from_end];
        off += (sd == 1 ? 0 : idx) * stride;
        stride *= sd;
      }
    }
    out[k] = v[static_cast<size_t>(off)];
  }
  return out;
}

Expected<std::unique_ptr<Layer>> make_layer_norm(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", -1));
  KILN_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  const Shape& x = ctx.inputs[0].shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (axis < -rank || axis >= rank) return ctx.invalid("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += rank;
  const Shape norm(x.begin() + axis, x.end());
  KILN_ASSIGN_OR_RETURN(std::vector<float> scale, expand_to(ctx, 1, norm, "Scale"));
  std::vector<float> bias;
  if (ctx.node.input(2)) {
    KILN_ASSIGN_OR_RETURN(bias, expand_to(ctx, 2, norm, "B"));
  }
  KILN_ASSIGN_OR_RETURN(DeviceBuffer ds, upload_floats(scale, "LayerNormalization Scale"));
  DeviceBuffer db;
  if (!bias.empty()) {
    KILN_ASSIGN_OR_RETURN(db, upload_floats(bias, "LayerNormalization B"));
  }
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, Layout::kRowMajor));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = Layout::kRowMajor;
  for (size_t i = 1; i < ctx.outputs.size(); ++i) {  // Mean / InvStdDev stay float32 (stash_type 1)
    ctx.outputs[i].dtype = DType::kFloat32;
    ctx.outputs[i].layout = Layout::kRowMajor;
  }
  return std::unique_ptr<Layer>(std::make_unique<NormalizeRowsLayer>(ctx.node.describe(), false, axis, eps, numel(norm),
                                                                     std::move(ds), std::move(db)));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(normalization, CudaLoweringDef{"BatchNormalization", "", make_batch_norm},
                             CudaLoweringDef{"InstanceNormalization", "", make_instance_norm},
                             CudaLoweringDef{"LayerNormalization", "", make_layer_norm});

}  // namespace kiln::cuda
