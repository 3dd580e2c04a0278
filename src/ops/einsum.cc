// Einsum: equation parsing (explicit "->" and implicit forms, ellipsis) and the shape/type rule.
#include "ops/einsum.h"

#include <algorithm>
#include <map>

#include "ops/registry.h"

namespace kiln {
namespace {

struct Term {
  std::vector<int> letters;  // label ids of the letters, in order
  int ellipsis_at = -1;      // index into letters where the ellipsis sits, or -1
};

Status einsum_error(const std::string& equation, const std::string& what) {
  return invalid_input("Einsum equation '" + equation + "': " + what);
}

Expected<Term> parse_term(const std::string& equation, const std::string& text) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (text.compare(i, 3, "...") != 0) return einsum_error(equation, "'.' outside an ellipsis '...'");
      if (t.ellipsis_at >= 0) return einsum_error(equation, "more than one ellipsis in '" + text + "'");
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
    } else if (c >= 'a' && c <= 'z') {
      t.letters.push_back(c - 'a');
    } else if (c >= 'A' && c <= 'Z') {
      t.letters.push_back(26 + (c - 'A'));
    } else {
      return einsum_error(equation, std::string("'") + c + "' is not a letter, ',', '->' or '...'");
    }
  }
  return t;
}

// Label list of a term whose ellipsis covers `e` dims, right-aligned in `max_e` ellipsis labels.
std::vector<int> expand(const Term& t, int e, int max_e) {
  std::vector<int> out;
  for (size_t i = 0; i <= t.letters.size(); ++i) {
    if (static_cast<int>(i) == t.ellipsis_at)
      for (int j = 0; j < e; ++j) out.push_back(kEinsumEllipsisBase + max_e - e + j);
    if (i < t.letters.size()) out.push_back(t.letters[i]);
  }
  return out;
}

}  // namespace

Expected<EinsumLabels> parse_einsum(const std::string& equation, const std::vector<size_t>& ranks) {
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    KILN_ASSIGN_OR_RETURN(Term t, parse_term(equation, lhs.substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ranks.size())
    return einsum_error(equation, std::to_string(terms.size()) + " operand term(s) for " +
                                      std::to_string(ranks.size()) + " input(s)");
  EinsumLabels out;
  std::vector<int> ellipsis(terms.size(), 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    const size_t letters = terms[k].letters.size();
    const bool has_e = terms[k].ellipsis_at >= 0;
    if (ranks[k] < letters || (!has_e && ranks[k] != letters))
      return einsum_error(equation, "input " + std::to_string(k) + " has rank " + std::to_string(ranks[k]) +
                                        " but its term has " + std::to_string(letters) + " label(s)" +
                                        (has_e ? " and an ellipsis" : ""));
    ellipsis[k] = has_e ? static_cast<int>(ranks[k] - letters) : 0;
    out.ellipsis_rank = std::max(out.ellipsis_rank, ellipsis[k]);
  }
  for (size_t k = 0; k < terms.size(); ++k) out.inputs.push_back(expand(terms[k], ellipsis[k], out.ellipsis_rank));

  std::map<int, int> count;  // letter -> occurrences over all inputs
  for (const Term& t : terms)
    for (int l : t.letters) ++count[l];
  if (arrow == std::string::npos) {
    // Implicit output: the ellipsis dims, then the letters that occur once, in alphabetical (ASCII) order.
    for (int j = 0; j < out.ellipsis_rank; ++j) out.output.push_back(kEinsumEllipsisBase + j);
    std::vector<int> once;
    for (const auto& [l, n] : count)
      if (n == 1) once.push_back(l);
    // ASCII puts 'A'..'Z' (ids 26..51) before 'a'..'z' (0..25).
    std::stable_partition(once.begin(), once.end(), [](int l) { return l >= 26; });
    out.output.insert(out.output.end(), once.begin(), once.end());
    return out;
  }
  KILN_ASSIGN_OR_RETURN(Term o, parse_term(equation, equation.substr(arrow + 2)));
  // An explicit output without '...' sums the ellipsis dims away (NumPy's rule).
  for (size_t i = 0; i < o.letters.size(); ++i) {
    const int l = o.letters[i];
    if (!count.count(l)) return einsum_error(equation, "output label that no input has");
    if (std::count(o.letters.begin(), o.letters.end(), l) > 1)
      return einsum_error(equation, "an output label repeats");
  }
  out.output = expand(o, o.ellipsis_at >= 0 ? out.ellipsis_rank : 0, out.ellipsis_rank);
  return out;
}

namespace {

Status infer_einsum(InferContext& ctx) {
  const Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(std::string equation, node.attr_string("equation", ""));
  if (equation.empty()) return ctx.invalid("attribute 'equation' is required");
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t) && t != DType::kInt32 && t != DType::kInt64 && t != DType::kUint32 &&
      t != DType::kUint64)
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported");
  std::vector<size_t> ranks;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    if (ctx.input_dtype(i) != t)
      return ctx.invalid("input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)) +
                         " but input 0 is " + dtype_name(t));
    const SymShape& s = ctx.input_shape(i);
    if (!s.rank_known) {
      ctx.set_output(0, t, SymShape());
      return Status::Ok();
    }
    ranks.push_back(s.rank());
  }
  auto labels = parse_einsum(equation, ranks);
  if (!labels.ok()) return ctx.invalid(labels.status().message());
  // One dim per label: equal wherever known; the ellipsis labels broadcast (1 against n).
  std::map<int, Dim> dims;
  for (size_t i = 0; i < ranks.size(); ++i) {
    const SymShape& s = ctx.input_shape(i);
    for (size_t d = 0; d < ranks[i]; ++d) {
      const int l = labels->inputs[i][d];
      const Dim& got = s.dims[d];
      auto it = dims.find(l);
      if (it == dims.end()) {
        dims[l] = got;
        continue;
      }
      Dim& have = it->second;
      const bool broadcasts = l >= kEinsumEllipsisBase;
      if (have.known() && got.known() && have.value != got.value) {
        if (broadcasts && (have.value == 1 || got.value == 1)) {
          if (have.value == 1) have = got;
        } else {
          return ctx.invalid("label dims differ: " + std::to_string(have.value) + " and " +
                             std::to_string(got.value) + " (input " + std::to_string(i) + " dim " +
                             std::to_string(d) + ")");
        }
      } else if (!have.known() && got.known() && !(broadcasts && got.value == 1)) {
        have = got;
      }
    }
  }
  std::vector<Dim> out;
  for (int l : labels->output) out.push_back(dims[l]);
  ctx.set_output(0, t, SymShape(out));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(einsum, OpDef{"Einsum", "", 12, 1, 64, infer_einsum,
                                "Einstein summation (explicit and implicit output, ellipsis, diagonals)"});

}  // namespace kiln
