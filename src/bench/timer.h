// Monotonic wall-clock helpers for kiln bench: steady_clock only (never system_clock, which can jump).
#pragma once

#include <chrono>

namespace kiln::bench {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Milliseconds since construction.
class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  double elapsed_ms() const { return ms_between(start_, Clock::now()); }
  Clock::time_point start() const { return start_; }

 private:
  Clock::time_point start_;
};

}  // namespace kiln::bench
