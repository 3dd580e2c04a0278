// Core of the elementwise family: operand planning (broadcast / NHWC strides collapsed), the float and
// integer kernels with their scalar math, the shared ElementwiseLayer and the lowering helpers.
#include <cmath>
#include <type_traits>

#include "cuda/kernels/elementwise.cuh"

namespace kiln::cuda::ew {
namespace {

// ---- Device side ------------------------------------------------------------------------------------

// log(1 + e^x) without overflow for large x (as the CPU reference).
__device__ __forceinline__ float softplus(float x) { return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }

// The comparisons spell out std::min/std::max so NaN behaves as in the CPU reference.
__device__ __forceinline__ float clamp01(float v) {
  const float m = v < 1.f ? v : 1.f;
  return 0.f < m ? m : 0.f;
}

__device__ float unary_math(Unary op, float x, float a, float b) {
  switch (op) {
    case Unary::kIdentity:
      return x;
    case Unary::kRelu:
      return x > 0.f ? x : 0.f;
    case Unary::kLeakyRelu:
      return x < 0.f ? a * x : x;
    case Unary::kClip: {
      const float m = x < a ? a : x;
      return b < m ? b : m;
    }
    case Unary::kSigmoid:
      return 1.f / (1.f + expf(-x));
    case Unary::kHardSigmoid:
      return clamp01(a * x + b);
    case Unary::kHardSwish:
      return x * clamp01(x / 6.f + 0.5f);
    case Unary::kSiLU:
      return x / (1.f + expf(-x));
    case Unary::kTanh:
      return tanhf(x);
    case Unary::kExp:
      return expf(x);
    case Unary::kLog:
      return logf(x);
    case Unary::kSqrt:
      return sqrtf(x);
    case Unary::kReciprocal:
      return 1.f / x;
    case Unary::kNeg:
      return -x;
    case Unary::kAbs:
      return fabsf(x);
    case Unary::kErf:
      return erff(x);
    case Unary::kFloor:
      return floorf(x);
    case Unary::kCeil:
      return ceilf(x);
    case Unary::kRound:
      return rintf(x);  // halves to even, as ONNX Round
    case Unary::kSin:
      return sinf(x);
    case Unary::kCos:
      return cosf(x);
    case Unary::kSoftplus:
      return softplus(x);
    case Unary::kElu:
      return x < 0.f ? a * expm1f(x) : x;
    case Unary::kSelu:
      return b * (x <= 0.f ? a * expm1f(x) : x);
    case Unary::kGelu:
      return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Unary::kGeluTanh:
      return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Unary::kMish:
      return x * tanhf(softplus(x));
    case Unary::kSign:
      return isnan(x) ? x : static_cast<float>((0.f < x) - (x < 0.f));
    case Unary::kTan:
      return tanf(x);
    case Unary::kAsin:
      return asinf(x);
    case Unary::kAcos:
      return acosf(x);
    case Unary::kAtan:
      return atanf(x);
    case Unary::kSinh:
      return sinhf(x);
    case Unary::kCosh:
      return coshf(x);
    case Unary::kAsinh:
      return asinhf(x);
    case Unary::kAcosh:
      return acoshf(x);
    case Unary::kAtanh:
      return atanhf(x);
    case Unary::kSoftsign:
      return x / (1.f + fabsf(x));
    case Unary::kCelu:  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
      return x > 0.f ? x : a * expm1f(x / a);
    case Unary::kThresholdedRelu:
      return x > a ? x : 0.f;
    case Unary::kShrink:  // a = lambd, b = bias
      return x < -a ? x + b : (x > a ? x - b : 0.f);
  }
  return x;
}

__device__ __forceinline__ float combine_math(Combine op, float a, float b) {
  switch (op) {
    case Combine::kNone:
      return a;
    case Combine::kAdd:
      return a + b;
    case Combine::kSub:
      return a - b;
    case Combine::kMul:
      return a * b;
    case Combine::kDiv:
      return a / b;
    case Combine::kPow:
      return powf(a, b);
    case Combine::kMax:
      return (isnan(a) || isnan(b)) ? nanf("") : (a < b ? b : a);
    case Combine::kMin:
      return (isnan(a) || isnan(b)) ? nanf("") : (b < a ? b : a);
    case Combine::kModFmod:
      return fmodf(a, b);
    case Combine::kModFloor: {
      const float r = fmodf(a, b);
      return (r != 0.f && ((r < 0.f) != (b < 0.f))) ? r + b : r;
    }
    case Combine::kPRelu:
      return a < 0.f ? b * a : a;
    case Combine::kEqual:
      return a == b ? 1.f : 0.f;
    case Combine::kLess:
      return a < b ? 1.f : 0.f;
    case Combine::kGreater:
      return a > b ? 1.f : 0.f;
    case Combine::kLessOrEqual:
      return a <= b ? 1.f : 0.f;
    case Combine::kGreaterOrEqual:
      return a >= b ? 1.f : 0.f;
    case Combine::kAnd:
      return (a != 0.f && b != 0.f) ? 1.f : 0.f;
    case Combine::kOr:
      return (a != 0.f || b != 0.f) ? 1.f : 0.f;
    case Combine::kXor:
      return ((a != 0.f) != (b != 0.f)) ? 1.f : 0.f;
  }
  return a;
}

template <typename T>
__device__ __forceinline__ float load_float(const Operands& ops, int k, int64_t off) {
  return to_float(static_cast<const T*>(ops.data[k])[off]);
}

template <typename TIn, typename TOut, bool kFlat>
__global__ void float_kernel(const Operands ops, const FloatProgram prog, TOut* __restrict__ y) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < ops.n; i += step) {
    int64_t off[kMaxOperands];
    operand_offsets<kFlat>(ops, i, off);
    float v = load_float<TIn>(ops, 0, off[0]);
#pragma unroll
    for (int k = 1; k < kMaxOperands; ++k)
      if (k < ops.count) v = combine_math(prog.combine, v, load_float<TIn>(ops, k, off[k]));
    if (prog.mean) v /= static_cast<float>(ops.count);
    for (int c = 0; c < prog.chain.n; ++c) v = unary_math(prog.chain.op[c], v, prog.chain.alpha[c], prog.chain.beta[c]);
    y[i] = from_float<TOut>(v);
  }
}

// The same program over 16 bytes of output per thread, where the innermost (merged) dim is contiguous in
// the output and a multiple of the lanes: every operand either runs along it (stride 1, 16-byte aligned
// packs, outer strides multiples of the lanes) or is broadcast along it (stride 0: one value for the pack),
// so a pack shares its operands' outer offsets and costs one index computation instead of V
// (squeeze-and-excitation scales, per-channel and same-shape operands on NHWC activations).
template <typename T>
struct alignas(16) Lanes16 {
  static constexpr int kN = 16 / sizeof(T);
  T v[kN];
};

template <typename T, bool kFlat>
__global__ void float_vec_kernel(const Operands ops, const FloatProgram prog, unsigned along, T* __restrict__ y) {
  constexpr int V = Lanes16<T>::kN;
  const int64_t packs = ops.n / V;
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += step) {
    int64_t off[kMaxOperands];
    operand_offsets<kFlat>(ops, p * V, off);
    float v[V];
#pragma unroll
    for (int k = 0; k < kMaxOperands; ++k) {
      if (k >= ops.count) break;
      const T* src = static_cast<const T*>(ops.data[k]) + off[k];
      float x[V];
      if (along >> k & 1u) {
        const Lanes16<T> px = *reinterpret_cast<const Lanes16<T>*>(src);
#pragma unroll
        for (int l = 0; l < V; ++l) x[l] = to_float(px.v[l]);
      } else {
        const float b = to_float(*src);
#pragma unroll
        for (int l = 0; l < V; ++l) x[l] = b;
      }
#pragma unroll
      for (int l = 0; l < V; ++l) v[l] = k == 0 ? x[l] : combine_math(prog.combine, v[l], x[l]);
    }
    Lanes16<T> res;
#pragma unroll
    for (int l = 0; l < V; ++l) {
      float r = v[l];
      if (prog.mean) r /= static_cast<float>(ops.count);
      for (int c = 0; c < prog.chain.n; ++c)
        r = unary_math(prog.chain.op[c], r, prog.chain.alpha[c], prog.chain.beta[c]);
      res.v[l] = from_float<T>(r);
    }
    *reinterpret_cast<Lanes16<T>*>(y + p * V) = res;
  }
}

// Two's-complement wrapping (signed overflow is undefined in C++), as the CPU reference.
template <typename T>
using Unsigned = std::make_unsigned_t<T>;
template <typename T>
__device__ __forceinline__ T wrap_neg(T a) {
  return static_cast<T>(Unsigned<T>(0) - static_cast<Unsigned<T>>(a));
}

// Integer division by zero gives 0 here (the CPU reference reports an error; a kernel cannot).
template <typename T>
__device__ T int_combine(Combine op, T a, T b) {
  using U = Unsigned<T>;
  switch (op) {
    case Combine::kNone:
      return a;
    case Combine::kAdd:
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    case Combine::kSub:
      return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
    case Combine::kMul:
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    case Combine::kDiv:
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>)
        if (b == T(-1)) return wrap_neg(a);  // INT_MIN / -1 overflows
      return static_cast<T>(a / b);
    case Combine::kModFmod:
    case Combine::kModFloor: {
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);
        const T r = static_cast<T>(a % b);
        return (op == Combine::kModFloor && r != 0 && ((r < 0) != (b < 0))) ? static_cast<T>(r + b) : r;
      }
      return static_cast<T>(a % b);
    }
    case Combine::kMax:
      return a < b ? b : a;
    case Combine::kMin:
      return b < a ? b : a;
    case Combine::kPRelu:
      if constexpr (std::is_signed_v<T>) return a < T(0) ? static_cast<T>(static_cast<U>(b) * static_cast<U>(a)) : a;
      return a;
    case Combine::kEqual:
      return a == b ? T(1) : T(0);
    case Combine::kLess:
      return a < b ? T(1) : T(0);
    case Combine::kGreater:
      return a > b ? T(1) : T(0);
    case Combine::kLessOrEqual:
      return a <= b ? T(1) : T(0);
    case Combine::kGreaterOrEqual:
      return a >= b ? T(1) : T(0);
    case Combine::kAnd:
      return (a != T(0) && b != T(0)) ? T(1) : T(0);
    case Combine::kOr:
      return (a != T(0) || b != T(0)) ? T(1) : T(0);
    case Combine::kXor:
      return ((a != T(0)) != (b != T(0))) ? T(1) : T(0);
    case Combine::kPow:
      return a;  // refused at lowering
  }
  return a;
}

template <typename T>
__device__ __forceinline__ T int_unary(const IntProgram& p, T v) {
  switch (p.unary) {
    case IntUnary::kIdentity:
      return v;
    case IntUnary::kRelu:
      return v > T(0) ? v : T(0);
    case IntUnary::kNeg:
      return wrap_neg(v);
    case IntUnary::kAbs:
      if constexpr (std::is_signed_v<T>) return v < T(0) ? wrap_neg(v) : v;
      return v;
    case IntUnary::kSign:
      if constexpr (std::is_signed_v<T>) return static_cast<T>((T(0) < v) - (v < T(0)));
      return v ? T(1) : T(0);
    case IntUnary::kNot:
      return v ? T(0) : T(1);
    case IntUnary::kClip: {
      const T lo = static_cast<T>(p.lo), hi = static_cast<T>(p.hi);
      const T m = v < lo ? lo : v;
      return hi < m ? hi : m;
    }
  }
  return v;
}

template <typename T, typename TOut, bool kFlat>
__global__ void int_kernel(const Operands ops, const IntProgram prog, TOut* __restrict__ y) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < ops.n; i += step) {
    int64_t off[kMaxOperands];
    operand_offsets<kFlat>(ops, i, off);
    T v = static_cast<const T*>(ops.data[0])[off[0]];
#pragma unroll
    for (int k = 1; k < kMaxOperands; ++k)
      if (k < ops.count) v = int_combine<T>(prog.combine, v, static_cast<const T*>(ops.data[k])[off[k]]);
    y[i] = static_cast<TOut>(int_unary<T>(prog, v));
  }
}

// ---- Host launchers ---------------------------------------------------------------------------------

template <typename TIn, typename TOut>
Status run_float(const Operands& ops, const FloatProgram& prog, void* y, cudaStream_t s) {
  if (ops.n == 0) return Status::Ok();
  auto* out = static_cast<TOut*>(y);
  if constexpr (std::is_same_v<TIn, TOut>) {
    constexpr int V = Lanes16<TIn>::kN;
    unsigned along = 0;
    if (packed_operands(ops, V, y, &along)) {
      if (ops.flat())
        float_vec_kernel<TIn, true><<<blocks_for(ops.n / V), 256, 0, s>>>(ops, prog, along, out);
      else
        float_vec_kernel<TIn, false><<<blocks_for(ops.n / V), 256, 0, s>>>(ops, prog, along, out);
      return check_launch("elementwise float_vec_kernel");
    }
  }
  if (ops.flat())
    float_kernel<TIn, TOut, true><<<blocks_for(ops.n), 256, 0, s>>>(ops, prog, out);
  else
    float_kernel<TIn, TOut, false><<<blocks_for(ops.n), 256, 0, s>>>(ops, prog, out);
  return check_launch("elementwise float_kernel");
}

template <typename TIn>
Status run_float_to(const Operands& ops, const FloatProgram& prog, DType out, void* y, cudaStream_t s) {
  if (out == DType::kBool) return run_float<TIn, uint8_t>(ops, prog, y, s);
  return run_float<TIn, TIn>(ops, prog, y, s);
}

template <typename T, typename TOut>
Status run_int(const Operands& ops, const IntProgram& prog, void* y, cudaStream_t s) {
  if (ops.n == 0) return Status::Ok();
  auto* out = static_cast<TOut*>(y);
  if (ops.flat())
    int_kernel<T, TOut, true><<<blocks_for(ops.n), 256, 0, s>>>(ops, prog, out);
  else
    int_kernel<T, TOut, false><<<blocks_for(ops.n), 256, 0, s>>>(ops, prog, out);
  return check_launch("elementwise int_kernel");
}

template <typename T>
Status run_int_to(const Operands& ops, const IntProgram& prog, DType out, void* y, cudaStream_t s) {
  if (out == DType::kBool) return run_int<T, uint8_t>(ops, prog, y, s);
  return run_int<T, T>(ops, prog, y, s);
}

}  // namespace

bool Operands::flat() const { return rank <= 1; }

bool packed_operands(const Operands& ops, int lanes, const void* y, unsigned* along) {
  *along = 0;
  if (ops.rank < 1 || ops.dims[ops.rank - 1] % lanes != 0) return false;  // n = product of the dims
  if (reinterpret_cast<uintptr_t>(y) % 16 != 0) return false;
  for (int k = 0; k < ops.count; ++k) {
    const int64_t inner = ops.strides[k][ops.rank - 1];
    if (inner == 0) continue;
    if (inner != 1 || reinterpret_cast<uintptr_t>(ops.data[k]) % 16 != 0) return false;
    for (int d = 0; d + 1 < ops.rank; ++d)
      if (ops.strides[k][d] % lanes != 0) return false;
    *along |= 1u << k;
  }
  return true;
}

bool is_int_storage(DType t) {
  return t == DType::kInt32 || t == DType::kInt64 || t == DType::kUint8 || t == DType::kBool;
}

Status launch_float(const Operands& ops, const FloatProgram& prog, DType in, DType out, void* y, cudaStream_t stream) {
  if (out != in && out != DType::kBool)
    return unsupported(std::string("elementwise: float kernel cannot write ") + dtype_name(out) + " from " +
                       dtype_name(in));
  switch (in) {
    case DType::kFloat32:
      return run_float_to<float>(ops, prog, out, y, stream);
    case DType::kFloat16:
      return run_float_to<__half>(ops, prog, out, y, stream);
    case DType::kBFloat16:
      return run_float_to<__nv_bfloat16>(ops, prog, out, y, stream);
    default:
      return unsupported(std::string("elementwise: float kernel got dtype ") + dtype_name(in));
  }
}

Status launch_int(const Operands& ops, const IntProgram& prog, DType in, DType out, void* y, cudaStream_t stream) {
  if (out != in && out != DType::kBool)
    return unsupported(std::string("elementwise: integer kernel cannot write ") + dtype_name(out) + " from " +
                       dtype_name(in));
  switch (in) {
    case DType::kInt32:
      return run_int_to<int32_t>(ops, prog, out, y, stream);
    case DType::kInt64:
      return run_int_to<int64_t>(ops, prog, out, y, stream);
    case DType::kUint8:
    case DType::kBool:
      return run_int<uint8_t, uint8_t>(ops, prog, y, stream);
    default:
      return unsupported(std::string("elementwise: integer kernel got dtype ") + dtype_name(in));
  }
}

}  // namespace kiln::cuda::ew
