// run_process: posix_spawnp with stdout/stderr redirected to temporary files (captured) or a pipe (teed).
// Only the teed stderr is read while the child runs, so no pipe can fill up and block it.
#include "core/process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/npy.h"  // read_file_bytes

extern char** environ;

namespace kiln {
namespace {

constexpr size_t kTeeKeep = 8192;  // bytes of a teed stderr kept

// A temporary file, made only when `wanted`, and unlinked when the object goes.
struct TempFile {
  char path[32] = "/tmp/kiln_proc_XXXXXX";
  int fd = -1;
  explicit TempFile(bool wanted) {
    if (wanted) fd = mkstemp(path);
  }
  ~TempFile() {
    if (fd >= 0) close(fd);
    if (fd >= 0) unlink(path);
  }
  std::string contents() const {
    auto bytes = read_file_bytes(path);
    return bytes.ok() ? *bytes : std::string();
  }
};

}  // namespace

Expected<ProcessOutput> run_process(const std::vector<std::string>& argv, bool capture_stdout, StderrMode err_mode) {
  if (argv.empty()) return invalid_input("run_process: no program given");
  TempFile out_file(capture_stdout), err_file(err_mode == StderrMode::kCapture);
  if ((capture_stdout && out_file.fd < 0) || (err_mode == StderrMode::kCapture && err_file.fd < 0))
    return runtime_error("cannot create temporary files in /tmp to collect the output of " + argv[0]);
  int fds[2] = {-1, -1};
  if (err_mode == StderrMode::kTee && pipe(fds) != 0)
    return runtime_error("pipe() failed before starting " + argv[0] + ": " + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (capture_stdout) posix_spawn_file_actions_adddup2(&actions, out_file.fd, STDOUT_FILENO);
  if (err_mode == StderrMode::kCapture) posix_spawn_file_actions_adddup2(&actions, err_file.fd, STDERR_FILENO);
  if (err_mode == StderrMode::kTee) {
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (fds[1] >= 0) close(fds[1]);
  if (rc != 0) {
    if (fds[0] >= 0) close(fds[0]);
    return unsupported("cannot run " + argv[0] + ": " + std::strerror(rc) + " (is it installed and on PATH?)");
  }
  ProcessOutput result;
  if (err_mode == StderrMode::kTee) {
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      (void)!write(STDERR_FILENO, buf, static_cast<size_t>(n));
      result.err.append(buf, static_cast<size_t>(n));
      if (result.err.size() > 2 * kTeeKeep) result.err.erase(0, result.err.size() - kTeeKeep);
    }
    close(fds[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return runtime_error("waitpid failed for " + argv[0] + ": " + std::strerror(errno));
  }
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
  if (capture_stdout) result.out = out_file.contents();
  if (err_mode == StderrMode::kCapture) result.err = err_file.contents();
  return result;
}

}  // namespace kiln
