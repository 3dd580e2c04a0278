// Concrete shapes (Shape) and symbolic shapes (Dim, SymShape) with their helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

using Shape = std::vector<int64_t>;

// Element count of a concrete shape; nullopt on negative dims or int64 overflow.
std::optional<int64_t> checked_numel(const Shape& s);
// Element count; caller guarantees the shape is valid.
int64_t numel(const Shape& s);
// Row-major (C-order) strides in elements.
std::vector<int64_t> row_major_strides(const Shape& s);
// "1x3x224x224"; "scalar" for rank 0.
std::string shape_to_string(const Shape& s);
// Parses "1x3x224x224" (also accepts ',' as separator); "scalar" or "" is rank 0.
Expected<Shape> parse_shape(const std::string& text);
// Normalises a possibly negative axis into [0, rank); error names `what`.
Expected<int64_t> normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");
// NumPy-style broadcast of two concrete shapes.
Expected<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// One dimension of a symbolic shape: a known size, a named symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;   // >= 0 when known
  std::string symbol;   // dim_param name when symbolic; empty when unknown or known

  Dim() = default;
  Dim(int64_t v) : value(v) {}  // NOLINT: a size converts to a Dim
  static Dim sym(std::string name) {
    Dim d;
    d.symbol = std::move(name);
    return d;
  }
  bool known() const { return value >= 0; }
  bool is_symbol() const { return value < 0 && !symbol.empty(); }
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
  bool operator!=(const Dim& o) const { return !(*this == o); }
  std::string to_string() const;  // "224", "batch" or "?"
};

// A shape whose rank may be unknown and whose dims may be symbolic.
struct SymShape {
  bool rank_known = false;
  std::vector<Dim> dims;

  SymShape() = default;
  explicit SymShape(std::vector<Dim> d) : rank_known(true), dims(std::move(d)) {}
  static SymShape from(const Shape& s);
  static SymShape unknown_rank() { return SymShape(); }
  int64_t rank() const { return rank_known ? static_cast<int64_t>(dims.size()) : -1; }
  bool is_static() const;               // rank known and every dim known
  std::optional<Shape> to_static() const;
  std::string to_string() const;        // "[batch,3,224,224]", "[?]"-style, "<unknown rank>"
  // Does a concrete shape fit this one (ranks equal, known dims equal)?
  bool accepts(const Shape& s) const;
};

// Broadcast of symbolic shapes; unknown where it cannot be decided. Error only on a definite mismatch.
Expected<SymShape> broadcast_sym(const SymShape& a, const SymShape& b);

}  // namespace kiln
