// Process resource use for kiln bench: CPU time (user + system), CPU utilisation over a window, RSS.
#pragma once

#include <cstdint>

namespace kiln::bench {

struct ProcessSnapshot {
  double user_s = 0;
  double system_s = 0;
  double wall_s = 0;           // steady_clock seconds, only meaningful as a difference
  int64_t peak_rss_bytes = 0;  // high-water mark since process start (VmHWM, else ru_maxrss)
  int64_t rss_bytes = 0;       // resident now (/proc/self/statm; 0 where unavailable)
};

ProcessSnapshot process_snapshot();

struct ProcessUsage {
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  double wall_s = 0;
  // CPU time / wall time x 100: 100% = one core busy for the whole window, up to 100 x cores.
  double cpu_utilisation_percent = 0;
  // The same divided by the number of online cores (0..100% of the machine).
  double cpu_utilisation_machine_percent = 0;
  int64_t peak_rss_bytes = 0;
};

// Usage between two snapshots of this process.
ProcessUsage process_usage(const ProcessSnapshot& before, const ProcessSnapshot& after);

int online_cpu_count();

}  // namespace kiln::bench
