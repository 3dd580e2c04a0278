// The kiln command line as a function, shared by the kiln executable and the C ABI's kiln_command_json.
#pragma once

namespace kiln::cli {

// Parses argv (argv[0] is the program name) and runs the chosen subcommand; returns the exit code (a
// kiln::StatusCode value). Errors go to std::cerr as "kiln <command>: error: <message>". Never throws.
int run_cli(int argc, char** argv);

}  // namespace kiln::cli
