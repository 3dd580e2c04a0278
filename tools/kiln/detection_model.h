// Running a detector for `kiln accuracy MODEL --task detection`: one image of an .npz per run on each backend,
// its boxes/scores/labels outputs (torchvision layout) turned into COCO detections.
#pragma once

#include <string>
#include <vector>

#include "compare/detection_metrics.h"
#include "kiln/status.h"

namespace kiln::cli {

struct DetectorArgs {
  std::string model, dataset;
  std::string backends = "cpu";
  std::vector<std::string> shapes;
  // Output names: boxes [N, 4] x1, y1, x2, y2 in pixels; scores [N]; labels [N] = COCO category ids (a leading
  // batch dim of 1 is allowed on each).
  std::string boxes = "boxes", scores = "scores", labels = "labels";
};

struct DetectorRun {
  std::string backend, description;
  std::vector<CocoDetection> detections;
};

// Row i of every .npz member (key = input name; one member feeds a single-input model) is image image_ids[i].
// A model input of one rank less than its member takes the row without the batch dim; a member whose dtype
// differs from a float32 input is converted value for value (not scaled).
Expected<std::vector<DetectorRun>> run_detector(const DetectorArgs& a, const std::vector<int64_t>& image_ids);

}  // namespace kiln::cli
