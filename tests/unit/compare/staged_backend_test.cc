// Which models the CUDA backend runs in stages, decided without a GPU: the trained Fashion detector (NonZero
// sizes what follows) is staged, a classifier is not, nor zoo ssd_lite whose NonMaxSuppression rows are its
// graph output (one engine returns them with their count).
#include "compare/staged_backend.h"

#include <gtest/gtest.h>

#include "models/zoo.h"
#include "onnx/importer.h"

namespace kiln {
namespace {

TEST(StagedBackend, OnlyModelsWhoseSizesFollowTheirDataAreStaged) {
  auto det = load_onnx(std::string(KILN_TEST_DATA_DIR) + "/../../models/fashion_detect/fashion_detect.onnx");
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  auto first = first_data_dependent_node(**det);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_NE(first->find("(NonZero)"), std::string::npos) << *first;
  models::ZooOptions o;
  auto cnn = models::build_zoo_model("tiny_cnn", o);
  ASSERT_TRUE(cnn.ok());
  auto none = first_data_dependent_node(**cnn);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  o.nms = true;
  auto ssd = models::build_zoo_model("ssd_lite", o);
  ASSERT_TRUE(ssd.ok());
  auto nms_out = first_data_dependent_node(**ssd);
  ASSERT_TRUE(nms_out.ok());
  EXPECT_EQ(*nms_out, "") << "NMS rows as the graph output need no stages";
}

}  // namespace
}  // namespace kiln
