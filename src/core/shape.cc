// Shape helpers: element counts with overflow checks, parsing, broadcasting.
#include "core/shape.h"

#include <limits>
#include <sstream>

namespace kiln {

std::optional<int64_t> checked_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

std::string shape_to_string(const Shape& s) {
  if (s.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

Expected<Shape> parse_shape(const std::string& text) {
  Shape s;
  if (text.empty() || text == "scalar") return s;
  std::string cur;
  auto flush = [&]() -> Status {
    if (cur.empty()) return invalid_input("bad shape '" + text + "': empty dimension");
    for (char c : cur)
      if (c < '0' || c > '9')
        return invalid_input("bad shape '" + text + "': '" + cur + "' is not a non-negative integer");
    if (cur.size() > 15) return invalid_input("bad shape '" + text + "': dimension too large");
    s.push_back(std::stoll(cur));
    cur.clear();
    return Status::Ok();
  };
  for (char c : text) {
    if (c == 'x' || c == 'X' || c == ',') {
      KILN_RETURN_IF_ERROR(flush());
    } else {
      cur += c;
    }
  }
  KILN_RETURN_IF_ERROR(flush());
  return s;
}

Expected<int64_t> normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank)
    return invalid_input(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                         std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Expected<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return invalid_input("cannot broadcast shapes " + shape_to_string(a) + " and " + shape_to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::string Dim::to_string() const {
  if (known()) return std::to_string(value);
  if (!symbol.empty()) return symbol;
  return "?";
}

SymShape SymShape::from(const Shape& s) {
  std::vector<Dim> d(s.begin(), s.end());
  return SymShape(std::move(d));
}

bool SymShape::is_static() const {
  if (!rank_known) return false;
  for (const Dim& d : dims)
    if (!d.known()) return false;
  return true;
}

std::optional<Shape> SymShape::to_static() const {
  if (!is_static()) return std::nullopt;
  Shape s;
  for (const Dim& d : dims) s.push_back(d.value);
  return s;
}

std::string SymShape::to_string() const {
  if (!rank_known) return "<unknown rank>";
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    out += dims[i].to_string();
  }
  return out + "]";
}

bool SymShape::accepts(const Shape& s) const {
  if (!rank_known) return true;
  if (s.size() != dims.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (dims[i].known() && dims[i].value != s[i]) return false;
  return true;
}

Expected<SymShape> broadcast_sym(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known) return SymShape::unknown_rank();
  size_t r = std::max(a.dims.size(), b.dims.size());
  std::vector<Dim> out(r);
  for (size_t i = 0; i < r; ++i) {
    Dim da = i < r - a.dims.size() ? Dim(1) : a.dims[i - (r - a.dims.size())];
    Dim db = i < r - b.dims.size() ? Dim(1) : b.dims[i - (r - b.dims.size())];
    if (da.known() && db.known()) {
      if (da.value != db.value && da.value != 1 && db.value != 1)
        return invalid_input("cannot broadcast shapes " + a.to_string() + " and " + b.to_string());
      out[i] = da.value == 1 ? db : da;
    } else if (da.known() && da.value == 1) {
      out[i] = db;
    } else if (db.known() && db.value == 1) {
      out[i] = da;
    } else if (da.known()) {
      out[i] = da;  // the other is symbolic and must be 1 or equal: the result is da
    } else if (db.known()) {
      out[i] = db;
    } else if (da == db) {
      out[i] = da;
    } else {
      out[i] = Dim();  // two different symbols: unknown
    }
  }
  return SymShape(std::move(out));
}

}  // namespace kiln
