// The bench timing loop with fake inferences: iteration/duration semantics (trtexec: whichever is longer),
// warm-up settling, error propagation, option checks; and the rolling-median rule on hand-made series.
#include "bench/runner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace kiln::bench {
namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(BenchRunnerTest, RollingMedianSettled) {
  const std::vector<double> flat(20, 1.0);
  EXPECT_TRUE(rolling_median_settled(flat, 10, 0.02));
  EXPECT_FALSE(rolling_median_settled(std::vector<double>(19, 1.0), 10, 0.02));  // needs two windows
  std::vector<double> falling(10, 2.0);
  falling.insert(falling.end(), 10, 1.0);  // median 2 -> 1: 50% change
  EXPECT_FALSE(rolling_median_settled(falling, 10, 0.02));
  std::vector<double> close(10, 1.00);
  close.insert(close.end(), 10, 1.015);  // 1.5% < 2%
  EXPECT_TRUE(rolling_median_settled(close, 10, 0.02));
  // One spike in the newer window does not move its median.
  std::vector<double> spike(20, 1.0);
  spike[15] = 50;
  EXPECT_TRUE(rolling_median_settled(spike, 10, 0.02));
}

TEST(BenchRunnerTest, IterationsWhenLongerThanDuration) {
  int calls = 0;
  RunnerOptions o;
  o.warmup_ms = 0;
  o.iterations = 7;
  o.duration_s = 0;
  auto r = run_timed(
      [&] {
        ++calls;
        return Status::Ok();
      },
      o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(calls, 7);
  ASSERT_EQ(r->times.size(), 7u);
  EXPECT_EQ(r->warmup.iterations, 0);
  for (size_t i = 1; i < r->times.size(); ++i) EXPECT_GE(r->times[i].start_ms, r->times[i - 1].start_ms);
}

TEST(BenchRunnerTest, DurationWhenLongerThanIterations) {
  RunnerOptions o;
  o.warmup_ms = 0;
  o.iterations = 1;
  o.duration_s = 0.06;
  auto r = run_timed(
      [] {
        sleep_ms(5);
        return Status::Ok();
      },
      o);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->wall_s, 0.06);
  EXPECT_GE(r->times.size(), 6u);   // >= 60 ms of ~5 ms calls, minus scheduler slack
  EXPECT_LE(r->times.size(), 13u);  // stops soon after the duration is met
  for (const auto& t : r->times) EXPECT_GE(t.latency_ms, 4.9);
  EXPECT_GT(r->process.wall_s, 0.05);
  EXPECT_GT(r->process.peak_rss_bytes, 0);
}

TEST(BenchRunnerTest, WarmupRunsForTimeThenUntilSettled) {
  RunnerOptions o;
  o.warmup_ms = 5;
  o.settle_tolerance = 0.25;  // loose: sleeps jitter on a busy machine; 8 ms vs 1 ms is still caught
  o.iterations = 3;
  o.duration_s = 0;
  int calls = 0;
  // Six slow calls (a cold cache, ~48 ms) then ~1 ms calls. The time-based part (5 ms) ends inside the
  // slow phase. The older of the two windows of 10 has a fast median only once at most 4 of its calls
  // are slow, i.e. from 6 + 16 = 22 iterations on.
  auto r = run_timed(
      [&] {
        sleep_ms(++calls <= 6 ? 8 : 1);
        return Status::Ok();
      },
      o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->warmup.settled);
  EXPECT_GE(r->warmup.iterations, 22);
  EXPECT_EQ(calls, r->warmup.iterations + 3);
  EXPECT_LT(r->warmup.last_median_ms, 4);
}

TEST(BenchProcessTest, UsageBetweenSnapshots) {
  ProcessSnapshot before, after;
  before.user_s = 1.0;
  before.system_s = 0.5;
  before.wall_s = 10.0;
  after.user_s = 2.0;
  after.system_s = 1.0;
  after.wall_s = 11.0;
  after.peak_rss_bytes = 4096;
  const ProcessUsage u = process_usage(before, after);
  EXPECT_DOUBLE_EQ(u.cpu_user_s, 1.0);
  EXPECT_DOUBLE_EQ(u.cpu_system_s, 0.5);
  EXPECT_DOUBLE_EQ(u.cpu_utilisation_percent, 150.0);  // 1.5 s of CPU in 1 s of wall time
  EXPECT_DOUBLE_EQ(u.cpu_utilisation_machine_percent, 150.0 / online_cpu_count());
  EXPECT_EQ(u.peak_rss_bytes, 4096);
  const ProcessSnapshot now = process_snapshot();
  EXPECT_GT(now.peak_rss_bytes, 0);
  EXPECT_GE(now.peak_rss_bytes, now.rss_bytes);
}

TEST(BenchRunnerTest, FailingInferenceStopsTheRun) {
  RunnerOptions o;
  o.warmup_ms = 0;
  o.iterations = 10;
  int calls = 0;
  auto r = run_timed([&] { return ++calls == 3 ? runtime_error("node 'x' exploded") : Status::Ok(); }, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kRuntime);
  EXPECT_EQ(calls, 3);
}

TEST(BenchRunnerTest, BadOptionsAreUsageErrors) {
  RunnerOptions o;
  o.iterations = 0;
  EXPECT_EQ(validate_runner_options(o).code(), StatusCode::kUsage);
  o = RunnerOptions();
  o.avg_runs = 0;
  EXPECT_NE(validate_runner_options(o).message().find("--avgRuns"), std::string::npos);
  o = RunnerOptions();
  o.duration_s = -1;
  EXPECT_EQ(run_timed([] { return Status::Ok(); }, o).status().code(), StatusCode::kUsage);
}

}  // namespace
}  // namespace kiln::bench
