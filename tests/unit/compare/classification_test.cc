// Classifier dataset metrics against values worked out by hand (the arithmetic is in the comments).
#include "compare/classification.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

// Four samples, three classes, probabilities:
//   s0 [0.7 0.2 0.1] label 0 -> predicted 0      s1 [0.3 0.6 0.1] label 1 -> 1
//   s2 [0.5 0.1 0.4] label 2 -> predicted 0      s3 [0.2 0.3 0.5] label 1 -> 2
const std::vector<double> kScores = {0.7, 0.2, 0.1, 0.3, 0.6, 0.1, 0.5, 0.1, 0.4, 0.2, 0.3, 0.5};
const std::vector<int64_t> kLabels = {0, 1, 2, 1};

TEST(Classification, ConfusionPrecisionRecallF1) {
  auto m = classification_metrics(kScores, 3, kLabels, 2);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->confusion, (std::vector<std::vector<int64_t>>{{1, 0, 0}, {0, 1, 1}, {1, 0, 0}}));
  EXPECT_DOUBLE_EQ(m->top1, 0.5);
  EXPECT_DOUBLE_EQ(m->topk, 1.0);  // every label is in its sample's top 2
  // Class 0: tp 1 of 2 predicted, 1 true -> P 0.5, R 1, F1 2/3. Class 1: 1 of 1, 1 of 2 -> P 1, R 0.5,
  // F1 2/3. Class 2: nothing right -> 0, 0, 0.
  EXPECT_DOUBLE_EQ(m->per_class[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(m->per_class[0].recall, 1.0);
  EXPECT_NEAR(m->per_class[0].f1, 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(m->per_class[1].precision, 1.0);
  EXPECT_DOUBLE_EQ(m->per_class[1].recall, 0.5);
  EXPECT_EQ(m->per_class[1].support, 2);
  EXPECT_DOUBLE_EQ(m->per_class[2].f1, 0.0);
  EXPECT_NEAR(m->macro_precision, 1.5 / 3, 1e-12);
  EXPECT_NEAR(m->macro_recall, (1 + 0.5 + 0) / 3, 1e-12);
  EXPECT_NEAR(m->macro_f1, (4.0 / 3) / 3, 1e-12);
  EXPECT_DOUBLE_EQ(m->micro_f1, 0.5);
}

TEST(Classification, OneVsRestRocAuc) {
  auto m = classification_metrics(kScores, 3, kLabels, 2);
  ASSERT_TRUE(m.ok());
  // Class 0: the positive (0.7) outranks 0.3, 0.5, 0.2 -> 1. Class 1: positives 0.6, 0.3 vs negatives
  // 0.2, 0.1 -> 4/4. Class 2: positive 0.4 beats 0.1, 0.1, loses to 0.5 -> 2/3.
  EXPECT_DOUBLE_EQ(m->per_class[0].roc_auc, 1.0);
  EXPECT_DOUBLE_EQ(m->per_class[1].roc_auc, 1.0);
  EXPECT_NEAR(m->per_class[2].roc_auc, 2.0 / 3, 1e-12);
  EXPECT_NEAR(m->macro_roc_auc, (2 + 2.0 / 3) / 3, 1e-12);
  EXPECT_EQ(m->auc_classes, 3);
}

TEST(Classification, TiesCountHalf) {
  // Positive 0.5 ties negative 0.5 (1/2) and beats 0.2 (1): (0.5 + 1) / 2.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.2}, {true, false, false}), 0.75);
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {true, true})));
}

TEST(Classification, UnseenClassesAreLeftOutOfMacroAverages) {
  // A fourth class that is never a label nor a prediction (its score is always the lowest).
  std::vector<double> scores;
  for (size_t i = 0; i < kLabels.size(); ++i) {
    for (int c = 0; c < 3; ++c) scores.push_back(kScores[i * 3 + c] * 0.9);
    scores.push_back(0.0);
  }
  // Not probabilities any more (rows sum to 0.9), so the AUC goes through the softmax.
  auto m = classification_metrics(scores, 4, kLabels, 2);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->macro_precision, 1.5 / 3, 1e-12);
  EXPECT_EQ(m->auc_classes, 3);  // class 3 has no positive sample
  EXPECT_TRUE(std::isnan(m->per_class[3].roc_auc));
}

TEST(Classification, SoftmaxRows) {
  const auto p = softmax_rows({0, std::log(3.0)}, 2);
  EXPECT_NEAR(p[0], 0.25, 1e-12);
  EXPECT_NEAR(p[1], 0.75, 1e-12);
}

TEST(Classification, BadInput) {
  EXPECT_EQ(classification_metrics(kScores, 3, {0, 1, 2}, 2).status().code(), StatusCode::kInvalidInput);
  auto bad = classification_metrics(kScores, 3, {0, 1, 3, 1}, 2);
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status().message().find("label 3 of sample 2 is outside [0, 3)"), std::string::npos);
}

}  // namespace
}  // namespace kiln
