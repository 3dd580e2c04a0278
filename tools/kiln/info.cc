// `kiln info`: what a model is (opset, I/O, op histogram, parameters, MACs/FLOPs, unsupported ops), or what a
// plan holds (recognised by its magic; see plan_info.cc).
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "compare/staged_backend.h"
#include "cpu/kernel_registry.h"
#include "engine/plan.h"
#include "onnx/importer.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/plan_info.h"

namespace kiln::cli {
namespace {
// Weights as PyTorch counts them (sum of parameters().numel()): BatchNormalization running mean/var are
// buffers, not parameters; and exporters deduplicate equal tensors (e.g. freshly initialised BatchNorm
// weights) into one initializer read through Identity nodes, which PyTorch still counts per layer.
int64_t count_trainable_parameters(const Graph& g) {
  std::map<const Value*, const Value*> source;  // weight value (initializer or Identity alias) -> initializer
  for (const Value* init : g.initializers)
    if (init->constant) source[init] = init;
  for (const auto& n : g.nodes()) {  // topological order: alias chains resolve in one sweep
    if (n->op_type != "Identity" || !n->domain.empty() || !n->input(0) || !n->output(0)) continue;
    auto it = source.find(n->input(0));
    if (it != source.end()) source[n->output(0)] = it->second;
  }
  // A weight value is a parameter when some node reads it other than as BatchNorm mean/var (an exporter
  // may merge an equal BN bias and running mean into one initializer: it is still a parameter).
  std::set<const Value*> parameters;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "Identity" && n->domain.empty()) continue;
    const bool bn = n->op_type == "BatchNormalization" && n->domain.empty();
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const Value* in = n->inputs[i];
      if (in && source.count(in) && !(bn && (i == 3 || i == 4))) parameters.insert(in);
    }
  }
  int64_t total = 0;
  for (const Value* v : parameters) total += source.at(v)->constant->numel();
  return total;
}

struct InfoArgs {
  std::string model;
  bool json = false;
  std::vector<std::string> shapes;
  bool passes = false;
};

nlohmann::json shape_json(const SymShape& s) {
  if (!s.rank_known) return nullptr;
  nlohmann::json j = nlohmann::json::array();
  for (const Dim& d : s.dims) {
    if (d.known())
      j.push_back(d.value);
    else if (d.is_symbol())
      j.push_back(d.symbol);
    else
      j.push_back(nullptr);
  }
  return j;
}

nlohmann::json values_json(const std::vector<Value*>& values) {
  nlohmann::json j = nlohmann::json::array();
  for (const Value* v : values)
    j.push_back({{"name", v->name}, {"dtype", dtype_name(v->dtype)}, {"shape", shape_json(v->shape)}});
  return j;
}

// MACs over nodes whose op has a MACs rule; fails (with the reason) while any of them has a non-static shape.
Expected<int64_t> count_macs(const Graph& g) {
  int64_t total = 0;
  for (const auto& n : g.nodes()) {
    const OpDef* def = OpRegistry::instance().find(n->op_type, n->domain);
    if (!def || !def->macs) continue;
    for (const std::vector<Value*>* list : {&n->inputs, &n->outputs})
      for (const Value* v : *list)
        if (v && !v->shape.is_static())
          return invalid_input(n->describe() + " has non-static shape " + v->shape.to_string() + " for '" + v->name +
                               "'");
    total += def->macs(*n);
  }
  return total;
}

std::string symbolic_inputs_note(const Graph& g) {
  Status s = require_static_inputs(g, "");
  return s.ok() ? "" : s.message();
}

int run_info(const InfoArgs& args) {
  const std::string cmd = "info";
  if (is_plan_file(args.model)) {
    if (args.passes || !args.shapes.empty())
      return fail(cmd, usage_error(args.model + " is a kiln plan: --passes and --shapes apply to ONNX models only"));
    return run_plan_info(args.model, args.json);
  }
  ImportOptions opts;
  opts.require_supported_ops = false;
  auto loaded = load_onnx(args.model, opts);
  if (!loaded.ok()) return fail(cmd, loaded.status());
  Graph& g = **loaded;
  auto overrides = parse_shape_overrides(args.shapes);
  if (!overrides.ok()) return fail(cmd, overrides.status());

  nlohmann::json j;
  j["schema"] = "kiln.info/1";
  j["model"] = args.model;
  j["ir_version"] = g.ir_version;
  j["producer"] = {{"name", g.producer_name}, {"version", g.producer_version}};
  j["opset"] = g.opset("");
  j["opset_imports"] = nlohmann::json::object();
  for (const auto& [domain, version] : g.opset_imports)
    j["opset_imports"][domain.empty() ? "ai.onnx" : domain] = version;
  j["inputs"] = values_json(g.inputs);
  j["outputs"] = values_json(g.outputs);

  std::map<std::string, int64_t> histogram, sub_histogram;
  std::map<std::string, std::pair<int64_t, std::string>> unsupported_ops;  // op -> (count, reason)
  std::set<std::string> no_cpu_kernel;
  // Counts a node in `counts` and records whether kiln imports it and has a CPU kernel; `where` prefixes the
  // reason for nodes inside a subgraph.
  auto tally = [&](const Node& n, std::map<std::string, int64_t>& counts, const std::string& where) {
    const std::string op = n.domain.empty() ? n.op_type : n.domain + "." + n.op_type;
    counts[op]++;
    auto def = lookup_op(n);
    if (!def.ok()) {
      auto& u = unsupported_ops[op];
      if (u.first++ == 0) u.second = where + def.status().message();
    } else if (!CpuKernelRegistry::instance().find(n.op_type, n.domain)) {
      no_cpu_kernel.insert(op);
    }
  };
  for (const auto& n : g.nodes()) tally(*n, histogram, "");
  j["nodes"] = g.nodes().size();
  j["op_histogram"] = histogram;
  // Ops inside subgraph bodies (If branches, at any depth) run too: counted apart, checked the same way.
  std::function<void(const Graph&)> walk = [&](const Graph& graph) {
    for (const auto& n : graph.nodes())
      for (const auto& [key, a] : n->attrs) {
        if (a.type != AttrType::kGraph || !a.g) continue;
        for (const auto& inner : a.g->nodes()) tally(*inner, sub_histogram, n->describe() + " " + key + ": ");
        walk(*a.g);
      }
  };
  walk(g);
  j["subgraph_op_histogram"] = sub_histogram;

  int64_t param_count = 0, param_bytes = 0;
  for (const Value* init : g.initializers) {
    if (!init->constant) continue;
    param_count += init->constant->numel();
    param_bytes += static_cast<int64_t>(init->constant->nbytes());
  }
  const int64_t trainable = count_trainable_parameters(g);
  j["parameters"] = {{"count", param_count},
                     {"bytes", param_bytes},
                     {"initializers", g.initializers.size()},
                     {"trainable", trainable},
                     {"note",
                      "count = elements of all initializers (weights, biases, BatchNorm statistics, constants); "
                      "trainable = PyTorch's parameters() count: BatchNormalization mean/var left out, and a "
                      "tensor the exporter shared between layers through Identity nodes counted once per layer"}};

  // Compute: needs static shapes, from the model or --shapes.
  nlohmann::json compute = {{"macs", nullptr}, {"flops", nullptr}};
  std::string compute_note;
  if (!overrides->empty()) {
    nlohmann::json given = nlohmann::json::object();
    for (const auto& [name, shape] : *overrides) given[name] = shape;
    compute["input_shapes"] = given;
    Status s = apply_input_shapes(g, *overrides, /*skip_unsupported=*/true);
    if (!s.ok()) {
      if (s.code() != StatusCode::kUnsupported) return fail(cmd, s);
      compute_note = "shape inference stopped: " + s.message();
    }
  }
  if (compute_note.empty()) compute_note = symbolic_inputs_note(g);
  if (compute_note.empty()) {
    auto macs = count_macs(g);
    if (macs.ok()) {
      compute["macs"] = *macs;
      compute["flops"] = 2 * *macs;
    } else {
      compute_note = macs.status().message();
    }
  }
  compute["note"] =
      compute_note.empty() ? "MACs of Conv/ConvTranspose/Gemm/MatMul-like ops; FLOPs = 2 x MACs" : compute_note;
  j["compute"] = compute;

  nlohmann::json unsup = nlohmann::json::array();
  for (const auto& [op, u] : unsupported_ops) unsup.push_back({{"op", op}, {"count", u.first}, {"reason", u.second}});
  j["unsupported_ops"] = unsup;
  j["ops_without_cpu_kernel"] = no_cpu_kernel;

  // --passes: the standard optimization pipeline's effect on the op histogram, on a second copy of the
  // model so everything above describes the model as written (the optimized graph is not saved).
  std::map<std::string, int> optimized;
  if (args.passes) {
    auto copy = load_onnx(args.model, opts);
    if (!copy.ok()) return fail(cmd, copy.status());
    Status s = overrides->empty() ? Status::Ok() : apply_input_shapes(**copy, *overrides, false);
    auto reports = s.ok() ? optimize_graph(**copy) : Expected<std::vector<PassReport>>(s);
    if (!reports.ok()) return fail(cmd, Status(reports.status().code(), "--passes: " + reports.status().message()));
    optimized = op_histogram(**copy);
    nlohmann::json pj = {{"before", histogram}, {"after", optimized}, {"nodes_after", (*copy)->nodes().size()}};
    pj["changes"] = nlohmann::json::array();
    for (const PassReport& r : *reports) pj["changes"].push_back({{"pass", r.pass}, {"changes", r.changes}});
    // Sizes only a run tells (a detector's NonZero, NMS rows read by later ops): where the model splits into
    // stages for the CUDA backends. Needs every input shape known (the model's, or --shapes).
    pj["data_dependent_from"] = nullptr;
    bool fixed = true;
    for (const Value* v : (*copy)->inputs) fixed = fixed && v->shape.is_static();
    if (fixed) {
      auto from = first_data_dependent_node(**copy);
      if (!from.ok()) return fail(cmd, from.status());
      if (!from->empty()) pj["data_dependent_from"] = *from;
    }
    // A Q/DQ model: which convs the CUDA engine runs as INT8 kernels (kiln.QConv), and how many of those
    // write int8 for the next one.
    pj["int8_convs"] = nullptr;
    if (histogram.count("DequantizeLinear")) {
      auto int8 = load_onnx(args.model, opts);
      if (!int8.ok()) return fail(cmd, int8.status());
      Status si = overrides->empty() ? Status::Ok() : apply_input_shapes(**int8, *overrides, false);
      if (si.ok()) si = optimize_graph(**int8, cuda_engine_optimize_options(true)).status();
      if (!si.ok()) return fail(cmd, Status(si.code(), "--passes (INT8 kernels): " + si.message()));
      int convs = 0, qconvs = 0, int8_out = 0;
      for (const auto& n : (*int8)->nodes()) {
        const bool q = n->op_type == "QConv" && n->domain == "kiln";
        qconvs += q ? 1 : 0;
        int8_out += q && n->input(6) ? 1 : 0;
        convs += q || n->op_type == "Conv" || n->op_type == "FusedConv" ? 1 : 0;
      }
      pj["int8_convs"] = {{"convs", convs}, {"int8_kernels", qconvs}, {"int8_outputs", int8_out}};
    }
    j["passes"] = pj;
  }

  if (args.json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  // Printed from the JSON so the declared shapes show, not the ones --shapes fixed.
  auto print_values = [](const char* title, const nlohmann::json& values) {
    std::cout << title << "\n";
    size_t w = 4;
    for (const auto& v : values) w = std::max(w, v["name"].get<std::string>().size());
    for (const auto& v : values) {
      std::string shape = "<unknown rank>";
      if (!v["shape"].is_null()) {
        shape = "[";
        for (const auto& d : v["shape"])
          shape += (shape.size() > 1 ? "," : "") + (d.is_null()     ? "?"
                                                    : d.is_string() ? d.get<std::string>()
                                                                    : d.dump());
        shape += "]";
      }
      std::printf("  %-*s  %-8s  %s\n", static_cast<int>(w), v["name"].get<std::string>().c_str(),
                  v["dtype"].get<std::string>().c_str(), shape.c_str());
    }
  };
  std::cout << "model       " << args.model << "\n";
  std::cout << "producer    " << (g.producer_name.empty() ? "(none)" : g.producer_name + " " + g.producer_version)
            << "\n";
  std::cout << "ir_version  " << g.ir_version << "\nopset       ";
  bool first = true;
  for (const auto& [domain, version] : g.opset_imports) {
    std::cout << (first ? "" : ", ") << (domain.empty() ? "ai.onnx" : domain) << " " << version;
    first = false;
  }
  std::cout << "\n";
  print_values("inputs", j["inputs"]);
  print_values("outputs", j["outputs"]);
  std::cout << "ops         " << g.nodes().size() << " nodes, " << histogram.size() << " op types\n";
  for (const auto& [op, count] : histogram)
    std::printf("  %-24s %6lld%s\n", op.c_str(), static_cast<long long>(count),
                unsupported_ops.count(op) ? "  UNSUPPORTED" : (no_cpu_kernel.count(op) ? "  (no CPU kernel)" : ""));
  if (!sub_histogram.empty()) {
    int64_t sub_nodes = 0;
    for (const auto& [op, count] : sub_histogram) sub_nodes += count;
    std::cout << "subgraphs   " << sub_nodes << " nodes inside If branches, " << sub_histogram.size() << " op types\n";
    for (const auto& [op, count] : sub_histogram)
      std::printf("  %-24s %6lld%s\n", op.c_str(), static_cast<long long>(count),
                  unsupported_ops.count(op) ? "  UNSUPPORTED" : (no_cpu_kernel.count(op) ? "  (no CPU kernel)" : ""));
  }
  std::cout << "parameters  " << group_thousands(trainable)
            << " trainable (PyTorch's count: BatchNorm mean/var left out, exporter-shared tensors counted per use); "
            << group_thousands(param_count) << " elements in " << g.initializers.size() << " initializers, "
            << si_units(static_cast<double>(param_bytes)) << "B\n";
  if (!compute["macs"].is_null()) {
    const int64_t macs = compute["macs"];
    std::cout << "compute     " << si_units(static_cast<double>(macs)) << "MACs, " << si_units(2.0 * macs) << "FLOPs ("
              << group_thousands(macs) << " MACs";
    if (!overrides->empty()) {
      std::cout << " at";
      for (const auto& [name, shape] : *overrides) std::cout << " " << name << ":" << shape_to_string(shape);
    }
    std::cout << ")\n";
  } else {
    std::cout << "compute     unknown: " << compute_note << "\n";
  }
  if (args.passes) {
    std::cout << "passes      " << j["nodes"].get<size_t>() << " -> " << j["passes"]["nodes_after"].get<size_t>()
              << " nodes after the standard pipeline\n";
    std::set<std::string> ops;
    for (const auto& kv : histogram) ops.insert(kv.first);
    for (const auto& kv : optimized) ops.insert(kv.first);
    if (!j["passes"]["data_dependent_from"].is_null())
      std::cout << "sizes       known only at run time from " << j["passes"]["data_dependent_from"].get<std::string>()
                << " on: --backend cuda and the cuda:* backends run the model in stages (one engine per stage and "
                   "shape set)\n";
    if (!j["passes"]["int8_convs"].is_null()) {
      const auto& q = j["passes"]["int8_convs"];
      std::cout << "int8        " << q["int8_kernels"].get<int>() << " of " << q["convs"].get<int>()
                << " convs run as INT8 kernels on the CUDA engine (" << q["int8_outputs"].get<int>()
                << " of them write int8 for the next); INT8 kernels take symmetric int8 (zero point 0), group 1 and "
                   "channels that are multiples of 4, everything else runs as simulated quantization "
                   "(docs/QUANTIZATION.md)\n";
    }
    std::printf("  %-24s %6s %6s\n", "op", "before", "after");
    for (const std::string& op : ops)
      std::printf("  %-24s %6lld %6d\n", op.c_str(), static_cast<long long>(histogram.count(op) ? histogram[op] : 0),
                  optimized.count(op) ? optimized[op] : 0);
  }
  if (unsupported_ops.empty()) {
    std::cout << "unsupported none\n";
  } else {
    std::cout << "unsupported " << unsupported_ops.size() << " op type(s):\n";
    for (const auto& [op, u] : unsupported_ops)
      std::cout << "  " << op << " (" << u.first << " node" << (u.first == 1 ? "" : "s") << "): " << u.second << "\n";
  }
  return 0;
}

}  // namespace

KILN_SUBCOMMAND(
    info,
    Subcommand{"info", "Describe a model (opset, inputs/outputs, ops, parameters, MACs/FLOPs) or a plan",
               [](CLI::App& app) -> std::function<int()> {
                 auto args = std::make_shared<InfoArgs>();
                 app.add_option("MODEL", args->model, "The .onnx model file, or a plan from kiln build")->required();
                 app.add_flag("--json", args->json, "Print a JSON document (schema kiln.info/1) instead of text");
                 app.add_flag("--passes", args->passes,
                              "Also run the standard optimization passes and show the op "
                              "histogram before and after");
                 app.add_option("--shapes", args->shapes,
                                "Input shapes for MACs/FLOPs, NAME:DIMS[,NAME:DIMS...], "
                                "e.g. input:1x3x224x224 (needed when inputs have symbolic dims)");
                 app.footer(
                     "Examples:\n"
                     "  kiln info resnet50.onnx\n"
                     "  kiln info resnet50.onnx --shapes input:1x3x224x224\n"
                     "  kiln info model.onnx --shapes a:1x3x32x32,b:1x10 --json > info.json\n"
                     "  kiln info resnet50.plan          # a plan: GPU, versions, layers, tactics\n");
                 return [args] { return run_info(*args); };
               }});

}  // namespace kiln::cli
