// Status printing.
#include "kiln/status.h"

namespace kiln {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kUsage: return "usage error";
    case StatusCode::kInvalidInput: return "invalid input";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kAccuracy: return "accuracy check failed";
    case StatusCode::kRuntime: return "runtime error";
  }
  return "error";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

}  // namespace kiln
