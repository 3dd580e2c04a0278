// kiln sweep's scale-out modes: --gpus (one worker process per GPU of this host, fed from a shared queue) and
// --slurm (a job array whose tasks each run a --shard of the cells). See docs/SCALING.md.
#pragma once

#include <string>
#include <vector>

#include "bench/sweep.h"
#include "kiln/status.h"

namespace kiln::cli {

struct SweepArgs {
  std::string config;
  std::string out = "results";
  bool force = false;
  bool resume = false;  // the default behaviour, spelled out (excludes --force)
  bool list = false;
  std::string only;   // run only cells whose id contains this
  std::string gpus;   // --gpus all|0,1,3
  std::string shard;  // hidden --shard i/N
  // Hidden: a --gpus worker.
  std::string worker_queue;
  int worker_gpu = -1;
  // --slurm
  bool slurm = false, status = false, dry_run = false;
  std::string partition, time;
  int64_t gpus_per_task = 1;
  int64_t array_tasks = 0;  // 0: min(cells, 4)
};

// --gpus: `cells` (after --only) handed out longest first to one worker per selected GPU. `model` is resolved.
Status sweep_gpu_pool(const SweepArgs& a, const bench::SweepConfig& cfg, const std::vector<bench::SweepCell>& cells);

// --slurm: --dry-run prints the script; --status summarises the array; else writes and submits it.
Status sweep_slurm(const SweepArgs& a, const bench::SweepConfig& cfg, const std::vector<bench::SweepCell>& cells);

}  // namespace kiln::cli
