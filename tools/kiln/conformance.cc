// `kiln conformance`: runs the ONNX backend test data on the CPU reference and reports per case.
#include "compare/conformance.h"

#include <cstdio>
#include <iostream>

#include "core/npy.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct ConformanceArgs {
  std::string dir = kDefaultConformanceDir;
  std::string json_path;
  std::string filter;
  std::string expect_pass;
  bool verbose = false;
  int timeout_s = 60;
  size_t memory_mb = 4096;
  std::string backend = "cpu";
  bool in_process = false;
};

std::string one_line(std::string s, size_t max_len) {
  for (char& c : s)
    if (c == '\n') c = ' ';
  if (s.size() > max_len) s = s.substr(0, max_len) + "...";
  return s;
}

Status run_suite(const ConformanceArgs& args) {
  std::vector<std::string> expected;
  if (!args.expect_pass.empty()) {
    KILN_ASSIGN_OR_RETURN(expected, read_case_list(args.expect_pass));
  }
  ConformanceOptions opt;
  opt.root = args.dir;
  opt.filter = args.filter;
  opt.limits.timeout_s = args.timeout_s;
  opt.limits.memory_limit_mb = args.memory_mb;
  if (args.backend != "cpu" && args.backend != "cpu:opt" && args.backend != "cuda" &&
      args.backend.rfind("cuda:", 0) != 0)
    return usage_error("--backend must be cpu, cpu:opt or cuda[:fp32|tf32|fp16|bf16], not '" + args.backend + "'");
  opt.backend = args.backend == "cuda" ? "cuda:fp32" : args.backend;
  opt.in_process = args.in_process;
  opt.on_result = [&](const CaseResult& r) {
    if (args.verbose) {
      std::printf("%-7s %-60s %7.3f s  %s\n", case_status_name(r.status), r.test.id().c_str(), r.duration_s,
                  one_line(r.reason, 200).c_str());
    } else if (r.status == CaseStatus::kFailed) {
      std::printf("FAIL %s: %s\n", r.test.id().c_str(), one_line(r.reason, 300).c_str());
    }
    std::fflush(stdout);
  };
  KILN_ASSIGN_OR_RETURN(auto results, run_conformance(opt));
  if (results.empty())
    return invalid_input("no test cases found under '" + args.dir + "'" +
                         (args.filter.empty() ? "" : " matching '" + args.filter + "'"));
  if (!args.json_path.empty()) {
    KILN_RETURN_IF_ERROR(write_file_atomic(args.json_path, conformance_report(results, args.dir).dump(2) + "\n"));
  }
  // The total line `N passed, N failed, N skipped` stays the last line of stdout.
  std::vector<std::string> regressions;
  if (!args.expect_pass.empty()) {
    regressions = expected_but_not_passed(expected, results, args.filter);
    if (regressions.empty()) {
      std::cout << "all " << expected.size() << " cases listed in " << args.expect_pass << " passed\n";
    } else {
      std::cout << regressions.size() << " case(s) listed in " << args.expect_pass << " did not pass:\n";
      for (const auto& r : regressions) std::cout << "  " << one_line(r, 300) << "\n";
    }
  }
  std::cout << conformance_summary(results) << std::flush;
  if (!regressions.empty())
    return accuracy_error(std::to_string(regressions.size()) + " case(s) from " + args.expect_pass +
                          " no longer pass (listed above)");
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(
    conformance,
    Subcommand{"conformance", "Run the ONNX backend test data on the CPU reference; pass/fail/skip per case",
               [](CLI::App& app) -> std::function<int()> {
                 auto args = std::make_shared<ConformanceArgs>();
                 app.add_option("DIR", args->dir,
                                "Test data root with node/, pytorch-converted/, pytorch-operator/, simple/ "
                                "(or one suite or case folder)")
                     ->capture_default_str();
                 app.add_option("--json", args->json_path, "Write the report (schema kiln.conformance/1) here");
                 app.add_option("--filter", args->filter, "Only cases whose id (suite/name) contains this text");
                 app.add_option("--expect-pass", args->expect_pass,
                                "File listing case ids (node/test_abs, one per line) that must pass; exit 4 if "
                                "any does not");
                 app.add_option("--backend", args->backend,
                                "cpu (the reference), cpu:opt (the reference after kiln's graph passes, inputs "
                                "fixed to the case's shapes: checks the passes) or cuda[:fp32|tf32|fp16|bf16] (a "
                                "kiln engine per case; cases with an op that has no GPU lowering are skipped)")
                     ->capture_default_str();
                 app.add_flag("--in-process", args->in_process,
                              "Run every case in this process (no crash isolation, no --timeout/--memory-limit): "
                              "much faster with --backend cuda, which then starts CUDA once");
                 app.add_flag("-v,--verbose", args->verbose, "Print every case with its status, time and reason");
                 app.add_option("--timeout", args->timeout_s, "Seconds one case may run before it is killed")
                     ->capture_default_str();
                 app.add_option("--memory-limit", args->memory_mb, "Address space a case may map beyond what the process already has, in MiB")
                     ->capture_default_str();
                 app.footer(
                     "Floats must match within |got - expected| <= 1e-5 + 1e-3 * |expected| (NaN matches NaN);\n"
                     "integers and bools exactly. Unsupported ops/dtypes/attributes are 'skipped' with the reason.\n"
                     "Each case runs in its own process, so a crash or timeout fails that case only.\n"
                     "Examples:\n"
                     "  kiln conformance\n"
                     "  kiln conformance --filter node/test_conv -v\n"
                     "  kiln conformance --backend cuda --json gpu.json   # the GPU engine on the same cases\n"
                     "  kiln conformance --backend cpu:opt --expect-pass tests/conformance/passing_opt.txt\n"
                     "  kiln conformance --json report.json --expect-pass tests/conformance/passing.txt\n");
                 return [args] {
                   Status s = run_suite(*args);
                   return s.ok() ? 0 : fail("conformance", s);
                 };
               }});

}  // namespace kiln::cli
