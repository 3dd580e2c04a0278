// CUDA lowerings of the element-indexing ops: GatherElements, ScatterElements, ScatterND (reduction none
// for every dtype; add/mul/max/min on float32 with atomics), Trilu and CumSum. Everything is row-major;
// data movement is by element size, so any dtype moves. Indices are read on the device (int32 or int64,
// negative ones count from the end); an index still out of range is skipped (a gather reads zero bytes), as
// the kernels cannot report errors: constant indices are range-checked when the layer is configured.
#include <cstring>
#include <limits>
#include <tuple>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/move_dispatch.cuh"
#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

using LayerPtr = std::unique_ptr<Layer>;
constexpr int kMaxRank = kMaxMoveRank;

// Row-major dims with their element strides (strides of the tensor being addressed, which may differ from
// the iteration space's own).
struct Geometry {
  int rank = 0;
  int64_t dims[kMaxRank] = {};     // iteration space
  int64_t strides[kMaxRank] = {};  // element strides of the addressed tensor, per dim of the space
};

std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t d = static_cast<int64_t>(s.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * s[d + 1];
  return st;
}

Geometry geometry(const Shape& space, const Shape& addressed) {
  Geometry g;
  g.rank = static_cast<int>(space.size());
  const std::vector<int64_t> st = row_major_strides(addressed);
  for (int d = 0; d < g.rank; ++d) {
    g.dims[d] = space[d];
    g.strides[d] = st[d];
  }
  return g;
}

template <typename I>
__device__ __forceinline__ int64_t wrap(I v, int64_t dim) {
  const int64_t x = static_cast<int64_t>(v);
  return x < 0 ? x + dim : x;
}

// Offset in the addressed tensor of element i of the iteration space, leaving out the `axis` coordinate (the
// caller adds index * strides[axis]).
__device__ __forceinline__ int64_t offset_except_axis(int64_t i, const Geometry& g, int axis) {
  int64_t rest = i, off = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    const int64_t c = rest % g.dims[d];
    rest /= g.dims[d];
    if (d != axis) off += c * g.strides[d];
  }
  return off;
}

// ---- GatherElements ------------------------------------------------------------------------------------

template <typename U, typename I>
__global__ void gather_elements_kernel(const U* data, const I* idx, U* out, Geometry g, int axis, int64_t axis_dim,
                                       int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t off = offset_except_axis(i, g, axis);
    const int64_t j = wrap(idx[i], axis_dim);
    out[i] = (j >= 0 && j < axis_dim) ? data[off + j * g.strides[axis]] : U{};
  }
}

// ---- Scatter (elements and ND) -------------------------------------------------------------------------

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

__device__ __forceinline__ float reduce_op(Reduction r, float a, float b) {
  switch (r) {
    case Reduction::kAdd:
      return a + b;
    case Reduction::kMul:
      return a * b;
    case Reduction::kMax:
      return b > a ? b : a;
    case Reduction::kMin:
      return b < a ? b : a;
    default:
      return b;
  }
}

// out[off] = reduce(out[off], v): a plain store for kNone (any dtype, by size), an atomic update for float32.
template <typename U>
__device__ __forceinline__ void scatter_store(U* out, int64_t off, U v, Reduction r) {
  if constexpr (sizeof(U) == 4) {
    if (r != Reduction::kNone) {
      auto* p = reinterpret_cast<unsigned int*>(out + off);
      unsigned int old = *p, assumed;
      do {
        assumed = old;
        const float next = reduce_op(r, __uint_as_float(assumed), __uint_as_float(static_cast<unsigned int>(v)));
        old = atomicCAS(p, assumed, __float_as_uint(next));
      } while (old != assumed);
      return;
    }
  }
  out[off] = v;
}

template <typename U, typename I>
__global__ void scatter_elements_kernel(const U* updates, const I* idx, U* out, Geometry g, int axis,
                                        int64_t axis_dim, int64_t n, Reduction r) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t off = offset_except_axis(i, g, axis);
    const int64_t j = wrap(idx[i], axis_dim);
    if (j >= 0 && j < axis_dim) scatter_store(out, off + j * g.strides[axis], updates[i], r);
  }
}

// ScatterND: update u (of n_updates) writes `slice` contiguous elements at the offset its index tuple names.
struct NdPlan {
  int k = 0;                           // index tuple length
  int64_t data_dims[kMaxRank] = {};    // the first k dims of data
  int64_t data_strides[kMaxRank] = {};
  int64_t slice = 1, n = 0;            // elements per update, total update elements
};

template <typename U, typename I>
__global__ void scatter_nd_kernel(const U* updates, const I* idx, U* out, NdPlan p, Reduction r) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < p.n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t u = i / p.slice, e = i % p.slice;
    int64_t off = 0;
    bool ok = true;
    for (int d = 0; d < p.k; ++d) {
      const int64_t j = wrap(idx[u * p.k + d], p.data_dims[d]);
      ok = ok && j >= 0 && j < p.data_dims[d];
      off += j * p.data_strides[d];
    }
    if (ok) scatter_store(out, off + e, updates[i], r);
  }
}

// ---- Trilu and CumSum ----------------------------------------------------------------------------------

template <typename U>
__global__ void trilu_kernel(const U* x, U* y, int64_t rows, int64_t cols, int64_t k, bool upper, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % cols, r = (i / cols) % rows;
    const bool keep = upper ? (c - r >= k) : (c - r <= k);
    y[i] = keep ? x[i] : U{};
  }
}

// One thread per line along the axis (outer x inner lines, `len` long, stride `inner`); the running sum is
// kept in Acc (float32 for the float storage dtypes, double for float64, the integer type itself).
template <typename T, typename Acc>
__global__ void cumsum_kernel(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool exclusive,
                              bool reverse) {
  const int64_t lines = outer * inner;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < lines; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t base = (t / inner) * len * inner + t % inner;
    Acc acc = Acc(0);
    for (int64_t s = 0; s < len; ++s) {
      const int64_t k = reverse ? len - 1 - s : s;
      const int64_t off = base + k * inner;
      const Acc v = static_cast<Acc>(x[off]);
      if (exclusive) {
        y[off] = static_cast<T>(acc);
        acc += v;
      } else {
        acc += v;
        y[off] = static_cast<T>(acc);
      }
    }
  }
}

// ---- Host side -----------------------------------------------------------------------------------------

template <typename F>
Status by_index(DType t, const std::string& what, F&& f) {
  if (t == DType::kInt64) return f(int64_t{});
  if (t == DType::kInt32) return f(int32_t{});
  return invalid_input(what + ": indices must be int32 or int64, got " + dtype_name(t));
}

Status need_row_major(LowerContext& ctx, std::initializer_list<size_t> which) {
  for (size_t i : which) {
    if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::kUndefined) return ctx.invalid("needs input " + std::to_string(i));
    DType t = ctx.inputs[i].dtype;
    if (is_float_storage(t) || (ctx.constant(i) && t == DType::kFloat32)) t = ctx.float_dtype();
    KILN_RETURN_IF_ERROR(ctx.require_input(i, t, Layout::kRowMajor));
  }
  return Status::Ok();
}

Status check_constant_indices(const Node& node, const Tensor* idx, int64_t dim, const char* what) {
  if (!idx) return Status::Ok();
  for (int64_t i = 0; i < idx->numel(); ++i) {
    const int64_t v = idx->get_as_int64(i);
    if (v < -dim || v >= dim)
      return node.error(StatusCode::kInvalidInput, std::string(what) + " index " + std::to_string(v) +
                                                       " is out of range for a dim of size " + std::to_string(dim));
  }
  return Status::Ok();
}

Expected<Reduction> reduction_of(const LowerContext& ctx, DType data) {
  KILN_ASSIGN_OR_RETURN(std::string r, ctx.node.attr_string("reduction", "none"));
  Reduction red;
  if (r == "none") red = Reduction::kNone;
  else if (r == "add") red = Reduction::kAdd;
  else if (r == "mul") red = Reduction::kMul;
  else if (r == "max") red = Reduction::kMax;
  else if (r == "min") red = Reduction::kMin;
  else return ctx.invalid("reduction must be none, add, mul, max or min, got '" + r + "'");
  if (red != Reduction::kNone && data != DType::kFloat32)
    return ctx.unsupported_here("reduction '" + r + "' on " + dtype_name(data) + " (the GPU does it on float32)");
  return red;
}

class GatherElementsLayer : public Layer {
 public:
  GatherElementsLayer(const Node& n, int64_t axis) : node_(detached_node(n)), axis_(axis) {}
  Status configure(ConfigureContext& ctx) override {
    const TensorDesc &x = ctx.inputs[0], &idx = ctx.inputs[1];
    const int64_t r = static_cast<int64_t>(x.shape.size());
    if (r < 1 || r > kMaxRank || static_cast<int64_t>(idx.shape.size()) != r)
      return node_.error(StatusCode::kInvalidInput, "data " + x.describe() + " and indices " + idx.describe() +
                                                        " must have the same rank, 1 to " + std::to_string(kMaxRank));
    auto a = normalize_axis(axis_, r, "axis");
    if (!a.ok()) return node_.error(StatusCode::kInvalidInput, a.status().message());
    axis_n_ = *a;
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], idx.shape, "output"));
    geo_ = geometry(idx.shape, x.shape);
    axis_dim_ = x.shape[axis_n_];
    n_ = idx.numel();
    elem_ = dtype_size(x.dtype);
    index_dtype_ = idx.dtype;
    return Status::Ok();
  }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (n_ == 0) return Status::Ok();
    return dispatch_elem_size(elem_, node_.describe().c_str(), [&](auto u) {
      using U = decltype(u);
      return by_index(index_dtype_, node_.describe(), [&](auto ii) {
        using I = decltype(ii);
        gather_elements_kernel<U, I><<<blocks_for(n_), 256, 0, rc.stream>>>(
            in[0].as<const U>(), in[1].as<const I>(), out[0].as<U>(), geo_, static_cast<int>(axis_n_), axis_dim_, n_);
        return check_launch("gather_elements");
      });
    });
  }
  std::string tactic() const override { return "kernel:gather_elements"; }

 private:
  Node node_;
  int64_t axis_, axis_n_ = 0, axis_dim_ = 0, n_ = 0;
  Geometry geo_;
  size_t elem_ = 0;
  DType index_dtype_ = DType::kInt64;
};

// Scatter layers copy data to the output, then apply the updates.
class ScatterLayer : public Layer {
 public:
  ScatterLayer(const Node& n, bool nd, int64_t axis, Reduction r) : node_(detached_node(n)), nd_(nd), axis_(axis), red_(r) {}
  Status configure(ConfigureContext& ctx) override {
    const TensorDesc &x = ctx.inputs[0], &idx = ctx.inputs[1], &upd = ctx.inputs[2];
    if (x.dtype != upd.dtype)
      return node_.error(StatusCode::kInvalidInput, "data " + x.describe() + " and updates " + upd.describe() +
                                                        " differ in dtype");
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], x.shape, "output"));
    const int64_t r = static_cast<int64_t>(x.shape.size());
    if (r < 1 || r > kMaxRank) return node_.error(StatusCode::kUnsupported, "data rank " + std::to_string(r));
    bytes_ = x.bytes();
    elem_ = dtype_size(x.dtype);
    index_dtype_ = idx.dtype;
    n_ = upd.numel();
    if (!nd_) {
      if (static_cast<int64_t>(idx.shape.size()) != r || idx.shape != upd.shape)
        return node_.error(StatusCode::kInvalidInput, "indices " + idx.describe() + " and updates " + upd.describe() +
                                                          " must have one shape, of data's rank");
      auto a = normalize_axis(axis_, r, "axis");
      if (!a.ok()) return node_.error(StatusCode::kInvalidInput, a.status().message());
      axis_n_ = *a;
      geo_ = geometry(upd.shape, x.shape);
      axis_dim_ = x.shape[axis_n_];
      return Status::Ok();
    }
    if (idx.shape.empty()) return node_.error(StatusCode::kInvalidInput, "indices must have rank >= 1");
    const int64_t k = idx.shape.back();
    if (k < 1 || k > r)
      return node_.error(StatusCode::kInvalidInput, "the index tuple length " + std::to_string(k) +
                                                        " must be in [1, data rank " + std::to_string(r) + "]");
    Shape want(idx.shape.begin(), idx.shape.end() - 1);
    want.insert(want.end(), x.shape.begin() + k, x.shape.end());
    if (upd.shape != want)
      return node_.error(StatusCode::kInvalidInput, "updates " + upd.describe() + " must have shape " +
                                                        shape_to_string(want));
    nd_plan_ = NdPlan{};
    nd_plan_.k = static_cast<int>(k);
    const std::vector<int64_t> st = row_major_strides(x.shape);
    for (int64_t d = 0; d < k; ++d) {
      nd_plan_.data_dims[d] = x.shape[d];
      nd_plan_.data_strides[d] = st[d];
    }
    for (int64_t d = k; d < r; ++d) nd_plan_.slice *= x.shape[d];
    nd_plan_.n = n_;
    return Status::Ok();
  }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (bytes_ && out[0].data != in[0].data)
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out[0].data, in[0].data, bytes_, cudaMemcpyDeviceToDevice, rc.stream));
    if (n_ == 0 || (nd_ && nd_plan_.slice == 0)) return Status::Ok();
    return dispatch_elem_size(elem_, node_.describe().c_str(), [&](auto u) {
      using U = decltype(u);
      return by_index(index_dtype_, node_.describe(), [&](auto ii) {
        using I = decltype(ii);
        if (nd_) {
          scatter_nd_kernel<U, I><<<blocks_for(n_), 256, 0, rc.stream>>>(in[2].as<const U>(), in[1].as<const I>(),
                                                                        out[0].as<U>(), nd_plan_, red_);
        } else {
          scatter_elements_kernel<U, I><<<blocks_for(n_), 256, 0, rc.stream>>>(
              in[2].as<const U>(), in[1].as<const I>(), out[0].as<U>(), geo_, static_cast<int>(axis_n_), axis_dim_,
              n_, red_);
        }
        return check_launch(nd_ ? "scatter_nd" : "scatter_elements");
      });
    });
  }
  std::string tactic() const override { return nd_ ? "kernel:scatter_nd" : "kernel:scatter_elements"; }

 private:
  Node node_;
  bool nd_;
  int64_t axis_, axis_n_ = 0, axis_dim_ = 0, n_ = 0;
  Reduction red_;
  Geometry geo_;
  NdPlan nd_plan_;
  size_t bytes_ = 0, elem_ = 0;
  DType index_dtype_ = DType::kInt64;
};

Expected<LayerPtr> make_gather_elements(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  KILN_RETURN_IF_ERROR(need_row_major(ctx, {0, 1}));
  const TensorDesc& x = ctx.inputs[0];
  if (const Tensor* idx = ctx.constant(1); idx && !x.shape.empty()) {
    auto a = normalize_axis(axis, static_cast<int64_t>(x.shape.size()), "axis");
    if (a.ok()) KILN_RETURN_IF_ERROR(check_constant_indices(ctx.node, idx, x.shape[*a], "GatherElements"));
  }
  ctx.outputs[0].dtype = x.dtype;
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<GatherElementsLayer>(ctx.node, axis);
}

Expected<LayerPtr> make_scatter(LowerContext& ctx, bool nd) {
  int64_t axis = 0;
  if (!nd) {
    KILN_ASSIGN_OR_RETURN(axis, ctx.node.attr_int("axis", 0));
  }
  KILN_RETURN_IF_ERROR(need_row_major(ctx, {0, 1, 2}));
  KILN_ASSIGN_OR_RETURN(Reduction red, reduction_of(ctx, ctx.inputs[0].dtype));
  ctx.outputs[0].dtype = ctx.inputs[0].dtype;
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<ScatterLayer>(ctx.node, nd, axis, red);
}

Expected<LayerPtr> make_trilu(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t upper, ctx.node.attr_int("upper", 1));
  int64_t k = 0;
  if (ctx.inputs.size() > 1 && ctx.inputs[1].dtype != DType::kUndefined) {
    const Tensor* kt = ctx.constant(1);
    if (!kt || kt->numel() != 1) return ctx.unsupported_here("k must be a constant scalar");
    k = kt->get_as_int64(0);
    ctx.take_constant(1);
  }
  KILN_RETURN_IF_ERROR(need_row_major(ctx, {0}));
  const DType dt = ctx.inputs[0].dtype;
  ctx.outputs[0].dtype = dt;
  ctx.outputs[0].layout = Layout::kRowMajor;
  const std::string what = ctx.node.describe();
  auto plan = std::make_shared<std::tuple<int64_t, int64_t, int64_t>>();  // rows, cols, numel
  return LayerPtr(new FunctionLayer(
      "kernel:trilu",
      [plan, k, upper, what, dt](const RunContext& rc, const std::vector<DeviceTensor>& in,
                                 const std::vector<DeviceTensor>& out) -> Status {
        const int64_t rows = std::get<0>(*plan), cols = std::get<1>(*plan), n = std::get<2>(*plan);
        if (n == 0) return Status::Ok();
        return dispatch_elem_size(dtype_size(dt), what.c_str(), [&](auto u) {
          using U = decltype(u);
          trilu_kernel<U><<<blocks_for(n), 256, 0, rc.stream>>>(in[0].as<const U>(), out[0].as<U>(), rows, cols, k,
                                                                upper != 0, n);
          return check_launch("trilu");
        });
      },
      [plan, what](ConfigureContext& c) -> Status {
        const Shape& s = c.inputs[0].shape;
        if (s.size() < 2) return invalid_input(what + ": input " + c.inputs[0].describe() + " must have rank >= 2");
        *plan = {s[s.size() - 2], s.back(), c.inputs[0].numel()};
        return Status::Ok();
      }));
}

Expected<LayerPtr> make_cumsum(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t exclusive, ctx.node.attr_int("exclusive", 0));
  KILN_ASSIGN_OR_RETURN(int64_t reverse, ctx.node.attr_int("reverse", 0));
  const Tensor* at = ctx.constant(1);
  if (!at || at->numel() != 1) return ctx.unsupported_here("axis must be a constant scalar");
  const int64_t axis = at->get_as_int64(0);
  ctx.take_constant(1);
  KILN_RETURN_IF_ERROR(need_row_major(ctx, {0}));
  const DType dt = ctx.inputs[0].dtype;
  if (!is_float_storage(dt) && dt != DType::kFloat64 && dt != DType::kInt32 && dt != DType::kInt64)
    return ctx.unsupported_here(std::string("CumSum on ") + dtype_name(dt));
  ctx.outputs[0].dtype = dt;
  ctx.outputs[0].layout = Layout::kRowMajor;
  const std::string what = ctx.node.describe();
  auto plan = std::make_shared<std::tuple<int64_t, int64_t, int64_t>>();  // outer, len, inner
  return LayerPtr(new FunctionLayer(
      "kernel:cumsum",
      [plan, dt, what, ex = exclusive != 0, rev = reverse != 0](
          const RunContext& rc, const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out) -> Status {
        const int64_t outer = std::get<0>(*plan), len = std::get<1>(*plan), inner = std::get<2>(*plan);
        const int64_t lines = outer * inner;
        if (lines == 0 || len == 0) return Status::Ok();
        auto launch = [&](auto t, auto acc) {
          using T = decltype(t);
          using Acc = decltype(acc);
          cumsum_kernel<T, Acc><<<blocks_for(lines), 256, 0, rc.stream>>>(in[0].as<const T>(), out[0].as<T>(), outer,
                                                                          len, inner, ex, rev);
          return check_launch("cumsum");
        };
        switch (dt) {
          case DType::kFloat64:
            return launch(double{}, double{});
          case DType::kInt32:
            return launch(int32_t{}, int32_t{});
          case DType::kInt64:
            return launch(int64_t{}, int64_t{});
          default:
            return dispatch_float(dt, what, [&](auto t) { return launch(t, float{}); });
        }
      },
      [plan, axis, what](ConfigureContext& c) -> Status {
        const Shape& s = c.inputs[0].shape;
        auto a = normalize_axis(axis, static_cast<int64_t>(s.size()), "axis");
        if (!a.ok()) return invalid_input(what + ": " + a.status().message());
        int64_t outer = 1, inner = 1;
        for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
          if (d < *a) outer *= s[d];
          if (d > *a) inner *= s[d];
        }
        *plan = {outer, s[*a], inner};
        return Status::Ok();
      }));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(indexing, CudaLoweringDef{"GatherElements", "", make_gather_elements},
                             CudaLoweringDef{"ScatterElements", "", [](LowerContext& c) { return make_scatter(c, false); }},
                             CudaLoweringDef{"Scatter", "", [](LowerContext& c) { return make_scatter(c, false); }},
                             CudaLoweringDef{"ScatterND", "", [](LowerContext& c) { return make_scatter(c, true); }},
                             CudaLoweringDef{"Trilu", "", make_trilu}, CudaLoweringDef{"CumSum", "", make_cumsum});

}  // namespace kiln::cuda
