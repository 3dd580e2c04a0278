// CPU reference kernels for the Reduce* family: one accumulate/finish loop shared by all ten ops.
// Floats accumulate in double; integer Sum/Prod/Max/Min/L1/SumSquare/Mean stay exact in 64-bit integers.
#include "ops/reduce.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

struct ReducePlan {
  Shape in;           // input shape
  Shape kept;         // input shape with reduced dims set to 1 (output offsets are computed against it)
  Shape out;          // final output shape (kept, or with reduced dims dropped)
  int64_t count = 1;  // elements per reduction
};

// The math kinds go through double even for integer inputs (the result is truncated back, as NumPy's
// astype does).
bool needs_double(Reduce k) { return k == Reduce::kL2 || k == Reduce::kLogSum || k == Reduce::kLogSumExp; }

// Empty reductions yield these (ONNX: max of nothing is -inf, or the type's lowest value for integers).
template <typename T, typename Acc>
Acc initial(Reduce kind) {
  switch (kind) {
    case Reduce::kProd:
      return Acc(1);
    case Reduce::kMax:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                  : static_cast<Acc>(std::numeric_limits<T>::lowest());
    case Reduce::kMin:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                  : static_cast<Acc>(std::numeric_limits<T>::max());
    default:
      return Acc(0);
  }
}

template <typename Acc>
Acc magnitude(Acc v) {
  if constexpr (std::is_unsigned<Acc>::value) {
    return v;
  } else {
    return v < 0 ? -v : v;
  }
}

template <typename Acc>
Acc step(Reduce kind, Acc a, Acc x, double shift) {
  switch (kind) {
    case Reduce::kMax:
      return (x > a || x != x) ? x : a;  // x != x: NaN propagates
    case Reduce::kMin:
      return (x < a || x != x) ? x : a;
    case Reduce::kProd:
      return a * x;
    case Reduce::kL1:
      return a + magnitude(x);
    case Reduce::kL2:
    case Reduce::kSumSquare:
      return a + x * x;
    case Reduce::kLogSumExp:
      return a + static_cast<Acc>(std::exp(static_cast<double>(x) - shift));
    default:
      return a + x;
  }
}

// Converts the accumulated value into the output type without undefined float->int conversions.
template <typename T, typename Acc>
T narrow(Acc v) {
  if constexpr (std::is_integral<T>::value && std::is_floating_point<Acc>::value) {
    if (!std::isfinite(v)) return v > 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest();
    if (v >= static_cast<Acc>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    if (v <= static_cast<Acc>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  }
  return static_cast<T>(v);
}

template <typename T, typename Acc>
Acc finish(Reduce kind, Acc a, int64_t count, double shift) {
  switch (kind) {
    case Reduce::kMean:
      if (count == 0) return std::numeric_limits<Acc>::has_quiet_NaN ? std::numeric_limits<Acc>::quiet_NaN() : Acc(0);
      return a / static_cast<Acc>(count);
    case Reduce::kL2:
      return static_cast<Acc>(std::sqrt(static_cast<double>(a)));
    case Reduce::kLogSum:
      return static_cast<Acc>(std::log(static_cast<double>(a)));
    case Reduce::kLogSumExp:
      return static_cast<Acc>(shift + std::log(static_cast<double>(a)));
    default:
      return a;
  }
}

template <typename T, typename Acc>
Status reduce_with(KernelContext& ctx, Reduce kind, const ReducePlan& p) {
  const T* x = ctx.input(0)->data<T>();
  const int64_t n_out = numel(p.kept);
  std::vector<double> shift(static_cast<size_t>(n_out), 0.0);
  if (kind == Reduce::kLogSumExp) {
    // Shift by the per-output maximum so exp() cannot overflow; infinite maxima need no shift.
    std::vector<double> mx(static_cast<size_t>(n_out), -std::numeric_limits<double>::infinity());
    for_each_broadcast(p.in, {p.kept}, [&](int64_t i, const int64_t* off) {
      mx[off[0]] = step<double>(Reduce::kMax, mx[off[0]], static_cast<double>(x[i]), 0.0);
    });
    for (int64_t o = 0; o < n_out; ++o) shift[o] = std::isfinite(mx[o]) ? mx[o] : 0.0;
  }
  std::vector<Acc> acc(static_cast<size_t>(n_out), initial<T, Acc>(kind));
  for_each_broadcast(p.in, {p.kept}, [&](int64_t i, const int64_t* off) {
    acc[off[0]] = step<Acc>(kind, acc[off[0]], static_cast<Acc>(x[i]), shift[off[0]]);
  });
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DTypeOf<T>::value, p.out));
  T* y = out.data<T>();
  for (int64_t o = 0; o < n_out; ++o) y[o] = narrow<T>(finish<T, Acc>(kind, acc[o], p.count, shift[o]));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Expected<ReducePlan> make_plan(const KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor& x = *ctx.input(0);
  const Tensor* axes_input = node.opset >= reduce_axes_input_opset(node.op_type) ? ctx.input(1) : nullptr;
  KILN_ASSIGN_OR_RETURN(ReduceAxes axes, parse_reduce_axes(node, x.rank(), axes_input));
  ReducePlan p;
  p.in = x.shape();
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (axes.reduced[d]) {
      p.count *= x.dim(d);
      p.kept.push_back(1);
      if (axes.keepdims) p.out.push_back(1);
    } else {
      p.kept.push_back(x.dim(d));
      p.out.push_back(x.dim(d));
    }
  }
  return p;
}

CpuKernel make_reduce(Reduce kind) {
  return [kind](KernelContext& ctx) -> Status {
    KILN_ASSIGN_OR_RETURN(ReducePlan plan, make_plan(ctx));
    return visit_numeric(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_floating_point<T>::value) {
        return reduce_with<T, double>(ctx, kind, plan);
      } else {
        if (needs_double(kind)) return reduce_with<T, double>(ctx, kind, plan);
        using Acc = typename std::conditional<std::is_signed<T>::value, int64_t, uint64_t>::type;
        return reduce_with<T, Acc>(ctx, kind, plan);
      }
    });
  };
}

CpuKernelDef def(const char* name, Reduce kind) { return CpuKernelDef{name, "", widen_half(make_reduce(kind))}; }

}  // namespace

KILN_REGISTER_CPU_KERNELS(reduce, def("ReduceSum", Reduce::kSum), def("ReduceMean", Reduce::kMean),
                          def("ReduceMax", Reduce::kMax), def("ReduceMin", Reduce::kMin),
                          def("ReduceProd", Reduce::kProd), def("ReduceL1", Reduce::kL1), def("ReduceL2", Reduce::kL2),
                          def("ReduceSumSquare", Reduce::kSumSquare), def("ReduceLogSum", Reduce::kLogSum),
                          def("ReduceLogSumExp", Reduce::kLogSumExp));

}  // namespace kiln::cpu
