// COCO bounding-box detection metrics (kiln accuracy --task detection): the COCO evaluation protocol for
// bbox as pycocotools' COCOeval runs it (evaluate, accumulate, summarize), reimplemented from its description.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

// [x, y, width, height] in pixels, x/y the top-left corner (COCO's bbox).
struct CocoBox {
  double x = 0, y = 0, w = 0, h = 0;
};

struct CocoGroundTruth {
  int64_t image_id = 0, category_id = 0;
  CocoBox bbox;
  double area = 0;  // the annotation's `area` (COCO uses it, not w*h, for the area ranges of ground truths)
  bool iscrowd = false;
};

struct CocoDetection {
  int64_t image_id = 0, category_id = 0;
  CocoBox bbox;
  double score = 0;  // its area is w*h
};

// The twelve numbers of COCOeval.summarize(), in its order.
enum CocoStat : int {
  kAP,
  kAP50,
  kAP75,
  kAPSmall,
  kAPMedium,
  kAPLarge,
  kAR1,
  kAR10,
  kAR100,
  kARSmall,
  kARMedium,
  kARLarge
};
constexpr int kCocoStats = 12;

struct DetectionMetrics {
  // -1 where undefined: no ground truth that is not ignored (for the category/area range averaged over).
  std::array<double, kCocoStats> stats{};
  std::vector<int64_t> category_ids;            // sorted
  std::vector<double> category_ap;              // AP@[.50:.95], area all, 100 detections per image; -1 without gts
  std::vector<int64_t> category_ground_truths;  // non-crowd ground truths per category
  int64_t images = 0, ground_truths = 0, detections = 0;
};

// The protocol's constants: IoU thresholds .50:.05:.95 and recall points 0:.01:1 computed as numpy.linspace
// computes them (i * step + start, the last set to the end), so comparisons at the boundaries agree.
std::vector<double> coco_iou_thresholds();
std::vector<double> coco_recall_thresholds();

// IoU of two boxes; with `crowd` the union is the detection's area alone (a crowd region is not penalised
// for the part of it a detection leaves uncovered).
double coco_box_iou(const CocoBox& det, const CocoBox& gt, bool crowd);

// COCO bbox evaluation over `image_ids` and `category_ids` (both as the ground truth defines them; an image
// without any annotation still counts: its detections are false positives). A detection on an image not in
// `image_ids`, a box with a negative or non-finite size, or a non-finite score: kInvalidInput naming the
// entry's index. Detections of a category outside `category_ids` are not scored (as in COCOeval).
Expected<DetectionMetrics> coco_detection_metrics(const std::vector<int64_t>& image_ids,
                                                  const std::vector<int64_t>& category_ids,
                                                  const std::vector<CocoGroundTruth>& ground_truths,
                                                  const std::vector<CocoDetection>& detections);

// The twelve lines of COCOeval.summarize(), e.g.
// " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505".
std::vector<std::string> coco_summary_lines(const DetectionMetrics& m);
// Short names of the stats for reports: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.
const std::array<const char*, kCocoStats>& coco_stat_names();

}  // namespace kiln
