// `kiln compare`: runs a model on several backends with the same inputs and checks them against the first.
#include "compare/compare.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "compare/bisect.h"
#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/feeds.h"
#include "tools/kiln/image_inputs.h"

namespace kiln::cli {
namespace {
namespace fs = std::filesystem;

struct CompareArgs {
  std::string model;
  std::string backends = "cpu,ort";
  std::string inputs;              // .npz file or directory (of .npz, NAME.npy, or images)
  std::vector<std::string> input;  // NAME=FILE.npy
  std::vector<std::string> shapes;
  uint64_t seed = 0;
  int iterations = 1;
  std::optional<double> atol, rtol;
  std::vector<std::string> checks;
  int topk = 5;
  std::string json;
  bool bisect = false;
  std::string perturb_layer;  // test-only (--perturbLayerForTesting)
  int64_t batch = 8;          // images per feed set when the batch is symbolic
  ImageArgs images;
};

Expected<std::vector<BackendSpec>> parse_backends(const std::string& list) {
  std::vector<BackendSpec> specs;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    if (!item.empty()) {
      KILN_ASSIGN_OR_RETURN(BackendSpec spec, parse_backend(item));
      specs.push_back(spec);
    }
    start = comma + 1;
  }
  if (specs.size() < 2)
    return usage_error("--backends '" + list + "' needs at least two backends, the reference first (e.g. cpu,ort)");
  return specs;
}

// An image folder: one feed set per batch of images; the other inputs from --input files or random.
Status make_image_feed_sets(const CompareArgs& a, const Graph& g, std::vector<TensorMap>& sets, InputsInfo& info) {
  KILN_ASSIGN_OR_RETURN(ImageFeeds f, load_image_feeds(a.images, g, a.inputs, a.batch));
  std::vector<const Value*> rest;
  for (const Value* in : g.inputs)
    if (in != f.input) rest.push_back(in);
  info.source = f.summary;
  for (size_t i = 0; i < f.batches.size(); ++i) {
    TensorMap feeds;
    std::map<std::string, std::string> origin;
    KILN_RETURN_IF_ERROR(read_feeds(FeedSources{"", a.input, a.seed + i}, rest, feeds, origin));
    feeds[f.input->name] = std::move(f.batches[i]);
    if (i == 0)
      for (const Value* in : g.inputs) info.tensors.emplace_back(in->name, feeds.at(in->name).describe());
    sets.push_back(std::move(feeds));
  }
  return Status::Ok();
}

// The feed sets: one per .npz of a directory, one per batch of a folder of images, else --iterations sets
// (files feed what they name; the rest is random with seeds seed, seed+1, ...).
Status make_feed_sets(const CompareArgs& a, const Graph& g, std::vector<TensorMap>& sets, InputsInfo& info) {
  std::vector<std::string> npz_files;
  std::vector<std::string> npy_inputs = a.input;
  if (const std::string flags = image_flags_given(a.images); !flags.empty()) {
    std::error_code ec;
    if (a.inputs.empty() || !fs::is_directory(a.inputs, ec))
      return usage_error(flags + " apply to a folder of images given with --inputs DIR");
    return make_image_feed_sets(a, g, sets, info);
  }
  if (!a.inputs.empty()) {
    std::error_code ec;
    if (!fs::exists(a.inputs, ec)) return invalid_input(a.inputs + ": no such file or directory (--inputs)");
    if (fs::is_directory(a.inputs, ec)) {
      for (const auto& e : fs::directory_iterator(a.inputs, ec)) {
        const std::string ext = e.path().extension().string();
        if (ext == ".npz") npz_files.push_back(e.path().string());
        if (ext == ".npy") npy_inputs.push_back(e.path().stem().string() + "=" + e.path().string());
      }
      std::sort(npz_files.begin(), npz_files.end());
      if (npz_files.empty() && npy_inputs.size() == a.input.size()) {
        if (data::is_image_folder(a.inputs)) return make_image_feed_sets(a, g, sets, info);
        return invalid_input(a.inputs +
                             ": holds no .npz (one feed set each), no NAME.npy files and no images (--inputs)");
      }
      info.source = a.inputs + " (" + std::to_string(std::max<size_t>(npz_files.size(), 1)) + " feed set(s))";
    } else {
      npz_files.push_back(a.inputs);
      info.source = a.inputs;
    }
  }
  const int count = npz_files.size() > 1 ? static_cast<int>(npz_files.size()) : a.iterations;
  for (int i = 0; i < count; ++i) {
    FeedSources src{npz_files.empty() ? "" : npz_files[npz_files.size() > 1 ? i : 0], npy_inputs,
                    a.seed + static_cast<uint64_t>(i)};
    TensorMap feeds;
    std::map<std::string, std::string> origin;
    KILN_RETURN_IF_ERROR(read_feeds(src, g, feeds, origin));
    if (i == 0) {
      for (const Value* in : g.inputs) info.tensors.emplace_back(in->name, feeds.at(in->name).describe());
      bool random = false;
      for (const auto& [name, from] : origin) random |= from.rfind("random", 0) == 0;
      if (random)
        info.source += std::string(info.source.empty() ? "" : " + ") + "random (seed " + std::to_string(a.seed) +
                       (count > 1 ? ".." + std::to_string(a.seed + count - 1) : "") + ")";
    }
    sets.push_back(std::move(feeds));
  }
  return Status::Ok();
}

int run_compare_command(const CompareArgs& a) {
  auto fail_with = [](const Status& s) { return fail("compare", s); };
  if (a.iterations < 1) return fail_with(usage_error("--iterations must be at least 1"));
  if (a.topk < 1) return fail_with(usage_error("--topk must be at least 1"));
  auto specs = parse_backends(a.backends);
  if (!specs.ok()) return fail_with(specs.status());
  if (!a.perturb_layer.empty()) {
    bool any_cuda = false;
    for (BackendSpec& s : *specs)
      if (s.kind == "cuda") {
        s.perturb_layer = a.perturb_layer;
        any_cuda = true;
      }
    if (!any_cuda) return fail_with(usage_error("--perturbLayerForTesting applies to cuda backends; none is listed"));
  }
  auto checks = parse_checks(a.checks);
  if (!checks.ok()) return fail_with(checks.status());
  auto overrides = parse_shape_overrides(a.shapes);
  if (!overrides.ok()) return fail_with(overrides.status());

  const auto shapes = *overrides;
  GraphLoader loader = [shapes](const std::string& path) -> Expected<std::unique_ptr<Graph>> {
    KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(path));
    KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, shapes));
    return graph;
  };
  auto graph = loader(a.model);
  if (!graph.ok()) return fail_with(graph.status());
  std::vector<TensorMap> sets;
  InputsInfo info;
  if (Status s = make_feed_sets(a, **graph, sets, info); !s.ok()) return fail_with(s);
  std::vector<std::string> output_names;
  for (const Value* v : (*graph)->outputs) output_names.push_back(v->name);

  CompareOptions o;
  o.model = a.model;
  o.backends = *specs;
  o.atol = a.atol;
  o.rtol = a.rtol;
  o.topk = a.topk;
  o.checks = *checks;
  o.load_graph = loader;
  o.progress = [](const std::string& line) { std::cerr << "kiln compare: " << line << std::endl; };
  auto report = run_compare(o, sets, output_names, info);
  if (!report.ok()) return fail_with(report.status());
  std::cout << compare_table(*report);
  nlohmann::json doc = compare_json(*report);
  if (a.bisect) {
    auto b = run_bisect(o, sets.front(), output_names);
    if (!b.ok()) return fail_with(b.status());
    std::cout << bisect_text(*b);
    doc["bisect"] = bisect_json(*b);
  }
  if (!a.json.empty()) {
    const std::string text = doc.dump(2) + "\n";
    std::ofstream f(a.json, std::ios::binary);
    if (!(f << text)) return fail_with(invalid_input(a.json + ": cannot write the JSON report"));
  }
  if (report->passed) return 0;
  std::string first;
  for (const auto& p : report->pairs)
    for (const auto& oc : p.outputs)
      if (!oc.metrics.passed && first.empty())
        first = p.backend + " vs " + p.reference + ", output '" + oc.name + "': " + oc.metrics.reason;
  return fail_with(accuracy_error("outputs differ beyond the tolerance (first: " + first + ")"));
}

}  // namespace

KILN_SUBCOMMAND(
    compare,
    Subcommand{
        "compare", "Run a model on several backends with the same inputs and check them against the first",
        [](CLI::App& app) -> std::function<int()> {
          auto a = std::make_shared<CompareArgs>();
          app.add_option("MODEL", a->model, "The .onnx model file")->required();
          app.add_option("--backends", a->backends,
                         "Comma-separated backends, the reference first: " + known_backends_text() +
                             "; BACKEND@OTHER.onnx runs another model with the same I/O")
              ->capture_default_str();
          app.add_option("--inputs", a->inputs,
                         "An .npz of inputs, or a directory of .npz files (one feed set each) or NAME.npy files, or "
                         "of images (.png .jpg .jpeg .bmp .ppm, sorted by name; one feed set per batch; see the "
                         "image flags below)");
          app.add_option("--input", a->input, "Feed one input from a .npy file: NAME=FILE.npy (repeatable)");
          app.add_option("--shapes", a->shapes, "Concrete shapes for inputs with symbolic dims: NAME:DIMS[,...]");
          app.add_option("--seed", a->seed, "Seed of the random inputs (feed set i uses seed+i)")
              ->capture_default_str();
          app.add_option("--iterations", a->iterations, "How many random feed sets")->capture_default_str();
          app.add_option("--batch", a->batch, "Images per feed set when the image input's batch is symbolic")
              ->capture_default_str();
          add_image_options(app, a->images);
          app.add_option("--atol", a->atol,
                         "Absolute tolerance (default by precision: fp32 1e-4, tf32 1e-2, "
                         "fp16 5e-2, bf16 1e-1)");
          app.add_option("--rtol", a->rtol, "Relative tolerance (default: fp32 1e-3, tf32 1e-2, fp16 2e-2, bf16 5e-2)");
          app.add_option(
              "--check", a->checks, "Extra thresholds METRIC:VALUE, metrics " + [] {
                std::string s;
                for (const auto& n : check_metric_names()) s += (s.empty() ? "" : ", ") + n;
                return s;
              }() + " (repeatable)");
          app.add_option("--topk", a->topk, "k of the top-k agreement of [N, classes] outputs")->capture_default_str();
          app.add_flag("--bisect", a->bisect,
                       "Also compare every intermediate value of the first feed set (reference: cpu) and name the "
                       "first layer that leaves the tolerance");
          app.add_option("--json", a->json, "Write the report as JSON (schema kiln.compare/1, docs/COMPARE_JSON.md)");
          // Test-only, not in --help: makes one layer of every cuda engine wrong (0.5 - y) so that the verdict
          // and --bisect can be checked against a known culprit.
          app.add_option("--perturbLayerForTesting", a->perturb_layer)->group("");
          app.footer(
              "An element passes when |value - ref| <= atol + rtol * |ref| (numpy.allclose, NaN equal to NaN).\n"
              "Exit codes: 0 all outputs pass, 4 some differ, 2 bad input (files, shapes, unknown backend),\n"
              "3 unsupported, 5 a backend is unavailable here (no ORT runner, no CUDA) or failed.\n"
              "Examples:\n"
              "  kiln compare model.onnx --backends cpu,ort\n"
              "  kiln compare resnet18.onnx --backends cpu,cuda:fp32,cuda:fp16 --iterations 4 --check cosine:0.999\n"
              "  kiln compare model.onnx --backends ort,cpu:opt --inputs data.npz --json report.json\n"
              "  kiln compare model.onnx --backends cpu,cpu@pruned.onnx --check top1:0.99\n"
              "  kiln compare model.onnx --backends cpu,cuda:fp16 --bisect\n"
              "  kiln compare resnet50.onnx --backends cpu,cuda:fp16 --inputs photos/ --resize 256 --crop 224 \\\n"
              "      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n");
          return [a] { return run_compare_command(*a); };
        }});

}  // namespace kiln::cli
