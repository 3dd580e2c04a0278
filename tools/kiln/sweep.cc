// `kiln sweep CONFIG.yaml -o results/`: every cell of a model config's sweep block (cpu, cuda, peers), one
// JSON per cell (a rerun skips the complete ones) and summary.csv; with sweep.accuracy, accuracy.json too.
#include "bench/sweep.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "bench/env.h"
#include "bench/peer.h"
#include "bench/report.h"
#include "bench/sweep_scale.h"
#include "core/process.h"
#include "models/zoo.h"
#include "onnx/importer.h"
#include "tools/kiln/bench_backends.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/sweep_scale.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

// "zoo:NAME" -> writes the zoo model (dynamic batch, H/W from the first cell) into the results folder once.
Expected<std::string> resolve_model(const bench::SweepConfig& c, const std::vector<bench::SweepCell>& cells,
                                    const std::string& out_dir) {
  if (c.model.rfind("zoo:", 0) != 0) {
    if (!fs::exists(c.model))
      return invalid_input(c.path + ": model '" + c.model +
                           "' not found (set sweep.model to an .onnx path relative to the config, or zoo:NAME)");
    return c.model;
  }
  const std::string name = c.model.substr(4);
  models::ZooOptions o;
  o.batch = Dim::sym("batch");
  if (!cells.empty() && cells.front().rest.size() == 3) {
    o.height = cells.front().rest[1];
    o.width = cells.front().rest[2];
  }
  const std::string path = out_dir + "/" + sanitize_file_name(name) + ".onnx";
  if (fs::exists(path)) return path;
  KILN_ASSIGN_OR_RETURN(auto g, models::build_zoo_model(name, o));
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  // Through a temporary file: several workers or array tasks may write it at once, and none may read half.
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  KILN_RETURN_IF_ERROR(write_onnx(*g, tmp));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return runtime_error(path + ": cannot rename " + tmp + " to it");
  std::cout << "sweep: made zoo model " << name << " -> " << path << "\n";
  return path;
}

class Runner {
 public:
  // `gpu`: the NVML index of the GPU this process runs on (a --gpus worker's; CUDA's device 0 is that GPU).
  Runner(const bench::SweepConfig& c, std::string model, std::string out_dir, unsigned gpu = 0)
      : c_(c),
        model_(std::move(model)),
        out_dir_(std::move(out_dir)),
        nvml_("libnvidia-ml.so.1", gpu),
        engines_(make_engine_cache()) {}

  Expected<std::vector<nlohmann::json>> operator()(const bench::SweepCell& cell) {
    bench::RunnerOptions runner = c_.runner;
    runner.iterations = cell.iterations;
    if (bench::is_peer_backend(cell.backend)) return peer(cell, runner);
    CaseRequest r;
    r.model = model_;
    for (const auto& [name, d] : cell.shapes) r.shapes[name] = d;
    r.batch = cell.batch;
    r.random_min = cell.random_min;
    r.random_max = cell.random_max;
    r.profile_min = cell.profile_min;
    r.profile_opt = cell.profile_opt;
    r.profile_max = cell.profile_max;
    r.precision = cell.precision;
    r.transfers = c_.data_transfers;
    r.dump_profile = c_.profile_layers;
    r.seed = c_.seed;
    r.runner = runner;
    r.percentiles = c_.percentiles;
    bench::BenchCase bc;
    if (cell.backend == "cpu") {
      KILN_ASSIGN_OR_RETURN(bc, bench_cpu_case(r, nvml_));
    } else {
      KILN_ASSIGN_OR_RETURN(bc, bench_cuda_case(r, nvml_, *engines_));
    }
    bc.extra["cell"] = cell.id;
    return std::vector<nlohmann::json>{bench::case_json(bc)};
  }

 private:
  Expected<std::vector<nlohmann::json>> peer(const bench::SweepCell& cell, const bench::RunnerOptions& runner) {
    KILN_ASSIGN_OR_RETURN(bench::PeerSpec spec, bench::parse_peer_spec(cell.backend + ":" + cell.precision));
    // PyTorch's fast layout for image models on tensor cores: the peer a user would deploy (the runner
    // applies it only to 4-D image inputs).
    if (spec.name.rfind("torch-", 0) == 0) spec.channels_last = true;
    bench::PeerRequest r;
    r.model = model_;
    if (cell.batch > 0) r.batches = {cell.batch};
    r.random_min = cell.random_min;
    r.random_max = cell.random_max;
    r.shape = dims_text(cell.rest);
    r.runner = runner;
    r.percentiles = c_.percentiles;
    r.seed = c_.seed;
    r.transfers = c_.data_transfers;
    KILN_ASSIGN_OR_RETURN(nlohmann::json doc, bench::run_peer(spec, r, out_dir_));
    std::vector<nlohmann::json> cases;
    for (auto& c : doc["cases"]) {
      c["backend"] = cell.backend;  // torch-graph etc., so cells and charts keep the modes apart
      c["cell"] = cell.id;
      c["peer_environment"] = doc["environment"];
      cases.push_back(c);
    }
    return cases;
  }

  const bench::SweepConfig& c_;
  std::string model_, out_dir_;
  bench::Nvml nvml_;
  std::shared_ptr<EngineCache> engines_;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// A readable accuracy.json of this model, labelled set and backends (another config's is redone).
bool accuracy_done(const std::string& path, const std::string& model, const bench::SweepAccuracy& acc) {
  std::ifstream in(path);
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("schema", "") != bench::kAccuracySchema ||
      !bench::accuracy_document_problem(doc).empty())
    return false;
  std::vector<std::string> names;
  for (const auto& b : doc["backends"]) names.push_back(b.value("name", ""));
  return doc.value("model", "") == model && doc.value("dataset", "") == acc.dataset &&
         doc.value("labels", "") == acc.labels && names == acc.backends;
}

// sweep.accuracy: runs `kiln accuracy` (this binary, so the metrics and the JSON are exactly the command's)
// into a temporary file renamed to <out>/accuracy.json, so the folder never holds a half-written document.
Status run_accuracy(const bench::SweepAccuracy& acc, const std::string& model, const std::string& out, bool force) {
  const std::string path = out + "/accuracy.json";
  if (!force && accuracy_done(path, model, acc)) {
    std::cout << "sweep: accuracy: done already (accuracy.json), skipped\n";
    return Status::Ok();
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return runtime_error("sweep.accuracy: cannot find the kiln binary (/proc/self/exe)");
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::vector<std::string> argv = {self.string(),
                                   "accuracy",
                                   model,
                                   "--dataset",
                                   acc.dataset,
                                   "--labels",
                                   acc.labels,
                                   "--backends",
                                   join(acc.backends),
                                   "--topk",
                                   std::to_string(acc.topk),
                                   "--json",
                                   tmp};
  if (!acc.output.empty()) argv.insert(argv.end(), {"--output", acc.output});
  std::cout << "sweep: accuracy: kiln accuracy " << model << " --dataset " << acc.dataset << " --labels " << acc.labels
            << " --backends " << join(acc.backends) << " --topk " << acc.topk << std::endl;
  KILN_ASSIGN_OR_RETURN(ProcessOutput proc, run_process(argv, false, StderrMode::kInherit));
  const int code = proc.code;
  if (code != 0) {
    fs::remove(tmp, ec);
    return Status(StatusCode::kRuntime,
                  fmt::format("sweep.accuracy: kiln accuracy failed (exit code {}, see above); accuracy.json not "
                              "written, a rerun retries it",
                              code));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    fs::remove(tmp, ec);
    return invalid_input(path + ": cannot replace the file (rename from " + tmp + " failed)");
  }
  std::cout << "sweep: accuracy: written to " << path << "\n";
  return Status::Ok();
}

Status run(const SweepArgs& a) {
  KILN_ASSIGN_OR_RETURN(bench::SweepConfig cfg, bench::load_sweep_config(a.config));
  std::vector<std::string> skipped;
  KILN_ASSIGN_OR_RETURN(auto cells, bench::sweep_cells(cfg, &skipped));
  for (const auto& s : skipped) std::cout << "sweep: not measured: " << s << "\n";
  if (!a.only.empty())
    cells.erase(std::remove_if(cells.begin(), cells.end(),
                               [&](const bench::SweepCell& c) { return c.id.find(a.only) == std::string::npos; }),
                cells.end());
  if (a.resume && a.force) return usage_error("--resume and --force exclude each other");
  if (a.slurm && (a.status || a.dry_run)) return sweep_slurm(a, cfg, cells);
  if (!a.gpus.empty() && (a.slurm || !a.shard.empty()))
    return usage_error("--gpus runs on this host; with --slurm use --gpus-per-task");
  std::vector<bench::SweepCell> all_cells = cells;  // summary.csv covers every cell, whichever shard ran
  if (!a.shard.empty()) {
    KILN_ASSIGN_OR_RETURN(auto shard, bench::parse_shard(a.shard));
    cells = bench::shard_cells(cells, shard.first, shard.second);
    std::cout << fmt::format("sweep: shard {}/{}: {} of {} cells\n", shard.first, shard.second, cells.size(),
                             all_cells.size());
  }
  if (a.list) {
    for (const auto& c : cells)
      std::cout << fmt::format(
          "{}  backend={} precision={} batch={} shape={} iterations>={}\n", c.id, c.backend, c.precision,
          c.batch ? std::to_string(c.batch) : fmt::format("random {}..{}", c.random_min, c.random_max),
          dims_text(c.rest), c.iterations);
    if (cfg.accuracy && (a.only.empty() || std::string("accuracy").find(a.only) != std::string::npos))
      std::cout << fmt::format("accuracy  dataset={} labels={} backends={} topk={} -> accuracy.json\n",
                               cfg.accuracy->dataset, cfg.accuracy->labels, join(cfg.accuracy->backends),
                               cfg.accuracy->topk);
    return Status::Ok();
  }
  if (!a.gpus.empty() && a.worker_queue.empty()) {  // no GPU or a wrong index: before anything is written
    KILN_ASSIGN_OR_RETURN(auto present, bench::list_gpus());
    KILN_RETURN_IF_ERROR(bench::select_gpus(a.gpus, present).status());
  }
  if (std::find(cfg.backends.begin(), cfg.backends.end(), "cuda") != cfg.backends.end()) {
    const bench::Nvml probe;
    if (!probe.available()) std::cout << "sweep: no GPU was found (" << probe.why() << "): the cuda cells will fail\n";
  }
  if (cfg.accuracy)  // before the cells, not after an hour of them
    for (const std::string* f : {&cfg.accuracy->dataset, &cfg.accuracy->labels})
      if (!fs::exists(*f)) return invalid_input(cfg.path + ": sweep.accuracy: " + *f + " not found");
  KILN_ASSIGN_OR_RETURN(std::string model, resolve_model(cfg, all_cells, a.out));
  cfg.model = model;
  if (a.slurm) return sweep_slurm(a, cfg, cells);
  const bool worker = !a.worker_queue.empty();
  Status cells_status = Status::Ok();
  if (!worker && !a.gpus.empty()) {
    cells_status = sweep_gpu_pool(a, cfg, cells);
    if (cells_status.code() != StatusCode::kRuntime) KILN_RETURN_IF_ERROR(cells_status);
  } else {
    bench::SweepOptions o;
    o.out_dir = a.out;
    o.force = a.force;
    o.progress_bar = !worker && isatty(STDOUT_FILENO) != 0;
    o.command_line = bench::process_command_line();
    std::unique_ptr<bench::CellQueue> queue;
    if (worker) {
      KILN_ASSIGN_OR_RETURN(auto present, bench::list_gpus());
      KILN_ASSIGN_OR_RETURN(auto mine, bench::select_gpus(std::to_string(a.worker_gpu), present));
      queue = std::make_unique<bench::CellQueue>(a.worker_queue);
      o.queue = queue.get();
      o.device = bench::gpu_device_json(mine.front());
      o.log_prefix = fmt::format("gpu {}: ", a.worker_gpu);
    }
    Runner runner(cfg, model, a.out, worker ? static_cast<unsigned>(a.worker_gpu) : 0u);
    KILN_ASSIGN_OR_RETURN(
        bench::SweepTotals t,
        bench::run_sweep(
            cfg, worker ? all_cells : cells, [&](const bench::SweepCell& c) { return runner(c); }, o, std::cout));
    if (!a.shard.empty()) KILN_RETURN_IF_ERROR(bench::write_summary_csv(a.out, all_cells));
    if (worker) return t.failed > 0 ? runtime_error(fmt::format("{} cells failed", t.failed)) : Status::Ok();
    if (t.failed > 0)
      cells_status = runtime_error(
          fmt::format("{} of {} cells failed (see above); rerun to retry only those", t.failed, cells.size()));
  }
  Status accuracy = Status::Ok();
  const bool first_shard = a.shard.empty() || a.shard.rfind("0/", 0) == 0;
  if (cfg.accuracy && first_shard && (a.only.empty() || std::string("accuracy").find(a.only) != std::string::npos))
    accuracy = run_accuracy(*cfg.accuracy, model, a.out, a.force);
  if (!cells_status.ok())
    return Status(cells_status.code(), cells_status.message() + (accuracy.ok() ? "" : ", and " + accuracy.message()));
  return accuracy;
}

}  // namespace

KILN_SUBCOMMAND(
    sweep,
    Subcommand{
        "sweep", "Run a benchmark sweep from a model config (YAML): one JSON per cell, summary.csv, resumable",
        [](CLI::App& app) -> std::function<int()> {
          auto a = std::make_shared<SweepArgs>();
          app.add_option("CONFIG", a->config, "Model config YAML (seed-003 format) with a sweep: block")->required();
          app.add_option("-o,--output", a->out, "Results folder")->capture_default_str();
          app.add_flag("--force", a->force, "Rerun cells whose JSON is already complete");
          app.add_flag("--resume", a->resume, "Run only the cells not complete yet (the default; excludes --force)");
          app.add_option("--gpus", a->gpus,
                         "all | 0,1,3: one worker process per GPU (CUDA_VISIBLE_DEVICES), cells from a shared "
                         "queue, longest first");
          app.add_flag("--slurm", a->slurm, "Write and submit (sbatch) a Slurm job array; each task runs a slice");
          app.add_option("--partition", a->partition, "--slurm: the partition (default: the cluster's)");
          app.add_option("--gpus-per-task", a->gpus_per_task, "--slurm: GPUs per task (0: CPU-only cells)")
              ->capture_default_str();
          app.add_option("--time", a->time, "--slurm: time limit per task, HH:MM:SS");
          app.add_option("--array-tasks", a->array_tasks, "--slurm: tasks in the array (default min(cells, 4))");
          app.add_flag("--status", a->status, "--slurm: summarise the submitted array (cells complete per task)");
          app.add_flag("--dry-run", a->dry_run, "--slurm: print the sbatch script, submit nothing");
          // Internal: a job-array task's slice, and a --gpus worker (see docs/SCALING.md).
          app.add_option("--shard", a->shard, "")->group("");
          app.add_option("--worker-queue", a->worker_queue, "")->group("");
          app.add_option("--worker-gpu", a->worker_gpu, "")->group("");
          app.add_flag("--list", a->list, "Print the cells and exit");
          app.add_option("--only", a->only, "Run only the cells whose id contains this text");
          app.footer(
              "A rerun skips every cell whose JSON is complete, so an interrupted sweep resumes.\n"
              "A sweep.accuracy block (dataset, labels[, backends, topk, output]) also runs kiln accuracy\n"
              "into accuracy.json (--only accuracy runs just that).\n"
              "Examples:\n"
              "  kiln sweep bench/configs/tiny_cnn.yaml -o results/\n"
              "  kiln sweep bench/configs/resnet50.yaml -o results/r50 --list\n"
              "  kiln sweep bench/configs/resnet50.yaml -o results/r50 --only cuda_fp16\n"
              "  kiln sweep bench/configs/resnet50.yaml -o results/r50 --gpus all\n"
              "  kiln sweep bench/configs/resnet50.yaml -o /shared/r50 --slurm --partition gpu --array-tasks 8\n"
              "  kiln sweep bench/configs/resnet50.yaml -o /shared/r50 --slurm --status\n");
          return [a] {
            Status s = run(*a);
            return s.ok() ? 0 : fail("sweep", s);
          };
        }});

}  // namespace kiln::cli
