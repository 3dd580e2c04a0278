// kiln sweep: cells from the config, the resumable run loop (atomic JSON per cell, progress), summary.csv.
#include "bench/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "bench/env.h"
#include "bench/result.h"
#include "bench/sweep_scale.h"

namespace kiln::bench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool pair_supported(const std::string& backend, const std::string& precision, std::string* why) {
  if (backend == "cpu" && precision != "fp32") {
    *why = "the CPU reference computes in fp32 only";
    return false;
  }
  if (backend == "ort" && precision != "fp32") {
    *why = "ONNX Runtime runs the model file as it is (fp32)";
    return false;
  }
  if (backend.rfind("torch-", 0) == 0 && precision != "fp32" && precision != "fp16") {
    *why = "the PyTorch peer measures fp32 and fp16";
    return false;
  }
  return true;
}

std::string dims_label(const std::vector<int64_t>& d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

// Every input's dims for a batch: runtime dims, batch dim set, other -1 dims from `rest` (first input) or
// the optimization opt dims.
Expected<std::map<std::string, std::vector<int64_t>>> cell_shapes(const SweepConfig& c, int64_t batch,
                                                                  const std::vector<int64_t>& rest) {
  std::map<std::string, std::vector<int64_t>> out;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const ConfigInput& in = c.inputs[i];
    std::vector<int64_t> d = in.runtime;
    if (i == 0 && !rest.empty()) {
      if (rest.size() + 1 != d.size())
        return invalid_input(fmt::format("{}: sweep.shapes entry {} has {} dims; input '{}' needs {} after the batch",
                                         c.path, dims_label(rest), rest.size(), in.name, d.size() - 1));
      for (size_t k = 0, r = 0; k < d.size(); ++k)
        if (k != in.batch_dim) d[k] = rest[r++];
    }
    d[in.batch_dim] = batch;
    for (size_t k = 0; k < d.size(); ++k) {
      if (d[k] >= 0) continue;
      if (!in.opt.empty() && in.opt[k] > 0) {
        d[k] = in.opt[k];
        continue;
      }
      return invalid_input(fmt::format(
          "{}: dim {} of input '{}' is dynamic (-1) and neither sweep.shapes nor shapes.optimization.opt gives it",
          c.path, k, in.name));
    }
    out[in.name] = d;
  }
  return out;
}

std::vector<int64_t> rest_of(const ConfigInput& in, const std::vector<int64_t>& dims) {
  std::vector<int64_t> r;
  for (size_t k = 0; k < dims.size(); ++k)
    if (k != in.batch_dim) r.push_back(dims[k]);
  return r;
}

}  // namespace

Expected<std::vector<SweepCell>> sweep_cells(const SweepConfig& c, std::vector<std::string>* skipped) {
  std::vector<SweepCell> cells;
  const ConfigInput& first = c.inputs.front();
  std::vector<std::vector<int64_t>> variants = c.shapes;
  if (variants.empty()) variants.push_back({});
  for (const auto& backend : c.backends)
    for (const auto& precision : c.precisions) {
      std::string why;
      if (!pair_supported(backend, precision, &why)) {
        if (skipped) skipped->push_back(backend + " " + precision + ": " + why);
        continue;
      }
      for (const auto& variant : variants)
        for (int64_t b : c.batches) {
          SweepCell cell;
          cell.backend = backend;
          cell.precision = precision;
          cell.batch = b;
          KILN_ASSIGN_OR_RETURN(cell.shapes, cell_shapes(c, b, variant));
          cell.rest = rest_of(first, cell.shapes.at(first.name));
          cell.iterations = c.runner.iterations;
          cell.id = backend + "_" + precision + (c.shapes.size() > 1 ? "_" + dims_label(cell.rest) : "") + "_b" +
                    std::to_string(b);
          cells.push_back(std::move(cell));
        }
      if (!c.dynamic) continue;
      if (first.min.empty() || first.opt.empty() || first.max.empty())
        return invalid_input(c.path + ": sweep.dynamic needs inputs[0].shapes.optimization min, opt and max");
      const int64_t lo = first.min[first.batch_dim], opt = first.opt[first.batch_dim], hi = first.max[first.batch_dim];
      if (!(1 <= lo && lo <= opt && opt <= hi))
        return invalid_input(
            fmt::format("{}: optimization batch min {} <= opt {} <= max {} does not hold", c.path, lo, opt, hi));
      for (const auto& [kind, b] : std::vector<std::pair<std::string, int64_t>>{
               {"dyn-min", lo}, {"dyn-opt", opt}, {"dyn-max", hi}, {"dyn-random", 0}}) {
        SweepCell cell;
        cell.backend = backend;
        cell.precision = precision;
        cell.kind = kind;
        cell.batch = b;
        cell.profile_min = lo;
        cell.profile_opt = opt;
        cell.profile_max = hi;
        if (b == 0) {
          cell.random_min = lo;
          cell.random_max = c.random_to_opt ? opt : hi;
        }
        KILN_ASSIGN_OR_RETURN(cell.shapes, cell_shapes(c, b ? b : cell.random_max, variants.front()));
        cell.rest = rest_of(first, cell.shapes.at(first.name));
        cell.iterations = c.dynamic_iterations;
        cell.id = backend + "_" + precision + "_" + kind;
        cells.push_back(std::move(cell));
      }
    }
  return cells;
}

bool cell_complete(const std::string& path, const std::string& id) {
  std::ifstream in(path);
  if (!in) return false;
  const json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("schema", "") != kBenchSchema) return false;
  const json& cell = doc.contains("cell") ? doc["cell"] : json();
  return cell.is_object() && cell.value("id", "") == id && cell.value("complete", false) && doc.contains("cases") &&
         doc["cases"].is_array() && !doc["cases"].empty();
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

namespace {

json cell_json(const SweepCell& c) {
  return {{"id", c.id},
          {"backend", c.backend},
          {"precision", c.precision},
          {"kind", c.kind},
          {"batch", c.batch},
          {"random_min", c.random_min},
          {"random_max", c.random_max},
          {"shapes", c.shapes},
          {"iterations", c.iterations},
          {"profile", c.profile_max > 0 ? json{c.profile_min, c.profile_opt, c.profile_max} : json(nullptr)},
          {"complete", true}};
}

json options_json(const SweepConfig& c) {
  return {{"config", c.path},
          {"backends", c.backends},
          {"precisions", c.precisions},
          {"batches", c.batches},
          {"warmUp_ms", c.runner.warmup_ms},
          {"iterations", c.runner.iterations},
          {"duration_s", c.runner.duration_s},
          {"avgRuns", c.runner.avg_runs},
          {"percentiles", c.percentiles},
          {"seed", c.seed},
          {"data_transfers", c.data_transfers},
          {"dynamic_iterations", c.dynamic ? json(c.dynamic_iterations) : json(nullptr)}};
}

std::string bar(int64_t done, int64_t total, int width = 24) {
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  return "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') +
         "]";
}

}  // namespace

namespace {

void print_result(const std::string& prefix, const std::string& id, const std::vector<json>& cases, std::ostream& out) {
  if (cases.empty()) return;
  const json& c0 = cases.front();
  const json& median = json_at(c0, {"latency_ms", "median"});
  const json& sps = json_at(c0, {"throughput", "samples_per_s"});
  out << fmt::format("{}sweep: {}: median {:.4g} ms, {:.4g} samples/s\n", prefix, id,
                     median.is_number() ? median.get<double>() : 0.0, sps.is_number() ? sps.get<double>() : 0.0)
      << std::flush;
}

// Runs one cell and writes its JSON atomically; false when the cell failed (reported, not written).
Expected<bool> run_one(const SweepConfig& config, const std::vector<SweepCell>& cells, const SweepCell& cell,
                       const CellRunner& runner, const SweepOptions& o, std::ostream& out) {
  auto cases = runner(cell);
  if (!cases.ok()) {
    out << (o.progress_bar ? "\r\033[K" : "") << o.log_prefix << "sweep: " << cell.id
        << ": failed: " << cases.status().message() << "\n"
        << std::flush;
    return false;
  }
  json cj = cell_json(cell);
  if (!o.device.is_null()) cj["device"] = o.device;
  json doc{{"schema", kBenchSchema},
           {"model", config.model},
           {"options", options_json(config)},
           {"environment", environment_json(o.command_line)},
           {"cell", cj},
           {"cases", *cases}};
  KILN_RETURN_IF_ERROR(write_file_atomic(o.out_dir + "/" + cell.id + ".json", doc.dump(1) + "\n"));
  KILN_RETURN_IF_ERROR(write_summary_csv(o.out_dir, cells));
  if (!o.progress_bar) print_result(o.log_prefix, cell.id, *cases, out);
  return true;
}

// A worker of a --gpus sweep: cells from the shared queue until it is empty.
Expected<SweepTotals> run_from_queue(const SweepConfig& config, const std::vector<SweepCell>& cells,
                                     const CellRunner& runner, const SweepOptions& o, std::ostream& out) {
  SweepTotals t;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t taken = 1;; ++taken) {
    KILN_ASSIGN_OR_RETURN(std::optional<std::string> id, o.queue->claim());
    if (!id) break;
    auto it = std::find_if(cells.begin(), cells.end(), [&](const SweepCell& c) { return c.id == *id; });
    if (it == cells.end()) return runtime_error("cell queue: unknown cell '" + *id + "' (another config's queue?)");
    if (!o.force && cell_complete(o.out_dir + "/" + it->id + ".json", it->id)) {
      ++t.skipped_done;
      continue;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out << fmt::format("{}sweep: [{} taken] {} (elapsed {})\n", o.log_prefix, taken, it->id, format_duration(elapsed))
        << std::flush;
    KILN_ASSIGN_OR_RETURN(bool ok, run_one(config, cells, *it, runner, o, out));
    ++(ok ? t.ran : t.failed);
  }
  out << fmt::format("{}sweep: worker done: ran {}, failed {}\n", o.log_prefix, t.ran, t.failed) << std::flush;
  return t;
}

}  // namespace

Expected<SweepTotals> run_sweep(const SweepConfig& config, const std::vector<SweepCell>& cells,
                                const CellRunner& runner, const SweepOptions& o, std::ostream& out) {
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return invalid_input(o.out_dir + ": cannot create the results folder (" + ec.message() + ")");
  if (o.queue) return run_from_queue(config, cells, runner, o, out);
  SweepTotals t;
  std::vector<const SweepCell*> todo;
  for (const auto& c : cells) {
    if (!o.force && cell_complete(o.out_dir + "/" + c.id + ".json", c.id)) {
      ++t.skipped_done;
      out << "sweep: " << c.id << ": done already (" << c.id << ".json), skipped\n";
    } else {
      todo.push_back(&c);
    }
  }
  out << fmt::format("sweep: {} cells, {} done already, {} to run -> {}\n", cells.size(), t.skipped_done, todo.size(),
                     o.out_dir)
      << std::flush;
  const auto start = std::chrono::steady_clock::now();
  const auto total = static_cast<int64_t>(todo.size());
  for (int64_t i = 0; i < total; ++i) {
    const SweepCell& cell = *todo[static_cast<size_t>(i)];
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string eta =
        i > 0 ? format_duration(elapsed / static_cast<double>(i) * static_cast<double>(total - i)) : std::string("?");
    if (o.progress_bar)
      out << fmt::format("\r\033[K{} {}/{} {}  elapsed {}  ETA {}", bar(i, total), i, total, cell.id,
                         format_duration(elapsed), eta)
          << std::flush;
    else
      out << fmt::format("sweep: [{}/{}] {} (elapsed {}, ETA {})\n", i + 1, total, cell.id, format_duration(elapsed),
                         eta)
          << std::flush;
    KILN_ASSIGN_OR_RETURN(bool ok, run_one(config, cells, cell, runner, o, out));
    ++(ok ? t.ran : t.failed);
  }
  if (o.progress_bar && total > 0) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out << fmt::format("\r\033[K{} {}/{} done in {}\n", bar(total, total), total, total, format_duration(elapsed));
  }
  KILN_RETURN_IF_ERROR(write_summary_csv(o.out_dir, cells));
  out << fmt::format("sweep: ran {}, skipped {} (done already), failed {}; summary: {}/summary.csv\n", t.ran,
                     t.skipped_done, t.failed, o.out_dir);
  return t;
}

namespace {

std::string num(const json& j) {
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) return fmt::format("{:.6g}", j.get<double>());
  return "";
}

}  // namespace

Status write_summary_csv(const std::string& dir, const std::vector<SweepCell>& cells) {
  std::string csv =
      "cell,backend,precision,mode,kind,batch,shape,median_ms,mean_ms,p99_ms,min_ms,max_ms,ci95_low_ms,ci95_high_ms,"
      "iterations,inferences_per_s,samples_per_s,gpu_memory_used_max_bytes,gpu_util_mean_percent,gpu_power_mean_w,"
      "cpu_util_percent,peak_rss_bytes,timing\n";
  for (const auto& cell : cells) {
    const std::string path = dir + "/" + cell.id + ".json";
    if (!cell_complete(path, cell.id)) continue;
    std::ifstream in(path);
    const json doc = json::parse(in, nullptr, false);
    for (const json& c : doc["cases"]) {
      const json& lat = json_at(c, {"latency_ms"});
      std::string shape;
      const json shapes = c.contains("input_shapes") && json_at(c, {"input_shapes"}).is_object()
                              ? json_at(c, {"input_shapes"})
                              : json::object();
      for (const auto& [name, d] : shapes.items())
        shape += (shape.empty() ? "" : " ") + name + ":" + dims_label(d.get<std::vector<int64_t>>());
      csv += fmt::format(
          "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", cell.id, c.value("backend", ""),
          c.value("precision", cell.precision),
          c.contains("mode") && json_at(c, {"mode"}).is_string() ? json_at(c, {"mode"}).get<std::string>() : "",
          cell.kind, num(json_at(c, {"batch"})), shape, num(json_at(lat, {"median"})), num(json_at(lat, {"mean"})),
          num(json_at(lat, {"percentiles", "p99"})), num(json_at(lat, {"min"})), num(json_at(lat, {"max"})),
          num(json_at(lat, {"median_ci95", "low"})), num(json_at(lat, {"median_ci95", "high"})),
          num(json_at(c, {"iterations"})), num(json_at(c, {"throughput", "inferences_per_s"})),
          num(json_at(c, {"throughput", "samples_per_s"})),
          num(json_at(c, {"gpu", "summary", "memory_used_bytes", "max"})),
          num(json_at(c, {"gpu", "summary", "utilisation_gpu_percent", "mean"})),
          num(json_at(c, {"gpu", "summary", "power_w", "mean"})),
          num(json_at(c, {"process", "cpu_utilisation_percent"})), num(json_at(c, {"process", "peak_rss_bytes"})),
          c.value("timing", "wall"));
    }
  }
  return write_file_atomic(dir + "/summary.csv", csv);
}

}  // namespace kiln::bench
