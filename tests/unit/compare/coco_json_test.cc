// Reading COCO annotation and results files: the fields taken, their defaults, and every malformed entry
// refused with the file and entry named.
#include "compare/coco_json.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

const char* kAnnotations = R"({
  "images": [{"id": 7, "file_name": "a.png", "width": 320, "height": 240}, {"id": 3}],
  "categories": [{"id": 1, "name": "shirt"}, {"id": 5, "name": "bag"}],
  "annotations": [
    {"id": 1, "image_id": 7, "category_id": 5, "bbox": [1.5, 2, 10, 20], "area": 150, "iscrowd": 0},
    {"id": 2, "image_id": 3, "category_id": 1, "bbox": [0, 0, 4, 5], "iscrowd": 1}
  ]})";

TEST(CocoJson, Annotations) {
  auto d = parse_coco_annotations(kAnnotations, "a.json");
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->images.size(), 2u);
  EXPECT_EQ(d->images[0].file_name, "a.png");
  EXPECT_EQ(d->images[0].width, 320);
  EXPECT_EQ(d->image_ids(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(d->category_ids(), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(d->category_name(5), "bag");
  ASSERT_EQ(d->annotations.size(), 2u);
  EXPECT_EQ(d->annotations[0].bbox.x, 1.5);
  EXPECT_EQ(d->annotations[0].area, 150);  // the field, not 10 * 20
  EXPECT_FALSE(d->annotations[0].iscrowd);
  EXPECT_EQ(d->annotations[1].area, 20);  // absent: w * h
  EXPECT_TRUE(d->annotations[1].iscrowd);
}

TEST(CocoJson, Results) {
  auto r = parse_coco_results(R"([{"image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4], "score": 0.25}])", "r.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].bbox.h, 4);
  EXPECT_EQ((*r)[0].score, 0.25);
  auto empty = parse_coco_results("[]", "r.json");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

void expect_bad(const Status& s, const std::vector<std::string>& needles) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput) << s.message();
  for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << n << " not in: " << s.message();
}

TEST(CocoJson, BadFiles) {
  expect_bad(parse_coco_annotations("{\"images\": [", "a.json").status(), {"a.json", "not valid JSON"});
  expect_bad(parse_coco_annotations("[]", "a.json").status(), {"a.json", "object with images"});
  expect_bad(parse_coco_annotations(R"({"images": [], "categories": []})", "a.json").status(),
             {"no 'annotations' array"});
  expect_bad(parse_coco_annotations(
                 R"({"images": [{"id": 1}], "categories": [{"id": 1}],
                     "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, -2, 3]}]})",
                 "a.json")
                 .status(),
             {"a.json: annotations[0]", "negative width"});
  expect_bad(parse_coco_annotations(
                 R"({"images": [{"id": 1}], "categories": [{"id": 1}],
                     "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 2, 3]}]})",
                 "a.json")
                 .status(),
             {"annotations[0]", "image_id 2"});
  expect_bad(
      parse_coco_annotations(R"({"images": [{"id": 1}, {"id": 1}], "categories": [], "annotations": []})", "a.json")
          .status(),
      {"images[1]", "repeats image id 1"});
  expect_bad(parse_coco_results(R"({"annotations": []})", "r.json").status(), {"r.json", "array"});
  expect_bad(
      parse_coco_results(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2], "score": 1}])", "r.json").status(),
      {"r.json: entry 0", "not 4 numbers"});
  expect_bad(parse_coco_results(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}])", "r.json").status(),
             {"entry 0 has no 'score'"});
  expect_bad(parse_coco_results(R"([{"image_id": "x", "category_id": 1, "bbox": [0, 0, 2, 2], "score": 1}])", "r.json")
                 .status(),
             {"'image_id' is \"x\""});
  expect_bad(read_coco_results("/nonexistent/r.json").status(), {"/nonexistent/r.json", "cannot open"});
}

TEST(CocoJson, DetectionsAsGroundTruth) {
  std::vector<CocoDetection> dets(2);
  dets[0].bbox = {0, 0, 4, 5};
  dets[0].score = 0.9;
  dets[1].score = 0.1;
  const auto gts = detections_as_ground_truth(dets, 0.3);
  ASSERT_EQ(gts.size(), 1u);  // .1 is below the threshold
  EXPECT_EQ(gts[0].area, 20);
  EXPECT_FALSE(gts[0].iscrowd);
}

}  // namespace
}  // namespace kiln
