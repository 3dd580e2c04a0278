// The backend-agnostic timing loop of kiln bench: warm-up until the rolling median settles, then timed
// iterations with trtexec semantics (--iterations N or --duration S, whichever takes longer).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/process.h"
#include "bench/timer.h"
#include "kiln/status.h"

namespace kiln::bench {

struct RunnerOptions {
  double warmup_ms = 200;          // --warmUp; 0 skips warm-up entirely
  double settle_tolerance = 0.02;  // warm-up continues while consecutive rolling medians differ more
  int64_t settle_window = 10;
  double settle_max_ms = 0;  // cap on warm-up past warmup_ms; 0 = max(1000, 5 x warmup_ms)
  int64_t iterations = 10;   // --iterations
  double duration_s = 3;     // --duration
  int64_t avg_runs = 1;      // --avgRuns (reporting only; every iteration is still timed)
};

// kUsage naming the flag when an option is out of range.
Status validate_runner_options(const RunnerOptions& o);

struct IterationTime {
  double start_ms = 0;    // since the first timed iteration started
  double latency_ms = 0;  // wall time of this call (steady_clock)
};

struct WarmupInfo {
  int64_t iterations = 0;
  double ms = 0;
  bool settled = false;  // the rolling median changed by < settle_tolerance before the cap
  double last_median_ms = 0;
};

struct RunResult {
  std::vector<IterationTime> times;
  WarmupInfo warmup;
  double wall_s = 0;         // first timed start to last timed end
  ProcessUsage process;      // over the timed iterations only
  Clock::time_point origin;  // when the first timed iteration started (start_ms 0)
};

// One inference (the whole of it: what a user's request would wait for).
using InferenceFn = std::function<Status()>;

// Runs warm-up then the timed loop. Stops at the first failing inference and returns its Status.
Expected<RunResult> run_timed(const InferenceFn& infer, const RunnerOptions& options);

// Median of the last `window` values compared with the median of the `window` before them: true once
// they differ by less than `tolerance` (relative). False while fewer than 2 x window values exist.
bool rolling_median_settled(const std::vector<double>& values, int64_t window, double tolerance);

std::vector<double> latencies(const RunResult& r);

}  // namespace kiln::bench
