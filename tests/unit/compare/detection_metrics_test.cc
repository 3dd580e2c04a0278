// COCO bbox metrics against values worked out by hand from the protocol (the arithmetic is in the comments).
// Notation: per IoU threshold t the detections of all images are sorted by score; rc = TP / (gts not ignored),
// pr = TP / (TP + FP); pr is made non-increasing from the right; AP_t = mean over the 101 recall points
// r = 0, .01, ..., 1 of pr at the first position with rc >= r (0 past the end). "~1" is 1/(1+eps): COCO adds
// eps to the denominator, hence EXPECT_NEAR.
#include "compare/detection_metrics.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

constexpr double kTol = 1e-9;

CocoGroundTruth gt(int64_t image, int64_t cat, double x, double y, double w, double h, bool crowd = false) {
  CocoGroundTruth g;
  g.image_id = image;
  g.category_id = cat;
  g.bbox = {x, y, w, h};
  g.area = w * h;
  g.iscrowd = crowd;
  return g;
}

CocoDetection det(int64_t image, int64_t cat, double x, double y, double w, double h, double score) {
  CocoDetection d;
  d.image_id = image;
  d.category_id = cat;
  d.bbox = {x, y, w, h};
  d.score = score;
  return d;
}

DetectionMetrics eval(const std::vector<int64_t>& images, const std::vector<int64_t>& cats,
                      const std::vector<CocoGroundTruth>& gts, const std::vector<CocoDetection>& dets) {
  auto m = coco_detection_metrics(images, cats, gts, dets);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? *m : DetectionMetrics{};
}

TEST(DetectionMetrics, BoxIou) {
  // [0,0,10,10] vs [5,5,10,10]: intersection 5x5 = 25, union 100 + 100 - 25 = 175 -> 1/7.
  EXPECT_NEAR(coco_box_iou({0, 0, 10, 10}, {5, 5, 10, 10}, false), 1.0 / 7, 1e-15);
  // As a crowd region the union is the detection's own area 100 -> 0.25.
  EXPECT_NEAR(coco_box_iou({0, 0, 10, 10}, {5, 5, 10, 10}, true), 0.25, 1e-15);
  // Touching edges do not overlap.
  EXPECT_EQ(coco_box_iou({0, 0, 10, 10}, {10, 0, 10, 10}, false), 0.0);
}

TEST(DetectionMetrics, PerfectBox) {
  // One 10x10 gt (area 100: small), one detection on it: TP at every threshold, rc = pr = ~1 -> AP 1.
  // Medium/large: the gt is outside the range (ignored) and the unmatched-in-that-range detection too -> no
  // gt counted -> -1.
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10)}, {det(1, 1, 0, 0, 10, 10, 0.9)});
  const double expected[kCocoStats] = {1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1};
  for (int i = 0; i < kCocoStats; ++i) EXPECT_NEAR(m.stats[i], expected[i], kTol) << coco_stat_names()[i];
  EXPECT_EQ(m.images, 1);
  EXPECT_EQ(m.ground_truths, 1);
  EXPECT_EQ(m.detections, 1);
}

// gt [0,0,100,100]; detection [0,0,w,100] lies inside it, so IoU = 100w / 10000 = w / 100.
DetectionMetrics one_box_at_iou(double w) {
  return eval({1}, {1}, {gt(1, 1, 0, 0, 100, 100)}, {det(1, 1, 0, 0, w, 100, 0.9)});
}

TEST(DetectionMetrics, IouJustAboveAndBelowHalf) {
  // IoU .51: TP only at t = .50 (AP_t 1), a lone FP at the other nine (AP_t 0) -> AP .1, AP50 1, AP75 0;
  // recall 1 at one threshold of ten -> AR .1. The gt is 100x100 (large).
  auto above = one_box_at_iou(51);
  EXPECT_NEAR(above.stats[kAP], 0.1, kTol);
  EXPECT_NEAR(above.stats[kAP50], 1, kTol);
  EXPECT_NEAR(above.stats[kAP75], 0, kTol);
  EXPECT_NEAR(above.stats[kAPLarge], 0.1, kTol);
  EXPECT_NEAR(above.stats[kAR100], 0.1, kTol);
  // IoU exactly .50 still matches (a match needs IoU >= t).
  EXPECT_NEAR(one_box_at_iou(50).stats[kAP50], 1, kTol);
  // IoU .49: a FP everywhere -> 0 (not -1: the gt exists).
  auto below = one_box_at_iou(49);
  EXPECT_NEAR(below.stats[kAP], 0, kTol);
  EXPECT_NEAR(below.stats[kAP50], 0, kTol);
  EXPECT_NEAR(below.stats[kAR100], 0, kTol);
}

TEST(DetectionMetrics, IouJustAboveAndBelowThreeQuarters) {
  // IoU .76: TP at .50 .55 .60 .65 .70 .75 (6 of 10) -> AP .6, AP75 1.
  auto above = one_box_at_iou(76);
  EXPECT_NEAR(above.stats[kAP], 0.6, kTol);
  EXPECT_NEAR(above.stats[kAP50], 1, kTol);
  EXPECT_NEAR(above.stats[kAP75], 1, kTol);
  EXPECT_NEAR(above.stats[kAR100], 0.6, kTol);
  // IoU .74: TP at .50 .. .70 (5 of 10) -> AP .5, AP75 0.
  auto below = one_box_at_iou(74);
  EXPECT_NEAR(below.stats[kAP], 0.5, kTol);
  EXPECT_NEAR(below.stats[kAP75], 0, kTol);
}

TEST(DetectionMetrics, DuplicateIsAFalsePositive) {
  // Image 1: gt, detections D1 (.9) and its duplicate D2 (.8); image 2: gt, D3 (.7); all boxes equal.
  // Every t: D1 TP, D2 FP (its gt is taken), D3 TP. rc = [.5 .5 1], pr = [1 .5 2/3] -> envelope
  // [1 2/3 2/3]. r = 0 .. .50 (51 points) -> position 0 -> 1; r = .51 .. 1 (50 points) -> position 2 -> 2/3.
  // AP = (51 + 50 * 2/3) / 101 = 84.333.../101 = 0.834983...
  auto m = eval({1, 2}, {1}, {gt(1, 1, 0, 0, 10, 10), gt(2, 1, 0, 0, 10, 10)},
                {det(1, 1, 0, 0, 10, 10, 0.9), det(1, 1, 0, 0, 10, 10, 0.8), det(2, 1, 0, 0, 10, 10, 0.7)});
  const double ap = (51 + 50 * 2.0 / 3) / 101;
  EXPECT_NEAR(m.stats[kAP], ap, kTol);
  EXPECT_NEAR(m.stats[kAP50], ap, kTol);
  EXPECT_NEAR(m.stats[kAR100], 1, kTol);
  // One detection per image (maxDets 1): D1 and D3, both TP -> AR@1 = 1.
  EXPECT_NEAR(m.stats[kAR1], 1, kTol);
}

TEST(DetectionMetrics, WorseDuplicateScoringHigherTakesTheGt) {
  // gt [0,0,10,10]; B [0,0,10,7.2] (IoU .72) scores .9, A (the exact box) .8; sorted B, A.
  // t = .50 .. .70 (5): B TP, A FP -> rc [1 1], pr [1 .5] -> every point at position 0 -> AP_t 1.
  // t = .75 .. .95 (5): B FP, A TP -> rc [0 1], pr [0 .5] -> envelope [.5 .5] -> AP_t .5.
  // AP = (5 + 2.5) / 10 = .75, AP50 1, AP75 .5. Recall 1 at every t -> AR@100 1; with one detection
  // (B only) recall is 1 at five thresholds -> AR@1 .5.
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10)}, {det(1, 1, 0, 0, 10, 10, 0.8), det(1, 1, 0, 0, 10, 7.2, 0.9)});
  EXPECT_NEAR(m.stats[kAP], 0.75, kTol);
  EXPECT_NEAR(m.stats[kAP50], 1, kTol);
  EXPECT_NEAR(m.stats[kAP75], 0.5, kTol);
  EXPECT_NEAR(m.stats[kAR100], 1, kTol);
  EXPECT_NEAR(m.stats[kAR1], 0.5, kTol);
}

TEST(DetectionMetrics, CrowdRegionSwallowsDetections) {
  // Crowd C [0,0,100,100] (area 10000, ignored) and gt G [200,200,10,10]. Detections by score:
  //   D2 [0,0,20,20] .95 and D3 [50,50,20,20] .9: inside C, crowd IoU = 400/400 = 1 -> matched to C, ignored.
  //   D5 [90,0,20,20] .85: half inside C, crowd IoU = 200/400 = .5 (a plain IoU would be 200/10200)
  //       -> ignored at t = .50, a FP at the nine others.
  //   D1 [200,200,10,10] .8: TP.   D4 [300,300,10,10] .6: FP.
  // t = .50: ign ign ign TP FP -> rc [0 0 0 1 1], pr [0 0 0 1 .5] -> envelope [1 1 1 1 .5] -> AP_t 1.
  // t >= .55: ign ign FP TP FP -> rc [0 0 0 1 1], pr [0 0 0 .5 1/3] -> envelope [.5 .5 .5 .5 1/3] -> AP_t .5.
  // AP = (1 + 9 * .5) / 10 = .55; AP50 1; AP75 .5; recall 1 everywhere -> AR 1. Everything is small
  // (areas 100 and 400) -> APs = AP; medium: no gt counted -> -1.
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 100, 100, true), gt(1, 1, 200, 200, 10, 10)},
                {det(1, 1, 0, 0, 20, 20, 0.95), det(1, 1, 50, 50, 20, 20, 0.9), det(1, 1, 90, 0, 20, 20, 0.85),
                 det(1, 1, 200, 200, 10, 10, 0.8), det(1, 1, 300, 300, 10, 10, 0.6)});
  EXPECT_NEAR(m.stats[kAP], 0.55, kTol);
  EXPECT_NEAR(m.stats[kAP50], 1, kTol);
  EXPECT_NEAR(m.stats[kAP75], 0.5, kTol);
  EXPECT_NEAR(m.stats[kAR100], 1, kTol);
  EXPECT_NEAR(m.stats[kAPSmall], 0.55, kTol);
  EXPECT_NEAR(m.stats[kAPMedium], -1, kTol);
  EXPECT_EQ(m.ground_truths, 1);  // the crowd region is not a ground truth to find
}

TEST(DetectionMetrics, EmptyImages) {
  // Image 1: gt + detection .5 (TP). Image 2: no gt, a detection .9 (FP). Image 3: a gt, no detection.
  // Image 4: nothing (changes nothing). Sorted: FP, TP; 2 gts -> rc [0 .5], pr [0 .5] -> envelope [.5 .5].
  // r = 0 .. .50 (51 points) -> .5; r > .5 -> past the end -> 0. AP = 51 * .5 / 101 = .252475...; AR = .5.
  auto m = eval({1, 2, 3, 4}, {1}, {gt(1, 1, 0, 0, 10, 10), gt(3, 1, 0, 0, 10, 10)},
                {det(1, 1, 0, 0, 10, 10, 0.5), det(2, 1, 0, 0, 10, 10, 0.9)});
  EXPECT_NEAR(m.stats[kAP], 25.5 / 101, kTol);
  EXPECT_NEAR(m.stats[kAR100], 0.5, kTol);
  EXPECT_EQ(m.images, 4);
}

TEST(DetectionMetrics, NoGroundTruthIsUndefined) {
  // No gt at all: every number is undefined (-1), with detections and without.
  for (const auto& dets : {std::vector<CocoDetection>{}, std::vector<CocoDetection>{det(1, 1, 0, 0, 5, 5, 1)}}) {
    auto m = eval({1}, {1}, {}, dets);
    for (int i = 0; i < kCocoStats; ++i) EXPECT_EQ(m.stats[i], -1) << coco_stat_names()[i];
  }
  // Gts but no detections: AP and AR 0 (defined), not -1.
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10)}, {});
  EXPECT_EQ(m.stats[kAP], 0);
  EXPECT_EQ(m.stats[kAR100], 0);
  EXPECT_EQ(m.stats[kAPLarge], -1);
}

TEST(DetectionMetrics, AreaRanges) {
  // gts S [0,0,10,10] (100, small), M [100,100,50,50] (2500, medium), L [300,300,100,100] (10000, large).
  // Detections: F [600,600,20,20] (400, small) .95 matches nothing; exact boxes on S .9 and L .8.
  // all: F FP, S TP, L TP, 3 gts -> rc [0 1/3 2/3], pr [0 .5 2/3] -> envelope 2/3 throughout; r = 0 .. .66
  //   (67 points) -> 2/3, r > 2/3 -> 0: AP = 67 * 2/3 / 101 = .442244...; AR = 2/3.
  // small: F FP, S TP, L matched to an ignored gt -> ignored; 1 gt -> rc [0 1 1], pr [0 .5 .5] -> APs .5, ARs 1.
  // medium: S, L matched to ignored gts and F unmatched outside the range: all ignored; M is missed ->
  //   rc [0 0 0], pr [0 0 0] -> APm 0, ARm 0.
  // large: F, S ignored, L TP -> APl ~1, ARl 1.
  // maxDets 1: only F per image -> recall 0 -> AR@1 0; AR@10 = 2/3.
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10), gt(1, 1, 100, 100, 50, 50), gt(1, 1, 300, 300, 100, 100)},
                {det(1, 1, 600, 600, 20, 20, 0.95), det(1, 1, 0, 0, 10, 10, 0.9), det(1, 1, 300, 300, 100, 100, 0.8)});
  EXPECT_NEAR(m.stats[kAP], 67 * (2.0 / 3) / 101, kTol);
  EXPECT_NEAR(m.stats[kAR100], 2.0 / 3, kTol);
  EXPECT_NEAR(m.stats[kAPSmall], 0.5, kTol);
  EXPECT_NEAR(m.stats[kARSmall], 1, kTol);
  EXPECT_NEAR(m.stats[kAPMedium], 0, kTol);
  EXPECT_NEAR(m.stats[kARMedium], 0, kTol);
  EXPECT_NEAR(m.stats[kAPLarge], 1, kTol);
  EXPECT_NEAR(m.stats[kARLarge], 1, kTol);
  EXPECT_NEAR(m.stats[kAR1], 0, kTol);
  EXPECT_NEAR(m.stats[kAR10], 2.0 / 3, kTol);
}

TEST(DetectionMetrics, AreaFromTheAnnotationNotTheBox) {
  // A 10x10 box whose annotation says area 2000 (a segmentation-derived area) counts as medium.
  CocoGroundTruth g = gt(1, 1, 0, 0, 10, 10);
  g.area = 2000;
  auto m = eval({1}, {1}, {g}, {det(1, 1, 0, 0, 10, 10, 0.9)});
  // medium: gt counted and matched; the detection (area 100) is matched, so not ignored -> ~1.
  EXPECT_NEAR(m.stats[kAPMedium], 1, kTol);
  // small: the gt is ignored and the detection matched to it is ignored -> no gt counted -> -1.
  EXPECT_EQ(m.stats[kAPSmall], -1);
}

TEST(DetectionMetrics, MaxDetsCut) {
  // gt [0,0,10,10]; ten far-away FPs scoring .90, .89, ... .81, then the exact box at .1 (11th).
  // maxDets 10 cuts the TP -> AR@10 0, AR@1 0. All 11 kept for 100: rc [0 x10, 1], pr [0 x10, 1/11]
  // -> envelope 1/11 throughout, every point found -> AP = 1/11; AR@100 = 1.
  std::vector<CocoDetection> dets;
  for (int i = 0; i < 10; ++i) dets.push_back(det(1, 1, 500 + 20 * i, 500, 10, 10, 0.9 - 0.01 * i));
  dets.push_back(det(1, 1, 0, 0, 10, 10, 0.1));
  auto m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10)}, dets);
  EXPECT_NEAR(m.stats[kAP], 1.0 / 11, kTol);
  EXPECT_NEAR(m.stats[kAR100], 1, kTol);
  EXPECT_NEAR(m.stats[kAR10], 0, kTol);
  EXPECT_NEAR(m.stats[kAR1], 0, kTol);
  // 100 FPs ahead of it: the TP is the 101st detection and is cut -> AP 0, AR@100 0 (it would be 1/101).
  dets.clear();
  for (int i = 0; i < 100; ++i) dets.push_back(det(1, 1, 500 + 20 * i, 500, 10, 10, 0.9));
  dets.push_back(det(1, 1, 0, 0, 10, 10, 0.5));
  m = eval({1}, {1}, {gt(1, 1, 0, 0, 10, 10)}, dets);
  EXPECT_EQ(m.stats[kAP], 0);
  EXPECT_EQ(m.stats[kAR100], 0);
}

TEST(DetectionMetrics, TwoCategories) {
  // Category 1: gt A [0,0,10,10], detection on A .9 -> AP 1, AR 1.
  // Category 2: gt B [50,50,10,10]; detections on A's box .8 (FP: IoU 0 with B) and on B .7 (TP):
  //   rc [0 1], pr [0 .5] -> envelope .5 -> AP .5, AR 1.
  // Category 3: listed, no gt, one detection -> -1, left out of the means. Category 7 is not listed: not scored.
  // AP = (1 + .5) / 2 = .75; AR = 1.
  auto m = eval({1}, {1, 2, 3}, {gt(1, 1, 0, 0, 10, 10), gt(1, 2, 50, 50, 10, 10)},
                {det(1, 1, 0, 0, 10, 10, 0.9), det(1, 2, 0, 0, 10, 10, 0.8), det(1, 2, 50, 50, 10, 10, 0.7),
                 det(1, 3, 0, 0, 10, 10, 0.6), det(1, 7, 0, 0, 10, 10, 0.6)});
  EXPECT_NEAR(m.stats[kAP], 0.75, kTol);
  EXPECT_NEAR(m.stats[kAR100], 1, kTol);
  ASSERT_EQ(m.category_ids, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(m.category_ap.size(), 3u);
  EXPECT_NEAR(m.category_ap[0], 1, kTol);
  EXPECT_NEAR(m.category_ap[1], 0.5, kTol);
  EXPECT_EQ(m.category_ap[2], -1);
  EXPECT_EQ(m.category_ground_truths, (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(m.detections, 4);  // category 7's is not counted
}

TEST(DetectionMetrics, BadInput) {
  auto unknown = coco_detection_metrics({1}, {1}, {}, {det(1, 1, 0, 0, 5, 5, 1), det(9, 1, 0, 0, 5, 5, 1)});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(unknown.status().message().find("detection 1 names image_id 9"), std::string::npos)
      << unknown.status().message();
  auto negative = coco_detection_metrics({1}, {1}, {}, {det(1, 1, 0, 0, -5, 5, 1)});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("negative bbox width"), std::string::npos);
}

TEST(DetectionMetrics, SummaryLayout) {
  // pycocotools' format: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'.
  DetectionMetrics m;
  m.stats.fill(-1);
  m.stats[kAP] = 0.505;
  m.stats[kAP50] = 0.7;
  m.stats[kAR1] = 0.25;
  const auto lines = coco_summary_lines(m);
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505");
  EXPECT_EQ(lines[1], " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.700");
  EXPECT_EQ(lines[4], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000");
  EXPECT_EQ(lines[6], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.250");
  EXPECT_EQ(lines[9], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000");
}

}  // namespace
}  // namespace kiln
