// Helpers shared by the kiln subcommands: error reporting, --shapes parsing, tensor summaries, formatting.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cli {

// Prints the one-line error "kiln <command>: error: <message>" to stderr; returns the exit code.
int fail(const std::string& command, const Status& status);

// Parses --shapes values "name:1x3x224x224[,name2:4x10]" (the flag may repeat). The name is split at
// the last ':' so names like "input:0" work.
Expected<std::map<std::string, Shape>> parse_shape_overrides(const std::vector<std::string>& specs);

// Fixes the given graph inputs to concrete shapes (checked against the declared ones) and re-runs
// shape inference so every value downstream becomes static where it can.
Status apply_input_shapes(Graph& graph, const std::map<std::string, Shape>& shapes);

// The first symbolic or unknown dim of an input, as an error naming input and dim and telling the user
// to pass --shapes (Ok when the input is static). `hint` is appended ("or feed it with ...").
Status require_static_input(const Value& input, const std::string& hint);
Status require_static_inputs(const Graph& graph, const std::string& hint);

// A file name made of [A-Za-z0-9._-] only (other characters become '_'); never empty, "." or "..".
std::string sanitize_file_name(const std::string& name);

struct TensorStats {
  double min = 0, max = 0, mean = 0, std = 0;  // over finite values
  int64_t finite = 0, nan = 0, inf = 0;
};
TensorStats tensor_stats(const Tensor& t);
// The first `count` values, "[0.1, -2, ...]".
std::string first_values(const Tensor& t, int count);

// 25557032 -> "25,557,032"; 4.1e9 -> "4.11 G".
std::string group_thousands(int64_t v);
std::string si_units(double v, int digits = 3);

}  // namespace kiln::cli
