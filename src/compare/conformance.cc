// Conformance runner: compares CPU-reference outputs with the ONNX backend test data, one forked child per case.
#include "compare/conformance.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "compare/metrics.h"
#include "cpu/executor.h"
#include "engine/builder.h"
#include "engine/input_values.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace fs = std::filesystem;

namespace {

std::string format_value(double v) {
  std::ostringstream o;
  o.precision(9);
  o << v;
  return o.str();
}

}  // namespace

Status compare_tensors(const Tensor& actual, const Tensor& expected, const Tolerance& tol, const std::string& what) {
  if (actual.dtype() != expected.dtype())
    return accuracy_error(what + ": dtype " + dtype_name(actual.dtype()) + ", expected " +
                          dtype_name(expected.dtype()));
  if (actual.shape() != expected.shape())
    return accuracy_error(what + ": shape " + shape_to_string(actual.shape()) + ", expected " +
                          shape_to_string(expected.shape()));
  const bool is_float = dtype_is_float(expected.dtype());
  int64_t bad = 0, worst = -1;
  double worst_excess = -1;  // how many tolerances away the worst element is
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double excess = 0;
    if (is_float) {
      const double a = actual.get_as_double(i), e = expected.get_as_double(i);
      if (std::isnan(e) || std::isnan(a)) {
        if (std::isnan(e) && std::isnan(a)) continue;
        excess = INFINITY;
      } else if (std::isinf(e) || std::isinf(a)) {
        if (a == e) continue;
        excess = INFINITY;
      } else {
        const double allowed = tol.atol + tol.rtol * std::fabs(e);
        const double err = std::fabs(a - e);
        if (err <= allowed) continue;
        excess = allowed > 0 ? err / allowed : INFINITY;
      }
    } else {
      if (actual.get_as_int64(i) == expected.get_as_int64(i)) continue;
      excess = INFINITY;
    }
    ++bad;
    if (excess > worst_excess || worst < 0) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (bad == 0) return Status::Ok();
  std::string values;
  if (is_float) {
    const double a = actual.get_as_double(worst), e = expected.get_as_double(worst);
    values = "got " + format_value(a) + ", expected " + format_value(e) + " (abs err " +
             format_value(std::fabs(a - e)) + ")";
  } else {
    values = "got " + std::to_string(actual.get_as_int64(worst)) + ", expected " +
             std::to_string(expected.get_as_int64(worst));
  }
  std::string rule = is_float ? " beyond rtol " + format_value(tol.rtol) + ", atol " + format_value(tol.atol) : "";
  return accuracy_error(what + ": " + std::to_string(bad) + " of " + std::to_string(expected.numel()) +
                        " elements differ" + rule + "; worst at " + flat_index_string(expected.shape(), worst) + ": " +
                        values);
}

const char* case_status_name(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPassed:
      return "passed";
    case CaseStatus::kFailed:
      return "failed";
    case CaseStatus::kSkipped:
      return "skipped";
  }
  return "failed";
}

const std::vector<std::string>& conformance_suites() {
  static const std::vector<std::string> suites = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  return suites;
}

Expected<std::vector<ConformanceCase>> discover_cases(const std::string& root, const std::string& filter) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    return invalid_input("conformance data directory '" + root +
                         "' not found (install libonnx-testdata with scripts/setup, or pass DIR)");
  std::vector<ConformanceCase> cases;
  auto add_suite = [&](const fs::path& dir, const std::string& suite) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      ConformanceCase c{suite, n, (dir / n).string()};
      if (filter.empty() || c.id().find(filter) != std::string::npos) cases.push_back(c);
    }
  };
  const fs::path r(root);
  fs::path norm = fs::absolute(r).lexically_normal();
  if (!norm.has_filename()) norm = norm.parent_path();  // "dir/" -> "dir"
  if (fs::exists(r / "model.onnx")) {                   // one case directory
    ConformanceCase c{norm.parent_path().filename().string(), norm.filename().string(), r.string()};
    if (filter.empty() || c.id().find(filter) != std::string::npos) cases.push_back(c);
    return cases;
  }
  bool any_suite = false;
  for (const auto& s : conformance_suites()) {
    if (!fs::is_directory(r / s, ec)) continue;
    any_suite = true;
    add_suite(r / s, s);
  }
  if (!any_suite) add_suite(r, norm.filename().string());  // one suite directory
  return cases;
}

namespace {

// The test_data_set_* folders of a case, sorted, and the numbered .pb files in one.
std::vector<fs::path> data_sets(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (size_t i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  return out;
}

// The ONNX test data stores bfloat16 tensors as uint16 bit patterns (NumPy has no bfloat16); read them
// back as bfloat16 where the model expects that dtype.
Expected<Tensor> reinterpret_bfloat16_bits(Tensor t, DType wanted) {
  if (wanted != DType::kBFloat16 || t.dtype() != DType::kUint16) return t;
  return Tensor::from_bytes(DType::kBFloat16, t.shape(), t.raw(), t.nbytes());
}

}  // namespace

namespace {

// The graph's parameter-only inputs with the data set's values (what --inputValues would give).
InputValues parameter_values(const Graph& graph, const TensorMap& feeds) {
  InputValues values;
  for (const std::string& name : parameter_inputs(graph)) {
    auto it = feeds.find(name);
    if (it == feeds.end() || it->second.numel() > 4096) continue;
    std::vector<double>& v = values[name];
    for (int64_t i = 0; i < it->second.numel(); ++i) v.push_back(it->second.get_as_double(i));
  }
  return values;
}

std::string fixed_note(const InputValues& values) {
  if (values.empty()) return "";
  std::string names;
  for (const auto& [name, v] : values) names += (names.empty() ? "" : ", ") + name;
  return "inputs fixed at build (--inputValues): " + names;
}

// A kiln CUDA engine for one data set's shapes, with `fixed` inputs fixed at build (a fresh import: the build
// takes the graph).
Expected<std::shared_ptr<Engine>> build_for(const fs::path& dir, const std::string& precision, const TensorMap& feeds,
                                            const InputValues& fixed) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx((dir / "model.onnx").string()));
  BuildOptions options;
  options.precision = precision;
  options.input_values = fixed;
  for (const auto& [name, t] : feeds)
    if (!fixed.count(name)) options.shapes[name] = t.shape();
  return build_engine(std::move(graph), options);
}

// One data set through a CUDA engine. When the model does not build as it is (an op that needs a constant gets
// a run-time input), it is built again with its parameter-only inputs fixed to the data set's values, and
// `note` says so.
Expected<TensorMap> run_on_cuda(const fs::path& dir, const Graph& graph, const std::string& precision,
                                const TensorMap& feeds, std::string& note) {
  auto engine = build_for(dir, precision, feeds, {});
  if (!engine.ok() && engine.status().code() == StatusCode::kUnsupported) {
    const InputValues fixed = parameter_values(graph, feeds);
    if (fixed.empty()) return engine.status();
    engine = build_for(dir, precision, feeds, fixed);
    note = fixed_note(fixed);
  }
  KILN_RETURN_IF_ERROR(engine.status());
  return run_engine(*engine, feeds);
}

// One data set on the CPU reference after kiln's graph passes, with the inputs fixed to the feed shapes first
// as a static engine build does (a fresh import: the passes rewrite the graph).
Expected<TensorMap> run_on_cpu_optimized(const fs::path& dir, const TensorMap& feeds, const InputValues& fixed) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx((dir / "model.onnx").string()));
  KILN_RETURN_IF_ERROR(fix_input_values(*graph, fixed));
  for (Value* v : graph->inputs) {
    auto it = feeds.find(v->name);
    if (it != feeds.end()) v->shape = SymShape::from(it->second.shape());
  }
  KILN_RETURN_IF_ERROR(optimize_graph(*graph).status());
  TensorMap rest;  // the fixed inputs are constants of the graph now
  for (const auto& [name, t] : feeds)
    if (!fixed.count(name)) rest[name] = t;
  return run_cpu(*graph, rest);
}

}  // namespace

Status run_case(const ConformanceCase& c, const Tolerance& tol, const std::string& backend, std::string* note) {
  const bool cuda = backend.rfind("cuda", 0) == 0;
  const bool optimized = backend == "cpu:opt";
  const std::string precision = cuda && backend.size() > 5 ? backend.substr(5) : "fp32";
  if (!cuda && !optimized && backend != "cpu") return invalid_input("unknown conformance backend '" + backend + "'");
  const fs::path dir(c.dir);
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx((dir / "model.onnx").string()));
  const auto sets = data_sets(dir);
  if (sets.empty()) return invalid_input(c.id() + ": no test_data_set_* folder");
  for (const auto& set : sets) {
    const std::string set_name = set.filename().string();
    const auto inputs = numbered_files(set, "input_");
    const auto outputs = numbered_files(set, "output_");
    if (inputs.size() != graph->inputs.size())
      return invalid_input(set_name + " has " + std::to_string(inputs.size()) + " inputs, the model takes " +
                           std::to_string(graph->inputs.size()));
    if (outputs.size() != graph->outputs.size())
      return invalid_input(set_name + " has " + std::to_string(outputs.size()) + " outputs, the model has " +
                           std::to_string(graph->outputs.size()));
    TensorMap feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Tensor t, load_tensor_pb(inputs[i].string()));
      KILN_ASSIGN_OR_RETURN(t, reinterpret_bfloat16_bits(std::move(t), graph->inputs[i]->dtype));
      feeds[graph->inputs[i]->name] = std::move(t);
    }
    TensorMap got;
    std::string fixed;
    TensorMap got_fixed;  // cpu:opt: also with the parameter-only inputs fixed at build, as cuda may need
    if (cuda) {
      KILN_ASSIGN_OR_RETURN(got, run_on_cuda(dir, *graph, precision, feeds, fixed));
    } else if (optimized) {
      KILN_ASSIGN_OR_RETURN(got, run_on_cpu_optimized(dir, feeds, {}));
      const InputValues values = parameter_values(*graph, feeds);
      if (!values.empty()) {
        KILN_ASSIGN_OR_RETURN(got_fixed, run_on_cpu_optimized(dir, feeds, values));
        fixed = "also passes with " + fixed_note(values);
      }
    } else {
      KILN_ASSIGN_OR_RETURN(got, run_cpu(*graph, feeds));
    }
    if (note && !fixed.empty()) *note = fixed;
    for (size_t i = 0; i < outputs.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Tensor expected, load_tensor_pb(outputs[i].string()));
      const std::string& name = graph->outputs[i]->name;
      auto it = got.find(name);
      if (it == got.end()) return runtime_error("output '" + name + "' was not produced");
      KILN_ASSIGN_OR_RETURN(expected, reinterpret_bfloat16_bits(std::move(expected), it->second.dtype()));
      KILN_RETURN_IF_ERROR(compare_tensors(it->second, expected, tol, set_name + " output '" + name + "'"));
      if (!got_fixed.empty()) {
        auto f = got_fixed.find(name);
        if (f == got_fixed.end()) return runtime_error("output '" + name + "' was not produced with inputs fixed");
        KILN_RETURN_IF_ERROR(compare_tensors(f->second, expected, tol,
                                             set_name + " output '" + name + "' (inputs fixed at build)"));
      }
    }
  }
  return Status::Ok();
}

namespace {

CaseResult from_status(const ConformanceCase& c, const Status& s) {
  CaseResult r;
  r.test = c;
  r.status = s.ok() ? CaseStatus::kPassed
                    : (s.code() == StatusCode::kUnsupported ? CaseStatus::kSkipped : CaseStatus::kFailed);
  r.reason = s.message();
  return r;
}

// Virtual memory the process has mapped now (first field of /proc/self/statm, in pages); 0 if unknown.
rlim_t inherited_address_space_bytes() {
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages = 0;
  if (!(statm >> pages)) return 0;
  return static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
}

// Child side: limits, run, write "<code>\n<message>" to the pipe, exit without running destructors twice.
[[noreturn]] void child_main(int fd, const ConformanceCase& c, const Tolerance& tol, const IsolationLimits& lim,
                             const std::string& backend) {
  const rlim_t bytes = static_cast<rlim_t>(lim.memory_limit_mb) << 20;
  // AddressSanitizer reserves terabytes of shadow address space, so an address-space limit would make
  // every sanitized child fail at start-up; sanitized builds rely on the tensor-size cap below instead.
#if !defined(__SANITIZE_ADDRESS__)
  if (backend == "cpu") {
    // The limit is what the case may map on top of what the child inherits: a CUDA-enabled binary already
    // maps several hundred MiB of cuDNN/cuBLASLt code, and an absolute limit below that would leave the
    // case no room at all (every allocation needing a new mapping would fail, whatever its size).
    const rlim_t inherited = inherited_address_space_bytes();
    struct rlimit rl = {inherited + bytes, inherited + bytes};
    setrlimit(RLIMIT_AS, &rl);
  }
#endif
  // Oversized tensors then fail as a clean Status before malloc fails.
  set_max_tensor_bytes(std::min(max_tensor_bytes(), static_cast<size_t>(bytes / 2)));
  Status s;
  std::string note;
  try {
    s = run_case(c, tol, backend, &note);
  } catch (const std::bad_alloc&) {
    s = runtime_error("out of memory (limit " + std::to_string(lim.memory_limit_mb) + " MiB)");
  } catch (const std::exception& e) {
    s = runtime_error(std::string("exception: ") + e.what());
  }
  const std::string msg = std::to_string(static_cast<int>(s.code())) + "\n" + (s.ok() ? note : s.message());
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t n = write(fd, msg.data() + off, msg.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  _exit(0);
}

}  // namespace

CaseResult run_case_isolated(const ConformanceCase& c, const Tolerance& tol, const IsolationLimits& limits,
                             const std::string& backend) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int fds[2];
  if (pipe(fds) != 0) return from_status(c, runtime_error("pipe() failed: " + std::string(std::strerror(errno))));
  std::fflush(nullptr);  // so buffered output is not duplicated by the child
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return from_status(c, runtime_error("fork() failed: " + std::string(std::strerror(errno))));
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(fds[1], c, tol, limits, backend);
  }
  close(fds[1]);
  std::string data;
  bool timed_out = false;
  char buf[4096];
  while (true) {
    const double left_ms = limits.timeout_s * 1000.0 - elapsed() * 1000.0;
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    const int pr = poll(&p, 1, static_cast<int>(std::min(left_ms, 1e9)) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;  // timeout is re-checked at the top
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child finished or died
    data.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  CaseResult r;
  if (timed_out) {
    r = from_status(c, runtime_error("timed out after " + std::to_string(limits.timeout_s) + " s"));
  } else if (WIFSIGNALED(wstatus)) {
    const int sig = WTERMSIG(wstatus);
    r = from_status(c, runtime_error("crashed with signal " + std::to_string(sig) + " (" + strsignal(sig) + ")"));
  } else {
    const size_t nl = data.find('\n');
    if (nl == std::string::npos) {
      r = from_status(c, runtime_error("the case process exited with code " +
                                       std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) +
                                       " without reporting a result"));
    } else {
      const int code = std::atoi(data.substr(0, nl).c_str());
      r = from_status(c, code == 0 ? Status::Ok() : Status(static_cast<StatusCode>(code), data.substr(nl + 1)));
      if (code == 0) r.reason = data.substr(nl + 1);  // a passing case's note (inputs fixed at build)
    }
  }
  r.duration_s = elapsed();
  return r;
}

Expected<std::vector<CaseResult>> run_conformance(const ConformanceOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto cases, discover_cases(options.root, options.filter));
  std::vector<CaseResult> results;
  results.reserve(cases.size());
  for (const auto& c : cases) {
    if (options.backend.rfind("cuda", 0) == 0) {  // no process (and no CUDA context) for a case the GPU cannot lower
      auto graph = load_onnx((fs::path(c.dir) / "model.onnx").string());
      // A graph with parameter-only inputs may lower once they are fixed (Range or ConstantOfShape then fold
      // away): the case's own run tries that.
      const bool may_fix = graph.ok() && !parameter_inputs(**graph).empty();
      const Status lowerable = graph.ok() ? check_cuda_lowerings(std::move(*graph)) : graph.status();
      if (lowerable.code() == StatusCode::kUnsupported && !may_fix) {  // other errors: the case's run reports them
        results.push_back(from_status(c, lowerable));
        if (options.on_result) options.on_result(results.back());
        continue;
      }
    }
    if (options.in_process) {
      const auto start = std::chrono::steady_clock::now();
      Status s;
      std::string note;
      try {
        s = run_case(c, options.tolerance, options.backend, &note);
      } catch (const std::exception& e) {
        s = runtime_error(std::string("exception: ") + e.what());
      }
      CaseResult r = from_status(c, s);
      if (s.ok()) r.reason = note;
      r.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      results.push_back(std::move(r));
    } else {
      results.push_back(run_case_isolated(c, options.tolerance, options.limits, options.backend));
    }
    if (options.on_result) options.on_result(results.back());
  }
  return results;
}

namespace {
struct Counts {
  int passed = 0, failed = 0, skipped = 0;
  void add(CaseStatus s) { (s == CaseStatus::kPassed ? passed : s == CaseStatus::kSkipped ? skipped : failed)++; }
  std::string line() const {
    return std::to_string(passed) + " passed, " + std::to_string(failed) + " failed, " + std::to_string(skipped) +
           " skipped";
  }
};
}  // namespace

std::string conformance_summary(const std::vector<CaseResult>& results) {
  std::vector<std::string> order;
  std::map<std::string, Counts> per_suite;
  Counts total;
  for (const auto& r : results) {
    if (!per_suite.count(r.test.suite)) order.push_back(r.test.suite);
    per_suite[r.test.suite].add(r.status);
    total.add(r.status);
  }
  std::string out;
  for (const auto& s : order) out += s + ": " + per_suite[s].line() + "\n";
  out += total.line() + "\n";
  int fixed = 0;
  for (const auto& r : results) fixed += r.status == CaseStatus::kPassed && !r.reason.empty();
  if (fixed > 0)
    out += std::to_string(fixed) +
           " of the passed cases ran with parameter inputs fixed at build (--inputValues; cpu:opt runs them both "
           "ways, cuda only when the model as it is does not build)\n";
  return out;
}

nlohmann::json conformance_report(const std::vector<CaseResult>& results, const std::string& root) {
  nlohmann::json j;
  j["schema"] = "kiln.conformance/1";
  j["root"] = root;
  j["tolerance"] = {{"rtol", Tolerance().rtol}, {"atol", Tolerance().atol}};
  std::map<std::string, Counts> per_suite;
  Counts total;
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& r : results) {
    per_suite[r.test.suite].add(r.status);
    total.add(r.status);
    cases.push_back({{"id", r.test.id()},
                     {"suite", r.test.suite},
                     {"name", r.test.name},
                     {"status", case_status_name(r.status)},
                     {"reason", r.reason},
                     {"duration_s", std::round(r.duration_s * 1e4) / 1e4}});
  }
  auto counts_json = [](const Counts& c) {
    return nlohmann::json{{"passed", c.passed}, {"failed", c.failed}, {"skipped", c.skipped}};
  };
  j["summary"] = counts_json(total);
  j["suites"] = nlohmann::json::object();
  for (const auto& [s, c] : per_suite) j["suites"][s] = counts_json(c);
  j["cases"] = std::move(cases);
  return j;
}

Expected<std::vector<std::string>> read_case_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) return invalid_input(path + ": cannot open the expect-pass list");
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const size_t e = line.find_last_not_of(" \t\r");
    ids.push_back(line.substr(b, e - b + 1));
  }
  return ids;
}

std::vector<std::string> expected_but_not_passed(const std::vector<std::string>& expected,
                                                 const std::vector<CaseResult>& results, const std::string& filter) {
  std::map<std::string, const CaseResult*> by_id;
  for (const auto& r : results) by_id[r.test.id()] = &r;
  std::vector<std::string> out;
  for (const auto& id : expected) {
    if (!filter.empty() && id.find(filter) == std::string::npos) continue;  // not selected in this run
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      out.push_back(id + " (not found in the test data)");
    } else if (it->second->status != CaseStatus::kPassed) {
      out.push_back(id + " (" + case_status_name(it->second->status) + ": " + it->second->reason + ")");
    }
  }
  return out;
}

}  // namespace kiln
