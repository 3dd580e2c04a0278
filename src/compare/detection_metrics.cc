// COCO bbox evaluation: per image and category greedy matching at each IoU threshold (evaluate), precision/
// recall curves per category, area range and detection cap (accumulate), and the twelve averages (summarize).
#include "compare/detection_metrics.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

namespace kiln {
namespace {

struct AreaRange {
  double lo, hi;
};
// all, small (< 32^2), medium, large (> 96^2); both ends inclusive, as COCOeval tests `area < lo or area > hi`.
const AreaRange kAreaRanges[] = {{0, 1e10}, {0, 32.0 * 32}, {32.0 * 32, 96.0 * 96}, {96.0 * 96, 1e10}};
constexpr int kAreas = 4;
const int kMaxDets[] = {1, 10, 100};
constexpr int kCaps = 3;

// numpy.linspace(start, stop, num): arange(num) * ((stop - start) / (num - 1)) + start, last = stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> v(static_cast<size_t>(num));
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) v[static_cast<size_t>(i)] = i * step + start;
  v.back() = stop;
  return v;
}

// One image and category at one area range: the (capped, score-sorted) detections' state per threshold.
struct ImageEval {
  std::vector<double> scores;
  std::vector<std::vector<uint8_t>> matched, ignored;  // [threshold][detection]
  int64_t counted_gts = 0;                             // ground truths that are not ignored
};

// Greedy matching in score order. A detection takes the best-IoU ground truth at or above the threshold,
// preferring ones that are not ignored (they are sorted first, and once one matched the scan stops at the
// first ignored one); a crowd ground truth can take any number of detections.
ImageEval evaluate_image(const std::vector<const CocoGroundTruth*>& gts, const std::vector<const CocoDetection*>& dets,
                         const std::vector<std::vector<double>>& ious, const AreaRange& range,
                         const std::vector<double>& thresholds) {
  const size_t G = gts.size(), D = dets.size(), T = thresholds.size();
  std::vector<uint8_t> gt_ignored(G);
  for (size_t g = 0; g < G; ++g) gt_ignored[g] = gts[g]->iscrowd || gts[g]->area < range.lo || gts[g]->area > range.hi;
  std::vector<size_t> order(G);  // ignored ground truths last, stable
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return gt_ignored[a] < gt_ignored[b]; });

  ImageEval e;
  for (size_t g = 0; g < G; ++g) e.counted_gts += !gt_ignored[g];
  for (const CocoDetection* d : dets) e.scores.push_back(d->score);
  e.matched.assign(T, std::vector<uint8_t>(D, 0));
  e.ignored.assign(T, std::vector<uint8_t>(D, 0));
  for (size_t t = 0; t < T; ++t) {
    std::vector<uint8_t> taken(G, 0);  // in `order` positions
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(thresholds[t], 1 - 1e-10);
      long m = -1;
      for (size_t j = 0; j < G; ++j) {
        const size_t g = order[j];
        if (taken[j] && !gts[g]->iscrowd) continue;
        if (m > -1 && !gt_ignored[order[static_cast<size_t>(m)]] && gt_ignored[g]) break;
        if (ious[d][g] < best) continue;
        best = ious[d][g];
        m = static_cast<long>(j);
      }
      if (m == -1) continue;
      e.ignored[t][d] = gt_ignored[order[static_cast<size_t>(m)]];
      e.matched[t][d] = 1;
      taken[static_cast<size_t>(m)] = 1;
    }
  }
  // Unmatched detections outside the area range are not counted against it.
  for (size_t d = 0; d < D; ++d) {
    const double area = dets[d]->bbox.w * dets[d]->bbox.h;
    if (area < range.lo || area > range.hi)
      for (size_t t = 0; t < T; ++t)
        if (!e.matched[t][d]) e.ignored[t][d] = 1;
  }
  return e;
}

struct Curves {
  size_t T, R, K;
  std::vector<double> precision;  // [t][r][k][area][cap], -1 where undefined
  std::vector<double> recall;     // [t][k][area][cap]
  double& p(size_t t, size_t r, size_t k, int a, int m) {
    return precision[(((t * R + r) * K + k) * kAreas + static_cast<size_t>(a)) * kCaps + static_cast<size_t>(m)];
  }
  double& rc(size_t t, size_t k, int a, int m) {
    return recall[((t * K + k) * kAreas + static_cast<size_t>(a)) * kCaps + static_cast<size_t>(m)];
  }
};

// One category, area range and cap over every image evaluated (`evals` in image order).
void accumulate(const std::vector<const ImageEval*>& evals, size_t k, int a, int m,
                const std::vector<double>& rec_thresholds, Curves& c) {
  if (evals.empty()) return;
  const size_t cap = static_cast<size_t>(kMaxDets[m]);
  struct Entry {
    double score;
    const ImageEval* e;
    size_t d;
  };
  std::vector<Entry> all;
  int64_t counted = 0;
  for (const ImageEval* e : evals) {
    for (size_t d = 0; d < std::min(cap, e->scores.size()); ++d) all.push_back({e->scores[d], e, d});
    counted += e->counted_gts;
  }
  if (counted == 0) return;
  std::stable_sort(all.begin(), all.end(), [](const Entry& x, const Entry& y) { return x.score > y.score; });
  const size_t nd = all.size();
  for (size_t t = 0; t < c.T; ++t) {
    std::vector<double> rc(nd), pr(nd);
    double tp = 0, fp = 0;
    for (size_t i = 0; i < nd; ++i) {
      const bool matched = all[i].e->matched[t][all[i].d], ignored = all[i].e->ignored[t][all[i].d];
      tp += matched && !ignored;
      fp += !matched && !ignored;
      rc[i] = tp / static_cast<double>(counted);
      pr[i] = tp / (fp + tp + DBL_EPSILON);
    }
    c.rc(t, k, a, m) = nd ? rc.back() : 0;
    for (size_t i = nd; i-- > 1;)  // precision envelope: the best precision at any higher recall
      if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    for (size_t r = 0; r < c.R; ++r) {
      const size_t at = static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), rec_thresholds[r]) - rc.begin());
      c.p(t, r, k, a, m) = at < nd ? pr[at] : 0;
    }
  }
}

double mean_defined(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (x > -1) sum += x, ++n;
  return n ? sum / static_cast<double>(n) : -1;
}

// Mean precision over the chosen thresholds (all, or one index), every recall point and category.
double average_precision(Curves& c, int t_only, int a, int m, long k_only = -1) {
  std::vector<double> v;
  for (size_t t = 0; t < c.T; ++t)
    if (t_only < 0 || static_cast<size_t>(t_only) == t)
      for (size_t r = 0; r < c.R; ++r)
        for (size_t k = 0; k < c.K; ++k)
          if (k_only < 0 || static_cast<size_t>(k_only) == k) v.push_back(c.p(t, r, k, a, m));
  return mean_defined(v);
}

double average_recall(Curves& c, int a, int m) {
  std::vector<double> v;
  for (size_t t = 0; t < c.T; ++t)
    for (size_t k = 0; k < c.K; ++k) v.push_back(c.rc(t, k, a, m));
  return mean_defined(v);
}

Status check_box(const CocoBox& b, const std::string& what) {
  if (!std::isfinite(b.x) || !std::isfinite(b.y) || !std::isfinite(b.w) || !std::isfinite(b.h))
    return invalid_input(what + " has a non-finite bbox");
  if (b.w < 0 || b.h < 0)
    return invalid_input(what + " has a negative bbox " + (b.w < 0 ? "width " : "height ") +
                         std::to_string(b.w < 0 ? b.w : b.h));
  return Status::Ok();
}

}  // namespace

std::vector<double> coco_iou_thresholds() { return linspace(0.5, 0.95, 10); }
std::vector<double> coco_recall_thresholds() { return linspace(0.0, 1.0, 101); }

double coco_box_iou(const CocoBox& det, const CocoBox& gt, bool crowd) {
  const double w = std::min(det.x + det.w, gt.x + gt.w) - std::max(det.x, gt.x);
  const double h = std::min(det.y + det.h, gt.y + gt.h) - std::max(det.y, gt.y);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h, det_area = det.w * det.h;
  return inter / (crowd ? det_area : det_area + gt.w * gt.h - inter);
}

Expected<DetectionMetrics> coco_detection_metrics(const std::vector<int64_t>& image_ids,
                                                  const std::vector<int64_t>& category_ids,
                                                  const std::vector<CocoGroundTruth>& ground_truths,
                                                  const std::vector<CocoDetection>& detections) {
  DetectionMetrics out;
  std::vector<int64_t> images = image_ids, cats = category_ids;
  std::sort(images.begin(), images.end());
  images.erase(std::unique(images.begin(), images.end()), images.end());
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  std::map<int64_t, size_t> image_index, cat_index;
  for (size_t i = 0; i < images.size(); ++i) image_index[images[i]] = i;
  for (size_t k = 0; k < cats.size(); ++k) cat_index[cats[k]] = k;

  // Per (category, image): ground truths and detections in their input order.
  const size_t I = images.size(), K = cats.size();
  std::vector<std::vector<const CocoGroundTruth*>> gts(K * I);
  std::vector<std::vector<const CocoDetection*>> dets(K * I);
  out.category_ground_truths.assign(K, 0);
  for (size_t n = 0; n < ground_truths.size(); ++n) {
    const CocoGroundTruth& g = ground_truths[n];
    const std::string what = "annotation " + std::to_string(n);
    KILN_RETURN_IF_ERROR(check_box(g.bbox, what));
    auto i = image_index.find(g.image_id);
    auto k = cat_index.find(g.category_id);
    if (i == image_index.end())
      return invalid_input(what + " names image_id " + std::to_string(g.image_id) + ", not an image");
    if (k == cat_index.end()) continue;
    gts[k->second * I + i->second].push_back(&g);
    if (!g.iscrowd) ++out.category_ground_truths[k->second], ++out.ground_truths;
  }
  for (size_t n = 0; n < detections.size(); ++n) {
    const CocoDetection& d = detections[n];
    const std::string what = "detection " + std::to_string(n);
    KILN_RETURN_IF_ERROR(check_box(d.bbox, what));
    if (!std::isfinite(d.score)) return invalid_input(what + " has a non-finite score");
    auto i = image_index.find(d.image_id);
    if (i == image_index.end())
      return invalid_input(what + " names image_id " + std::to_string(d.image_id) +
                           ", which is not an image of the ground truth");
    auto k = cat_index.find(d.category_id);
    if (k == cat_index.end()) continue;  // COCOeval scores only the ground truth's categories
    dets[k->second * I + i->second].push_back(&d);
    ++out.detections;
  }
  out.images = static_cast<int64_t>(I);
  out.category_ids = cats;

  const std::vector<double> thresholds = coco_iou_thresholds(), rec_thresholds = coco_recall_thresholds();
  Curves c{thresholds.size(), rec_thresholds.size(), K, {}, {}};
  c.precision.assign(c.T * c.R * K * kAreas * kCaps, -1);
  c.recall.assign(c.T * K * kAreas * kCaps, -1);
  const size_t max_cap = static_cast<size_t>(kMaxDets[kCaps - 1]);
  for (size_t k = 0; k < K; ++k) {
    std::vector<std::vector<ImageEval>> evals(kAreas);  // [area][evaluated image]
    for (size_t i = 0; i < I; ++i) {
      const auto& g = gts[k * I + i];
      std::vector<const CocoDetection*> d = dets[k * I + i];
      if (g.empty() && d.empty()) continue;
      std::stable_sort(d.begin(), d.end(),
                       [](const CocoDetection* x, const CocoDetection* y) { return x->score > y->score; });
      if (d.size() > max_cap) d.resize(max_cap);
      std::vector<std::vector<double>> ious(d.size(), std::vector<double>(g.size()));
      for (size_t a = 0; a < d.size(); ++a)
        for (size_t b = 0; b < g.size(); ++b) ious[a][b] = coco_box_iou(d[a]->bbox, g[b]->bbox, g[b]->iscrowd);
      for (int a = 0; a < kAreas; ++a)
        evals[static_cast<size_t>(a)].push_back(evaluate_image(g, d, ious, kAreaRanges[a], thresholds));
    }
    for (int a = 0; a < kAreas; ++a) {
      std::vector<const ImageEval*> e;
      for (const ImageEval& x : evals[static_cast<size_t>(a)]) e.push_back(&x);
      for (int m = 0; m < kCaps; ++m) accumulate(e, k, a, m, rec_thresholds, c);
    }
  }

  // summarize(): the stats[] order of COCOeval.
  const int all = 0, last = kCaps - 1;
  auto& s = out.stats;
  s[kAP] = average_precision(c, -1, all, last);
  s[kAP50] = average_precision(c, 0, all, last);
  s[kAP75] = average_precision(c, 5, all, last);
  for (int a = 1; a < kAreas; ++a) s[kAPSmall + a - 1] = average_precision(c, -1, a, last);
  for (int m = 0; m < kCaps; ++m) s[kAR1 + m] = average_recall(c, all, m);
  for (int a = 1; a < kAreas; ++a) s[kARSmall + a - 1] = average_recall(c, a, last);
  for (size_t k = 0; k < K; ++k) out.category_ap.push_back(average_precision(c, -1, all, last, static_cast<long>(k)));
  return out;
}

std::vector<std::string> coco_summary_lines(const DetectionMetrics& m) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  };
  static const Line lines[kCocoStats] = {
      {true, "0.50:0.95", "all", 100},    {true, "0.50", "all", 100},          {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100},  {true, "0.50:0.95", "medium", 100},  {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},     {false, "0.50:0.95", "all", 10},     {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100}, {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100}};
  std::vector<std::string> out;
  for (int i = 0; i < kCocoStats; ++i) {
    const Line& l = lines[i];
    char buf[160];
    std::snprintf(buf, sizeof(buf), " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou, l.area, l.max_dets,
                  m.stats[static_cast<size_t>(i)]);
    out.push_back(buf);
  }
  return out;
}

const std::array<const char*, kCocoStats>& coco_stat_names() {
  static const std::array<const char*, kCocoStats> names = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                                            "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  return names;
}

}  // namespace kiln
