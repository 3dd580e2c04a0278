// `kiln accuracy`: a classifier's dataset metrics per backend, side by side (top-1/top-k, confusion matrix,
// per-class precision/recall/F1, macro/micro averages, one-vs-rest ROC-AUC), from an .npz or an image folder;
// with --task detection, COCO detection metrics (tools/kiln/accuracy_detection.cc).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compare/backends.h"
#include "compare/classification.h"
#include "compare/metrics.h"
#include "core/npy.h"
#include "kiln/version.h"
#include "onnx/importer.h"
#include "tools/kiln/accuracy_detection.h"
#include "tools/kiln/backend_list.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/image_inputs.h"

namespace kiln::cli {
namespace {

struct AccuracyArgs {
  std::string model, dataset, labels, output, json;
  std::string backends = "cpu";
  std::vector<std::string> shapes;
  int topk = 5;
  int batch = 8;
  ImageArgs images;
  std::string task = "classification";
  DetectionAccuracyArgs detection;
};

// The dataset as feed sets, with what the report says about it.
struct Dataset {
  std::vector<TensorMap> sets;
  int64_t samples = 0;
  std::vector<int64_t> folder_labels;  // class-folder layout: each image's class index
  std::vector<std::string> classes;    // class-folder names, sorted
  std::string preprocess;              // image folders: the preprocessing applied
};

Expected<std::vector<int64_t>> read_labels(const std::string& path) {
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
    KILN_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
    if (dtype_is_float(t.dtype()) || t.rank() != 1)
      return invalid_input(path + ": labels must be a 1-D integer array, it is " + t.describe());
    return t.to_int64_vector();
  }
  std::ifstream f(path);
  if (!f) return invalid_input(path + ": cannot open the labels file");
  std::vector<int64_t> labels;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream ss(line);
    int64_t v = 0;
    std::string rest;
    if (!(ss >> v) || (ss >> rest))
      return invalid_input(path + " line " + std::to_string(n) + ": '" + line + "' is not one integer label");
    labels.push_back(v);
  }
  return labels;
}

// Rows [begin, end) of a tensor along dim 0.
Expected<Tensor> slice_rows(const Tensor& t, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  const size_t row = t.nbytes() / static_cast<size_t>(shape[0]);
  shape[0] = end - begin;
  return Tensor::from_bytes(t.dtype(), shape, static_cast<const uint8_t*>(t.raw()) + row * static_cast<size_t>(begin),
                            row * static_cast<size_t>(end - begin));
}

// Splits the dataset into feed sets the model accepts: its fixed batch, else --batch samples.
Expected<std::vector<TensorMap>> make_batches(const AccuracyArgs& a, const Graph& g, int64_t& samples) {
  if (const std::string flags = image_flags_given(a.images); !flags.empty())
    return usage_error(flags + " apply to image folders, and --dataset " + a.dataset + " is an .npz");
  KILN_ASSIGN_OR_RETURN(NamedTensors data, read_npz(a.dataset));
  TensorMap by_input;
  for (auto& [name, t] : data) {
    std::string target = name;
    if (g.inputs.size() == 1 && data.size() == 1) target = g.inputs[0]->name;  // "images" feeds the only input
    by_input[target] = t;
  }
  samples = -1;
  for (const Value* in : g.inputs) {
    auto it = by_input.find(in->name);
    if (it == by_input.end()) return invalid_input(a.dataset + " has no member for input '" + in->name + "'");
    if (it->second.rank() < 1 || it->second.rank() != in->shape.rank())
      return invalid_input(a.dataset + " member for input '" + in->name + "' is " + it->second.describe() +
                           "; expected samples along dim 0 of " + in->shape.to_string());
    if (samples >= 0 && it->second.dim(0) != samples)
      return invalid_input(a.dataset + ": inputs hold different sample counts");
    samples = it->second.dim(0);
  }
  const Dim d0 = g.inputs.empty() ? Dim(1) : g.inputs[0]->shape.dims[0];
  const int64_t batch = d0.known() ? d0.value : a.batch;
  if (batch < 1) return usage_error("--batch must be at least 1");
  if (samples % batch != 0 && d0.known())
    return invalid_input(a.dataset + " holds " + std::to_string(samples) +
                         " samples, not a multiple of the model's fixed batch " + std::to_string(batch));
  std::vector<TensorMap> sets;
  for (int64_t b = 0; b < samples; b += batch) {
    TensorMap feeds;
    for (const Value* in : g.inputs) {
      KILN_ASSIGN_OR_RETURN(Tensor t, slice_rows(by_input.at(in->name), b, std::min(samples, b + batch)));
      feeds[in->name] = std::move(t);
    }
    sets.push_back(std::move(feeds));
  }
  return sets;
}

// An image folder: one input fed, batches of the model's fixed batch or --batch.
Expected<Dataset> image_dataset(const AccuracyArgs& a, const Graph& g) {
  KILN_ASSIGN_OR_RETURN(ImageFeeds f, load_image_feeds(a.images, g, a.dataset, a.batch));
  for (const Value* in : g.inputs)
    if (in != f.input)
      return unsupported("an image folder feeds one input ('" + f.input->name + "'); the model also has input '" +
                         in->name + "' (use an .npz dataset holding every input)");
  Dataset d;
  for (Tensor& t : f.batches) d.sets.push_back(TensorMap{{f.input->name, std::move(t)}});
  d.samples = static_cast<int64_t>(f.folder.files.size());
  d.folder_labels = f.folder.labels;
  d.classes = f.folder.classes;
  d.preprocess = f.summary;
  return d;
}

Expected<Dataset> load_dataset(const AccuracyArgs& a, const Graph& g) {
  std::error_code ec;
  if (!std::filesystem::exists(a.dataset, ec))
    return invalid_input(a.dataset + ": no such file or directory (--dataset)");
  if (std::filesystem::is_directory(a.dataset, ec)) return image_dataset(a, g);
  Dataset d;
  KILN_ASSIGN_OR_RETURN(d.sets, make_batches(a, g, d.samples));
  return d;
}

Expected<std::vector<int64_t>> dataset_labels(const AccuracyArgs& a, const Dataset& d) {
  if (a.labels.empty()) {
    if (!d.classes.empty()) return d.folder_labels;
    return usage_error("--labels is required unless --dataset is a folder of class folders (DIR/<class>/<image>)");
  }
  KILN_ASSIGN_OR_RETURN(auto labels, read_labels(a.labels));
  if (static_cast<int64_t>(labels.size()) != d.samples)
    return invalid_input(a.labels + " holds " + std::to_string(labels.size()) + " labels but " + a.dataset + " holds " +
                         std::to_string(d.samples) + " samples");
  return labels;
}

// The chosen output of every batch, concatenated: [samples x classes].
Expected<std::vector<double>> gather_scores(const std::vector<TensorMap>& outs, const std::string& name,
                                            int64_t& classes) {
  std::vector<double> scores;
  for (const TensorMap& o : outs) {
    auto it = o.find(name);
    if (it == o.end()) return invalid_input("the backend produced no output '" + name + "'");
    if (it->second.rank() != 2 || it->second.dim(1) < 2)
      return invalid_input("output '" + name + "' is " + it->second.describe() +
                           ", not [batch, classes] scores (choose one with --output)");
    classes = it->second.dim(1);
    const auto v = tensor_to_doubles(it->second);
    scores.insert(scores.end(), v.begin(), v.end());
  }
  return scores;
}

nlohmann::json metrics_json(const ClassificationMetrics& m) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json per_class = nlohmann::json::array();
  for (const ClassMetrics& c : m.per_class)
    per_class.push_back({{"support", c.support},
                         {"precision", c.precision},
                         {"recall", c.recall},
                         {"f1", c.f1},
                         {"roc_auc", num(c.roc_auc)}});
  return {{"top1", m.top1},
          {"k", m.k},
          {"topk", m.topk},
          {"macro",
           {{"precision", m.macro_precision},
            {"recall", m.macro_recall},
            {"f1", m.macro_f1},
            {"roc_auc", num(m.macro_roc_auc)},
            {"auc_classes", m.auc_classes}}},
          {"micro", {{"precision", m.micro_precision}, {"recall", m.micro_recall}, {"f1", m.micro_f1}}},
          {"per_class", per_class},
          {"confusion", m.confusion}};
}

Status run_accuracy(const AccuracyArgs& a) {
  if (a.task == "detection") {
    DetectionAccuracyArgs d = a.detection;
    d.detector.model = a.model;
    d.detector.dataset = a.dataset;
    d.detector.backends = a.backends;
    d.detector.shapes = a.shapes;
    if (!a.labels.empty()) d.detector.labels = a.labels;  // detection: the labels output's name
    d.json = a.json;
    return run_detection_accuracy(d);
  }
  if (!a.detection.annotations.empty() || !a.detection.detections.empty() ||
      !a.detection.reference_detections.empty() || !a.detection.save_detections.empty() ||
      a.detection.detector.boxes != "boxes" ||
      a.detection.detector.scores != "scores")
    return usage_error(
        "--annotations, --detections, --reference-detections, --save-detections, --boxes and --scores need --task "
        "detection");
  if (a.model.empty()) return usage_error("MODEL is required (the .onnx classifier to score)");
  if (a.dataset.empty()) return usage_error("--dataset is required (an .npz or an image folder)");
  KILN_ASSIGN_OR_RETURN(std::vector<BackendSpec> specs, parse_backend_list(a.backends));
  KILN_ASSIGN_OR_RETURN(GraphLoader loader, shape_override_loader(a.shapes));
  KILN_ASSIGN_OR_RETURN(auto graph, loader(a.model));
  const std::string output = a.output.empty() ? graph->outputs.at(0)->name : a.output;
  KILN_ASSIGN_OR_RETURN(Dataset data, load_dataset(a, *graph));
  KILN_ASSIGN_OR_RETURN(auto labels, dataset_labels(a, data));
  const int64_t samples = data.samples;
  const std::vector<TensorMap>& sets = data.sets;
  if (!data.preprocess.empty()) std::fprintf(stderr, "kiln accuracy: %s\n", data.preprocess.c_str());

  nlohmann::json doc = {{"schema", "kiln.accuracy/1"},
                        {"kiln", {{"version", KILN_VERSION}, {"git_sha", KILN_GIT_SHA}}},
                        {"model", a.model},
                        {"dataset", a.dataset},
                        {"labels", a.labels.empty() ? "class folders" : a.labels},
                        {"output", output},
                        {"samples", samples},
                        {"backends", nlohmann::json::array()}};
  if (!data.preprocess.empty()) doc["images"] = data.preprocess;
  if (!data.classes.empty()) doc["classes"] = data.classes;
  std::printf("%-12s %8s %8s %9s %9s %9s %9s %10s %9s\n", "backend", "top1", ("top" + std::to_string(a.topk)).c_str(),
              "macro P", "macro R", "macro F1", "micro F1", "macro AUC", "agree");
  std::vector<int64_t> ref_pred;
  for (const BackendSpec& spec : specs) {
    KILN_ASSIGN_OR_RETURN(auto runner, make_backend(spec, a.model, loader));
    auto outs = runner->run(sets);
    if (!outs.ok()) return outs.status().with_context("backend " + spec.name + ": ");
    int64_t classes = 0;
    KILN_ASSIGN_OR_RETURN(auto scores, gather_scores(*outs, output, classes));
    KILN_ASSIGN_OR_RETURN(ClassificationMetrics m, classification_metrics(scores, classes, labels, a.topk));
    // Top-1 agreement with the first backend: how often the optimized model predicts the same class.
    std::vector<int64_t> pred;
    for (int64_t i = 0; i < samples; ++i)
      pred.push_back(std::max_element(scores.begin() + i * classes, scores.begin() + (i + 1) * classes) -
                     (scores.begin() + i * classes));
    if (ref_pred.empty()) ref_pred = pred;
    int64_t same = 0;
    for (int64_t i = 0; i < samples; ++i) same += pred[i] == ref_pred[i];
    const double agree = samples ? static_cast<double>(same) / static_cast<double>(samples) : 1.0;
    std::printf("%-12s %7.2f%% %7.2f%% %9.4f %9.4f %9.4f %9.4f %10.4f %8.2f%%\n", spec.name.c_str(), 100 * m.top1,
                100 * m.topk, m.macro_precision, m.macro_recall, m.macro_f1, m.micro_f1, m.macro_roc_auc, 100 * agree);
    nlohmann::json bj = metrics_json(m);
    bj["name"] = spec.name;
    bj["description"] = runner->description();
    bj["classes"] = classes;
    bj["agreement_with_reference"] = agree;
    doc["backends"].push_back(bj);
  }
  std::printf("%lld samples; agree = share of top-1 predictions equal to %s's\n", static_cast<long long>(samples),
              specs[0].name.c_str());
  if (!a.json.empty()) {
    KILN_RETURN_IF_ERROR(write_file_atomic(a.json, doc.dump(2) + "\n"));
  }
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(accuracy,
                Subcommand{
                    "accuracy", "Classifier top-1/top-k, confusion, P/R/F1, ROC-AUC per backend; COCO detection AP/AR",
                    [](CLI::App& app) -> std::function<int()> {
                      auto a = std::make_shared<AccuracyArgs>();
                      app.add_option("MODEL", a->model, "The .onnx model file (classification)");
                      app.add_option("--dataset", a->dataset,
                                     "An .npz of inputs with the samples along dim 0 (member names = input names; a "
                                     "single member feeds a single-input model), or a folder of images: DIR/*.png "
                                     "(sorted by name) or DIR/<class>/*.jpg (classes in sorted order)");
                      app.add_option("--labels", a->labels,
                                     "Labels: a 1-D integer .npy, or text with one label per line (line i = sample i; "
                                     "for a folder, image i in sorted order). Omitted for DIR/<class>/ folders: the "
                                     "label is the class folder's index in sorted order. With --task detection: "
                                     "the output holding each box's category id (default labels)");
                      app.add_option("--backends", a->backends, "Comma-separated backends (as for kiln compare)")
                          ->capture_default_str();
                      app.add_option("--output", a->output, "The [batch, classes] output (default: the first)");
                      app.add_option("--shapes", a->shapes, "Concrete shapes for inputs with symbolic dims: NAME:DIMS");
                      app.add_option("--batch", a->batch, "Samples per run when the model's batch is symbolic")
                          ->capture_default_str();
                      add_image_options(app, a->images);
                      app.add_option("--topk", a->topk, "k of the top-k accuracy")->capture_default_str();
                      app.add_option("--json", a->json, "Write the metrics as JSON (schema kiln.accuracy/1)");
                      app.add_option("--task", a->task, "classification, or detection (COCO bbox metrics)")
                          ->check(CLI::IsMember({"classification", "detection"}))
                          ->capture_default_str();
                      app.add_option("--annotations", a->detection.annotations,
                                     "Detection: COCO annotation file (images, annotations, categories)");
                      app.add_option("--detections", a->detection.detections,
                                     "Detection: COCO results file to score: [{image_id, category_id, bbox: [x, y, "
                                     "w, h], score}]");
                      app.add_option("--reference-detections", a->detection.reference_detections,
                                     "Detection: a COCO results file taken as the ground truth (fidelity to a "
                                     "reference backend; --annotations then only lists images and categories)");
                      app.add_option("--boxes", a->detection.detector.boxes,
                                     "Detection with MODEL: the output of boxes [N, 4] x1, y1, x2, y2 in pixels")
                          ->capture_default_str();
                      app.add_option("--scores", a->detection.detector.scores,
                                     "Detection with MODEL: the output of scores [N]")
                          ->capture_default_str();
                      app.add_option("--save-detections", a->detection.save_detections,
                                     "Detection with MODEL: write each backend's detections to DIR/<backend>.json "
                                     "(COCO results: what --detections and pycocotools' loadRes read)");
                      app.add_option("--reference-score-threshold", a->detection.reference_score_threshold,
                                     "Detection: reference detections scoring below this are not ground truth")
                          ->capture_default_str();
                      app.footer(
                          "Definitions follow scikit-learn: zero_division=0; macro averages over the classes seen as\n"
                          "a label or a prediction; ROC-AUC one-vs-rest on probabilities (softmax of logits).\n"
                          "Image folders are decoded by libkiln_image.so (OpenCV), then: resize, center crop,\n"
                          "pixel * scale, (value - mean) / std, channel order, layout; without --resize/--crop\n"
                          "images are resized straight to the model's HxW.\n"
                          "Examples:\n"
                          "  kiln accuracy model.onnx --dataset val.npz --labels val_labels.txt --backends cpu,ort\n"
                          "  kiln accuracy resnet50.onnx --dataset imagenet/val --resize 256 --crop 224 \\\n"
                          "      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --backends cpu,cuda:fp16\n"
                          "  kiln accuracy model.onnx --dataset photos/ --labels photos.txt --config model.yaml\n"
                          "  kiln accuracy --task detection --annotations val.json --detections dets.json\n"
                          "  kiln accuracy --task detection --reference-detections cpu.json --detections fp16.json\n"
                          "  kiln accuracy detector.onnx --task detection --annotations val.json --dataset val.npz \\\n"
                          "      --backends cpu,cuda:fp16\n"
                          "Detection follows pycocotools' COCOeval (bbox): docs/DETECTION.md.\n");
                      return [a] {
                        Status s = run_accuracy(*a);
                        return s.ok() ? 0 : fail("accuracy", s);
                      };
                    }});

}  // namespace kiln::cli
