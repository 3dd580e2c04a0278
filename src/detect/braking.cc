// Tracking, lane test, time to collision and the braking decision (see braking.h for the rules).
#include "detect/braking.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace kiln::detect {

double iou(const Box& a, const Box& b) {
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const double inter = iw > 0 && ih > 0 ? iw * ih : 0.0;
  const double uni = a.width() * a.height() + b.width() * b.height() - inter;
  return uni > 0 ? inter / uni : 0.0;
}

const char* decision_name(Decision d) {
  switch (d) {
    case Decision::kClear:
      return "CLEAR";
    case Decision::kWarn:
      return "WARN";
    case Decision::kBrake:
      return "BRAKE";
  }
  return "?";
}

Status validate(const BrakingConfig& c) {
  auto bad = [](const std::string& m) { return usage_error(m); };
  if (!(c.lane_left >= 0 && c.lane_right <= 1 && c.lane_left < c.lane_right))
    return bad("the lane must satisfy 0 <= left < right <= 1 (fractions of the frame width), got " +
               std::to_string(c.lane_left) + ", " + std::to_string(c.lane_right));
  if (!(c.score_threshold >= 0 && c.score_threshold <= 1))
    return bad("the score threshold must lie in [0, 1], got " + std::to_string(c.score_threshold));
  if (!(c.match_iou > 0 && c.match_iou <= 1))
    return bad("the matching IoU must lie in (0, 1], got " + std::to_string(c.match_iou));
  if (c.max_missed < 0) return bad("max missed frames must be >= 0, got " + std::to_string(c.max_missed));
  if (c.min_frames < 2) return bad("a TTC needs at least 2 frames of a track, got " + std::to_string(c.min_frames));
  if (c.ttc_window < 1) return bad("the TTC window must be >= 1 frame, got " + std::to_string(c.ttc_window));
  if (!(c.smoothing > 0 && c.smoothing <= 1))
    return bad("the smoothing weight must lie in (0, 1], got " + std::to_string(c.smoothing));
  if (!(c.brake_ttc > 0 && c.warn_ttc >= c.brake_ttc && std::isfinite(c.warn_ttc)))
    return bad("TTC thresholds must satisfy 0 < brake <= warn, got brake " + std::to_string(c.brake_ttc) + " s, warn " +
               std::to_string(c.warn_ttc) + " s");
  return Status::Ok();
}

double step_ttc(double h_before, double h_now, double dt) {
  if (!(h_before > 0 && h_now > h_before && dt > 0)) return kNoCollision;
  return dt / (h_now / h_before - 1);
}

FrameResult BrakingMonitor::update(const std::vector<Detection>& detections, double frame_width, double dt) {
  std::vector<const Detection*> kept;
  for (const Detection& d : detections)
    if (d.score >= config_.score_threshold) kept.push_back(&d);
  if (first_) dt = 0;
  first_ = false;
  for (Track& t : tracks_) {
    t.matched = false;
    t.seconds_since_seen += dt;
    for (auto& h : t.history) h.first += dt;
  }

  // Greedy matching: every pair above the IoU floor, best first; ties to the older track, then the earlier
  // detection (tracks_ is in creation order, so index order is age order).
  std::vector<std::tuple<double, size_t, size_t>> pairs;
  for (size_t ti = 0; ti < tracks_.size(); ++ti)
    for (size_t di = 0; di < kept.size(); ++di) {
      const double v = iou(tracks_[ti].detection.box, kept[di]->box);
      if (v >= config_.match_iou) pairs.emplace_back(v, ti, di);
    }
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
    return std::get<2>(a) < std::get<2>(b);
  });
  std::vector<bool> track_used(tracks_.size(), false), det_used(kept.size(), false);
  for (const auto& [v, ti, di] : pairs) {
    if (track_used[ti] || det_used[di]) continue;
    track_used[ti] = det_used[di] = true;
    Track& t = tracks_[ti];
    // Observation ages count back from now; the latest one joins the history, which keeps ttc_window.
    t.history.emplace_back(t.seconds_since_seen, t.detection.box.height());
    if (t.history.size() > static_cast<size_t>(config_.ttc_window)) t.history.erase(t.history.begin());
    const auto [seconds, h_before] = t.history.front();
    const double h_now = kept[di]->box.height();
    if (h_before > 0 && seconds > 0) {
      const double rate = (h_now / h_before - 1) / seconds;
      t.growth_rate = t.has_rate ? config_.smoothing * rate + (1 - config_.smoothing) * t.growth_rate : rate;
      t.has_rate = true;
    }
    t.detection = *kept[di];
    t.matched = true;
    t.frames_seen += 1;
    t.missed = 0;
    t.seconds_since_seen = 0;
  }
  for (size_t ti = 0; ti < tracks_.size(); ++ti)
    if (!track_used[ti]) tracks_[ti].missed += 1;
  tracks_.erase(
      std::remove_if(tracks_.begin(), tracks_.end(), [&](const Track& t) { return t.missed > config_.max_missed; }),
      tracks_.end());
  for (size_t di = 0; di < kept.size(); ++di) {
    if (det_used[di]) continue;
    Track t;
    t.id = next_id_++;
    t.detection = *kept[di];
    t.matched = true;
    t.frames_seen = 1;
    tracks_.push_back(t);
  }

  FrameResult r;
  for (Track& t : tracks_) {
    const double centre = (t.detection.box.x1 + t.detection.box.x2) / 2;
    t.in_lane = centre >= config_.lane_left * frame_width && centre <= config_.lane_right * frame_width;
    t.ttc = t.frames_seen >= config_.min_frames && t.has_rate && t.growth_rate > 0 ? 1 / t.growth_rate : kNoCollision;
    if (t.matched && t.in_lane && t.ttc < r.ttc) {
      r.ttc = t.ttc;
      r.track_id = t.id;
    }
  }
  if (r.ttc <= config_.brake_ttc)
    r.decision = Decision::kBrake;
  else if (r.ttc <= config_.warn_ttc)
    r.decision = Decision::kWarn;
  r.tracks = tracks_;
  return r;
}

}  // namespace kiln::detect
