// Dataset metrics of a classifier (kiln accuracy): top-1/top-k accuracy, confusion matrix, per-class
// precision/recall/F1 with macro and micro averages, and one-vs-rest ROC-AUC, following scikit-learn's
// definitions (zero_division=0; roc_auc_score(multi_class="ovr", average="macro")).
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/status.h"

namespace kiln {

struct ClassMetrics {
  int64_t support = 0;  // true samples of the class
  double precision = 0, recall = 0, f1 = 0;
  double roc_auc = 0;  // one-vs-rest; NaN when the class has no positive or no negative sample
};

struct ClassificationMetrics {
  int64_t samples = 0, classes = 0;
  int k = 5;
  double top1 = 0, topk = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<ClassMetrics> per_class;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  // Single-label: micro precision = recall = F1 = top-1 accuracy.
  double micro_precision = 0, micro_recall = 0, micro_f1 = 0;
  double macro_roc_auc = 0;  // mean over classes whose AUC is defined
  int64_t auc_classes = 0;   // how many those are
};

// `scores` is [samples x classes] row-major: probabilities, or logits (then the AUC uses their softmax, as
// scikit-learn expects probabilities); top-k and argmax ties go to the lower class index. Macro averages
// are over the classes that occur as a label or a prediction (scikit-learn's default labels). Labels in
// [0, classes); bad sizes or labels: kInvalidInput saying which.
Expected<ClassificationMetrics> classification_metrics(const std::vector<double>& scores, int64_t classes,
                                                       const std::vector<int64_t>& labels, int k = 5);

// Binary ROC-AUC of `scores` for `positive` flags: the probability that a random positive outranks a
// random negative, ties counting one half (Mann-Whitney U). NaN without both kinds of sample.
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& positive);

// Row-wise softmax (for logits before the AUC: scikit-learn expects probabilities).
std::vector<double> softmax_rows(const std::vector<double>& scores, int64_t classes);

}  // namespace kiln
