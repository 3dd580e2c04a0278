// The emergency-braking logic of `kiln demo braking`: IoU tracking of detections across frames, a lane
// region, time to collision from the growth of a box's height, and the per-frame CLEAR / WARN / BRAKE call.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln::detect {

// x1, y1, x2, y2 in pixels (x2 >= x1, y2 >= y1).
struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  double width() const { return x2 - x1; }
  double height() const { return y2 - y1; }
};

// Intersection over union; 0 when both boxes are empty.
double iou(const Box& a, const Box& b);

struct Detection {
  Box box;
  double score = 0;
  int64_t label = 0;
};

enum class Decision { kClear = 0, kWarn = 1, kBrake = 2 };
const char* decision_name(Decision d);  // "CLEAR", "WARN", "BRAKE"

struct BrakingConfig {
  double lane_left = 0.3, lane_right = 0.7;  // the lane: box centres with x in [left, right] * frame width
  double score_threshold = 0.5;              // detections scoring less are ignored
  double match_iou = 0.3;                    // a detection continues a track when their IoU is at least this
  int max_missed = 2;                        // frames a track survives without a matching detection
  int min_frames = 3;                        // frames a track must have been seen before it has a TTC
  // The growth step spans up to this many of the track's observations back: h_t / h_{t-k} - 1 = k dt / TTC
  // holds exactly at constant closing speed for any k, and a pixel of box jitter weighs k times less.
  int ttc_window = 4;
  double smoothing = 0.5;                  // weight of the newest growth rate in its moving average
  double warn_ttc = 3.0, brake_ttc = 1.5;  // seconds
};
// kUsage naming the bad field (lane outside [0, 1] or empty, thresholds out of range, brake > warn, ...).
Status validate(const BrakingConfig& c);

constexpr double kNoCollision = std::numeric_limits<double>::infinity();

// Time to collision from the height growth over dt seconds: dt / (h_now / h_before - 1); infinite when the
// height does not grow (or either height is not positive).
double step_ttc(double h_before, double h_now, double dt);

struct Track {
  int64_t id = 0;
  Detection detection;  // the latest matched detection
  bool in_lane = false;
  bool matched = false;  // matched in the latest frame
  int frames_seen = 0;   // frames with a matching detection
  int missed = 0;        // frames since the last match
  double seconds_since_seen = 0;
  // The last ttc_window observations before the latest: (seconds before the latest one, height).
  std::vector<std::pair<double, double>> history;
  // Exponential moving average of the relative height growth rate (1/s); TTC = 1 / rate when positive.
  double growth_rate = 0;
  bool has_rate = false;
  double ttc = kNoCollision;  // seconds; infinite until min_frames and a positive smoothed rate
};

struct FrameResult {
  Decision decision = Decision::kClear;
  double ttc = kNoCollision;  // the smallest TTC of an in-lane track matched in this frame
  int64_t track_id = -1;      // whose TTC that is (-1: none)
  std::vector<Track> tracks;  // alive tracks after this frame, by id
};

// Feeds one frame's detections at a time. Tracks are matched greedily by IoU (highest pair first, ties to
// the older track, then the earlier detection); a track's height growth since its observation ttc_window
// matches back (or its oldest) gives a step TTC whose inverse (the growth rate) is averaged; the frame's
// decision is BRAKE when an in-lane matched track's TTC is at most brake_ttc, WARN when at most warn_ttc,
// else CLEAR.
class BrakingMonitor {
 public:
  explicit BrakingMonitor(BrakingConfig config) : config_(config) {}
  // dt: seconds since the previous frame (ignored on the first). frame_width: pixels, for the lane.
  FrameResult update(const std::vector<Detection>& detections, double frame_width, double dt);

 private:
  BrakingConfig config_;
  std::vector<Track> tracks_;
  int64_t next_id_ = 1;
  bool first_ = true;
};

}  // namespace kiln::detect
