// Helpers shared by the tensor-manipulation shape rules and their CPU kernels: reading shape-like
// inputs (constants or symbolic dims values), dim arithmetic, Slice/Reshape/Split index rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/shape.h"
#include "ops/registry.h"

namespace kiln {

// Shape-like values hold sizes, symbols and unknowns (Dim()), but also literal -1 entries (Reshape's "infer
// this dim") coming from constants; Dim() means "unknown", so a literal -1 is kept as this marker.
constexpr int64_t kLiteralMinusOne = INT64_MIN;
// A constant entry as a Dim (-1 becomes the marker above).
Dim literal_dim(int64_t v);
// The integer an entry stands for: its size, -1 for the marker; nullopt for symbols and unknowns.
std::optional<int64_t> literal_value(const Dim& d);

// Shape-like entries as shape dims: sizes and symbols kept, anything else (incl. the marker) unknown.
std::vector<Dim> as_shape_dims(const std::vector<Dim>& dims);

// Contents of a 0-D/1-D integer input: its constant, else its dims_value. nullopt when unknown.
std::optional<std::vector<Dim>> input_dims(const InferContext& ctx, size_t i);
// Same, but only when every entry is a known integer.
std::optional<std::vector<int64_t>> input_ints(const InferContext& ctx, size_t i);
// Writes a shape-like int64 output: a constant when every entry is known, otherwise shape [n] (or [] when
// `scalar`) with a dims_value so that later Reshape/Expand nodes keep symbolic dims.
void set_dims_output(InferContext& ctx, size_t i, const std::vector<Dim>& dims, bool scalar);
// True when every entry of dims is a literal integer (see literal_value).
bool all_known(const std::vector<Dim>& dims);

// Product of dims [begin, end): known when all are known, a symbol when it is the only non-1 factor.
Dim dim_product(const std::vector<Dim>& dims, size_t begin, size_t end);
// Sum of two dims (known + known, or x + 0).
Dim dim_add(const Dim& a, const Dim& b);
// Two dims that must agree (Concat's non-axis dims): the more precise one; error on a definite mismatch.
Expected<Dim> dim_merge(const Dim& a, const Dim& b);

// The element range Slice takes on one axis of size `dim`: clamped start, and element count.
struct SliceRange {
  int64_t start = 0;
  int64_t count = 0;
};
SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim);

// Resolves a Reshape target (0 = copy input dim unless allowzero, -1 = infer) against a symbolic input.
// Entries that cannot be known come back as Dim(); the -1 entry is solved when the other factors are
// known or cancel symbolically ([N,2048,1,1] -> [N,-1] gives [N,2048]).
Expected<std::vector<Dim>> resolve_reshape(const SymShape& in, const std::vector<Dim>& target, bool allowzero);

// Sizes of Split's outputs along an axis of size dim (known): from `split`, or num_outputs chunks (the last
// one smaller when uneven, as opset 18 allows; older opsets require an even split).
Expected<std::vector<int64_t>> split_sizes(int64_t dim, const std::vector<int64_t>* split, int64_t num_outputs,
                                           bool allow_uneven);

// Normalises axes against rank; error on out-of-range or duplicate axes.
Expected<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what);

// The tensor a Constant node holds (value or value_float(s)/value_int(s)); sparse/string -> kUnsupported.
Expected<Tensor> constant_value(const Node& node);

}  // namespace kiln
