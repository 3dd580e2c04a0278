// Helpers of the C ABI: the thread-local error, the exception/Status guard at the boundary, argument checks,
// and the JSON forms of build options and shape maps (include/kiln/kiln.h documents them).
#pragma once

#include <string>

#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::capi {

// The message of the last failed call on this thread.
std::string& last_error();

// Runs `body`, converts its Status (or any exception) into the int status, records the error message.
template <typename F>
int guard(F&& body) noexcept {
  try {
    const Status s = body();
    last_error() = s.ok() ? std::string() : s.message();
    return s.exit_code();
  } catch (const std::bad_alloc&) {
    last_error() = "out of host memory";
  } catch (const std::exception& e) {
    last_error() = std::string("internal error: ") + e.what();
  } catch (...) {
    last_error() = "internal error: unknown exception";
  }
  return static_cast<int>(StatusCode::kRuntime);
}

// kUsage "argument 'what' is null" when `p` is null.
inline Status require(const void* p, const char* what) {
  return p ? Status::Ok() : usage_error(std::string("argument '") + what + "' is null");
}

// A malloc'ed copy (released with kiln_free_string); throws std::bad_alloc when out of memory.
char* dup_string(const std::string& s);
bool file_exists(const char* path);
std::string dims_text(const Dims& d);  // "[1,3,224,224]"

// The options JSON of kiln_engine_build ("" = defaults). Unknown keys and wrong types are kUsage naming the key.
Expected<BuildOptions> build_options_from_json(const std::string& text);
// {"input": [1,3,224,224], ...}; `what` names the argument in errors.
Expected<ShapeMap> shape_map_from_json(const std::string& text, const std::string& what);

}  // namespace kiln::capi
