// Classifier dataset metrics: confusion matrix first, then everything else from it and from the scores.
#include "compare/classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln {
namespace {

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }  // scikit-learn's zero_division=0

// Indices of the k largest entries of row[0..n), ties to the lower index.
std::vector<int64_t> top_k(const double* row, int64_t n, int k) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

// Rows already non-negative and summing to 1 (a softmax output) are used as they are.
bool are_probabilities(const std::vector<double>& scores, int64_t classes) {
  for (size_t r = 0; r + static_cast<size_t>(classes) <= scores.size(); r += static_cast<size_t>(classes)) {
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const double v = scores[r + static_cast<size_t>(c)];
      if (!(v >= 0 && v <= 1)) return false;
      sum += v;
    }
    if (std::fabs(sum - 1) > 1e-3) return false;
  }
  return true;
}

}  // namespace

double roc_auc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  // Rank-sum formulation: average ranks over ties, AUC = (R+ - P(P+1)/2) / (P N).
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double avg_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t t = i; t <= j; ++t)
      if (positive[order[t]]) rank_sum += avg_rank, ++pos;
    i = j + 1;
  }
  const int64_t neg = static_cast<int64_t>(n) - pos;
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(pos);
  return (rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(neg));
}

std::vector<double> softmax_rows(const std::vector<double>& scores, int64_t classes) {
  std::vector<double> out(scores.size());
  for (size_t r = 0; r + static_cast<size_t>(classes) <= scores.size(); r += static_cast<size_t>(classes)) {
    const double mx = *std::max_element(scores.begin() + static_cast<std::ptrdiff_t>(r),
                                        scores.begin() + static_cast<std::ptrdiff_t>(r + classes));
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += out[r + c] = std::exp(scores[r + c] - mx);
    for (int64_t c = 0; c < classes; ++c) out[r + c] /= sum;
  }
  return out;
}

Expected<ClassificationMetrics> classification_metrics(const std::vector<double>& scores, int64_t classes,
                                                       const std::vector<int64_t>& labels, int k) {
  if (classes < 2)
    return invalid_input("a classifier needs at least 2 classes, the output has " + std::to_string(classes));
  if (scores.size() != labels.size() * static_cast<size_t>(classes))
    return invalid_input(std::to_string(labels.size()) + " labels but " + std::to_string(scores.size()) +
                         " scores (expected labels x " + std::to_string(classes) + " classes)");
  ClassificationMetrics m;
  m.samples = static_cast<int64_t>(labels.size());
  m.classes = classes;
  m.k = static_cast<int>(std::min<int64_t>(std::max(k, 1), classes));
  m.confusion.assign(static_cast<size_t>(classes), std::vector<int64_t>(static_cast<size_t>(classes), 0));
  int64_t hit1 = 0, hitk = 0;
  for (int64_t i = 0; i < m.samples; ++i) {
    const int64_t y = labels[static_cast<size_t>(i)];
    if (y < 0 || y >= classes)
      return invalid_input("label " + std::to_string(y) + " of sample " + std::to_string(i) + " is outside [0, " +
                           std::to_string(classes) + ")");
    const auto top = top_k(scores.data() + i * classes, classes, m.k);
    ++m.confusion[static_cast<size_t>(y)][static_cast<size_t>(top[0])];
    hit1 += top[0] == y;
    hitk += std::find(top.begin(), top.end(), y) != top.end();
  }
  m.top1 = ratio(static_cast<double>(hit1), static_cast<double>(m.samples));
  m.topk = ratio(static_cast<double>(hitk), static_cast<double>(m.samples));
  m.micro_precision = m.micro_recall = m.micro_f1 = m.top1;

  const std::vector<double> probs = are_probabilities(scores, classes) ? scores : softmax_rows(scores, classes);
  double auc_sum = 0;
  int64_t averaged = 0;  // scikit-learn averages over the labels seen in y_true or y_pred
  for (int64_t c = 0; c < classes; ++c) {
    ClassMetrics cm;
    int64_t tp = m.confusion[static_cast<size_t>(c)][static_cast<size_t>(c)], predicted = 0;
    for (int64_t t = 0; t < classes; ++t) predicted += m.confusion[static_cast<size_t>(t)][static_cast<size_t>(c)];
    for (int64_t p = 0; p < classes; ++p) cm.support += m.confusion[static_cast<size_t>(c)][static_cast<size_t>(p)];
    cm.precision = ratio(static_cast<double>(tp), static_cast<double>(predicted));
    cm.recall = ratio(static_cast<double>(tp), static_cast<double>(cm.support));
    cm.f1 = ratio(2 * cm.precision * cm.recall, cm.precision + cm.recall);
    std::vector<double> col(static_cast<size_t>(m.samples));
    std::vector<bool> pos(static_cast<size_t>(m.samples));
    for (int64_t i = 0; i < m.samples; ++i) {
      col[static_cast<size_t>(i)] = probs[static_cast<size_t>(i * classes + c)];
      pos[static_cast<size_t>(i)] = labels[static_cast<size_t>(i)] == c;
    }
    cm.roc_auc = roc_auc(col, pos);
    if (!std::isnan(cm.roc_auc)) auc_sum += cm.roc_auc, ++m.auc_classes;
    if (cm.support > 0 || predicted > 0) {
      ++averaged;
      m.macro_precision += cm.precision;
      m.macro_recall += cm.recall;
      m.macro_f1 += cm.f1;
    }
    m.per_class.push_back(cm);
  }
  if (averaged) {
    m.macro_precision /= static_cast<double>(averaged);
    m.macro_recall /= static_cast<double>(averaged);
    m.macro_f1 /= static_cast<double>(averaged);
  }
  m.macro_roc_auc =
      m.auc_classes ? auc_sum / static_cast<double>(m.auc_classes) : std::numeric_limits<double>::quiet_NaN();
  return m;
}

}  // namespace kiln
