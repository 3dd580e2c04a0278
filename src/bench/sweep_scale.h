// Scaling a sweep out: the GPUs of this host (--gpus), a cost estimate to hand out the longest cells first,
// a queue file that worker processes take cells from, --shard i/N slices, and the Slurm job-array script.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/sweep.h"
#include "kiln/status.h"

namespace kiln::bench {

// One GPU a worker is pinned to (CUDA_VISIBLE_DEVICES=index), as NVML names it.
struct GpuDevice {
  int index = 0;
  std::string name, uuid;
  std::optional<int> sm_clock_max_mhz, memory_clock_max_mhz;
  std::optional<int64_t> memory_total_bytes;
};

// The environment variable that replaces NVML's device list, for tests only: "N" makes N fake devices
// (index i, name "kiln-test-gpu", uuid "GPU-kiln-test-i"). Never set it for a real measurement.
inline constexpr const char* kFakeGpusEnv = "KILN_TEST_FAKE_GPUS";

// Every GPU NVML sees (or the fake ones). kRuntime with NVML's reason when there is none.
Expected<std::vector<GpuDevice>> list_gpus();

// "all" or "0,1,3" against the devices present: kInvalidInput naming a missing index (and those present)
// or a repeated one.
Expected<std::vector<GpuDevice>> select_gpus(const std::string& spec, const std::vector<GpuDevice>& present);

// The "device" block of a cell JSON: which GPU ran the cell.
nlohmann::json gpu_device_json(const GpuDevice& d);

// Relative cost of a cell, to hand out the longest ones first: samples per iteration (the batch, or the
// random range's top) x the cell's minimum iterations x a per-backend weight (the CPU reference costs ~50x
// a GPU sample; a peer pays its interpreter start; cuda cells add an engine build). Only the order matters.
double estimate_cell_cost(const SweepCell& cell);

// Cells sorted by estimate_cell_cost, largest first (ties keep the config order).
std::vector<SweepCell> longest_first(std::vector<SweepCell> cells);

// "i/N" with 0 <= i < N: the shard of a job-array task. kInvalidInput otherwise.
Expected<std::pair<int64_t, int64_t>> parse_shard(const std::string& text);

// Cell k (in config order, after --only) goes to shard k mod N.
std::vector<SweepCell> shard_cells(const std::vector<SweepCell>& cells, int64_t index, int64_t count);

// A queue of cell ids in a file shared by the worker processes of one sweep: claim() takes the next id under
// an exclusive lock (flock), so each id goes to exactly one worker however many there are.
class CellQueue {
 public:
  // Writes the queue (ids in hand-out order) atomically to `path`.
  static Status create(const std::string& path, const std::vector<std::string>& ids);
  explicit CellQueue(std::string path) : path_(std::move(path)) {}
  // The next id, std::nullopt when all are taken; kRuntime when the file cannot be read or locked.
  Expected<std::optional<std::string>> claim();

 private:
  std::string path_;
};

struct SlurmOptions {
  std::string kiln;       // absolute path of the kiln binary the tasks run
  std::string config;     // absolute path of the sweep config
  std::string out_dir;    // absolute results folder (on a filesystem every node shares)
  std::string partition;  // empty: the cluster's default
  std::string time;       // HH:MM:SS; empty: the partition's default
  std::string only;       // forwarded --only
  int64_t array_tasks = 1;
  int64_t gpus_per_task = 1;  // 0: CPU-only tasks (no --gpus-per-task line)
  bool force = false;         // forwarded --force (every task reruns its complete cells)
};

// The sbatch script of the job array: task i runs `kiln sweep CONFIG -o OUT --shard i/N`, its log under
// OUT/slurm/. kInvalidInput on a bad time or task count.
Expected<std::string> slurm_script(const SlurmOptions& o, const std::string& job_name);

// Counts of complete cell files per shard, the body of `kiln sweep --slurm --status`.
struct ShardProgress {
  int64_t expected = 0, complete = 0;
  std::vector<std::string> missing;  // ids
};
std::vector<ShardProgress> shard_progress(const std::vector<SweepCell>& cells, const std::string& out_dir,
                                          int64_t shards);

}  // namespace kiln::bench
