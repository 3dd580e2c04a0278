// Process resource use from getrusage and /proc/self/statm (Linux); other systems report zeros for RSS.
#include "bench/process.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace kiln::bench {

namespace {
double tv_seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; }

int64_t current_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<int64_t>(resident) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}
// VmHWM from /proc/self/status in bytes (0 where unavailable): the kernel's exact high-water mark, where
// getrusage's ru_maxrss can lag the current RSS by a few pages.
int64_t peak_rss_from_status() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  while (std::fgets(line, sizeof(line), f))
    if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  std::fclose(f);
  return static_cast<int64_t>(kb) * 1024;
}
}  // namespace

ProcessSnapshot process_snapshot() {
  ProcessSnapshot s;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.user_s = tv_seconds(ru.ru_utime);
    s.system_s = tv_seconds(ru.ru_stime);
    s.peak_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports kilobytes
  }
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  s.rss_bytes = current_rss_bytes();
  s.peak_rss_bytes = std::max({s.peak_rss_bytes, peak_rss_from_status(), s.rss_bytes});
  return s;
}

int online_cpu_count() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n > 0) return static_cast<int>(n);
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? static_cast<int>(h) : 1;
}

ProcessUsage process_usage(const ProcessSnapshot& before, const ProcessSnapshot& after) {
  ProcessUsage u;
  u.cpu_user_s = after.user_s - before.user_s;
  u.cpu_system_s = after.system_s - before.system_s;
  u.wall_s = after.wall_s - before.wall_s;
  if (u.wall_s > 0) {
    u.cpu_utilisation_percent = 100.0 * (u.cpu_user_s + u.cpu_system_s) / u.wall_s;
    u.cpu_utilisation_machine_percent = u.cpu_utilisation_percent / online_cpu_count();
  }
  u.peak_rss_bytes = after.peak_rss_bytes;
  return u;
}

}  // namespace kiln::bench
