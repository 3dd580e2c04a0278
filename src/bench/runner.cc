// The timing loop: warm-up (time, then until the rolling median settles, bounded), then timed iterations.
#include "bench/runner.h"

#include <algorithm>
#include <cmath>

#include "bench/stats.h"
#include "bench/timer.h"

namespace kiln::bench {

Status validate_runner_options(const RunnerOptions& o) {
  if (!(o.warmup_ms >= 0)) return usage_error("--warmUp must be >= 0 ms (e.g. --warmUp 200)");
  if (o.iterations < 1) return usage_error("--iterations must be >= 1 (e.g. --iterations 100)");
  if (!(o.duration_s >= 0)) return usage_error("--duration must be >= 0 s (e.g. --duration 3)");
  if (o.avg_runs < 1) return usage_error("--avgRuns must be >= 1 (e.g. --avgRuns 10)");
  if (o.settle_window < 1) return usage_error("the warm-up settle window must be >= 1");
  return Status::Ok();
}

bool rolling_median_settled(const std::vector<double>& values, int64_t window, double tolerance) {
  const size_t w = static_cast<size_t>(window);
  if (values.size() < 2 * w) return false;
  auto median_of = [&](size_t begin) {
    std::vector<double> part(values.begin() + static_cast<std::ptrdiff_t>(begin),
                             values.begin() + static_cast<std::ptrdiff_t>(begin + w));
    std::sort(part.begin(), part.end());
    return percentile_sorted(part, 50);
  };
  const double now = median_of(values.size() - w), before = median_of(values.size() - 2 * w);
  if (before <= 0) return now <= 0;
  return std::fabs(now - before) / before < tolerance;
}

namespace {
Expected<WarmupInfo> warm_up(const InferenceFn& infer, const RunnerOptions& o) {
  WarmupInfo w;
  if (o.warmup_ms <= 0) return w;
  const double cap = o.warmup_ms + (o.settle_max_ms > 0 ? o.settle_max_ms : std::max(1000.0, 5 * o.warmup_ms));
  std::vector<double> lat;
  const Stopwatch total;
  while (true) {
    const Stopwatch one;
    KILN_RETURN_IF_ERROR(infer());
    lat.push_back(one.elapsed_ms());
    const double elapsed = total.elapsed_ms();
    if (elapsed < o.warmup_ms) continue;
    w.settled = rolling_median_settled(lat, o.settle_window, o.settle_tolerance);
    if (w.settled || elapsed >= cap) break;
  }
  w.iterations = static_cast<int64_t>(lat.size());
  w.ms = total.elapsed_ms();
  const size_t tail = std::min(lat.size(), static_cast<size_t>(o.settle_window));
  std::vector<double> last(lat.end() - static_cast<std::ptrdiff_t>(tail), lat.end());
  std::sort(last.begin(), last.end());
  w.last_median_ms = percentile_sorted(last, 50);
  return w;
}
}  // namespace

Expected<RunResult> run_timed(const InferenceFn& infer, const RunnerOptions& o) {
  KILN_RETURN_IF_ERROR(validate_runner_options(o));
  RunResult r;
  KILN_ASSIGN_OR_RETURN(r.warmup, warm_up(infer, o));
  const double duration_ms = o.duration_s * 1000.0;
  const ProcessSnapshot before = process_snapshot();
  const Clock::time_point origin = Clock::now();
  r.origin = origin;
  Clock::time_point end = origin;
  for (int64_t i = 0; i < o.iterations || ms_between(origin, end) < duration_ms; ++i) {
    const Clock::time_point start = Clock::now();
    KILN_RETURN_IF_ERROR(infer());
    end = Clock::now();
    r.times.push_back({ms_between(origin, start), ms_between(start, end)});
  }
  r.process = process_usage(before, process_snapshot());
  r.wall_s = ms_between(origin, end) / 1000.0;
  return r;
}

std::vector<double> latencies(const RunResult& r) {
  std::vector<double> out;
  out.reserve(r.times.size());
  for (const auto& t : r.times) out.push_back(t.latency_ms);
  return out;
}

}  // namespace kiln::bench
