// `--backends a,b,c` and `--shapes` for the subcommands that run a model on several backends (accuracy,
// detection accuracy): the parsed backend list and a graph loader that applies the shape overrides.
#pragma once

#include <string>
#include <vector>

#include "compare/backends.h"

namespace kiln::cli {

// "cpu,cuda:fp16" -> specs; a usage error naming the flag when the list is empty.
Expected<std::vector<BackendSpec>> parse_backend_list(const std::string& csv);

// Loads a model and fixes its inputs to the --shapes overrides (checked against the declared shapes).
Expected<GraphLoader> shape_override_loader(const std::vector<std::string>& shapes);

}  // namespace kiln::cli
