// kiln subcommands: each tools/kiln/<name>.cc registers one with KILN_SUBCOMMAND; main.cc wires them to CLI11.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace kiln::cli {

// `setup` adds the subcommand's flags to its CLI11 app and returns the function that runs it once the
// command line is parsed. The runner returns the process exit code (kiln::StatusCode values: 0 ok,
// 1 usage, 2 bad input, 3 unsupported, 4 accuracy check failed, 5 runtime/GPU).
struct Subcommand {
  std::string name;
  std::string help;  // one line for `kiln --help`
  std::function<std::function<int()>(CLI::App&)> setup;
};

std::vector<Subcommand>& subcommands();

struct SubcommandRegistrar {
  explicit SubcommandRegistrar(Subcommand c) { subcommands().push_back(std::move(c)); }
};

}  // namespace kiln::cli

#define KILN_SUBCOMMAND(id, ...) static ::kiln::cli::SubcommandRegistrar kiln_subcommand_##id(__VA_ARGS__)
