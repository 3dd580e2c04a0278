// `kiln accuracy --task detection`: reads the ground truth (COCO annotations, or a reference backend's COCO
// results) and the detections to score (a results file, or MODEL run on each backend); prints COCOeval's
// twelve summary lines and per-category AP; writes JSON.
#include "tools/kiln/accuracy_detection.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "compare/coco_json.h"
#include "compare/detection_metrics.h"
#include "core/npy.h"
#include "kiln/version.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {
namespace {

// What the detections are scored against.
struct GroundTruth {
  std::vector<int64_t> image_ids, category_ids;
  std::vector<CocoGroundTruth> boxes;
  CocoDataset dataset;  // names of categories, when an annotation file was given
  std::string source;   // the file the boxes came from
};

Status validate_args(const DetectionAccuracyArgs& a) {
  if (!std::isfinite(a.reference_score_threshold) || a.reference_score_threshold < 0)
    return usage_error("--reference-score-threshold must be a number >= 0");
  if (!a.detector.model.empty()) {
    if (!a.detections.empty() || !a.reference_detections.empty())
      return usage_error(
          "MODEL makes the detections: drop --detections/--reference-detections (the first of "
          "--backends is the reference of the others)");
    if (a.annotations.empty() || a.detector.dataset.empty())
      return usage_error("MODEL --task detection needs --annotations COCO.json and --dataset IMAGES.npz");
    return Status::Ok();
  }
  if (!a.detector.dataset.empty()) return usage_error("--dataset needs MODEL (a results file goes to --detections)");
  if (!a.save_detections.empty()) return usage_error("--save-detections needs MODEL (it saves what MODEL detects)");
  if (a.detections.empty())
    return usage_error("--task detection needs --detections RESULTS.json (COCO results format)");
  if (a.annotations.empty() && a.reference_detections.empty())
    return usage_error("--task detection needs --annotations COCO.json or --reference-detections REF.json");
  return Status::Ok();
}

Expected<GroundTruth> annotation_ground_truth(const std::string& path) {
  GroundTruth gt;
  KILN_ASSIGN_OR_RETURN(gt.dataset, read_coco_annotations(path));
  gt.image_ids = gt.dataset.image_ids();
  gt.category_ids = gt.dataset.category_ids();
  gt.boxes = gt.dataset.annotations;
  gt.source = path;
  return gt;
}

// The reference's detections scoring at least the threshold become non-crowd ground truth. Images and
// categories: the annotation file's when given, else every id either file names.
Expected<GroundTruth> reference_ground_truth(const DetectionAccuracyArgs& a, const std::vector<CocoDetection>& dets) {
  GroundTruth gt;
  gt.source = a.reference_detections;
  KILN_ASSIGN_OR_RETURN(auto ref, read_coco_results(a.reference_detections));
  gt.boxes = detections_as_ground_truth(ref, a.reference_score_threshold);
  if (!a.annotations.empty()) {
    KILN_ASSIGN_OR_RETURN(gt.dataset, read_coco_annotations(a.annotations));
    gt.image_ids = gt.dataset.image_ids();
    gt.category_ids = gt.dataset.category_ids();
    const std::set<int64_t> images(gt.image_ids.begin(), gt.image_ids.end());
    for (size_t n = 0; n < ref.size(); ++n)
      if (!images.count(ref[n].image_id))
        return invalid_input(a.reference_detections + ": entry " + std::to_string(n) + " names image_id " +
                             std::to_string(ref[n].image_id) + ", which " + a.annotations + " does not list");
    return gt;
  }
  std::set<int64_t> images, categories;
  for (const std::vector<CocoDetection>* list : {&std::as_const(ref), &dets})
    for (const CocoDetection& d : *list) images.insert(d.image_id), categories.insert(d.category_id);
  gt.image_ids.assign(images.begin(), images.end());
  gt.category_ids.assign(categories.begin(), categories.end());
  return gt;
}

nlohmann::json detection_json(const DetectionMetrics& m, const GroundTruth& gt) {
  nlohmann::json stats = nlohmann::json::object();
  for (int i = 0; i < kCocoStats; ++i)
    stats[coco_stat_names()[static_cast<size_t>(i)]] = m.stats[static_cast<size_t>(i)];
  nlohmann::json per_category = nlohmann::json::array();
  for (size_t k = 0; k < m.category_ids.size(); ++k)
    per_category.push_back({{"id", m.category_ids[k]},
                            {"name", gt.dataset.category_name(m.category_ids[k])},
                            {"ground_truths", m.category_ground_truths[k]},
                            {"ap", m.category_ap[k]}});
  return {{"ground_truth", gt.source},  {"images", m.images}, {"ground_truths", m.ground_truths},
          {"detections", m.detections}, {"stats", stats},     {"per_category", per_category}};
}

void print_report(const DetectionMetrics& m, const GroundTruth& gt, const std::string& detections) {
  std::printf("%s against %s: %lld images, %lld ground truths, %lld detections\n", detections.c_str(),
              gt.source.c_str(), static_cast<long long>(m.images), static_cast<long long>(m.ground_truths),
              static_cast<long long>(m.detections));
  for (const std::string& line : coco_summary_lines(m)) std::printf("%s\n", line.c_str());
  std::printf("%-10s %-24s %8s %8s\n", "category", "name", "gts", "AP");
  for (size_t k = 0; k < m.category_ids.size(); ++k)
    std::printf("%-10lld %-24s %8lld %8.3f\n", static_cast<long long>(m.category_ids[k]),
                gt.dataset.category_name(m.category_ids[k]).c_str(),
                static_cast<long long>(m.category_ground_truths[k]), m.category_ap[k]);
}

nlohmann::json document_head(const DetectionAccuracyArgs& a) {
  auto path = [](const std::string& p) { return p.empty() ? nlohmann::json() : nlohmann::json(p); };
  return {{"schema", "kiln.accuracy/1"},
          {"kiln", {{"version", KILN_VERSION}, {"git_sha", KILN_GIT_SHA}}},
          {"task", "detection"},
          {"annotations", path(a.annotations)},
          {"detections", path(a.detections)},
          {"reference_detections", path(a.reference_detections)},
          {"reference_score_threshold", a.reference_detections.empty() && a.detector.model.empty()
                                            ? nlohmann::json()
                                            : nlohmann::json(a.reference_score_threshold)}};
}

// MODEL on each backend, scored against the annotations; every backend after the first also against the
// first's detections (those scoring at least the reference threshold).
Status run_model(const DetectionAccuracyArgs& a) {
  if (!a.save_detections.empty()) {  // before the runs, not after them
    std::error_code ec;
    std::filesystem::create_directories(a.save_detections, ec);
    if (ec || !std::filesystem::is_directory(a.save_detections))
      return invalid_input("--save-detections " + a.save_detections + ": cannot create the folder" +
                           (ec ? " (" + ec.message() + ")" : ""));
  }
  KILN_ASSIGN_OR_RETURN(GroundTruth gt, annotation_ground_truth(a.annotations));
  KILN_ASSIGN_OR_RETURN(auto runs, run_detector(a.detector, gt.image_ids));
  nlohmann::json doc = document_head(a);
  doc["model"] = a.detector.model;
  doc["dataset"] = a.detector.dataset;
  doc["backends"] = nlohmann::json::array();
  for (size_t b = 0; b < runs.size(); ++b) {
    const DetectorRun& r = runs[b];
    auto m = coco_detection_metrics(gt.image_ids, gt.category_ids, gt.boxes, r.detections);
    if (!m.ok()) return m.status().with_context("backend " + r.backend + ": ");
    print_report(*m, gt, "backend " + r.backend + " (" + r.description + ")");
    nlohmann::json bj = {{"name", r.backend}, {"description", r.description}, {"detection", detection_json(*m, gt)}};
    if (b > 0) {
      GroundTruth ref = gt;
      ref.boxes = detections_as_ground_truth(runs[0].detections, a.reference_score_threshold);
      ref.source = "backend " + runs[0].backend;
      auto f = coco_detection_metrics(ref.image_ids, ref.category_ids, ref.boxes, r.detections);
      if (!f.ok()) return f.status().with_context("backend " + r.backend + ": ");
      std::printf(
          "fidelity of %s to %s (its detections scoring >= %g as ground truth): AP %.3f  AP50 %.3f  "
          "AR100 %.3f\n",
          r.backend.c_str(), runs[0].backend.c_str(), a.reference_score_threshold, f->stats[kAP], f->stats[kAP50],
          f->stats[kAR100]);
      bj["fidelity"] = detection_json(*f, ref);
    }
    if (!a.save_detections.empty()) {
      const std::string path = a.save_detections + "/" + sanitize_file_name(r.backend) + ".json";
      KILN_RETURN_IF_ERROR(write_file_atomic(path, coco_results_text(r.detections)));
      std::printf("detections of %s written to %s\n", r.backend.c_str(), path.c_str());
      bj["detections_file"] = path;
    }
    doc["backends"].push_back(bj);
  }
  if (!a.json.empty()) KILN_RETURN_IF_ERROR(write_file_atomic(a.json, doc.dump(2) + "\n"));
  return Status::Ok();
}

}  // namespace

Status run_detection_accuracy(const DetectionAccuracyArgs& a) {
  KILN_RETURN_IF_ERROR(validate_args(a));
  if (!a.detector.model.empty()) return run_model(a);
  KILN_ASSIGN_OR_RETURN(auto dets, read_coco_results(a.detections));
  GroundTruth gt;
  if (!a.reference_detections.empty()) {
    KILN_ASSIGN_OR_RETURN(gt, reference_ground_truth(a, dets));
  } else {
    KILN_ASSIGN_OR_RETURN(gt, annotation_ground_truth(a.annotations));
  }
  auto metrics = coco_detection_metrics(gt.image_ids, gt.category_ids, gt.boxes, dets);
  if (!metrics.ok()) return metrics.status().with_context(a.detections + ": ");
  print_report(*metrics, gt, a.detections);

  if (!a.json.empty()) {
    nlohmann::json doc = document_head(a);
    doc["detection"] = detection_json(*metrics, gt);
    KILN_RETURN_IF_ERROR(write_file_atomic(a.json, doc.dump(2) + "\n"));
  }
  return Status::Ok();
}

}  // namespace kiln::cli
