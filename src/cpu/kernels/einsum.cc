// CPU reference Einsum: operands contracted left to right, each pair as a batched GEMM over gathered
// (permuted, diagonal-taken, partly summed) copies; the last result permuted into the output's order.
#include <algorithm>
#include <map>
#include <type_traits>
#include <vector>

#include "cpu/kernels/blas.h"
#include "cpu/kernels/common.h"
#include "ops/einsum.h"

namespace kiln::cpu {
namespace {

template <typename T>
struct Operand {
  const T* input = nullptr;  // an input tensor's data, read in place; else `owned` (a contraction's result)
  std::vector<T> owned;
  std::vector<int> labels;   // one per dim (may repeat in an input: a diagonal)
  std::vector<int64_t> dims;

  const T* data() const { return input ? input : owned.data(); }  // row-major
};

// Copies `src` into the order of `target` (unique labels, sizes from `size`): repeated labels of src read
// its diagonal, labels of src not in target are summed, a label src lacks or holds with dim 1 broadcasts.
template <typename T>
std::vector<T> gather(const T* src, const std::vector<int>& labels, const std::vector<int64_t>& dims,
                      const std::vector<int>& target, const std::map<int, int64_t>& size) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  std::vector<int64_t> stride(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) stride[d - 1] = stride[d] * dims[d];
  std::map<int, int64_t> label_stride, label_dim;
  for (size_t d = 0; d < dims.size(); ++d) {
    label_stride[labels[d]] += stride[d];
    label_dim[labels[d]] = dims[d];
  }
  std::vector<int64_t> t_size, t_stride;
  for (int l : target) {
    t_size.push_back(size.at(l));
    auto it = label_dim.find(l);
    t_stride.push_back(it == label_dim.end() || it->second == 1 ? 0 : label_stride[l]);
  }
  std::vector<int64_t> s_size, s_stride;  // the summed labels
  for (const auto& [l, d] : label_dim)
    if (std::find(target.begin(), target.end(), l) == target.end()) {
      s_size.push_back(d);
      s_stride.push_back(label_stride[l]);
    }
  int64_t total = 1, summed = 1;
  for (int64_t s : t_size) total *= s;
  for (int64_t s : s_size) summed *= s;
  std::vector<T> out(static_cast<size_t>(total));
  std::vector<int64_t> ti(t_size.size(), 0), si(s_size.size(), 0);
  int64_t base = 0;
  for (int64_t i = 0; i < total; ++i) {
    Acc acc = 0;
    int64_t off = base;
    std::fill(si.begin(), si.end(), 0);
    for (int64_t j = 0; j < summed; ++j) {
      acc += static_cast<Acc>(src[off]);
      for (size_t d = s_size.size(); d-- > 0;) {  // odometer over the summed labels
        off += s_stride[d];
        if (++si[d] < s_size[d]) break;
        off -= s_stride[d] * s_size[d];
        si[d] = 0;
      }
    }
    out[static_cast<size_t>(i)] = static_cast<T>(acc);
    for (size_t d = t_size.size(); d-- > 0;) {  // odometer over the target labels
      base += t_stride[d];
      if (++ti[d] < t_size[d]) break;
      base -= t_stride[d] * t_size[d];
      ti[d] = 0;
    }
  }
  return out;
}

template <typename T>
void multiply(int64_t M, int64_t N, int64_t K, const T* a, const T* b, T* c) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(c, c + M * N, T(0));
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    gemm<T>(M, N, K, {a, K, 1}, {b, N, 1}, c, N, false);
  } else {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T s = 0;
        for (int64_t k = 0; k < K; ++k) s += a[i * K + k] * b[k * N + j];
        c[i * N + j] = s;
      }
  }
}

bool has(const std::vector<int>& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); }

template <typename T>
Operand<T> contract(const Operand<T>& x, const Operand<T>& y, const std::vector<int>& keep,
                    const std::map<int, int64_t>& size) {
  std::vector<int> xl, yl;  // unique labels in first-seen order
  for (int l : x.labels)
    if (!has(xl, l)) xl.push_back(l);
  for (int l : y.labels)
    if (!has(yl, l)) yl.push_back(l);
  std::vector<int> batch, m, k, n;
  for (int l : xl) {
    if (has(yl, l)) (has(keep, l) ? batch : k).push_back(l);
    else if (has(keep, l)) m.push_back(l);  // x's labels in neither y nor keep are summed by gather
  }
  for (int l : yl)
    if (!has(xl, l) && has(keep, l)) n.push_back(l);
  auto extent = [&](const std::vector<int>& ls) {
    int64_t e = 1;
    for (int l : ls) e *= size.at(l);
    return e;
  };
  auto cat = [](std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<T> xg = gather(x.data(), x.labels, x.dims, cat(cat(batch, m), k), size);
  const std::vector<T> yg = gather(y.data(), y.labels, y.dims, cat(cat(batch, k), n), size);
  const int64_t B = extent(batch), M = extent(m), K = extent(k), N = extent(n);
  Operand<T> r;
  r.labels = cat(cat(batch, m), n);
  for (int l : r.labels) r.dims.push_back(size.at(l));
  r.owned.resize(static_cast<size_t>(B * M * N));
  for (int64_t b = 0; b < B; ++b) multiply<T>(M, N, K, xg.data() + b * M * K, yg.data() + b * K * N, r.owned.data() + b * M * N);
  return r;
}

template <typename T>
Status run_einsum(KernelContext& ctx, const std::string& equation) {
  std::vector<size_t> ranks;
  for (const Tensor* t : ctx.inputs) ranks.push_back(t->rank());
  auto labels = parse_einsum(equation, ranks);
  if (!labels.ok()) return ctx.invalid(labels.status().message());
  std::map<int, int64_t> size;  // one extent per label; the ellipsis labels broadcast
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    for (size_t d = 0; d < ranks[i]; ++d) {
      const int l = labels->inputs[i][d];
      const int64_t got = ctx.inputs[i]->dim(static_cast<int>(d));
      auto it = size.find(l);
      if (it == size.end() || it->second == got) {
        size[l] = got;
      } else if (l >= kEinsumEllipsisBase && (it->second == 1 || got == 1)) {
        it->second = std::max(it->second, got);
      } else {
        return ctx.invalid("label dims differ: " + std::to_string(it->second) + " and " + std::to_string(got) +
                           " (input " + std::to_string(i) + " " + ctx.inputs[i]->describe() + ", dim " +
                           std::to_string(d) + ")");
      }
    }
  auto operand = [&](size_t i) {
    const Tensor& t = *ctx.inputs[i];
    Operand<T> o;
    o.input = t.data<T>();
    o.labels = labels->inputs[i];
    o.dims = t.shape();
    return o;
  };
  Operand<T> acc = operand(0);
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    std::vector<int> keep = labels->output;  // what the output or a later operand still needs
    for (size_t j = i + 1; j < ctx.inputs.size(); ++j)
      keep.insert(keep.end(), labels->inputs[j].begin(), labels->inputs[j].end());
    acc = contract(acc, operand(i), keep, size);
  }
  Shape out_shape;
  for (int l : labels->output) out_shape.push_back(size.at(l));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(ctx.inputs[0]->dtype(), out_shape));
  const std::vector<T> result = gather(acc.data(), acc.labels, acc.dims, labels->output, size);
  std::copy(result.begin(), result.end(), y.data<T>());
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status einsum_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string equation, ctx.node.attr_string("equation", ""));
  if (equation.empty()) return ctx.invalid("attribute 'equation' is required");
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    if (!ctx.inputs[i] || ctx.inputs[i]->dtype() != ctx.inputs[0]->dtype())
      return ctx.invalid("input " + std::to_string(i) + " is missing or not of input 0's dtype");
  return visit_numeric(ctx.inputs[0]->dtype(), ctx.node.describe(),
                       [&](auto t) { return run_einsum<decltype(t)>(ctx, equation); });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(einsum, CpuKernelDef{"Einsum", "", widen_half(einsum_kernel)});

}  // namespace kiln::cpu
