// The kiln CLI as a function: builds the CLI11 app from the registered subcommands, dispatches, maps exit codes.
// main.cc calls it; libkiln.so's kiln_command_json runs subcommands through it in process.
#include "tools/kiln/app.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "kiln/version.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {

std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> all;
  return all;
}

namespace {

// The subcommand named on the command line (for error prefixes), or "" when none is.
std::string named_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const auto& c : subcommands())
      if (c.name == argv[i]) return c.name;
  return "";
}

std::string command_names() {
  std::string names;
  for (const auto& c : subcommands()) names += (names.empty() ? "" : ", ") + c.name;
  return names;
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::sort(subcommands().begin(), subcommands().end(),
            [](const Subcommand& a, const Subcommand& b) { return a.name < b.name; });
  CLI::App app{"kiln: imports ONNX models, runs them on a CPU reference (the oracle), checks conformance.\n"};
  app.name("kiln");
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION + " (" + KILN_GIT_SHA + ")",
                       "Print the version and git commit, then exit");
  app.require_subcommand(0, 1);
  app.footer(
      "Exit codes: 0 ok, 1 usage error, 2 bad input (model, data or file), 3 unsupported (op, dtype, attribute),\n"
      "4 accuracy check failed, 5 runtime error.\n"
      "Run 'kiln COMMAND --help' for a command's flags and examples; docs/CLI.md has them all.");

  std::map<const CLI::App*, std::function<int()>> runners;
  for (const auto& c : subcommands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners[sub] = c.setup(*sub);
  }

  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const auto& c : subcommands()) known |= c.name == argv[1];
    if (!known)
      return fail("", usage_error("unknown command '" + std::string(argv[1]) + "' (commands: " + command_names() +
                                  "; see kiln --help)"));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string cmd = named_command(argc, argv);
    return fail(cmd, usage_error(std::string(e.what()) + " (see kiln " + (cmd.empty() ? "" : cmd + " ") + "--help)"));
  }
  const auto chosen = app.get_subcommands();
  if (chosen.empty()) {
    std::cerr << app.help();
    return fail("", usage_error("no command given (commands: " + command_names() + ")"));
  }
  const std::string cmd = chosen.front()->get_name();
  try {
    return runners.at(chosen.front())();
  } catch (const std::bad_alloc&) {
    return fail(cmd, runtime_error("out of host memory"));
  } catch (const std::exception& e) {
    return fail(cmd, runtime_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace kiln::cli
