// Optimization profiles: completing them from the model's inputs (static inputs fixed, symbolic dims named),
// validating min <= opt <= max, and checking run shapes against them. No CUDA here.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln {

// Static engine (`profiles` empty): one profile with min = opt = max = the model's shapes with `shapes`
// filling symbolic dims. Dynamic: every input in every profile (static inputs added), checked against
// the model's declared shapes and min <= opt <= max. Errors name the input and the dims.
Expected<std::vector<ShapeProfile>> resolve_profiles(const Graph& graph, const ShapeMap& shapes,
                                                     const std::vector<ShapeProfile>& profiles);
bool profiles_are_static(const std::vector<ShapeProfile>& profiles);
// "" when `shapes` (all inputs) lie inside `p`; otherwise why not ("input 'x' dim 0 = 32 is outside [1, 16]").
std::string shape_outside_profile(const ShapeProfile& p, const ShapeMap& shapes);

}  // namespace kiln
