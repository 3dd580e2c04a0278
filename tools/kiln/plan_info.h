// `kiln info model.plan`: prints a plan's header (environment, precision, profiles, I/O, memory, layers).
#pragma once

#include <string>

namespace kiln::cli {

// Reads the plan (no GPU needed) and prints it as text or, with `json`, as a kiln.plan-info/1 document.
// Returns the exit code.
int run_plan_info(const std::string& path, bool json);

}  // namespace kiln::cli
