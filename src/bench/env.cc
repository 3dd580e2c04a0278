// Environment facts for bench results, read from uname, gethostname and /proc (Linux).
#include "bench/env.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include "bench/process.h"
#include "kiln/version.h"

namespace kiln::bench {

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

std::string shell_join(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-+=/.,:@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::string process_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return shell_join(args);
}

nlohmann::json environment_json(const std::string& command_line) {
  nlohmann::json e;
  char host[256] = {};
  e["host"] = gethostname(host, sizeof(host) - 1) == 0 ? nlohmann::json(host) : nlohmann::json(nullptr);
  utsname u{};
  if (uname(&u) == 0)
    e["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  else
    e["os"] = nullptr;
  const std::string model = cpu_model_name();
  e["cpu"] = {{"model", model.empty() ? nlohmann::json(nullptr) : nlohmann::json(model)},
              {"cores", online_cpu_count()}};
  e["kiln"] = {{"version", KILN_VERSION}, {"git_sha", KILN_GIT_SHA}};
  e["command_line"] = command_line;
  e["date_utc"] = utc_now_iso8601();
  // Filled by the CUDA backend once it lands; a CPU-only build has none of these libraries.
  e["backend_versions"] = {{"cuda", nullptr}, {"cudnn", nullptr}, {"cublas", nullptr}};
  return e;
}

}  // namespace kiln::bench
