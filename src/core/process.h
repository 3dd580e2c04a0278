// Child processes (peers, reference runners, sweep children): one way to start a program by PATH lookup
// without a shell, wait for it, and collect what it printed.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

enum class StderrMode {
  kInherit,  // the child writes to our stderr; nothing is kept
  kCapture,  // all of it is kept in ProcessOutput::err, none shown
  kTee,      // shown on our stderr as it comes, and its last few KiB kept in ProcessOutput::err
};

struct ProcessOutput {
  int code = -1;    // exit status; -N when killed by signal N
  std::string out;  // stdout, when captured
  std::string err;  // stderr, when captured or teed (see StderrMode)
};

// Runs argv (argv[0] looked up on PATH), waits for it and returns its exit status and output. stdout is
// captured when `capture_stdout`, else inherited. kUnsupported naming argv[0] when it cannot be started;
// kRuntime when the temporary files or pipe for the output cannot be made.
Expected<ProcessOutput> run_process(const std::vector<std::string>& argv, bool capture_stdout, StderrMode err);

}  // namespace kiln
