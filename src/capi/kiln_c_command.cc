// kiln_command_json: `kiln compare | bench | accuracy` in process. The subcommands' argument handling, checks
// and JSON documents live in tools/kiln (compiled into libkiln.so); this runs one through run_cli with a
// temporary --json file and returns the file's text, so Python gets exactly the document the CLI writes.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "capi/capi_util.h"
#include "kiln/kiln.h"
#include "tools/kiln/app.h"

namespace kiln::capi {
namespace {

// Passes everything through to `out` and keeps a copy, so the user still sees progress while the error line
// ("kiln compare: error: ...") is recovered for kiln_last_error().
class TeeBuffer : public std::streambuf {
 public:
  explicit TeeBuffer(std::streambuf* out) : out_(out) {}
  const std::string& text() const { return copy_; }

 protected:
  int overflow(int c) override {
    if (c == EOF) return !EOF;
    copy_.push_back(static_cast<char>(c));
    return out_->sputc(static_cast<char>(c));
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    copy_.append(s, static_cast<size_t>(n));
    return out_->sputn(s, n);
  }
  int sync() override { return out_->pubsync(); }

 private:
  std::streambuf* out_;
  std::string copy_;
};

// Restores std::cerr's buffer however the command ends.
struct CerrTee {
  std::streambuf* saved;
  TeeBuffer tee;
  CerrTee() : saved(std::cerr.rdbuf()), tee(saved) { std::cerr.rdbuf(&tee); }
  ~CerrTee() { std::cerr.rdbuf(saved); }
};

// The message of the last "kiln <command>: error: <message>" line.
std::string error_message(const std::string& err, const std::string& command, int code) {
  const std::string marker = ": error: ";
  const size_t at = err.rfind(marker);
  if (at == std::string::npos) return "kiln " + command + " failed with exit code " + std::to_string(code);
  const size_t end = err.find('\n', at);
  return err.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size());
}

struct TempFile {
  std::string path;
  TempFile() {
    std::error_code ec;
    std::string dir = std::filesystem::temp_directory_path(ec).string();
    if (ec || dir.empty()) dir = "/tmp";
    static std::atomic<int> counter{0};
    path = dir + "/kiln_command_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".json";
    std::filesystem::remove(path, ec);
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace
}  // namespace kiln::capi

extern "C" int kiln_command_json(int argc, const char* const* argv, char** json) {
  using namespace kiln::capi;  // NOLINT
  return guard([&]() -> kiln::Status {
    KILN_RETURN_IF_ERROR(require(json, "json"));
    *json = nullptr;
    KILN_RETURN_IF_ERROR(require(argv, "argv"));
    if (argc < 1 || !argv[0]) return kiln::usage_error("argv[0] must name the command (compare, bench or accuracy)");
    const std::string command = argv[0];
    if (command != "compare" && command != "bench" && command != "accuracy")
      return kiln::usage_error("command '" + command + "' has no JSON document; use compare, bench or accuracy");
    std::vector<std::string> args = {"kiln"};
    for (int i = 0; i < argc; ++i) {
      if (!argv[i]) return kiln::usage_error("argv[" + std::to_string(i) + "] is null");
      const std::string a = argv[i];
      if (a == "--json" || a.rfind("--json=", 0) == 0)
        return kiln::usage_error("--json is chosen by kiln_command_json (the document is returned)");
      args.push_back(a);
    }
    TempFile out;
    args.push_back("--json");
    args.push_back(out.path);
    std::vector<char*> cargv;
    for (std::string& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    // One command at a time: std::cerr is process-wide.
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    int code = 0;
    std::string err;
    {
      CerrTee tee;
      code = kiln::cli::run_cli(static_cast<int>(args.size()), cargv.data());
      std::cerr.flush();
      err = tee.tee.text();
    }
    std::cout.flush();
    std::ifstream f(out.path, std::ios::binary);
    if (f) {
      std::stringstream text;
      text << f.rdbuf();
      *json = dup_string(text.str());
    }
    if (code == 0) return kiln::Status::Ok();
    const int c = code >= 1 && code <= 5 ? code : 5;
    return kiln::Status(static_cast<kiln::StatusCode>(c), error_message(err, command, code));
  });
}
