// The elementwise family's shared pieces (unary.cu, binary.cu, cast.cu, elementwise.cu): op codes, the
// operand description every kernel reads through (broadcast / NHWC strides collapsed to the fewest dims),
// the launchers, and the one Layer class all elementwise lowerings return.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cuda/kernels/common.cuh"

// operand_offsets below is also compiled as host code by the planning unit test (no nvcc there).
#ifdef __CUDACC__
#define KILN_EW_UNROLL _Pragma("unroll")
#else
#define KILN_EW_UNROLL
#endif

namespace kiln::cuda::ew {

constexpr int kMaxOperands = 8;  // variadic Sum/Mean/Max/Min with more inputs are refused
constexpr int kMaxChain = 16;    // longest kiln.FusedElementwise chain

// Float activations / math, evaluated in float32 registers. alpha/beta: LeakyRelu and Elu alpha, Clip
// min/max, HardSigmoid alpha/beta, Selu alpha/gamma.
enum class Unary : int32_t {
  kIdentity,
  kRelu,
  kLeakyRelu,
  kClip,
  kSigmoid,
  kHardSigmoid,
  kHardSwish,
  kSiLU,
  kTanh,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kNeg,
  kAbs,
  kErf,
  kFloor,
  kCeil,
  kRound,
  kSin,
  kCos,
  kSoftplus,
  kElu,
  kSelu,
  kGelu,
  kGeluTanh,
  kMish,
  kSign,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kAsinh,
  kAcosh,
  kAtanh,
  kSoftsign,
  kCelu,
  kThresholdedRelu,
  kShrink
};

// How operand k > 0 is folded into the running value (left to right); comparisons give 0/1.
enum class Combine : int32_t {
  kNone,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kModFmod,
  kModFloor,
  kPRelu,
  kEqual,
  kLess,
  kGreater,
  kLessOrEqual,
  kGreaterOrEqual,
  kAnd,
  kOr,
  kXor
};

struct Chain {
  int n = 0;
  Unary op[kMaxChain] = {};
  float alpha[kMaxChain] = {};
  float beta[kMaxChain] = {};
};

// y = chain(fold(combine, x0, x1, ...) [/ count when mean]).
struct FloatProgram {
  Combine combine = Combine::kNone;
  bool mean = false;
  Chain chain;
};

// Integers and bool (as uint8 0/1), computed exactly in the storage type (wrapping like the CPU reference).
enum class IntUnary : int32_t { kIdentity, kRelu, kNeg, kAbs, kSign, kNot, kClip };
struct IntProgram {
  Combine combine = Combine::kNone;
  IntUnary unary = IntUnary::kIdentity;
  int64_t lo = 0, hi = 0;  // kClip limits
};

// Operands read while iterating over the output in its memory order: dims are the output's dims in that
// order after dropping size-1 dims and merging dims that are contiguous for every operand, so the common
// cases (same desc, scalar, per-channel bias on NHWC) need no or one division per element.
struct Operands {
  int count = 0;
  int rank = 0;  // 0: a single element
  int64_t n = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxOperands][kMaxRank] = {};
  const void* data[kMaxOperands] = {};
  bool flat() const;  // rank <= 1: offsets are i * stride, no division
};

// Element offsets of every operand for output element i (in the output's memory order).
template <bool kFlat>
__device__ __forceinline__ void operand_offsets(const Operands& ops, int64_t i, int64_t (&off)[kMaxOperands]) {
  if constexpr (kFlat) {
    KILN_EW_UNROLL
    for (int k = 0; k < kMaxOperands; ++k) off[k] = ops.rank ? i * ops.strides[k][0] : 0;
  } else {
    KILN_EW_UNROLL
    for (int k = 0; k < kMaxOperands; ++k) off[k] = 0;
    int64_t rem = i;
    KILN_EW_UNROLL
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= ops.rank) continue;
      int64_t c = rem;
      if (d > 0) {
        // 32-bit division is several times cheaper and covers every tensor below 4G elements.
        const int64_t q = (rem | ops.dims[d]) >> 32 == 0
                              ? static_cast<int64_t>(static_cast<uint32_t>(rem) / static_cast<uint32_t>(ops.dims[d]))
                              : rem / ops.dims[d];
        c = rem - q * ops.dims[d];
        rem = q;
      }
      KILN_EW_UNROLL
      for (int k = 0; k < kMaxOperands; ++k) off[k] += c * ops.strides[k][d];
    }
  }
}

// Whether the packed float kernel (16 bytes of output per thread) runs these operands: the innermost dim
// is a multiple of `lanes`, `y` and every operand that runs along it (stride 1; bit k of *along) are 16-byte
// aligned with outer strides that are multiples of `lanes`; the other operands are broadcast along it.
bool packed_operands(const Operands& ops, int lanes, const void* y, unsigned* along);

// Fills ops from the operand descs (each must broadcast to out.shape) and out's layout; `what` names the
// node in errors.
Status plan_operands(const std::vector<TensorDesc>& ins, const TensorDesc& out, const std::string& what, Operands* ops);

// `in` is the operands' storage dtype (float32/float16/bfloat16 for launch_float; int32/int64/uint8/bool
// for launch_int), `out` the output's (the same, or bool for comparisons).
Status launch_float(const Operands& ops, const FloatProgram& prog, DType in, DType out, void* y, cudaStream_t stream);
Status launch_int(const Operands& ops, const IntProgram& prog, DType in, DType out, void* y, cudaStream_t stream);
// Operands: bool condition, X, Y (X and Y of `value` dtype; any dtype of 1, 2, 4 or 8 bytes).
Status launch_where(const Operands& ops, DType value, void* y, cudaStream_t stream);
// One operand; `round_through` (float16/bfloat16 or undefined) rounds float results through that type
// first, so Cast(to=float16) keeps its rounding when activations are stored wider.
Status launch_cast(const Operands& ops, DType from, DType to, DType round_through, void* y, cudaStream_t stream);

bool is_int_storage(DType t);  // int32, int64, uint8, bool

// Reads node inputs `operand_inputs` (in that order) and writes output 0 through `launch`. `fix_shapes`
// may rewrite the operand descs before planning (legacy broadcast views: same bytes, other shape).
class ElementwiseLayer : public Layer {
 public:
  using LaunchFn = std::function<Status(const Operands&, void* y, cudaStream_t)>;
  using FixShapesFn = std::function<Status(std::vector<TensorDesc>&)>;
  ElementwiseLayer(std::string what, std::vector<size_t> operand_inputs, LaunchFn launch,
                   FixShapesFn fix_shapes = nullptr)
      : what_(std::move(what)),
        operand_inputs_(std::move(operand_inputs)),
        launch_(std::move(launch)),
        fix_shapes_(std::move(fix_shapes)) {}
  Status configure(ConfigureContext& ctx) override;
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string tactic() const override { return ops_.flat() ? "kernel:flat" : "kernel:strided"; }

 private:
  std::string what_;
  std::vector<size_t> operand_inputs_;
  LaunchFn launch_;
  FixShapesFn fix_shapes_;
  Operands ops_;
};

// Lowering helpers (elementwise.cu).
// Asks for every float input among `idx` in ctx.float_dtype(), keeping its layout; float64 is refused.
Status require_float_inputs(LowerContext& ctx, const std::vector<size_t>& idx);
// NumPy broadcast of the shapes of inputs `idx` (error naming the node).
Expected<Shape> broadcast_inputs(const LowerContext& ctx, const std::vector<TensorDesc>& descs);
// The output layout: that of an input whose logical shape is the output's, NHWC preferred.
Layout output_layout(const std::vector<TensorDesc>& descs, const Shape& out);
// Indices of the inputs that are present (dtype defined), in order.
std::vector<size_t> present_inputs(const LowerContext& ctx);
// Sets output 0's dtype and layout from the given operand inputs (layout rule above); `fix` as the layer's.
Status set_output(LowerContext& ctx, const std::vector<size_t>& idx, DType dtype,
                  const ElementwiseLayer::FixShapesFn& fix = nullptr);
// Legacy (opset < 7) broadcast of input 1 to input 0 from `axis`: B gets trailing 1s. Null when not used.
Expected<ElementwiseLayer::FixShapesFn> legacy_broadcast(const LowerContext& ctx);

}  // namespace kiln::cuda::ew
