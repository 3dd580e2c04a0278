// GPU NonMaxSuppression against the CPU reference: the same selected (batch, class, box) rows, in the same order,
// on random and tied scores, both box formats, with and without a score threshold, at SSD scale; the engine's
// output has a data-dependent row count (upper bound allocated, real count returned by the session). The
// refusals (a layer reading the rows, a dynamic profile) are checked without a GPU in
// tests/unit/cuda/nms_lower_test.cc.
#include <cmath>
#include <cstring>

#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

// [batch, n, 4] boxes: corners (y1, x1, y2, x2) with either diagonal, or centres (xc, yc, w, h); clustered so
// that many pairs overlap.
Tensor make_boxes(int64_t batch, int64_t n, bool center, uint64_t seed) {
  Tensor t = Tensor::create(DType::kFloat32, {batch, n, 4}).value();
  Rng rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < batch * n; ++i) {
    const float cy = 10.f * rng.uniform_float(), cx = 10.f * rng.uniform_float();
    const float h = 0.5f + 2.f * rng.uniform_float(), w = 0.5f + 2.f * rng.uniform_float();
    if (center) {
      p[4 * i] = cx, p[4 * i + 1] = cy, p[4 * i + 2] = w, p[4 * i + 3] = h;
    } else if (i % 3 == 0) {  // the other diagonal
      p[4 * i] = cy + h / 2, p[4 * i + 1] = cx + w / 2, p[4 * i + 2] = cy - h / 2, p[4 * i + 3] = cx - w / 2;
    } else {
      p[4 * i] = cy - h / 2, p[4 * i + 1] = cx - w / 2, p[4 * i + 2] = cy + h / 2, p[4 * i + 3] = cx + w / 2;
    }
  }
  return t;
}

// [batch, classes, n] scores in [0, 1); with `levels`, only that many distinct values (ties everywhere).
Tensor make_scores(int64_t batch, int64_t classes, int64_t n, uint64_t seed, int levels = 0) {
  Tensor t = random_floats({batch, classes, n}, seed, 0.f, 1.f);
  if (levels > 0)
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::floor(t.data<float>()[i] * levels) / levels;
  return t;
}

NodeCase nms_case(Tensor boxes, Tensor scores, int64_t max_out, float iou, const float* score_threshold,
                  bool center = false) {
  NodeCase c;
  c.op = "NonMaxSuppression";
  c.opset = 11;
  c.attrs = {{"center_point_box", attr_i(center ? 1 : 0)}};
  c.inputs = {std::move(boxes), std::move(scores), Tensor::from_vector<int64_t>({1}, {max_out}),
              Tensor::from_vector<float>({1}, {iou})};
  if (score_threshold) c.inputs.push_back(Tensor::from_vector<float>({1}, {*score_threshold}));
  c.constant = {false, false, true, true, true};
  return c;
}

TEST(GpuNms, SameRowsAsTheCpuReference) {
  const float thr = 0.3f, zero = 0.f;
  struct Case {
    const char* what;
    int64_t batch, classes, n, max_out;
    float iou;
    const float* score_threshold;
    bool center;
    int levels;
  };
  const Case cases[] = {
      {"random corners", 2, 3, 200, 20, 0.5f, &thr, false, 0},
      {"centres", 2, 3, 200, 20, 0.5f, &thr, true, 0},
      {"tied scores", 1, 4, 300, 50, 0.4f, &thr, false, 8},
      {"no threshold, max_out above n", 2, 2, 64, 1000, 0.6f, nullptr, false, 0},
      {"threshold 0, iou 0", 1, 2, 100, 30, 0.f, &zero, false, 16},
      {"max_out 0", 2, 3, 50, 0, 0.5f, &thr, false, 0},
      {"SSD scale", 4, 21, 3000, 100, 0.45f, &thr, false, 0},
  };
  uint64_t seed = 1;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    NodeCase c =
        nms_case(make_boxes(k.batch, k.n, k.center, seed), make_scores(k.batch, k.classes, k.n, seed + 1, k.levels),
                 k.max_out, k.iou, k.score_threshold, k.center);
    seed += 2;
    EXPECT_EQ(run_case(c, "fp32", 0, 0), "");
  }
}

// One session, two runs with different data: the row count follows the data (never the last run's, never the
// upper bound), and the rows are the CPU reference's each time.
TEST(GpuNms, RowCountFollowsEachRun) {
  const float thr = 0.5f;
  NodeCase c = nms_case(make_boxes(1, 100, false, 7), make_scores(1, 2, 100, 8), 40, 0.5f, &thr);
  auto s = node_session(c);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  for (float scale : {1.f, 0.6f}) {  // lower scores: fewer boxes over the threshold
    SCOPED_TRACE(scale);
    TensorMap run_feeds{{"x0", c.inputs[0]}};
    Tensor scores = make_scores(1, 2, 100, 8);
    for (int64_t i = 0; i < scores.numel(); ++i) scores.data<float>()[i] *= scale;
    run_feeds["x1"] = scores;
    auto want = run_cpu(*s->reference, run_feeds);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(run_session_against(*s->session, run_feeds, want->at("y0")), "");
  }
}

}  // namespace
}  // namespace kiln::gputest
