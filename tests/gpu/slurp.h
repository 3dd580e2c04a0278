// A whole file as a string (empty when it cannot be read), for the GPU tests that run the kiln binary and read
// back its JSON and logs.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace kiln::gputest {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace kiln::gputest
