// kiln sweep: a seed-003 model config (YAML) plus a `sweep:` block -> cells (backend x precision x shape x
// batch, and the seed-001 dynamic study), run one by one with a JSON per cell (resumable) and a CSV summary.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bench/runner.h"
#include "kiln/status.h"

namespace kiln::bench {

// One entry of the config's `inputs:` (seed-003: name, dtype_str, shapes.{dims_names, example, runtime,
// optimization.{min, opt, max}}). runtime uses -1 for dynamic dims; the optimization dims may be empty.
struct ConfigInput {
  std::string name, dtype;
  std::vector<std::string> dims_names;
  std::vector<int64_t> example, runtime, min, opt, max;
  size_t batch_dim = 0;  // the dims_names entry containing "batch", else 0
};

// sweep.accuracy: after the cells, `kiln accuracy` of the sweep's model on a labelled set into
// <results>/accuracy.json (kiln.accuracy/1), which kiln report shows beside the benchmark.
struct SweepAccuracy {
  std::string dataset, labels;                  // resolved against the config's folder
  std::vector<std::string> backends = {"cpu"};  // as for kiln accuracy --backends
  int64_t topk = 5;
  std::string output;  // the [batch, classes] output; empty: the model's first
};

struct SweepConfig {
  std::string name;
  std::string path, dir;  // the config file and its folder (relative model paths start there)
  std::string model;      // sweep.model resolved against dir, or "zoo:NAME"; default <name>.onnx beside the config
  std::vector<ConfigInput> inputs;
  std::vector<std::string> outputs;
  std::vector<std::string> backends = {"cpu"};
  std::vector<std::string> precisions = {"fp32"};
  std::vector<int64_t> batches;              // default: the first input's optimization opt batch, else 1
  std::vector<std::vector<int64_t>> shapes;  // variants of the first input's dims after the batch
  RunnerOptions runner;
  std::vector<double> percentiles = {90, 95, 99};
  uint64_t seed = 0;
  bool data_transfers = false;  // cuda/torch: time host<->device copies too
  bool profile_layers = false;  // cuda: per-layer times of one profiled run into each case (--dumpProfile)
  bool dynamic = false;         // sweep.dynamic present: the seed-001 study
  int64_t dynamic_iterations = 1000;
  bool random_to_opt = false;  // random batch in [min, opt] (seed-001) instead of [min, max]
  std::optional<SweepAccuracy> accuracy;
};

// Reads and checks the YAML. kInvalidInput naming the file and key on a missing/ill-typed field.
Expected<SweepConfig> load_sweep_config(const std::string& path);
Expected<SweepConfig> parse_sweep_config(const std::string& yaml_text, const std::string& path);

struct SweepCell {
  std::string id;  // file-name safe, e.g. "cuda_fp16_b32" or "torch-graph_fp16_3x224x224_b8", "cpu_fp32_dyn-random"
  std::string backend;  // cpu | cuda | torch-eager | torch-graph | torch-compile | ort
  std::string precision;
  std::string kind = "static";  // static | dyn-min | dyn-opt | dyn-max | dyn-random
  int64_t batch = 0;            // 0 for dyn-random
  int64_t random_min = 0, random_max = 0;
  int64_t profile_min = 0, profile_opt = 0, profile_max = 0;  // dyn-* cells: the optimization profile's batches
  std::vector<int64_t> rest;                           // the first input's dims after the batch ("shape variant")
  std::map<std::string, std::vector<int64_t>> shapes;  // every input's dims (dyn-random: at random_max)
  int64_t iterations = 0;                              // minimum timed iterations for this cell
};

// Cells in run order: backend, precision, shape variant, batch; then the dynamic study per backend x precision.
// Backend/precision pairs that cannot run (cpu and ort only fp32) are left out and listed in *skipped.
Expected<std::vector<SweepCell>> sweep_cells(const SweepConfig& c, std::vector<std::string>* skipped = nullptr);

// True when `json_path` holds a complete result of `cell_id` (parses, right schema, cell.complete).
bool cell_complete(const std::string& json_path, const std::string& cell_id);

// Runs one cell: returns its cases (case_json objects, or a peer's) or a Status (the cell is then recorded as
// failed and retried by the next run).
using CellRunner = std::function<Expected<std::vector<nlohmann::json>>(const SweepCell&)>;

class CellQueue;  // bench/sweep_scale.h

struct SweepOptions {
  std::string out_dir;
  bool force = false;         // rerun cells that are complete
  bool progress_bar = false;  // \r progress bar with ETA (a terminal); else one line per cell
  std::string command_line;
  // A worker of `kiln sweep --gpus`: takes cell ids from this shared queue instead of running `cells` in order
  // (`cells` is then the whole sweep, for summary.csv), prefixes its lines with log_prefix, and records
  // `device` (the GPU it is pinned to) in each cell JSON's cell.device.
  CellQueue* queue = nullptr;
  std::string log_prefix;
  nlohmann::json device;
};

struct SweepTotals {
  int64_t ran = 0, skipped_done = 0, failed = 0;
};

Expected<SweepTotals> run_sweep(const SweepConfig& config, const std::vector<SweepCell>& cells,
                                const CellRunner& runner, const SweepOptions& options, std::ostream& out);

// summary.csv from every complete cell JSON in `dir` (one row per case), written atomically.
Status write_summary_csv(const std::string& dir, const std::vector<SweepCell>& cells);

// "12:05" / "1:02:03" for a duration in seconds.
std::string format_duration(double seconds);

}  // namespace kiln::bench
