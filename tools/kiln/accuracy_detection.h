// `kiln accuracy --task detection`: COCO bbox metrics of a results file (or of a detector run on each backend)
// against COCO annotations, or against detections taken as the ground truth (fidelity to a reference backend).
#pragma once

#include <string>

#include "kiln/status.h"
#include "tools/kiln/detection_model.h"

namespace kiln::cli {

struct DetectionAccuracyArgs {
  DetectorArgs detector;    // with a model: its detections on each backend instead of --detections
  std::string annotations;  // COCO annotation file (ground truth; with --reference-detections only images/categories)
  std::string detections;   // COCO results file to score
  std::string reference_detections;  // COCO results file used as the ground truth instead of the annotations
  double reference_score_threshold = 0.3;
  std::string json;  // kiln.accuracy/1 output
  std::string save_detections;  // with a model: a folder for each backend's detections (COCO results)
};

Status run_detection_accuracy(const DetectionAccuracyArgs& a);

}  // namespace kiln::cli
