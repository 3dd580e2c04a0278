// GPU lowering of kiln.QConv (INT8 convolution, made by fold_qdq_conv): int8 NHWC activations and int8 KRSC
// weights through cuDNN's graph API (int32 accumulation), the per-channel scale x_scale * w_scale[k], float bias,
// residual and activation in the plan's epilogue, and the output either requantized to int8 (y_scale, so the
// next INT8 conv reads it as it is) or in the engine's float dtype. Candidates are timed and checked against
// the first like every conv tactic. cuDNN's int8 engines want the channels a multiple of 4 (the pass only
// folds such convs); a shape no engine takes is an error naming the conv.
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "cuda/layers/conv_backend.h"
#include "cuda/tactic.h"
#include "ops/fused.h"
#include "ops/window.h"

namespace kiln::cuda {
namespace {

struct QConvSpec {
  std::string where;
  int64_t out_c = 0, in_c = 0;
  int64_t kernel[2] = {1, 1}, strides[2] = {1, 1}, dilations[2] = {1, 1};
  int64_t pads[4] = {0, 0, 0, 0};  // h_begin, w_begin, h_end, w_end (NOTSET)
  std::string auto_pad = "NOTSET";
  FusedActivation act = FusedActivation::kNone;
  float alpha = 0.f, beta = 0.f;
  bool has_bias = false, has_residual = false, requant = false;
  DType out_dtype = DType::kInt8, z_dtype = DType::kFloat32;
};

// Output extent and the real pads of one spatial dim (auto_pad SAME_* resolved as ONNX says).
void resolve_dim(const QConvSpec& s, int d, int64_t in, int64_t& begin, int64_t& end, int64_t& out) {
  const int64_t k = (s.kernel[d] - 1) * s.dilations[d] + 1, st = s.strides[d];
  if (s.auto_pad == "SAME_UPPER" || s.auto_pad == "SAME_LOWER") {
    out = (in + st - 1) / st;
    const int64_t total = std::max<int64_t>(0, (out - 1) * st + k - in);
    begin = s.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    end = total - begin;
    return;
  }
  begin = s.auto_pad == "VALID" ? 0 : s.pads[d];
  end = s.auto_pad == "VALID" ? 0 : s.pads[d + 2];
  out = (in + begin + end - k) / st + 1;
}

class QConvLayer : public Layer {
 public:
  QConvLayer(QConvSpec spec, DeviceBuffer weights, DeviceBuffer scale, DeviceBuffer bias, DeviceBuffer out_scale)
      : spec_(std::move(spec)),
        weights_(std::move(weights)),
        scale_(std::move(scale)),
        bias_(std::move(bias)),
        out_scale_(std::move(out_scale)) {}

  Status configure(ConfigureContext& ctx) override {
    plan_.reset();
    KILN_RETURN_IF_ERROR(set_problem(ctx));
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.handles.cudnn, ctx.stream));
    const bool can_time = !ctx.sample_inputs.empty() && !ctx.sample_outputs.empty() && ctx.sample_workspace;
    if (!(ctx.tune && can_time) && want_.engine >= 0) {  // a plan's or the timing cache's tactic
      bool exact = false;
      for (bool int32_virtual : {false, true}) {
        problem_.int32_virtual = int32_virtual;
        Expected<std::shared_ptr<BackendConvPlan>> p =
            BackendConvPlan::rebuild(ctx.handles.cudnn, problem_, want_, ctx.max_workspace_bytes, &exact);
        if (p.ok() && exact) {
          plan_ = *p;
          return Status::Ok();
        }
      }
    }
    std::vector<std::shared_ptr<BackendConvPlan>> cands;
    const int max_plans = ctx.tune && can_time ? std::max(2, 2 * ctx.optimization_level) : 1;
    std::string why;
    for (bool int32_virtual : {false, true}) {
      problem_.int32_virtual = int32_virtual;
      Expected<std::vector<std::shared_ptr<BackendConvPlan>>> c =
          BackendConvPlan::candidates(ctx.handles.cudnn, problem_, ctx.max_workspace_bytes, max_plans, 0, 2);
      if (!c.ok()) why = c.status().message();
      if (c.ok() && !c->empty()) {
        cands = std::move(*c);
        break;
      }
    }
    if (cands.empty())
      return Status(StatusCode::kUnsupported, spec_.where + ": cuDNN offers no INT8 engine for this conv (input " +
                                                  ctx.inputs[0].describe() + ")" + (why.empty() ? "" : ": " + why));
    if (!(ctx.tune && can_time)) {
      plan_ = cands.front();
      return Status::Ok();
    }
    return tune(ctx, cands);
  }

  size_t workspace_bytes() const override { return plan_ ? plan_->workspace() : 0; }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (!plan_) return Status(StatusCode::kRuntime, spec_.where + ": enqueue before configure");
    return run(rc.handles.cudnn, *plan_, in[0].data, spec_.has_residual ? in[3].data : nullptr, out[0].data,
               rc.workspace);
  }

  std::string tactic() const override {
    return "cudnn-be-int8:" + format_engine_choice(plan_ ? plan_->choice() : want_);
  }
  Status set_tactic(const std::string& tactic) override {
    const std::string prefix = "cudnn-be-int8:";
    if (tactic.rfind(prefix, 0) != 0)
      return Status(StatusCode::kInvalidInput, spec_.where + ": tactic '" + tactic + "' is not an INT8 conv tactic");
    return parse_engine_choice(tactic.substr(prefix.size()), want_).with_context(spec_.where + ": tactic: ");
  }
  size_t weight_bytes() const override {
    return weights_.bytes() + scale_.bytes() + bias_.bytes() + out_scale_.bytes();
  }

 private:
  Status set_problem(const ConfigureContext& ctx) {
    const TensorDesc& x = ctx.inputs[0];
    if (x.shape.size() != 4 || x.dtype != DType::kInt8 || x.layout != Layout::kNHWC)
      return Status(StatusCode::kRuntime, spec_.where + ": input X arrives as " + x.describe() + ", not int8 nhwc");
    if (x.shape[1] != spec_.in_c)
      return Status(StatusCode::kInvalidInput, spec_.where + ": input X " + x.describe() + " has " +
                                                   std::to_string(x.shape[1]) + " channels, the weights expect " +
                                                   std::to_string(spec_.in_c));
    BackendConvProblem p;
    p.x = {x.shape[0], x.shape[1], x.shape[2], x.shape[3], true};
    int64_t out[2] = {0, 0};
    for (int d = 0; d < 2; ++d) {
      resolve_dim(spec_, d, x.shape[2 + d], p.pad_begin[d], p.pad_end[d], out[d]);
      p.kernel[d] = spec_.kernel[d];
      p.strides[d] = spec_.strides[d];
      p.dilations[d] = spec_.dilations[d];
    }
    p.y = {p.x.n, spec_.out_c, out[0], out[1], true};
    const Shape want = {p.y.n, p.y.c, p.y.h, p.y.w};
    if (!ctx.outputs.empty() && !ctx.outputs[0].shape.empty() && ctx.outputs[0].shape != want)
      return Status(StatusCode::kInvalidInput, spec_.where + ": output Y is " + ctx.outputs[0].describe() +
                                                   " but the conv of " + x.describe() + " gives " +
                                                   TensorDesc{spec_.out_dtype, want, Layout::kNHWC}.describe());
    p.in_c_per_group = spec_.in_c;
    p.fuse = true;
    p.int8 = true;
    p.out_dtype = spec_.out_dtype;
    p.z_dtype = spec_.z_dtype;
    p.requant = spec_.requant;
    p.has_bias = spec_.has_bias;
    p.has_residual = spec_.has_residual;
    p.act = spec_.act;
    p.alpha = spec_.alpha;
    p.beta = spec_.beta;
    problem_ = p;
    return Status::Ok();
  }

  Status run(cudnnHandle_t h, const BackendConvPlan& plan, const void* x, const void* z, void* y, void* ws) const {
    return plan.execute(h, x, weights_.get(), bias_.get(), z, y, ws, scale_.get(), out_scale_.get());
  }

  // Times every candidate that agrees with the first one's output; keeps the fastest.
  Status tune(ConfigureContext& ctx, const std::vector<std::shared_ptr<BackendConvPlan>>& cands) {
    const void* x = ctx.sample_inputs[0].data;
    const void* z = spec_.has_residual && ctx.sample_inputs.size() > 3 ? ctx.sample_inputs[3].data : nullptr;
    void* y = ctx.sample_outputs[0].data;
    const int64_t n = problem_.y.numel();
    const size_t y_bytes = static_cast<size_t>(n) * dtype_size(spec_.out_dtype);
    KILN_ASSIGN_OR_RETURN(DeviceBuffer ref, DeviceBuffer::allocate(y_bytes, "int8 conv tactic reference output"));
    float best_ms = std::numeric_limits<float>::infinity();
    bool have_ref = false;
    Status last = Status::Ok();
    auto log = [&](const BackendConvPlan& c, const std::string& what) {
      if (ctx.tactic_log)
        ctx.tactic_log("  " + spec_.where + ": cudnn-be-int8:" + format_engine_choice(c.choice()) + " " + what);
    };
    for (const auto& c : cands) {
      if (c->workspace() > ctx.max_workspace_bytes) continue;
      auto launch = [&]() { return run(ctx.handles.cudnn, *c, x, z, y, ctx.sample_workspace); };
      Status s = launch();
      if (!s.ok()) {
        (void)cudaGetLastError();
        last = s;
        log(*c, "cannot run: " + s.message());
        continue;
      }
      if (!have_ref) {
        KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ref.get(), y, y_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
        have_ref = true;
      } else {
        KILN_ASSIGN_OR_RETURN(double diff, max_relative_difference(y, ref.get(), n, spec_.out_dtype, ctx.stream));
        if (!(diff <= tactic_tolerance(spec_.out_dtype))) {
          log(*c, "rejected: differs from the reference candidate by " + std::to_string(diff));
          continue;
        }
      }
      Expected<float> ms = time_candidate(ctx.stream, launch);
      if (!ms.ok()) {
        (void)cudaGetLastError();
        last = ms.status();
        continue;
      }
      log(*c, std::to_string(*ms) + " ms");
      if (*ms < best_ms) {
        best_ms = *ms;
        plan_ = c;
      }
    }
    if (!plan_)
      return Status(StatusCode::kUnsupported, spec_.where + ": no INT8 conv candidate ran: " + last.message());
    want_ = plan_->choice();
    return Status::Ok();
  }

  QConvSpec spec_;
  DeviceBuffer weights_, scale_, bias_, out_scale_;
  BackendConvProblem problem_;
  std::shared_ptr<BackendConvPlan> plan_;
  BackendEngineChoice want_;  // from set_tactic() or the last tuning
};

Expected<DeviceBuffer> upload_floats(const std::vector<float>& v, const char* what) {
  return DeviceBuffer::upload(v.data(), v.size() * sizeof(float), what);
}

Expected<std::unique_ptr<Layer>> make_qconv(LowerContext& ctx) {
  const Node& node = ctx.node;
  const Tensor* w = ctx.constant(1);
  const Tensor* xs = ctx.constant(4);
  const Tensor* ws = ctx.constant(5);
  const Tensor* ys = node.input(6) ? ctx.constant(6) : nullptr;
  if (!w || !xs || !ws || (node.input(6) && !ys) || (node.input(2) && !ctx.constant(2)))
    return ctx.unsupported_here("INT8 convs need constant weights, bias and scales");
  if (w->rank() != 4 || w->dtype() != DType::kInt8) return ctx.unsupported_here("W must be int8 [K, C, kh, kw]");
  QConvSpec spec;
  spec.where = node.describe();
  spec.out_c = w->dim(0);
  spec.in_c = w->dim(1);
  KILN_ASSIGN_OR_RETURN(int64_t group, node.attr_int("group", 1));
  if (group != 1) return ctx.unsupported_here("grouped INT8 convs have no GPU lowering");
  std::vector<int64_t> kernel = {w->dim(2), w->dim(3)};
  KILN_ASSIGN_OR_RETURN(WindowAttrs a, read_window_attrs(node, 2, kernel, false));
  for (int d = 0; d < 2; ++d) {
    spec.kernel[d] = a.kernel[d];
    spec.strides[d] = a.strides[d];
    spec.dilations[d] = a.dilations[d];
    spec.pads[d] = a.pads[d];
    spec.pads[d + 2] = a.pads[d + 2];
  }
  spec.auto_pad = a.auto_pad;
  KILN_ASSIGN_OR_RETURN(std::string act, node.attr_string("activation", ""));
  if (!parse_fused_activation(act, spec.act)) return ctx.unsupported_here("activation '" + act + "' is not supported");
  KILN_ASSIGN_OR_RETURN(spec.alpha, node.attr_float("alpha", 0.f));
  KILN_ASSIGN_OR_RETURN(spec.beta, node.attr_float("beta", 0.f));
  if (!backend_activation_supported(spec.act, spec.alpha, spec.beta))
    return ctx.unsupported_here("activation '" + act + "' has no INT8 conv epilogue");
  spec.has_bias = node.input(2) != nullptr;
  spec.has_residual = node.input(3) != nullptr;
  spec.requant = ys != nullptr;
  spec.out_dtype = spec.requant ? DType::kInt8 : ctx.float_dtype();
  spec.z_dtype = ctx.float_dtype();
  if (spec.out_dtype == DType::kBFloat16 || (spec.has_residual && spec.z_dtype == DType::kBFloat16))
    return ctx.unsupported_here("INT8 convs write int8, float32 or float16, not bfloat16");

  KILN_RETURN_IF_ERROR(ctx.require_input(0, DType::kInt8, Layout::kNHWC));
  if (spec.has_residual) KILN_RETURN_IF_ERROR(ctx.require_input(3, spec.z_dtype, Layout::kNHWC));
  if (ctx.outputs.empty()) return ctx.invalid("has no output");
  ctx.outputs[0].dtype = spec.out_dtype;
  ctx.outputs[0].layout = Layout::kNHWC;

  // Weights KCRS -> KRSC, int8 as they are.
  const int64_t k = spec.out_c, c = spec.in_c, r = w->dim(2), s = w->dim(3);
  const int8_t* src = ctx.take_constant(1)->data<int8_t>();
  std::vector<int8_t> krsc(static_cast<size_t>(k * c * r * s));
  for (int64_t ki = 0; ki < k; ++ki)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ri = 0; ri < r; ++ri)
        for (int64_t si = 0; si < s; ++si)
          krsc[static_cast<size_t>(((ki * r + ri) * s + si) * c + ci)] =
              src[static_cast<size_t>(((ki * c + ci) * r + ri) * s + si)];
  KILN_ASSIGN_OR_RETURN(DeviceBuffer weights, DeviceBuffer::upload(krsc.data(), krsc.size(), "int8 conv weights"));
  const std::vector<float> wsv = ctx.take_constant(5)->to_float_vector();
  const float xsv = ctx.take_constant(4)->to_float_vector().at(0);
  if (wsv.size() != 1 && static_cast<int64_t>(wsv.size()) != k)
    return ctx.invalid("w_scale has " + std::to_string(wsv.size()) + " entries, expected 1 or " + std::to_string(k));
  std::vector<float> scale(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i)
    scale[static_cast<size_t>(i)] = xsv * wsv[wsv.size() == 1 ? 0 : static_cast<size_t>(i)];
  KILN_ASSIGN_OR_RETURN(DeviceBuffer scale_buf, upload_floats(scale, "int8 conv scales"));
  DeviceBuffer bias_buf, out_scale_buf;
  if (spec.has_bias) {
    const std::vector<float> b = ctx.take_constant(2)->to_float_vector();
    if (static_cast<int64_t>(b.size()) != k)
      return ctx.invalid("bias B has " + std::to_string(b.size()) + " entries, expected " + std::to_string(k));
    KILN_ASSIGN_OR_RETURN(bias_buf, upload_floats(b, "int8 conv bias"));
  }
  if (spec.requant) {
    const float y = ctx.take_constant(6)->to_float_vector().at(0);
    KILN_ASSIGN_OR_RETURN(out_scale_buf, upload_floats({1.f / y}, "int8 conv output scale"));
  }
  return std::unique_ptr<Layer>(std::make_unique<QConvLayer>(std::move(spec), std::move(weights), std::move(scale_buf),
                                                             std::move(bias_buf), std::move(out_scale_buf)));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(qconv, CudaLoweringDef{"QConv", kKilnDomain, make_qconv});

}  // namespace kiln::cuda
