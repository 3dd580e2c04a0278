// Shape/type rule helpers shared by the elementwise op families (unary, activation, binary, logical, cast):
// dtype-class checks, same-shape and broadcast rules, and dims_value arithmetic for shape subgraphs.
#pragma once

#include <optional>
#include <vector>

#include "ops/registry.h"

namespace kiln::ops {

// Sets of dtypes an op accepts, combined with '|'.
enum DTypeClass : unsigned {
  kFloatTypes = 1,    // float16, bfloat16, float32, float64
  kSignedInts = 2,    // int8 .. int64
  kUnsignedInts = 4,  // uint8 .. uint64
  kBoolType = 8,
};
constexpr unsigned kIntTypes = kSignedInts | kUnsignedInts;
constexpr unsigned kNumeric = kFloatTypes | kIntTypes;
constexpr unsigned kSignedNumeric = kFloatTypes | kSignedInts;
constexpr unsigned kAnyType = kNumeric | kBoolType;

bool dtype_in(DType t, unsigned classes);

// kUnsupported naming op, node and dtype when input i's dtype is outside `classes`.
Status check_input_dtype(const InferContext& ctx, size_t i, unsigned classes);

// Rule: output 0 has input 0's shape, and its dtype (or `out` when given). Input 0 must be in `classes`.
ShapeRule same_shape_rule(unsigned classes, DType out = DType::kUndefined);

// Rule: inputs (all present ones, same dtype, in `classes`) broadcast NumPy-style; output dtype is
// the inputs' dtype, or `out` when given (comparisons give bool).
ShapeRule broadcast_rule(unsigned classes, DType out = DType::kUndefined);

// Broadcast of every present input's shape (symbolic dims kept); error names the node.
Expected<SymShape> broadcast_inputs(const InferContext& ctx, size_t first, size_t last);

// Known entries of an int32/int64 input of rank 0 or 1: its dims_value, else its constant contents.
// A rank-0 input gives one entry. nullopt when nothing is known.
std::optional<std::vector<Dim>> known_entries(const InferContext& ctx, size_t i);

// Entry-wise Add/Sub/Mul/Div of two dims_value vectors (lengths equal or one of them 1).
// 'op' is '+', '-', '*' or '/'. Known op known computes; a symbol stays a symbol only for x+0, 0+x,
// x-0, x*1, 1*x, x/1; anything else involving a symbol or an unknown is unknown.
std::optional<std::vector<Dim>> combine_entries(const std::vector<Dim>& a, const std::vector<Dim>& b, char op);

// For Add/Sub/Mul/Div: records the output's dims_value when both inputs' entries are known (output of
// rank 0 or 1 and integer dtype).
void propagate_arith_dims(InferContext& ctx, char op);

}  // namespace kiln::ops
