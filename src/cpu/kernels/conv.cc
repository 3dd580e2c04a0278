// CPU reference Conv and ConvTranspose: im2col / col2im around the shared blocked GEMM, one GEMM per
// (batch, group); float16/bfloat16 are computed in float32.
#include <algorithm>
#include <vector>

#include "cpu/kernels/blas.h"
#include "cpu/kernels/common.h"
#include "ops/window.h"

namespace kiln::cpu {
namespace {

// Everything a conv needs about shapes, resolved once per call from the run-time tensors.
struct ConvPlan {
  int64_t batch = 0, in_c = 0, out_c = 0, group = 1;
  Shape in_sp, out_sp;  // spatial extents of X and Y
  WindowAttrs w;
  int64_t in_numel = 0, out_numel = 0, kernel_numel = 1;
  // True when the im2col matrix is the input itself (1x1 kernel, stride 1, no padding).
  bool pointwise = false;
};

Status plan_common(KernelContext& ctx, bool transpose, ConvPlan& p) {
  const Tensor& x = *ctx.input(0);
  const Tensor& wt = *ctx.input(1);
  if (x.rank() < 3 || wt.rank() != x.rank())
    return ctx.invalid("input X " + x.describe() + " and weight W " + wt.describe() +
                       " must both be N x C x spatial of the same rank");
  KILN_ASSIGN_OR_RETURN(p.group, ctx.node.attr_int("group", 1));
  const size_t spatial = static_cast<size_t>(x.rank() - 2);
  Shape kernel(wt.shape().begin() + 2, wt.shape().end());
  KILN_ASSIGN_OR_RETURN(p.w, read_window_attrs(ctx.node, spatial, kernel, false));
  p.batch = x.dim(0);
  p.in_c = x.dim(1);
  const int64_t w_in = transpose ? wt.dim(0) : wt.dim(1) * p.group;
  p.out_c = transpose ? wt.dim(1) * p.group : wt.dim(0);
  if (p.group < 1 || p.in_c != w_in || p.out_c % p.group != 0 || p.in_c % p.group != 0)
    return ctx.invalid("input X " + x.describe() + " does not match weight W " + wt.describe() +
                       " with group=" + std::to_string(p.group));
  const Tensor* b = ctx.input(2);
  if (b && (b->rank() != 1 || b->dim(0) != p.out_c))
    return ctx.invalid("bias B " + b->describe() + " should have " + std::to_string(p.out_c) + " entries");
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t in = x.dim(static_cast<int64_t>(d) + 2);
    KILN_ASSIGN_OR_RETURN(int64_t out, transpose ? transpose_output_size(ctx.node, p.w, d, in)
                                                 : window_output_size(ctx.node, p.w, d, in));
    p.in_sp.push_back(in);
    p.out_sp.push_back(out);
    p.kernel_numel *= kernel[d];
  }
  p.in_numel = numel(p.in_sp);
  p.out_numel = numel(p.out_sp);
  p.pointwise = p.kernel_numel == 1;
  for (size_t d = 0; d < spatial; ++d)
    p.pointwise = p.pointwise && p.w.strides[d] == 1 && p.w.pads[d] == 0 && p.w.pads[d + spatial] == 0;
  return Status::Ok();
}

// Walks the (kernel offset, output position) pairs of one column-matrix row set: calls
// f(row, out_pos, in_offset) for every pair whose input position lies inside the image (others are padding).
// `img` are the image extents (where the window reads or writes), `grid` the window-position extents.
template <typename F>
void for_each_tap(const ConvPlan& p, const Shape& img, const Shape& grid, F&& f) {
  const size_t sp = img.size();
  const int64_t grid_numel = numel(grid);
  const int64_t last = grid.empty() ? 1 : grid.back();
  std::vector<int64_t> k(sp), o(sp);
  for (int64_t kk = 0; kk < p.kernel_numel; ++kk) {
    for (int64_t r = kk, d = static_cast<int64_t>(sp) - 1; d >= 0; --d) {
      k[d] = r % p.w.kernel[d];
      r /= p.w.kernel[d];
    }
    for (int64_t row0 = 0; row0 < grid_numel; row0 += last) {
      int64_t base = 0;
      bool inside = true;
      for (int64_t r = row0 / last, d = static_cast<int64_t>(sp) - 2; d >= 0; --d) {
        o[d] = r % grid[d];
        r /= grid[d];
      }
      for (size_t d = 0; d + 1 < sp; ++d) {
        const int64_t i = o[d] * p.w.strides[d] - p.w.pads[d] + k[d] * p.w.dilations[d];
        inside = inside && i >= 0 && i < img[d];
        base = base * img[d] + i;
      }
      if (!inside) continue;
      const size_t l = sp - 1;
      const int64_t s = p.w.strides[l], off = -p.w.pads[l] + k[l] * p.w.dilations[l];
      for (int64_t ol = 0; ol < last; ++ol) {
        const int64_t i = ol * s + off;
        if (i >= 0 && i < img[l]) f(kk, row0 + ol, base * img[l] + i);
      }
    }
  }
}

// col[c * K + kk][pos] = x[c][window(pos) + kk], zero where the window reads padding.
template <typename T>
void im2col(const ConvPlan& p, const T* x, int64_t channels, T* col) {
  std::fill(col, col + channels * p.kernel_numel * p.out_numel, T(0));
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * p.in_numel;
    T* cc = col + c * p.kernel_numel * p.out_numel;
    for_each_tap(p, p.in_sp, p.out_sp,
                 [&](int64_t kk, int64_t pos, int64_t in) { cc[kk * p.out_numel + pos] = xc[in]; });
  }
}

// y[c][window(pos) + kk] += col[c * K + kk][pos]: the adjoint of im2col (ConvTranspose's scatter).
template <typename T>
void col2im(const ConvPlan& p, const T* col, int64_t channels, T* y) {
  for (int64_t c = 0; c < channels; ++c) {
    T* yc = y + c * p.out_numel;
    const T* cc = col + c * p.kernel_numel * p.in_numel;
    for_each_tap(p, p.out_sp, p.in_sp,
                 [&](int64_t kk, int64_t pos, int64_t out) { yc[out] += cc[kk * p.in_numel + pos]; });
  }
}

template <typename T>
void add_bias(const ConvPlan& p, const Tensor* b, T* y) {
  if (!b) return;
  const T* bias = b->data<T>();
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t m = 0; m < p.out_c; ++m) {
      T* row = y + (n * p.out_c + m) * p.out_numel;
      for (int64_t i = 0; i < p.out_numel; ++i) row[i] += bias[m];
    }
}

// The [batch, out_c, spatial...] output of either direction.
template <typename T>
Expected<Tensor> create_output(const ConvPlan& p) {
  Shape out_shape{p.batch, p.out_c};
  out_shape.insert(out_shape.end(), p.out_sp.begin(), p.out_sp.end());
  return Tensor::create(DTypeOf<T>::value, out_shape);
}

template <typename T>
Status run_conv(KernelContext& ctx, const ConvPlan& p) {
  KILN_ASSIGN_OR_RETURN(Tensor y, create_output<T>(p));
  const T* x = ctx.input(0)->data<T>();
  const T* w = ctx.input(1)->data<T>();
  T* out = y.data<T>();
  const int64_t cg = p.in_c / p.group, mg = p.out_c / p.group, k = cg * p.kernel_numel;
  // Threads go to groups when there are many (depthwise); otherwise the GEMM splits itself.
  const double work = static_cast<double>(mg) * static_cast<double>(k) * static_cast<double>(p.out_numel);
  parallel_for(p.batch * p.group, p.group > 1 ? work : 0.0, [&](int64_t j0, int64_t j1) {
    std::vector<T> col(p.pointwise ? 0 : static_cast<size_t>(k * p.out_numel));
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t n = j / p.group, g = j % p.group;
      const T* xg = x + (n * p.in_c + g * cg) * p.in_numel;
      if (!p.pointwise) im2col(p, xg, cg, col.data());
      const T* b = p.pointwise ? xg : col.data();
      gemm<T>(mg, p.out_numel, k, {w + g * mg * k, k, 1}, {b, p.out_numel, 1},
              out + (n * p.out_c + g * mg) * p.out_numel, p.out_numel, false);
    }
  });
  add_bias<T>(p, ctx.input(2), out);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

template <typename T>
Status run_conv_transpose(KernelContext& ctx, const ConvPlan& p) {
  KILN_ASSIGN_OR_RETURN(Tensor y, create_output<T>(p));
  const T* x = ctx.input(0)->data<T>();
  const T* w = ctx.input(1)->data<T>();
  T* out = y.data<T>();
  const int64_t cg = p.in_c / p.group, mg = p.out_c / p.group, rows = mg * p.kernel_numel;
  std::vector<T> col(static_cast<size_t>(rows * p.in_numel));
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t g = 0; g < p.group; ++g) {
      // col[(m, kk)][pos] = sum_c W[c][(m, kk)] * X[c][pos]: W_g read transposed in place.
      gemm<T>(rows, p.in_numel, cg, {w + g * cg * rows, 1, rows},
              {x + (n * p.in_c + g * cg) * p.in_numel, p.in_numel, 1}, col.data(), p.in_numel, false);
      col2im(p, col.data(), mg, out + (n * p.out_c + g * mg) * p.out_numel);
    }
  }
  add_bias<T>(p, ctx.input(2), out);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status check_dtypes(KernelContext& ctx) {
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (ctx.input(i) && ctx.input(i)->dtype() != ctx.input(0)->dtype())
      return ctx.invalid("input " + std::to_string(i) + " is " + dtype_name(ctx.input(i)->dtype()) + " but X is " +
                         dtype_name(ctx.input(0)->dtype()));
  return Status::Ok();
}

Status conv_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(check_dtypes(ctx));
  ConvPlan p;
  KILN_RETURN_IF_ERROR(plan_common(ctx, false, p));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run_conv<decltype(t)>(ctx, p); });
}

Status conv_transpose_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(check_dtypes(ctx));
  ConvPlan p;
  KILN_RETURN_IF_ERROR(plan_common(ctx, true, p));
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto t) { return run_conv_transpose<decltype(t)>(ctx, p); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(conv, CpuKernelDef{"Conv", "", widen_half(conv_kernel)},
                          CpuKernelDef{"ConvTranspose", "", widen_half(conv_transpose_kernel)});

}  // namespace kiln::cpu
