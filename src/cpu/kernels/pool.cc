// CPU reference pooling kernels (MaxPool with Indices, AveragePool, global pools) and LRN.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/kernels/common.h"
#include "ops/window.h"

namespace kiln::cpu {
namespace {

struct PoolPlan {
  int64_t planes = 0;  // N * C
  Shape in_sp, out_sp;
  int64_t in_numel = 0, out_numel = 0;
  WindowAttrs w;
};

Expected<PoolPlan> plan_pool(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 3) return ctx.invalid("input X " + x.describe() + " must be N x C x spatial (rank >= 3)");
  PoolPlan p;
  const size_t spatial = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(p.w, read_window_attrs(ctx.node, spatial, {}, true));
  p.planes = x.dim(0) * x.dim(1);
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t in = x.dim(static_cast<int64_t>(d) + 2);
    KILN_ASSIGN_OR_RETURN(int64_t out, window_output_size(ctx.node, p.w, d, in));
    p.in_sp.push_back(in);
    p.out_sp.push_back(out);
  }
  p.in_numel = numel(p.in_sp);
  p.out_numel = numel(p.out_sp);
  return p;
}

Shape output_shape(const Tensor& x, const PoolPlan& p) {
  Shape s{x.dim(0), x.dim(1)};
  s.insert(s.end(), p.out_sp.begin(), p.out_sp.end());
  return s;
}

// Calls f(out_pos, taps, pad_taps) for each output position, where `taps` lists the in-image element
// offsets of the window and pad_taps counts the window positions inside the padded extent.
template <typename F>
void for_each_window(const PoolPlan& p, F&& f) {
  const size_t sp = p.in_sp.size();
  std::vector<int64_t> o(sp, 0), k(sp, 0);
  std::vector<int64_t> taps;
  int64_t window = 1;
  for (int64_t e : p.w.kernel) window *= e;
  for (int64_t pos = 0; pos < p.out_numel; ++pos) {
    for (int64_t r = pos, d = static_cast<int64_t>(sp) - 1; d >= 0; --d) {
      o[d] = r % p.out_sp[d];
      r /= p.out_sp[d];
    }
    taps.clear();
    int64_t pad_taps = 0;
    for (int64_t kk = 0; kk < window; ++kk) {
      bool in_image = true, in_padded = true;
      int64_t off = 0;
      for (int64_t r = kk, d = static_cast<int64_t>(sp) - 1; d >= 0; --d) {
        k[d] = r % p.w.kernel[d];
        r /= p.w.kernel[d];
      }
      for (size_t d = 0; d < sp; ++d) {
        const int64_t i = o[d] * p.w.strides[d] - p.w.pads[d] + k[d] * p.w.dilations[d];
        in_image = in_image && i >= 0 && i < p.in_sp[d];
        in_padded = in_padded && i < p.in_sp[d] + p.w.pads[d + sp];
        off = off * p.in_sp[d] + i;
      }
      if (in_padded) ++pad_taps;
      if (in_image) taps.push_back(off);
    }
    f(pos, taps, pad_taps);
  }
}

// Offset `row_major` within the image re-expressed in column-major order (storage_order=1 Indices).
int64_t to_column_major(int64_t row_major, const Shape& sp) {
  int64_t col = 0, scale = 1;
  std::vector<int64_t> idx(sp.size());
  for (int64_t d = static_cast<int64_t>(sp.size()) - 1, r = row_major; d >= 0; --d) {
    idx[d] = r % sp[d];
    r /= sp[d];
  }
  for (size_t d = 0; d < sp.size(); ++d) {
    col += idx[d] * scale;
    scale *= sp[d];
  }
  return col;
}

template <typename T>
Status run_max_pool(KernelContext& ctx, const PoolPlan& p, bool column_major) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), output_shape(x, p)));
  Tensor indices;
  const bool want_indices = ctx.wants_output(1);
  if (want_indices) {
    KILN_ASSIGN_OR_RETURN(indices, Tensor::create(DType::kInt64, output_shape(x, p)));
  }
  const T* in = x.data<T>();
  T* out = y.data<T>();
  int64_t* idx = want_indices ? indices.data<int64_t>() : nullptr;
  // Window offsets do not depend on the plane, so walk the windows once and apply them to every plane.
  for_each_window(p, [&](int64_t pos, const std::vector<int64_t>& taps, int64_t) {
    for (int64_t plane = 0; plane < p.planes; ++plane) {
      const T* src = in + plane * p.in_numel;
      T best = std::numeric_limits<T>::lowest();
      int64_t best_off = taps.empty() ? 0 : taps[0];
      for (int64_t off : taps)
        if (src[off] > best) best = src[off], best_off = off;
      out[plane * p.out_numel + pos] = best;
      if (idx)
        idx[plane * p.out_numel + pos] =
            plane * p.in_numel + (column_major ? to_column_major(best_off, p.in_sp) : best_off);
    }
  });
  ctx.outputs[0] = std::move(y);
  if (want_indices) ctx.outputs[1] = std::move(indices);
  return Status::Ok();
}

Status max_pool_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, plan_pool(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t order, ctx.node.attr_int("storage_order", 0));
  const DType t = ctx.input(0)->dtype();
  if (t == DType::kInt8) return run_max_pool<int8_t>(ctx, p, order == 1);
  if (t == DType::kUint8) return run_max_pool<uint8_t>(ctx, p, order == 1);
  return visit_float(t, ctx.node.describe(), [&](auto v) { return run_max_pool<decltype(v)>(ctx, p, order == 1); });
}

template <typename T>
Status run_average_pool(KernelContext& ctx, const PoolPlan& p, bool include_pad) {
  const Tensor& x = *ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), output_shape(x, p)));
  const T* in = x.data<T>();
  T* out = y.data<T>();
  for_each_window(p, [&](int64_t pos, const std::vector<int64_t>& taps, int64_t pad_taps) {
    const int64_t count = include_pad ? pad_taps : static_cast<int64_t>(taps.size());
    for (int64_t plane = 0; plane < p.planes; ++plane) {
      const T* src = in + plane * p.in_numel;
      T sum = 0;
      for (int64_t off : taps) sum += src[off];
      out[plane * p.out_numel + pos] = count > 0 ? sum / static_cast<T>(count) : T(0);
    }
  });
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status average_pool_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, plan_pool(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t include_pad, ctx.node.attr_int("count_include_pad", 0));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto v) { return run_average_pool<decltype(v)>(ctx, p, include_pad != 0); });
}

template <typename T>
Status run_global_pool(KernelContext& ctx, bool max) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 3) return ctx.invalid("input X " + x.describe() + " must be N x C x spatial (rank >= 3)");
  Shape shape(x.shape().size(), 1);
  shape[0] = x.dim(0);
  shape[1] = x.dim(1);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), shape));
  const int64_t planes = x.dim(0) * x.dim(1), area = planes ? x.numel() / planes : 0;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* src = x.data<T>() + plane * area;
    T acc = max ? std::numeric_limits<T>::lowest() : T(0);
    for (int64_t i = 0; i < area; ++i) acc = max ? std::max(acc, src[i]) : acc + src[i];
    y.data<T>()[plane] = max ? acc : acc / static_cast<T>(area);
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status global_average_pool_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto v) { return run_global_pool<decltype(v)>(ctx, false); });
}

Status global_max_pool_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto v) { return run_global_pool<decltype(v)>(ctx, true); });
}

// y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta; the window spans
// floor((size-1)/2) channels before and ceil((size-1)/2) after.
template <typename T>
Status run_lrn(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 3) return ctx.invalid("input X " + x.describe() + " must be N x C x spatial (rank >= 3)");
  KILN_ASSIGN_OR_RETURN(int64_t size, ctx.node.attr_int("size", 0));
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1e-4f));
  KILN_ASSIGN_OR_RETURN(float beta, ctx.node.attr_float("beta", 0.75f));
  KILN_ASSIGN_OR_RETURN(float bias, ctx.node.attr_float("bias", 1.0f));
  if (size < 1) return ctx.invalid("attribute 'size' must be >= 1, got " + std::to_string(size));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), area = n * c > 0 ? x.numel() / (n * c) : 0;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const T* in = x.data<T>();
  T* out = y.data<T>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < area; ++i) {
        T sq = 0;
        for (int64_t j = std::max<int64_t>(0, ch - before); j <= std::min(c - 1, ch + after); ++j) {
          const T v = in[(b * c + j) * area + i];
          sq += v * v;
        }
        const int64_t at = (b * c + ch) * area + i;
        out[at] = in[at] / static_cast<T>(std::pow(static_cast<T>(bias) + static_cast<T>(alpha) / size * sq,
                                                   static_cast<T>(beta)));
      }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status lrn_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto v) { return run_lrn<decltype(v)>(ctx); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(pool, CpuKernelDef{"MaxPool", "", widen_half(max_pool_kernel)},
                          CpuKernelDef{"AveragePool", "", widen_half(average_pool_kernel)},
                          CpuKernelDef{"GlobalAveragePool", "", widen_half(global_average_pool_kernel)},
                          CpuKernelDef{"GlobalMaxPool", "", widen_half(global_max_pool_kernel)},
                          CpuKernelDef{"LRN", "", widen_half(lrn_kernel)});

}  // namespace kiln::cpu
