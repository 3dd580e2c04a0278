// The environment block of a bench result: host, OS, CPU, kiln version and git sha, command line, date.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::bench {

// "2026-11-23T19:04:05Z" for now (UTC, ISO 8601).
std::string utc_now_iso8601();

// The CPU model name from /proc/cpuinfo ("" when unknown).
std::string cpu_model_name();

// Joins argv with spaces, single-quoting arguments that need it, so the line can be pasted into a shell.
std::string shell_join(const std::vector<std::string>& args);

// This process's command line from /proc/self/cmdline, shell-quoted ("" where unavailable).
std::string process_command_line();

// {"host", "os", "cpu": {"model", "cores"}, "kiln": {"version", "git_sha"}, "command_line", "date_utc",
//  "backend_versions": {cuda, cudnn, cublas: null in a CPU-only build}}.
nlohmann::json environment_json(const std::string& command_line);

}  // namespace kiln::bench
