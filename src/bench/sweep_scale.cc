// Scaling a sweep out: GPU selection, the longest-first order, the shared cell queue, shards and the
// Slurm job-array script (see docs/SCALING.md).
#include "bench/sweep_scale.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "bench/nvml.h"
#include "bench/result.h"

namespace kiln::bench {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool parse_int(const std::string& text, int64_t* v) {
  if (text.empty() || text.size() > 9) return false;
  for (char ch : text)
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  *v = std::stoll(text);
  return true;
}

}  // namespace

Expected<std::vector<GpuDevice>> list_gpus() {
  std::vector<GpuDevice> out;
  if (const char* fake = std::getenv(kFakeGpusEnv); fake && *fake) {
    int64_t n = 0;
    if (!parse_int(fake, &n)) return invalid_input(std::string(kFakeGpusEnv) + "='" + fake + "' is not a count");
    for (int64_t i = 0; i < n; ++i) {
      GpuDevice d;
      d.index = static_cast<int>(i);
      d.name = "kiln-test-gpu";
      d.uuid = fmt::format("GPU-kiln-test-{}", i);
      out.push_back(d);
    }
    if (out.empty()) return runtime_error(std::string("no GPU (") + kFakeGpusEnv + "=0)");
    return out;
  }
  for (unsigned i = 0; i < 64; ++i) {
    const Nvml nvml("libnvidia-ml.so.1", i);
    if (!nvml.available()) {
      if (i == 0) return runtime_error("no GPU was found (" + nvml.why() + ")");
      break;
    }
    GpuDevice d;
    d.index = static_cast<int>(i);
    d.name = nvml.info().name;
    d.uuid = nvml.info().uuid;
    d.sm_clock_max_mhz = nvml.info().sm_clock_max_mhz;
    d.memory_clock_max_mhz = nvml.info().memory_clock_max_mhz;
    d.memory_total_bytes = nvml.info().memory_total_bytes;
    out.push_back(d);
  }
  return out;
}

Expected<std::vector<GpuDevice>> select_gpus(const std::string& spec, const std::vector<GpuDevice>& present) {
  if (trim(spec) == "all") return present;
  std::string names;
  for (const auto& d : present) names += (names.empty() ? "" : ", ") + std::to_string(d.index);
  std::vector<GpuDevice> out;
  std::set<int64_t> seen;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t index = 0;
    if (!parse_int(trim(item), &index))
      return invalid_input("--gpus '" + spec + "': '" + item + "' is not a GPU index (use all or e.g. 0,1,3)");
    if (!seen.insert(index).second)
      return invalid_input(fmt::format("--gpus '{}': GPU {} is listed twice (a cell never shares a GPU)", spec, index));
    auto it = std::find_if(present.begin(), present.end(), [&](const GpuDevice& d) { return d.index == index; });
    if (it == present.end())
      return invalid_input(
          fmt::format("--gpus '{}': there is no GPU {} on this host (present: {})", spec, index, names));
    out.push_back(*it);
  }
  if (out.empty()) return invalid_input("--gpus '" + spec + "': no GPU index given (use all or e.g. 0,1,3)");
  return out;
}

nlohmann::json gpu_device_json(const GpuDevice& d) {
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"index", d.index},
          {"name", d.name},
          {"uuid", d.uuid},
          {"sm_clock_max_mhz", opt(d.sm_clock_max_mhz)},
          {"memory_clock_max_mhz", opt(d.memory_clock_max_mhz)},
          {"memory_total_bytes", opt(d.memory_total_bytes)},
          {"cuda_visible_devices", std::to_string(d.index)}};
}

double estimate_cell_cost(const SweepCell& cell) {
  const double samples = static_cast<double>(std::max<int64_t>(1, cell.batch > 0 ? cell.batch : cell.random_max));
  const double iterations = static_cast<double>(std::max<int64_t>(1, cell.iterations));
  double weight = 1.0, fixed = 0.0;  // per sample; per cell (in the same units)
  if (cell.backend == "cpu") {
    weight = 50.0;
  } else if (cell.backend == "cuda") {
    fixed = 2000.0;  // the engine build and tactic timing
  } else {
    weight = 1.5;  // a peer: Python's overhead per call, and its interpreter start
    fixed = 3000.0;
  }
  return samples * iterations * weight + fixed;
}

std::vector<SweepCell> longest_first(std::vector<SweepCell> cells) {
  std::stable_sort(cells.begin(), cells.end(), [](const SweepCell& a, const SweepCell& b) {
    return estimate_cell_cost(a) > estimate_cell_cost(b);
  });
  return cells;
}

Expected<std::pair<int64_t, int64_t>> parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int64_t i = 0, n = 0;
  if (slash == std::string::npos || !parse_int(text.substr(0, slash), &i) || !parse_int(text.substr(slash + 1), &n) ||
      n < 1 || i >= n)
    return invalid_input("--shard '" + text + "': expected i/N with 0 <= i < N (e.g. 0/3)");
  return std::make_pair(i, n);
}

std::vector<SweepCell> shard_cells(const std::vector<SweepCell>& cells, int64_t index, int64_t count) {
  std::vector<SweepCell> out;
  for (size_t k = 0; k < cells.size(); ++k)
    if (static_cast<int64_t>(k) % count == index) out.push_back(cells[k]);
  return out;
}

// The queue file: a fixed-width "next" counter line, then one id per line.
Status CellQueue::create(const std::string& path, const std::vector<std::string>& ids) {
  std::string text = fmt::format("{:09}\n", 0);
  for (const auto& id : ids) text += id + "\n";
  return write_file_atomic(path, text);
}

Expected<std::optional<std::string>> CellQueue::claim() {
  const int fd = open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return runtime_error("cell queue " + path_ + ": cannot open it");
  struct Closer {
    int fd;
    ~Closer() { close(fd); }  // also releases the lock
  } closer{fd};
  if (flock(fd, LOCK_EX) != 0) return runtime_error("cell queue " + path_ + ": cannot lock it (flock)");
  std::string text;
  char buf[4096];
  ssize_t n = 0;
  while ((n = pread(fd, buf, sizeof(buf), static_cast<off_t>(text.size()))) > 0)
    text.append(buf, static_cast<size_t>(n));
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  int64_t next = 0;
  if (lines.empty() || !parse_int(lines[0], &next)) return runtime_error("cell queue " + path_ + ": malformed");
  if (next + 1 >= static_cast<int64_t>(lines.size())) return std::optional<std::string>();
  const std::string counter = fmt::format("{:09}\n", next + 1);
  if (pwrite(fd, counter.data(), counter.size(), 0) != static_cast<ssize_t>(counter.size()))
    return runtime_error("cell queue " + path_ + ": cannot update it");
  return std::optional<std::string>(lines[static_cast<size_t>(next + 1)]);
}

Expected<std::string> slurm_script(const SlurmOptions& o, const std::string& job_name) {
  if (o.array_tasks < 1 || o.array_tasks > 10000)
    return invalid_input(fmt::format("--array-tasks {}: expected 1..10000", o.array_tasks));
  if (o.gpus_per_task < 0) return invalid_input("--gpus-per-task must be 0 (CPU cells only) or more");
  if (!o.time.empty() && !std::regex_match(o.time, std::regex(R"((\d+-)?\d+:\d\d:\d\d)")))
    return invalid_input("--time '" + o.time + "': expected HH:MM:SS (or D-HH:MM:SS)");
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
  };
  std::string s = "#!/bin/bash\n# kiln sweep as a Slurm job array: task i runs the cells k with k mod N == i.\n";
  s += "#SBATCH --job-name=" + job_name + "\n";
  s += fmt::format("#SBATCH --array=0-{}\n", o.array_tasks - 1);
  s += "#SBATCH --ntasks=1\n";
  s += "#SBATCH --output=" + o.out_dir + "/slurm/%A_%a.log\n";
  if (!o.partition.empty()) s += "#SBATCH --partition=" + o.partition + "\n";
  if (!o.time.empty()) s += "#SBATCH --time=" + o.time + "\n";
  if (o.gpus_per_task > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", o.gpus_per_task);
  s += "set -euo pipefail\n";
  s += "exec " + quote(o.kiln) + " sweep " + quote(o.config) + " -o " + quote(o.out_dir) +
       fmt::format(" --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"", o.array_tasks);
  if (!o.only.empty()) s += " --only " + quote(o.only);
  if (o.force) s += " --force";
  return s + "\n";
}

std::vector<ShardProgress> shard_progress(const std::vector<SweepCell>& cells, const std::string& out_dir,
                                          int64_t shards) {
  std::vector<ShardProgress> out(static_cast<size_t>(std::max<int64_t>(1, shards)));
  for (size_t k = 0; k < cells.size(); ++k) {
    ShardProgress& p = out[k % out.size()];
    ++p.expected;
    if (cell_complete(out_dir + "/" + cells[k].id + ".json", cells[k].id))
      ++p.complete;
    else
      p.missing.push_back(cells[k].id);
  }
  return out;
}

}  // namespace kiln::bench
