// `kiln ops`: the op registry as a table (text, or the README's markdown table).
#include <cstdio>
#include <iostream>

#include "cpu/kernel_registry.h"
#include "ops/registry.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct OpsArgs {
  bool markdown = false;
};

int run_ops(const OpsArgs& args) {
  const auto defs = OpRegistry::instance().all();
  auto domain_of = [](const OpDef* d) { return d->domain.empty() ? std::string("ai.onnx") : d->domain; };
  auto cpu_of = [](const OpDef* d) { return CpuKernelRegistry::instance().find(d->op_type, d->domain) != nullptr; };
  if (args.markdown) {
    std::cout << "| Op | Domain | Since opset | CPU reference | Notes |\n|---|---|---|---|---|\n";
    for (const OpDef* d : defs) {
      std::string doc = d->doc;
      for (char& c : doc)
        if (c == '|') c = '/';  // keep the table intact
      std::cout << "| " << d->op_type << " | " << domain_of(d) << " | " << d->min_opset << " | "
                << (cpu_of(d) ? "yes" : "no") << " | " << doc << " |\n";
    }
    return 0;
  }
  size_t width = 2;
  for (const OpDef* d : defs) width = std::max(width, d->op_type.size());
  std::printf("%-*s  %-8s  %5s  %-3s  %s\n", static_cast<int>(width), "op", "domain", "since", "cpu", "notes");
  for (const OpDef* d : defs)
    std::printf("%-*s  %-8s  %5d  %-3s  %s\n", static_cast<int>(width), d->op_type.c_str(), domain_of(d).c_str(),
                d->min_opset, cpu_of(d) ? "yes" : "no", d->doc.c_str());
  std::printf("%zu ops (opsets %d to %d of the default domain)\n", defs.size(), kMinSupportedOpset, kMaxSupportedOpset);
  return 0;
}

}  // namespace

KILN_SUBCOMMAND(ops, Subcommand{"ops", "List the supported ONNX ops (name, earliest opset, CPU kernel, notes)",
                                [](CLI::App& app) -> std::function<int()> {
                                  auto args = std::make_shared<OpsArgs>();
                                  app.add_flag("--markdown", args->markdown,
                                               "Print a markdown table (the README's supported-op table)");
                                  app.footer(
                                      "Examples:\n"
                                      "  kiln ops                      # aligned table\n"
                                      "  kiln ops --markdown > ops.md  # what scripts/gen_op_table.sh prints\n");
                                  return [args] { return run_ops(*args); };
                                }});

}  // namespace kiln::cli
