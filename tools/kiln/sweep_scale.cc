// kiln sweep --gpus (a worker process per GPU, cells from a shared queue, longest first) and --slurm (a job
// array of --shard tasks writing into one results folder; --status; --dry-run).
#include "tools/kiln/sweep_scale.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench/result.h"
#include "bench/sweep_scale.h"
#include "core/process.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

Expected<std::string> self_exe() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return runtime_error("cannot find the kiln binary (/proc/self/exe)");
  return self.string();
}

std::string exit_text(int code) {
  return code < 0 ? fmt::format("was killed by signal {}", -code) : fmt::format("exited with code {}", code);
}

int64_t count_complete(const std::vector<bench::SweepCell>& cells, const std::string& out) {
  int64_t n = 0;
  for (const auto& c : cells) n += bench::cell_complete(out + "/" + c.id + ".json", c.id) ? 1 : 0;
  return n;
}

}  // namespace

Status sweep_gpu_pool(const SweepArgs& a, const bench::SweepConfig& cfg, const std::vector<bench::SweepCell>& cells) {
  KILN_ASSIGN_OR_RETURN(auto present, bench::list_gpus());
  KILN_ASSIGN_OR_RETURN(auto gpus, bench::select_gpus(a.gpus, present));
  std::vector<bench::SweepCell> todo;
  for (const auto& c : cells)
    if (a.force || !bench::cell_complete(a.out + "/" + c.id + ".json", c.id)) todo.push_back(c);
  todo = bench::longest_first(std::move(todo));
  std::cout << fmt::format("sweep: {} cells, {} done already, {} to run on {} GPU(s), longest first -> {}\n",
                           cells.size(), cells.size() - todo.size(), todo.size(), gpus.size(), a.out);
  for (const auto& g : gpus) std::cout << fmt::format("sweep: gpu {}: {} {}\n", g.index, g.name, g.uuid);
  if (std::any_of(todo.begin(), todo.end(), [](const bench::SweepCell& c) { return c.backend == "cpu"; }) &&
      gpus.size() > 1)
    std::cout << "sweep: note: cpu cells of different workers run at the same time and share this host's cores\n";
  std::cout << std::flush;
  if (todo.empty()) return bench::write_summary_csv(a.out, cells);
  std::vector<std::string> ids;
  for (const auto& c : todo) ids.push_back(c.id);
  const std::string queue = fmt::format("{}/.queue.{}", a.out, getpid());
  KILN_RETURN_IF_ERROR(bench::CellQueue::create(queue, ids));
  KILN_ASSIGN_OR_RETURN(std::string self, self_exe());
  std::vector<int> codes(gpus.size(), 0);
  std::vector<Status> errors(gpus.size(), Status::Ok());
  std::vector<std::thread> workers;
  for (size_t i = 0; i < gpus.size(); ++i)
    workers.emplace_back([&, i] {
      // `env` sets CUDA_VISIBLE_DEVICES for this child only: the worker's CUDA device 0 is GPU gpus[i].
      std::vector<std::string> argv = {"env",
                                       "CUDA_VISIBLE_DEVICES=" + std::to_string(gpus[i].index),
                                       self,
                                       "sweep",
                                       cfg.path,
                                       "-o",
                                       a.out,
                                       "--worker-queue",
                                       queue,
                                       "--worker-gpu",
                                       std::to_string(gpus[i].index)};
      if (a.force) argv.push_back("--force");
      auto r = run_process(argv, false, StderrMode::kInherit);
      if (r.ok())
        codes[i] = r->code;
      else
        errors[i] = r.status();
    });
  for (auto& w : workers) w.join();
  std::error_code ec;
  fs::remove(queue, ec);
  KILN_RETURN_IF_ERROR(bench::write_summary_csv(a.out, cells));
  const int64_t complete = count_complete(cells, a.out);
  std::string problems;
  for (size_t i = 0; i < gpus.size(); ++i) {
    if (!errors[i].ok()) problems += fmt::format("; gpu {} worker: {}", gpus[i].index, errors[i].message());
    if (codes[i] != 0) problems += fmt::format("; gpu {} worker {}", gpus[i].index, exit_text(codes[i]));
  }
  std::cout << fmt::format("sweep: {} of {} cells complete; summary: {}/summary.csv\n", complete, cells.size(), a.out);
  if (complete < static_cast<int64_t>(cells.size()) || !problems.empty())
    return runtime_error(
        fmt::format("{} of {} cells are not complete{}; finished cells are kept, rerun to run the rest",
                    static_cast<int64_t>(cells.size()) - complete, cells.size(), problems));
  return Status::Ok();
}

namespace {

int64_t array_tasks(const SweepArgs& a, size_t cells) {
  const int64_t n = a.array_tasks > 0 ? a.array_tasks : 4;
  return std::max<int64_t>(1, std::min<int64_t>(n, static_cast<int64_t>(cells)));
}

// <out>/slurm/array.txt: the task count on the first line, then one submitted job id per line.
Expected<std::pair<int64_t, std::vector<std::string>>> read_array_file(const std::string& out) {
  std::ifstream in(out + "/slurm/array.txt");
  int64_t tasks = 0;
  if (!(in >> tasks) || tasks < 1)
    return invalid_input(out + "/slurm/array.txt: not found or malformed (was the sweep submitted with --slurm?)");
  std::vector<std::string> jobs;
  for (std::string id; in >> id;) jobs.push_back(id);
  return std::make_pair(tasks, jobs);
}

Status slurm_status(const SweepArgs& a, const std::vector<bench::SweepCell>& cells) {
  KILN_ASSIGN_OR_RETURN(auto array, read_array_file(a.out));
  const auto progress = bench::shard_progress(cells, a.out, array.first);
  int64_t complete = 0;
  for (size_t i = 0; i < progress.size(); ++i) {
    const auto& p = progress[i];
    complete += p.complete;
    std::string missing;
    for (const auto& id : p.missing) missing += (missing.empty() ? "" : " ") + id;
    std::cout << fmt::format("sweep: task {}: {}/{} cells complete{}\n", i, p.complete, p.expected,
                             missing.empty() ? "" : " (missing: " + missing + ")");
  }
  std::cout << fmt::format("sweep: {} of {} cells complete in {}\n", complete, cells.size(), a.out);
  std::string jobs;
  for (const auto& j : array.second) jobs += (jobs.empty() ? "" : ",") + j;
  if (!jobs.empty()) {
    auto q = run_process({"squeue", "-h", "-j", jobs, "-o", "%i %T %M %R"}, true, StderrMode::kCapture);
    if (!q.ok())
      std::cout << "sweep: squeue not found; the counts above come from the result files only\n";
    else if (q->code != 0)
      std::cout << "sweep: squeue failed (" << exit_text(q->code) << "): " << q->err;
    else if (q->out.empty())
      std::cout << "sweep: no task of job(s) " << jobs << " is queued or running\n";
    else
      std::cout << "sweep: queued or running (job_task state time reason):\n" << q->out;
  }
  // Each task rewrites summary.csv from what it saw; this makes it whole.
  return bench::write_summary_csv(a.out, cells);
}

}  // namespace

Status sweep_slurm(const SweepArgs& a, const bench::SweepConfig& cfg, const std::vector<bench::SweepCell>& cells) {
  if (a.status) return slurm_status(a, cells);
  bench::SlurmOptions o;
  KILN_ASSIGN_OR_RETURN(o.kiln, self_exe());
  o.config = fs::absolute(cfg.path).lexically_normal().string();
  o.out_dir = fs::absolute(a.out).lexically_normal().string();
  o.partition = a.partition;
  o.time = a.time;
  o.only = a.only;
  o.array_tasks = array_tasks(a, cells.size());
  o.gpus_per_task = a.gpus_per_task;
  o.force = a.force;
  KILN_ASSIGN_OR_RETURN(std::string script, bench::slurm_script(o, "kiln-sweep-" + sanitize_file_name(cfg.name)));
  if (a.dry_run) {
    std::cout << script;
    return Status::Ok();
  }
  if (cells.empty()) return invalid_input(cfg.path + ": no cell to submit (check --only)");
  std::error_code ec;
  fs::create_directories(o.out_dir + "/slurm", ec);
  if (ec) return invalid_input(o.out_dir + "/slurm: cannot create it (" + ec.message() + ")");
  const std::string path = o.out_dir + "/slurm/sweep.sbatch";
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(path, script));
  const int64_t done = count_complete(cells, o.out_dir);
  auto r = run_process({"sbatch", "--parsable", path}, true, StderrMode::kCapture);
  if (!r.ok())
    return Status(StatusCode::kUnsupported, "sbatch not found on PATH (install slurm-client, or submit " + path +
                                                " from a login node); nothing was submitted, finished cells are kept");
  if (r->code != 0)
    return runtime_error(fmt::format("sbatch {} {}: {}; nothing was submitted, finished cells are kept", path,
                                     exit_text(r->code), r->err.empty() ? "(no message)" : r->err));
  std::string job = r->out.substr(0, r->out.find_first_of(";\n"));
  // A resubmission with another task count starts the file anew: --status counts shards of the latest array.
  std::vector<std::string> jobs;
  if (auto prev = read_array_file(o.out_dir); prev.ok() && prev->first == o.array_tasks) jobs = prev->second;
  jobs.push_back(job);
  std::string text = std::to_string(o.array_tasks) + "\n";
  for (const auto& j : jobs) text += j + "\n";
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(o.out_dir + "/slurm/array.txt", text));
  std::cout << fmt::format(
      "sweep: submitted job array {} ({} tasks, {} cells, {} done already) -> {}\n"
      "sweep: follow it with: kiln sweep {} -o {} --slurm --status\n",
      job, o.array_tasks, cells.size(), done, o.out_dir, cfg.path, a.out);
  return Status::Ok();
}

}  // namespace kiln::cli
