// Einsum equations: parsing and label expansion shared by the shape rule and the CPU kernel.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

// An equation with every operand's labels as small integers: 'a'..'z' -> 0..25, 'A'..'Z' -> 26..51 and the
// dims an ellipsis stands for -> kEinsumEllipsisBase + j (right-aligned across operands, so that they
// broadcast as NumPy's do).
constexpr int kEinsumEllipsisBase = 52;

struct EinsumLabels {
  std::vector<std::vector<int>> inputs;  // one label per operand dim (a label repeats for a diagonal)
  std::vector<int> output;               // one label per output dim
  int ellipsis_rank = 0;                 // dims the ellipsis stands for in the output
};

// Parses `equation` ("ij,jk->ik", "...ii->...i", implicit "ij,jk") for operands of the given ranks. Errors
// (kInvalidInput) name what is wrong: a character that is not a letter, a rank that does not match the
// operand's labels, an output label no input has or one that repeats, the operand count.
Expected<EinsumLabels> parse_einsum(const std::string& equation, const std::vector<size_t>& ranks);

}  // namespace kiln
