// `kiln zoo`: lists the built-in models, or writes one as ONNX with seeded weights (models/zoo.h).
#include "models/zoo.h"

#include <cstdio>
#include <memory>
#include <string>

#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct ZooArgs {
  std::string model;
  std::string output;
  std::string batch = "1";
  int64_t height = 0;
  int64_t width = 0;
  int64_t classes = 0;
  uint64_t seed = 0;
  int opset = 17;
  double width_mult = 1.0;
  std::string prune;
  bool nms = false;
  bool list = false;
  bool names = false;
  bool layers = false;
};

int report(const Status& s) { return fail("zoo", s); }

Expected<models::ZooOptions> to_options(const ZooArgs& a) {
  models::ZooOptions o;
  KILN_ASSIGN_OR_RETURN(o.batch, models::parse_batch(a.batch));
  if (!a.prune.empty()) {
    KILN_ASSIGN_OR_RETURN(o.prune, models::parse_prune_spec(a.prune));
  }
  o.height = a.height;
  o.width = a.width;
  if (a.height < 0 || a.width < 0 || a.classes < 0)
    return usage_error("--height, --width and --classes must be positive");
  o.classes = a.classes;
  o.seed = a.seed;
  o.opset = a.opset;
  o.width_mult = a.width_mult;
  o.nms = a.nms;
  return o;
}

int run_zoo(const ZooArgs& a) {
  if (a.names) {
    for (const models::ZooModel& m : models::zoo_models()) std::printf("%s\n", m.name.c_str());
    return 0;
  }
  if (a.list) {
    auto text = models::zoo_list_text();
    if (!text.ok()) return report(text.status());
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  if (a.model.empty()) return report(usage_error("give a model name (see `kiln zoo --list`) or --list"));
  auto opts = to_options(a);
  if (!opts.ok()) return report(opts.status());
  if (a.layers) {
    auto stats = models::zoo_model_stats(a.model, *opts);
    if (!stats.ok()) return report(stats.status());
    for (const std::string& l : stats->prunable_layers) std::printf("%s\n", l.c_str());
    return 0;
  }
  if (a.output.empty()) return report(usage_error("-o MODEL.onnx is required"));
  auto graph = models::build_zoo_model(a.model, *opts);
  if (!graph.ok()) return report(graph.status());
  auto stats = models::zoo_model_stats(a.model, *opts);
  if (!stats.ok()) return report(stats.status());
  Status w = write_onnx(**graph, a.output);
  if (!w.ok()) return report(w);
  std::printf("wrote %s: %s, input %s, %s parameters (+%s BN running stats), %.3f GMACs per sample, opset %d\n",
              a.output.c_str(), a.model.c_str(), (*graph)->inputs[0]->shape.to_string().c_str(),
              models::thousands(stats->params).c_str(), models::thousands(stats->buffers).c_str(),
              static_cast<double>(stats->macs) / 1e9, opts->opset);
  return 0;
}

std::function<int()> setup_zoo(CLI::App& app) {
  auto a = std::make_shared<ZooArgs>();
  app.add_option("model", a->model, "model name (kiln zoo --list shows them)");
  app.add_option("-o,--output", a->output, "ONNX file to write");
  app.add_flag("--list", a->list, "list the models with parameters and MACs at their default input");
  app.add_flag("--names", a->names, "print just the model names, one per line");
  app.add_flag("--layers", a->layers, "print the model's conv layers that --prune accepts");
  app.add_option("--batch", a->batch, "batch size, or 'dynamic' for a symbolic batch dim (default 1)");
  app.add_option("--height", a->height, "input height (default: the model's, e.g. 224)");
  app.add_option("--width", a->width, "input width (default: the model's)");
  app.add_option("--classes", a->classes, "number of classes (default 1000; ssd_lite 21 with background)");
  app.add_option("--seed", a->seed, "weight seed (default 0)");
  app.add_option("--opset", a->opset, "ONNX opset to write, 13..21 (default 17)");
  app.add_option("--width-mult", a->width_mult, "channel multiplier 0.25..1.0 (torchvision rounding)");
  app.add_option("--prune", a->prune, "layer=fraction,...: remove that share of a layer's output channels");
  app.add_flag("--nms", a->nms, "ssd_lite: append NonMaxSuppression (output selected_indices)");
  return [a] { return run_zoo(*a); };
}

}  // namespace
}  // namespace kiln::cli

KILN_SUBCOMMAND(zoo, {"zoo", "write a built-in model (resnet, mobilenet, ...) as ONNX, or --list them",
                      ::kiln::cli::setup_zoo});
