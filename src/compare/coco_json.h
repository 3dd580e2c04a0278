// COCO files for detection accuracy: the annotation (ground truth) file and the results (detections) file,
// read with every malformed entry reported as kInvalidInput naming the file and the entry.
#pragma once

#include <string>
#include <vector>

#include "compare/detection_metrics.h"
#include "kiln/status.h"

namespace kiln {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int64_t width = 0, height = 0;  // 0 when the file does not say
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoDataset {
  std::vector<CocoImage> images;  // file order
  std::vector<CocoCategory> categories;
  std::vector<CocoGroundTruth> annotations;
  std::vector<int64_t> image_ids() const;
  std::vector<int64_t> category_ids() const;
  std::string category_name(int64_t id) const;  // "" when unknown
};

// An annotation file: {"images": [{"id", ...}], "annotations": [{"image_id", "category_id", "bbox": [x,y,w,h],
// "area", "iscrowd"}], "categories": [{"id", "name"}]}. `area` defaults to w*h when absent, `iscrowd` to 0.
// Annotations must name a listed image and category; duplicate image or category ids are errors.
Expected<CocoDataset> read_coco_annotations(const std::string& path);

// A results file: [{"image_id", "category_id", "bbox": [x,y,w,h], "score"}, ...] (an empty array is valid).
Expected<std::vector<CocoDetection>> read_coco_results(const std::string& path);

// Detections as a COCO results document (what read_coco_results reads back; pycocotools' loadRes too).
std::string coco_results_text(const std::vector<CocoDetection>& detections);

// The same, from text already in memory (`name` stands for the file in messages).
Expected<CocoDataset> parse_coco_annotations(const std::string& text, const std::string& name);
Expected<std::vector<CocoDetection>> parse_coco_results(const std::string& text, const std::string& name);

// Detections used as ground truth (detection fidelity against a reference backend): those scoring at least
// `min_score`, non-crowd, with area w*h.
std::vector<CocoGroundTruth> detections_as_ground_truth(const std::vector<CocoDetection>& detections, double min_score);

}  // namespace kiln
