// Status and Expected<T>: kiln's error model. No exceptions cross the public API.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace kiln {

// Codes double as CLI exit codes (see docs/CLI.md).
enum class StatusCode : int {
  kOk = 0,
  kUsage = 1,        // bad command line
  kInvalidInput = 2, // bad model / data / file
  kUnsupported = 3,  // valid input that kiln does not handle (op, dtype, attribute)
  kAccuracy = 4,     // an accuracy check failed
  kRuntime = 5,      // runtime / GPU / out of memory
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int exit_code() const { return static_cast<int>(code_); }
  // Prefixes context ("node 'conv1' (Conv): ") to the message; keeps the code.
  Status with_context(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + message_);
  }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* status_code_name(StatusCode code);

inline Status usage_error(std::string m) { return Status(StatusCode::kUsage, std::move(m)); }
inline Status invalid_input(std::string m) { return Status(StatusCode::kInvalidInput, std::move(m)); }
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status accuracy_error(std::string m) { return Status(StatusCode::kAccuracy, std::move(m)); }
inline Status runtime_error(std::string m) { return Status(StatusCode::kRuntime, std::move(m)); }

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Expected<T> built from an OK status without a value");
    if (status_.ok()) status_ = Status(StatusCode::kRuntime, "internal: empty Expected");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define KILN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::kiln::Status kiln_status_ = (expr);     \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (0)

// `lhs = value of expr` or return its Status. lhs may be a declaration: KILN_ASSIGN_OR_RETURN(auto x, f());
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kiln_expected_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
