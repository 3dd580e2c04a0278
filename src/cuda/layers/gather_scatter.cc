// CUDA lowering of Gather (any axis, negative indices; indices constant, uploaded once, or computed at run
// time as int32/int64). Data is read row-major; an NHWC input is converted first.
#include <optional>

#include "core/tensor.h"
#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

class GatherLayer : public Layer {
 public:
  GatherLayer(const Node& node, int64_t axis, std::optional<Tensor> indices)
      : node_(detached_node(node)), axis_(axis), constant_(std::move(indices)) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    if (!(x.layout == Layout::kRowMajor || x.same_bytes_as_row_major()))
      return node_.error(StatusCode::kRuntime, "data " + x.describe() + " must be row-major");
    const int64_t r = static_cast<int64_t>(x.shape.size());
    auto a = normalize_axis(axis_, r, "axis");
    if (!a.ok()) return node_.error(StatusCode::kInvalidInput, a.status().message());
    const Shape idx_shape = constant_ ? constant_->shape() : ctx.inputs[1].shape;
    GatherPlan p;
    p.outer = 1;
    p.inner = 1;
    for (int64_t k = 0; k < r; ++k) {
      if (k < *a) p.outer *= x.shape[k];
      if (k > *a) p.inner *= x.shape[k];
    }
    p.axis_dim = x.shape[*a];
    p.n_indices = numel(idx_shape);
    Shape want(x.shape.begin(), x.shape.begin() + *a);
    want.insert(want.end(), idx_shape.begin(), idx_shape.end());
    want.insert(want.end(), x.shape.begin() + *a + 1, x.shape.end());
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], want, "output"));
    if (constant_) {
      for (int64_t i = 0; i < constant_->numel(); ++i) {
        const int64_t v = constant_->get_as_int64(i);
        if (v < -p.axis_dim || v >= p.axis_dim)
          return node_.error(StatusCode::kInvalidInput, "index " + std::to_string(v) + " is out of range for axis " +
                                                            std::to_string(*a) + " of size " +
                                                            std::to_string(p.axis_dim));
      }
      if (!device_indices_.get() && constant_->numel() > 0) {
        auto wide = convert_dtype(*constant_, DType::kInt64);
        if (!wide.ok()) return in_node(node_, wide.status());
        auto uploaded = DeviceBuffer::upload(wide->raw(), wide->nbytes(), "Gather indices");
        if (!uploaded.ok()) return in_node(node_, uploaded.status());
        device_indices_ = std::move(uploaded).value();
      }
      index_dtype_ = DType::kInt64;
    } else {
      index_dtype_ = ctx.inputs[1].dtype;
    }
    plan_ = p;
    elem_size_ = dtype_size(x.dtype);
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    const void* idx = constant_ ? device_indices_.get() : in[1].data;
    return launch_gather(plan_, in[0].data, idx, index_dtype_, out[0].data, elem_size_, rc.stream)
        .with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return "kernel:gather"; }

 private:
  Node node_;
  int64_t axis_;
  std::optional<Tensor> constant_;
  DeviceBuffer device_indices_;
  GatherPlan plan_;
  DType index_dtype_ = DType::kInt64;
  size_t elem_size_ = 0;
};

Expected<std::unique_ptr<Layer>> make_gather(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  const TensorDesc& x = ctx.inputs[0];
  if (!(x.layout == Layout::kRowMajor || x.same_bytes_as_row_major()))
    KILN_RETURN_IF_ERROR(ctx.require_input(0, x.dtype, Layout::kRowMajor));
  std::optional<Tensor> indices;
  if (ctx.constant(1)) indices = *ctx.take_constant(1);
  const DType idx_dtype = indices ? indices->dtype() : ctx.inputs[1].dtype;
  if (idx_dtype != DType::kInt64 && idx_dtype != DType::kInt32)
    return ctx.invalid(std::string("indices must be int32 or int64, got ") + dtype_name(idx_dtype));
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<GatherLayer>(ctx.node, axis, std::move(indices));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(gather_scatter, CudaLoweringDef{"Gather", "", make_gather});

}  // namespace kiln::cuda
