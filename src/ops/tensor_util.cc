// Shape-like input reading, symbolic dim arithmetic and the index rules of Slice/Reshape/Split.
#include "ops/tensor_util.h"

#include <algorithm>
#include <map>
#include <set>

namespace kiln {

Dim literal_dim(int64_t v) { return Dim(v == -1 ? kLiteralMinusOne : v); }

std::optional<int64_t> literal_value(const Dim& d) {
  if (d.known()) return d.value;
  if (d.value == kLiteralMinusOne && d.symbol.empty()) return -1;
  return std::nullopt;
}

std::vector<Dim> as_shape_dims(const std::vector<Dim>& dims) {
  std::vector<Dim> out;
  for (const Dim& d : dims) out.push_back(d.known() || d.is_symbol() ? d : Dim());
  return out;
}

std::optional<std::vector<Dim>> input_dims(const InferContext& ctx, size_t i) {
  // The constant first: its -1 entries are literal, while dims_value's Dim(-1) would read as unknown.
  if (const Tensor* t = ctx.input_constant(i)) {
    if (t->rank() > 1 || !dtype_is_integer(t->dtype())) return std::nullopt;
    std::vector<Dim> out;
    for (int64_t k = 0; k < t->numel(); ++k) out.push_back(literal_dim(t->get_as_int64(k)));
    return out;
  }
  if (const std::vector<Dim>* d = ctx.input_dims_value(i)) return *d;
  return std::nullopt;
}

std::optional<std::vector<int64_t>> input_ints(const InferContext& ctx, size_t i) {
  if (const Tensor* t = ctx.input_constant(i)) {
    if (!dtype_is_integer(t->dtype())) return std::nullopt;
    return t->to_int64_vector();
  }
  auto d = input_dims(ctx, i);
  if (!d || !all_known(*d)) return std::nullopt;
  std::vector<int64_t> out;
  for (const Dim& x : *d) out.push_back(*literal_value(x));
  return out;
}

bool all_known(const std::vector<Dim>& dims) {
  for (const Dim& d : dims)
    if (!literal_value(d)) return false;
  return true;
}

void set_dims_output(InferContext& ctx, size_t i, const std::vector<Dim>& dims, bool scalar) {
  if (all_known(dims) && (!scalar || dims.size() == 1)) {
    std::vector<int64_t> v;
    for (const Dim& d : dims) v.push_back(*literal_value(d));
    Shape s = scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())};
    ctx.set_output_constant(i, Tensor::from_vector<int64_t>(s, v));
    ctx.set_output_dims_value(i, dims);
    return;
  }
  ctx.set_output(i, DType::kInt64, scalar ? SymShape(std::vector<Dim>{}) : SymShape({Dim(int64_t(dims.size()))}));
  ctx.set_output_dims_value(i, dims);
}

Dim dim_product(const std::vector<Dim>& dims, size_t begin, size_t end) {
  int64_t known = 1;
  const Dim* symbol = nullptr;
  int symbols = 0;
  for (size_t k = begin; k < end && k < dims.size(); ++k) {
    const Dim& d = dims[k];
    if (d.known()) {
      if (d.value == 0) return Dim(0);
      known *= d.value;
    } else if (d.is_symbol()) {
      symbol = &d;
      ++symbols;
    } else {
      return Dim();
    }
  }
  if (symbols == 0) return Dim(known);
  if (symbols == 1 && known == 1) return *symbol;
  return Dim();
}

Dim dim_add(const Dim& a, const Dim& b) {
  if (a.known() && b.known()) return Dim(a.value + b.value);
  if (a.known() && a.value == 0) return b;
  if (b.known() && b.value == 0) return a;
  return Dim();
}

Expected<Dim> dim_merge(const Dim& a, const Dim& b) {
  if (a.known() && b.known()) {
    if (a.value != b.value) return invalid_input("dims " + a.to_string() + " and " + b.to_string() + " must be equal");
    return a;
  }
  if (a.known()) return a;
  if (b.known()) return b;
  if (a.is_symbol()) return a;
  return b;
}

SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  SliceRange r;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    r.count = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    r.count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
  }
  r.start = start;
  return r;
}

namespace {
// A product of dims as a known factor times a multiset of symbols; false when a dim is unknown.
bool factorize(const std::vector<Dim>& dims, int64_t* known, std::multiset<std::string>* symbols) {
  *known = 1;
  for (const Dim& d : dims) {
    if (d.known()) {
      *known *= d.value;
    } else if (d.is_symbol()) {
      symbols->insert(d.symbol);
    } else {
      return false;
    }
  }
  return true;
}

// Solves in_product = others_product * x for x.
Dim solve_remaining(const std::vector<Dim>& in, const std::vector<Dim>& others) {
  int64_t kin = 1, kout = 1;
  std::multiset<std::string> sin, sout;
  if (!factorize(in, &kin, &sin) || !factorize(others, &kout, &sout)) return Dim();
  for (const std::string& s : sout) {
    auto it = sin.find(s);
    if (it == sin.end()) return Dim();
    sin.erase(it);
  }
  if (kout == 0 || kin % kout != 0) return Dim();
  const int64_t ratio = kin / kout;
  if (sin.empty()) return Dim(ratio);
  if (sin.size() == 1 && ratio == 1) return Dim::sym(*sin.begin());
  return Dim();
}
}  // namespace

Expected<std::vector<Dim>> resolve_reshape(const SymShape& in, const std::vector<Dim>& target, bool allowzero) {
  std::vector<Dim> out(target.size());
  int infer_at = -1;
  bool has_zero = false;
  for (size_t k = 0; k < target.size(); ++k) {
    const Dim& t = target[k];
    const std::optional<int64_t> lit = literal_value(t);
    if (!lit) {
      out[k] = t.is_symbol() ? t : Dim();  // a symbol or unknown stays what it is
      continue;
    }
    if (*lit == -1) {
      if (infer_at >= 0) return invalid_input("the shape input has more than one -1");
      infer_at = static_cast<int>(k);
    } else if (t.value < -1) {
      return invalid_input("the shape input has the invalid entry " + std::to_string(t.value));
    } else if (t.value == 0 && !allowzero) {
      if (in.rank_known && static_cast<int64_t>(k) >= in.rank())
        return invalid_input("shape entry " + std::to_string(k) + " is 0 (copy the input dim) but the input has rank " +
                             std::to_string(in.rank()));
      out[k] = in.rank_known ? in.dims[k] : Dim();
    } else {
      has_zero |= t.value == 0;
      out[k] = t;
    }
  }
  if (infer_at < 0) {
    // Check the element count when everything is known.
    if (in.is_static() && SymShape(out).is_static()) {
      Dim a = dim_product(in.dims, 0, in.dims.size()), b = dim_product(out, 0, out.size());
      if (a.value != b.value)
        return invalid_input("cannot reshape " + in.to_string() + " (" + std::to_string(a.value) + " elements) to " +
                             SymShape(out).to_string());
    }
    return out;
  }
  if (has_zero && allowzero) return invalid_input("allowzero=1 forbids a 0 together with -1 in the shape input");
  std::vector<Dim> others;
  for (size_t k = 0; k < out.size(); ++k)
    if (static_cast<int>(k) != infer_at) others.push_back(out[k]);
  out[infer_at] = in.rank_known ? solve_remaining(in.dims, others) : Dim();
  if (in.is_static() && SymShape(others).is_static() && !out[infer_at].known())
    return invalid_input("cannot reshape " + in.to_string() + " to " + SymShape(target).to_string() +
                         ": the element count does not divide");
  return out;
}

Expected<std::vector<int64_t>> split_sizes(int64_t dim, const std::vector<int64_t>* split, int64_t num_outputs,
                                           bool allow_uneven) {
  std::vector<int64_t> sizes;
  if (split) {
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0) return invalid_input("split sizes must be >= 0");
      sum += s;
    }
    if (static_cast<int64_t>(split->size()) != num_outputs)
      return invalid_input("split has " + std::to_string(split->size()) + " entries but the node has " +
                           std::to_string(num_outputs) + " outputs");
    if (sum != dim)
      return invalid_input("split sizes add up to " + std::to_string(sum) + " but the axis has " + std::to_string(dim));
    return *split;
  }
  if (num_outputs <= 0) return invalid_input("Split needs at least one output");
  const int64_t chunk = (dim + num_outputs - 1) / num_outputs;
  if (dim % num_outputs != 0 && !allow_uneven)
    return invalid_input("the axis size " + std::to_string(dim) + " does not split evenly into " +
                         std::to_string(num_outputs) + " outputs");
  int64_t left = dim;
  for (int64_t k = 0; k < num_outputs; ++k) {
    sizes.push_back(std::min(chunk, left));
    left -= sizes.back();
  }
  return sizes;
}

Expected<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalize_axis(a, rank, what));
    if (seen[n]) return invalid_input(std::string(what) + " " + std::to_string(a) + " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

}  // namespace kiln
