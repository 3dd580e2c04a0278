// CPU reference Gemm and MatMul on the shared blocked GEMM (float types) or exact integer loops; MatMulInteger
// and QLinearMatMul exactly in int64 (the latter then requantized).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/kernels/blas.h"
#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

// C[M,N] = A * B for integer types, exact in T (wrapping as the integer type does).
template <typename T>
void integer_gemm(int64_t M, int64_t N, int64_t K, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* row = C + i * ldc;
    std::fill(row, row + N, T(0));
    for (int64_t k = 0; k < K; ++k) {
      const T a = A.data[i * A.row_stride + k * A.col_stride];
      for (int64_t j = 0; j < N; ++j) row[j] += a * B.data[k * B.row_stride + j * B.col_stride];
    }
  }
}

template <typename T>
void multiply(int64_t M, int64_t N, int64_t K, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc) {
  if constexpr (std::is_floating_point_v<T>) {
    gemm<T>(M, N, K, A, B, C, ldc, false);
  } else {
    integer_gemm<T>(M, N, K, A, B, C, ldc);
  }
}

template <typename T>
Status run_gemm(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  const Tensor* c = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(int64_t ta, ctx.node.attr_int("transA", 0));
  KILN_ASSIGN_OR_RETURN(int64_t tb, ctx.node.attr_int("transB", 0));
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1.f));
  KILN_ASSIGN_OR_RETURN(float beta, ctx.node.attr_float("beta", 1.f));
  if (a.rank() != 2 || b.rank() != 2)
    return ctx.invalid("A " + a.describe() + " and B " + b.describe() + " must be 2-D");
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  if (K != kb) return ctx.invalid("inner dimensions differ: A " + a.describe() + " and B " + b.describe());
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(a.dtype(), {M, N}));
  T* out = y.data<T>();
  // A transposed is the same buffer read with swapped strides.
  MatrixView<T> av{a.data<T>(), ta ? 1 : K, ta ? M : 1};
  MatrixView<T> bv{b.data<T>(), tb ? 1 : N, tb ? K : 1};
  multiply<T>(M, N, K, av, bv, out, N);
  const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
  if (al != T(1))
    for (int64_t i = 0; i < M * N; ++i) out[i] *= al;
  if (c && be != T(0)) {
    auto merged = broadcast_shapes(c->shape(), {M, N});
    if (c->rank() > 2 || !merged.ok() || *merged != Shape{M, N})
      return ctx.invalid("C " + c->describe() + " does not broadcast to the output " + shape_to_string({M, N}));
    const T* cv = c->data<T>();
    for_each_broadcast({M, N}, {c->shape()}, [&](int64_t i, const int64_t* off) { out[i] += be * cv[off[0]]; });
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status gemm_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto t) { return run_gemm<decltype(t)>(ctx); });
}

// NumPy matmul of A and B: 1-D operands promoted, M/K/N, the broadcast batch dims and the output shape.
struct MatMulDims {
  int64_t M = 0, K = 0, N = 0;
  Shape batch_a, batch_b, batch, out;
};

Expected<MatMulDims> matmul_dims(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.rank() < 1 || b.rank() < 1) return ctx.invalid("operands must have rank >= 1");
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  MatMulDims d;
  d.M = as[as.size() - 2];
  d.K = as.back();
  d.N = bs.back();
  if (bs[bs.size() - 2] != d.K)
    return ctx.invalid("inner dimensions differ: A " + a.describe() + " and B " + b.describe());
  d.batch_a.assign(as.begin(), as.end() - 2);
  d.batch_b.assign(bs.begin(), bs.end() - 2);
  auto batch = broadcast_shapes(d.batch_a, d.batch_b);
  if (!batch.ok())
    return ctx.invalid("batch dims of A " + a.describe() + " and B " + b.describe() + " do not broadcast");
  d.batch = *batch;
  d.out = d.batch;
  if (a.rank() > 1) d.out.push_back(d.M);
  if (b.rank() > 1) d.out.push_back(d.N);
  return d;
}

template <typename T>
Status run_matmul(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(MatMulDims d, matmul_dims(ctx, a, b));
  const int64_t M = d.M, K = d.K, N = d.N;
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(a.dtype(), d.out));
  const T* ad = a.data<T>();
  const T* bd = b.data<T>();
  T* out = y.data<T>();
  if (d.batch_b.empty() || numel(d.batch_b) == 1) {
    // B is one matrix shared by every batch: fold A's batch into M for one large GEMM.
    multiply<T>(numel(d.batch) * M, N, K, {ad, K, 1}, {bd, N, 1}, out, N);
  } else {
    for_each_broadcast(d.batch, {d.batch_a, d.batch_b}, [&](int64_t i, const int64_t* off) {
      multiply<T>(M, N, K, {ad + off[0] * M * K, K, 1}, {bd + off[1] * K * N, N, 1}, out + i * M * N, N);
    });
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status matmul_kernel(KernelContext& ctx) {
  if (ctx.input(1)->dtype() != ctx.input(0)->dtype())
    return ctx.invalid(std::string("A is ") + dtype_name(ctx.input(0)->dtype()) + " but B is " +
                       dtype_name(ctx.input(1)->dtype()));
  switch (ctx.input(0)->dtype()) {
    case DType::kInt32:
      return run_matmul<int32_t>(ctx);
    case DType::kInt64:
      return run_matmul<int64_t>(ctx);
    case DType::kUint32:
      return run_matmul<uint32_t>(ctx);
    case DType::kUint64:
      return run_matmul<uint64_t>(ctx);
    default:
      return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                         [&](auto t) { return run_matmul<decltype(t)>(ctx); });
  }
}

// (A - a_zp[row]) x (B - b_zp[column]) of integer tensors, exactly in int64, over d's broadcast batch: one
// entry per output element (MatMulInteger stores it as int32, QLinearMatMul requantizes it).
std::vector<int64_t> exact_integer_product(const Tensor& a, const Tensor& b, const MatMulDims& d,
                                           const std::vector<int64_t>& az, const std::vector<int64_t>& bz) {
  const int64_t M = d.M, K = d.K, N = d.N;
  std::vector<int64_t> out(static_cast<size_t>(numel(d.batch) * M * N));
  for_each_broadcast(d.batch, {d.batch_a, d.batch_b}, [&](int64_t i, const int64_t* off) {
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < N; ++c) {
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (a.get_as_int64(off[0] * M * K + r * K + k) - az[static_cast<size_t>(r)]) *
                 (b.get_as_int64(off[1] * K * N + k * N + c) - bz[static_cast<size_t>(c)]);
        out[static_cast<size_t>(i * M * N + r * N + c)] = acc;
      }
  });
  return out;
}

// MatMulInteger: (A - a_zp) x (B - b_zp) exactly, in int64, stored as int32 (the op's output type). A zero
// point is a scalar or per row of A (size M) / per column of B (size N).
Status matmul_integer_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  KILN_ASSIGN_OR_RETURN(MatMulDims d, matmul_dims(ctx, a, b));
  auto zero_points = [&](const Tensor* z, int64_t per, const char* what) -> Expected<std::vector<int64_t>> {
    std::vector<int64_t> v(static_cast<size_t>(per), 0);
    if (!z) return v;
    if (z->numel() != 1 && !(z->rank() == 1 && z->numel() == per))
      return ctx.invalid(std::string(what) + " " + z->describe() + " must be a scalar or have " + std::to_string(per) + " entries");
    for (int64_t i = 0; i < per; ++i) v[static_cast<size_t>(i)] = z->get_as_int64(z->numel() == 1 ? 0 : i);
    return v;
  };
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> az, zero_points(ctx.input(2), d.M, "a_zero_point"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> bz, zero_points(ctx.input(3), d.N, "b_zero_point"));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::kInt32, d.out));
  int32_t* out = y.data<int32_t>();
  const std::vector<int64_t> c = exact_integer_product(a, b, d, az, bz);
  for (size_t i = 0; i < c.size(); ++i) out[i] = static_cast<int32_t>(c[i]);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

// QLinearMatMul as the ONNX reference: C = (a - a_zp) x (b - b_zp) exactly, then
// y = saturate(round_half_even(C * (a_scale * b_scale / y_scale)) + y_zp), the scale product in float32.
Status qlinear_matmul_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(3);
  for (size_t i : {size_t{1}, size_t{2}, size_t{4}, size_t{5}, size_t{6}, size_t{7}})
    if (!ctx.input(i) || ctx.input(i)->numel() != 1)
      return ctx.unsupported_here("input " + std::to_string(i) + " must hold one value (per-tensor quantization)");
  const float as = static_cast<float>(ctx.input(1)->get_as_double(0)), bs = static_cast<float>(ctx.input(4)->get_as_double(0));
  const float ys = static_cast<float>(ctx.input(6)->get_as_double(0));
  if (!(as > 0) || !(bs > 0) || !(ys > 0) || !std::isfinite(as * bs / ys))
    return ctx.invalid("scales must be finite and > 0");
  const int64_t az = ctx.input(2)->get_as_int64(0), bz = ctx.input(5)->get_as_int64(0), yz = ctx.input(7)->get_as_int64(0);
  const double multiplier = static_cast<double>(as * bs / ys);
  const DType out_type = ctx.input(7)->dtype();
  const double lo = out_type == DType::kInt8 ? -128 : 0, hi = out_type == DType::kInt8 ? 127 : 255;
  KILN_ASSIGN_OR_RETURN(MatMulDims d, matmul_dims(ctx, a, b));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(out_type, d.out));
  const std::vector<int64_t> c = exact_integer_product(a, b, d, std::vector<int64_t>(static_cast<size_t>(d.M), az),
                                                       std::vector<int64_t>(static_cast<size_t>(d.N), bz));
  for (size_t at = 0; at < c.size(); ++at) {
    double q = std::nearbyint(static_cast<double>(c[at]) * multiplier) + static_cast<double>(yz);
    q = q < lo ? lo : (q > hi ? hi : q);
    if (out_type == DType::kInt8) {
      y.data<int8_t>()[at] = static_cast<int8_t>(q);
    } else {
      y.data<uint8_t>()[at] = static_cast<uint8_t>(q);
    }
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(gemm, CpuKernelDef{"Gemm", "", widen_half(gemm_kernel)},
                          CpuKernelDef{"MatMul", "", widen_half(matmul_kernel)},
                          CpuKernelDef{"MatMulInteger", "", matmul_integer_kernel},
                          CpuKernelDef{"QLinearMatMul", "", qlinear_matmul_kernel});

}  // namespace kiln::cpu
