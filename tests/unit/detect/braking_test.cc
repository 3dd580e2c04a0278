// The braking logic (IoU, step TTC, tracking, smoothing, lane, decision thresholds) on cases worked out by hand
// in the comments; box heights are chosen so every ratio and rate is exact in binary floating point.
#include "detect/braking.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::detect {
namespace {

// A square box of side `h` centred at (cx, cy), score 0.9, label 1.
Detection square(double cx, double cy, double h, double score = 0.9) {
  return Detection{{cx - h / 2, cy - h / 2, cx + h / 2, cy + h / 2}, score, 1};
}

TEST(BrakingIou, HandComputed) {
  // Overlap 1x1, union 4 + 4 - 1 = 7.
  EXPECT_DOUBLE_EQ(iou({0, 0, 2, 2}, {1, 1, 3, 3}), 1.0 / 7);
  EXPECT_DOUBLE_EQ(iou({0, 0, 2, 2}, {0, 0, 2, 2}), 1.0);
  EXPECT_DOUBLE_EQ(iou({0, 0, 2, 2}, {2, 0, 4, 2}), 0.0);  // touching edges share no area
  EXPECT_DOUBLE_EQ(iou({1, 1, 1, 1}, {1, 1, 1, 1}), 0.0);  // empty boxes
  // 8x8 inside 12x12 (the growth steps below): 64 / 144.
  EXPECT_DOUBLE_EQ(iou(square(50, 50, 8).box, square(50, 50, 12).box), 64.0 / 144);
}

TEST(BrakingStepTtc, HandComputed) {
  EXPECT_DOUBLE_EQ(step_ttc(8, 12, 1.0), 2.0);     // 1 / (1.5 - 1)
  EXPECT_DOUBLE_EQ(step_ttc(16, 20, 0.5), 2.0);    // 0.5 / (1.25 - 1)
  EXPECT_EQ(step_ttc(10, 10, 0.1), kNoCollision);  // not growing
  EXPECT_EQ(step_ttc(10, 8, 0.1), kNoCollision);   // receding
  EXPECT_EQ(step_ttc(0, 8, 0.1), kNoCollision);
  EXPECT_EQ(step_ttc(8, 12, 0), kNoCollision);
}

BrakingConfig config(double brake = 1.5, double warn = 3.0) {
  BrakingConfig c;
  c.brake_ttc = brake;
  c.warn_ttc = warn;
  c.smoothing = 0.5;
  c.min_frames = 3;
  c.ttc_window = 1;  // step to step, as the rule's formula reads; the window has its own test
  return c;
}

TEST(BrakingMonitor, GrowingInLaneTrackBrakesOnceItHasThreeFrames) {
  BrakingMonitor m(config(/*brake=*/2.0, /*warn=*/3.0));
  // Heights 8, 12, 18 one second apart: each step grows 1.5x, rate (1.5 - 1) / 1 = 0.5/s, TTC 2 s.
  FrameResult r0 = m.update({square(50, 50, 8)}, 100, 1.0);
  EXPECT_EQ(r0.decision, Decision::kClear);
  ASSERT_EQ(r0.tracks.size(), 1u);
  EXPECT_EQ(r0.tracks[0].id, 1);
  EXPECT_TRUE(r0.tracks[0].in_lane);
  EXPECT_EQ(r0.tracks[0].ttc, kNoCollision);
  FrameResult r1 = m.update({square(50, 50, 12)}, 100, 1.0);
  EXPECT_EQ(r1.decision, Decision::kClear);  // two frames seen, min_frames is 3
  EXPECT_DOUBLE_EQ(r1.tracks[0].growth_rate, 0.5);
  FrameResult r2 = m.update({square(50, 50, 18)}, 100, 1.0);
  ASSERT_EQ(r2.tracks.size(), 1u);
  EXPECT_EQ(r2.tracks[0].id, 1);  // the same track (IoU 144 / 324 = 0.44 >= 0.3)
  EXPECT_EQ(r2.tracks[0].frames_seen, 3);
  EXPECT_DOUBLE_EQ(r2.tracks[0].ttc, 2.0);
  EXPECT_EQ(r2.decision, Decision::kBrake);  // TTC 2 <= brake 2 (the bound is inclusive)
  EXPECT_EQ(r2.track_id, 1);
  EXPECT_DOUBLE_EQ(r2.ttc, 2.0);
}

TEST(BrakingMonitor, WarnBetweenTheThresholds) {
  BrakingMonitor m(config(/*brake=*/1.9, /*warn=*/2.0));
  for (double h : {8.0, 12.0}) m.update({square(50, 50, h)}, 100, 1.0);
  FrameResult r = m.update({square(50, 50, 18)}, 100, 1.0);
  EXPECT_EQ(r.decision, Decision::kWarn);  // 1.9 < TTC 2 <= 2
  BrakingMonitor far(config(/*brake=*/1.0, /*warn=*/1.5));
  for (double h : {8.0, 12.0}) far.update({square(50, 50, h)}, 100, 1.0);
  EXPECT_EQ(far.update({square(50, 50, 18)}, 100, 1.0).decision, Decision::kClear);  // TTC 2 > 1.5
}

TEST(BrakingMonitor, WindowSpansSeveralObservations) {
  // Constant closing speed 1 m/s from Z = 6 m, one frame a second, height 60 / Z: 10, 12, 15, 20. The true
  // 1 / TTC at each frame is 1 / Z = 0.2, 0.25, 1/3; with a window of 3 the rates are (12/10 - 1) / 1 = 0.2,
  // (15/10 - 1) / 2 = 0.25 and (20/10 - 1) / 3 = 1/3: exact, so without averaging (smoothing 1) TTC = 3 s.
  BrakingConfig c = config();
  c.ttc_window = 3;
  c.smoothing = 1;
  BrakingMonitor m(c);
  for (double h : {10.0, 12.0}) m.update({square(50, 50, h)}, 100, 1.0);
  EXPECT_DOUBLE_EQ(m.update({square(50, 50, 15)}, 100, 1.0).tracks[0].growth_rate, 0.25);
  FrameResult r = m.update({square(50, 50, 20)}, 100, 1.0);
  EXPECT_DOUBLE_EQ(r.tracks[0].growth_rate, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.ttc, 3.0);
  // Jittered heights 8, 10, 12, 18 tell the windows apart: window 1 (18/12 - 1) / 1 = 0.5 (TTC 2), window 2
  // (18/10 - 1) / 2 = 0.4 (TTC 2.5), window 3 (18/8 - 1) / 3 = 1.25 / 3 (TTC 2.4).
  for (int window : {1, 2, 3}) {
    c.ttc_window = window;
    BrakingMonitor w(c);
    for (double h : {8.0, 10.0, 12.0}) w.update({square(50, 50, h)}, 100, 1.0);
    const double expected[] = {2.0, 2.5, 3 / 1.25};
    EXPECT_DOUBLE_EQ(w.update({square(50, 50, 18)}, 100, 1.0).ttc, expected[window - 1]) << "window " << window;
  }
}

TEST(BrakingMonitor, SmoothsTheGrowthRate) {
  BrakingMonitor m(config());
  // Rates: (12/8 - 1) / 1 = 0.5, then (15/12 - 1) / 1 = 0.25; average 0.5 * 0.25 + 0.5 * 0.5 = 0.375,
  // TTC 1 / 0.375 = 2.667 s: WARN (1.5 < 2.667 <= 3). Unsmoothed the last step alone would say 4 s.
  m.update({square(50, 50, 8)}, 100, 1.0);
  m.update({square(50, 50, 12)}, 100, 1.0);
  FrameResult r = m.update({square(50, 50, 15)}, 100, 1.0);
  EXPECT_DOUBLE_EQ(r.tracks[0].growth_rate, 0.375);
  EXPECT_DOUBLE_EQ(r.ttc, 1 / 0.375);
  EXPECT_EQ(r.decision, Decision::kWarn);
}

TEST(BrakingMonitor, ShrinkingOrSteadyObjectsStayClear) {
  BrakingMonitor m(config());
  // 12 -> 12 -> 12: rate 0 (no TTC); then 12 -> 8: rate (8/12 - 1) / 1 = -1/3, average -1/6: receding.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(m.update({square(50, 50, 12)}, 100, 1.0).decision, Decision::kClear);
  FrameResult r = m.update({square(50, 50, 8)}, 100, 1.0);
  EXPECT_EQ(r.decision, Decision::kClear);
  EXPECT_EQ(r.tracks[0].ttc, kNoCollision);
  EXPECT_DOUBLE_EQ(r.tracks[0].growth_rate, -1.0 / 6);
}

TEST(BrakingMonitor, OutsideTheLaneNeverBrakes) {
  BrakingMonitor m(config());
  // The same TTC-2 growth centred at x = 20 of a 100-wide frame: lane is [30, 70].
  for (double h : {8.0, 12.0}) m.update({square(20, 50, h)}, 100, 1.0);
  FrameResult r = m.update({square(20, 50, 18)}, 100, 1.0);
  EXPECT_FALSE(r.tracks[0].in_lane);
  EXPECT_DOUBLE_EQ(r.tracks[0].ttc, 2.0);  // it has a TTC, it is just not in the way
  EXPECT_EQ(r.decision, Decision::kClear);
  EXPECT_EQ(r.track_id, -1);
}

TEST(BrakingMonitor, LaneEdgesAreInclusive) {
  BrakingConfig c = config();
  BrakingMonitor m(c);
  // Centres 30 and 70.000001 of a 100-wide frame with the lane [0.3, 0.7]: 30 is in, 70.000001 out.
  FrameResult r = m.update({square(30, 20, 8), square(70.000001, 80, 8)}, 100, 1.0);
  ASSERT_EQ(r.tracks.size(), 2u);
  EXPECT_TRUE(r.tracks[0].in_lane);
  EXPECT_FALSE(r.tracks[1].in_lane);
}

TEST(BrakingMonitor, MissedFramesStretchTheTimeStepAndOldTracksDie) {
  BrakingConfig c = config(/*brake=*/2.0, /*warn=*/3.0);
  c.max_missed = 1;
  BrakingMonitor m(c);
  m.update({square(50, 50, 8)}, 100, 0.5);
  m.update({square(50, 50, 12)}, 100, 0.5);  // rate (1.5 - 1) / 0.5 = 1
  FrameResult gap = m.update({}, 100, 0.5);  // missed once: kept (max_missed 1), not matched
  ASSERT_EQ(gap.tracks.size(), 1u);
  EXPECT_FALSE(gap.tracks[0].matched);
  EXPECT_EQ(gap.decision, Decision::kClear);  // an unmatched track does not decide
  // Seen again 1 s after the last match: 12 -> 18 is rate 0.5 / 1 = 0.5; average 0.5 * 0.5 + 0.5 * 1 = 0.75.
  FrameResult r = m.update({square(50, 50, 18)}, 100, 0.5);
  ASSERT_EQ(r.tracks.size(), 1u);
  EXPECT_EQ(r.tracks[0].id, 1);
  EXPECT_DOUBLE_EQ(r.tracks[0].growth_rate, 0.75);
  EXPECT_DOUBLE_EQ(r.ttc, 1 / 0.75);
  EXPECT_EQ(r.decision, Decision::kBrake);
  // Two empty frames (> max_missed): the track is gone and the next detection starts track 2.
  m.update({}, 100, 0.5);
  EXPECT_TRUE(m.update({}, 100, 0.5).tracks.empty());
  FrameResult fresh = m.update({square(50, 50, 18)}, 100, 0.5);
  ASSERT_EQ(fresh.tracks.size(), 1u);
  EXPECT_EQ(fresh.tracks[0].id, 2);
  EXPECT_EQ(fresh.tracks[0].ttc, kNoCollision);
}

TEST(BrakingMonitor, GreedyMatchingFollowsOverlapNotOrder) {
  BrakingMonitor m(config());
  m.update({square(20, 50, 10), square(80, 50, 10)}, 100, 1.0);  // tracks 1 (left) and 2 (right)
  // The detections come right first: the right one still continues track 2.
  FrameResult r = m.update({square(81, 50, 10), square(21, 50, 10)}, 100, 1.0);
  ASSERT_EQ(r.tracks.size(), 2u);
  EXPECT_EQ(r.tracks[0].id, 1);
  EXPECT_DOUBLE_EQ(r.tracks[0].detection.box.x1, 16.0);
  EXPECT_EQ(r.tracks[1].id, 2);
  EXPECT_DOUBLE_EQ(r.tracks[1].detection.box.x1, 76.0);
  // A detection barely overlapping a track does not continue it: x 23..33 overlaps track 1's 16..26 by
  // 3 (IoU 30/170), nothing of track 2; below 0.3, so it starts track 3 and track 1 misses a frame.
  FrameResult r2 = m.update({square(28, 50, 10)}, 100, 1.0);
  ASSERT_EQ(r2.tracks.size(), 3u);
  EXPECT_FALSE(r2.tracks[0].matched);
  EXPECT_EQ(r2.tracks[2].id, 3);
}

TEST(BrakingMonitor, LowScoresAreIgnored) {
  BrakingConfig c = config();
  c.score_threshold = 0.5;
  BrakingMonitor m(c);
  FrameResult r = m.update({square(50, 50, 8, 0.49), square(50, 50, 8, 0.5)}, 100, 1.0);
  ASSERT_EQ(r.tracks.size(), 1u);
  EXPECT_DOUBLE_EQ(r.tracks[0].detection.score, 0.5);
}

TEST(BrakingConfig, RejectsBadValues) {
  EXPECT_TRUE(validate(BrakingConfig{}).ok());
  BrakingConfig lane;
  lane.lane_left = 0.7;
  lane.lane_right = 0.3;
  EXPECT_EQ(validate(lane).code(), StatusCode::kUsage);
  BrakingConfig order;
  order.brake_ttc = 4;
  order.warn_ttc = 3;
  const Status s = validate(order);
  EXPECT_EQ(s.code(), StatusCode::kUsage);
  EXPECT_NE(s.message().find("brake"), std::string::npos) << s.message();
  BrakingConfig frames;
  frames.min_frames = 1;
  EXPECT_FALSE(validate(frames).ok());
  BrakingConfig window;
  window.ttc_window = 0;
  EXPECT_FALSE(validate(window).ok());
  BrakingConfig smooth;
  smooth.smoothing = 0;
  EXPECT_FALSE(validate(smooth).ok());
  EXPECT_STREQ(decision_name(Decision::kBrake), "BRAKE");
}

}  // namespace
}  // namespace kiln::detect
