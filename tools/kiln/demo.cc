// `kiln demo braking`: an emergency-braking demo on a clip: a detector on a backend per frame, IoU tracking,
// a lane region, time to collision from box growth, CLEAR / WARN / BRAKE per frame, a JSON log and a GIF.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/result.h"
#include "compare/backends.h"
#include "compare/metrics.h"
#include "data/gif.h"
#include "detect/braking.h"
#include "kiln/engine.h"
#include "kiln/version.h"
#include "tools/kiln/backend_list.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/demo_frames.h"

namespace kiln::cli {
namespace {

struct BrakingArgs {
  std::string input = "examples/braking/approach";
  std::string model = "models/fashion_detect/fashion_detect.onnx";
  std::string backend = "auto";
  std::string output_dir = "out/demo/braking";
  std::string boxes = "boxes", scores = "scores", labels = "labels";
  std::vector<double> lane = {0.3, 0.7};
  double fps = 10;
  bool fps_given = false;  // else a video's own frame rate when it has one
  int max_frames = 0;
  int gif_scale = 3;
  bool quiet = false;
  detect::BrakingConfig config;
};

// The detector's one image input: [3, H, W] or [1, 3, H, W], float32, static.
struct DetectorInput {
  std::string name;
  Shape shape;
  int64_t h = 0, w = 0;
};

Expected<DetectorInput> detector_input(const Graph& g, const BrakingArgs& a) {
  if (g.inputs.size() != 1)
    return invalid_input(a.model + ": the detector must have one input (an image), it has " +
                         std::to_string(g.inputs.size()));
  const Value* in = g.inputs[0];
  KILN_RETURN_IF_ERROR(require_static_input(*in, ""));
  DetectorInput d{in->name, {}, 0, 0};
  for (const Dim& dim : in->shape.dims) d.shape.push_back(dim.value);
  const size_t r = d.shape.size();
  const bool layout = (r == 3 || (r == 4 && d.shape[0] == 1)) && d.shape[r - 3] == 3;
  if (in->dtype != DType::kFloat32 || !layout)
    return invalid_input(a.model + ": input '" + in->name + "' is " + dtype_name(in->dtype) + " " +
                         in->shape.to_string() + "; the demo feeds float32 [3, H, W] or [1, 3, H, W] (pixels 0..255)");
  d.h = d.shape[r - 2];
  d.w = d.shape[r - 1];
  std::string names;
  for (const Value* out : g.outputs) names += (names.empty() ? "" : ", ") + out->name;
  for (const std::string* want : {&a.boxes, &a.scores, &a.labels}) {
    bool found = false;
    for (const Value* out : g.outputs) found |= out->name == *want;
    if (!found)
      return invalid_input(a.model + ": no output '" + *want + "' (outputs: " + names +
                           "); the demo needs boxes [N, 4], scores [N], labels [N]: name them with --boxes, "
                           "--scores, --labels");
  }
  return d;
}

Tensor planar_input(const data::U8Image& img, const DetectorInput& in) {
  std::vector<float> v(static_cast<size_t>(3 * img.h * img.w));
  const size_t plane = static_cast<size_t>(img.h * img.w);
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c) v[c * plane + p] = img.rgb[3 * p + c];
  return Tensor::from_vector<float>(in.shape, v);
}

// Detections in frame pixels (boxes scaled back from the model's input size).
Expected<std::vector<detect::Detection>> decode(const TensorMap& out, const BrakingArgs& a, double sx, double sy) {
  const Tensor* t[3];
  const std::string* names[3] = {&a.boxes, &a.scores, &a.labels};
  for (int k = 0; k < 3; ++k) {
    auto it = out.find(*names[k]);
    if (it == out.end()) return invalid_input(a.model + ": the backend returned no output '" + *names[k] + "'");
    t[k] = &it->second;
  }
  const std::vector<double> boxes = tensor_to_doubles(*t[0]), scores = tensor_to_doubles(*t[1]),
                            labels = tensor_to_doubles(*t[2]);
  const size_t n = scores.size();
  if (t[0]->rank() < 1 || t[0]->dim(t[0]->rank() - 1) != 4 || boxes.size() != 4 * n || labels.size() != n)
    return invalid_input(a.model + ": outputs " + t[0]->describe() + ", " + t[1]->describe() + ", " + t[2]->describe() +
                         " are not boxes [N, 4], scores [N], labels [N] of one N");
  std::vector<detect::Detection> dets(n);
  for (size_t j = 0; j < n; ++j) {
    dets[j].box = {boxes[4 * j] * sx, boxes[4 * j + 1] * sy, boxes[4 * j + 2] * sx, boxes[4 * j + 3] * sy};
    dets[j].score = scores[j];
    dets[j].label = std::llround(labels[j]);
    if (!(dets[j].box.width() >= 0 && dets[j].box.height() >= 0 && std::isfinite(dets[j].score)))
      return invalid_input(a.model + ": detection " + std::to_string(j) +
                           " is not x1, y1, x2, y2 with x2 >= x1 "
                           "and y2 >= y1, or its score is not finite");
  }
  return dets;
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json frame_json(size_t index, const std::string& name, double latency_ms, size_t detections,
                          const detect::FrameResult& r) {
  nlohmann::json tracks = nlohmann::json::array();
  for (const detect::Track& t : r.tracks) {
    if (!t.matched) continue;
    const detect::Box& b = t.detection.box;
    tracks.push_back({{"id", t.id},
                      {"label", t.detection.label},
                      {"score", t.detection.score},
                      {"box", {b.x1, b.y1, b.x2, b.y2}},
                      {"in_lane", t.in_lane},
                      {"frames_seen", t.frames_seen},
                      {"growth_rate", t.has_rate ? nlohmann::json(t.growth_rate) : nlohmann::json()},
                      {"ttc", number_or_null(t.ttc)}});
  }
  return {{"index", index},
          {"frame", name},
          {"latency_ms", latency_ms},
          {"detections", detections},
          {"decision", detect::decision_name(r.decision)},
          {"ttc", number_or_null(r.ttc)},
          {"track", r.track_id >= 0 ? nlohmann::json(r.track_id) : nlohmann::json()},
          {"tracks", tracks}};
}

Expected<std::string> choose_backend(const std::string& requested) {
  if (requested != "auto") return requested;
  std::string why;
  if (cuda_available(&why)) return std::string("cuda:fp16");
  std::cout << "demo braking: no usable GPU (" << why << "): running the CPU reference backend\n";
  return std::string("cpu");
}

Status run_braking(BrakingArgs a) {
  if (a.lane.size() != 2) return usage_error("--lane takes two fractions of the frame width: LEFT,RIGHT");
  a.config.lane_left = a.lane[0];
  a.config.lane_right = a.lane[1];
  KILN_RETURN_IF_ERROR(detect::validate(a.config));
  if (!(a.fps > 0 && std::isfinite(a.fps))) return usage_error("--fps must be > 0");
  if (a.gif_scale < 1 || a.gif_scale > 8) return usage_error("--gif-scale must be 1..8");

  if (a.max_frames < 0) return usage_error("--max-frames must be >= 0");
  KILN_ASSIGN_OR_RETURN(FrameSource clip, FrameSource::open(a.input, a.max_frames));
  if (clip.size() == 0) return invalid_input(a.input + ": no frames");
  const size_t frames_used = a.max_frames > 0 ? std::min(clip.size(), static_cast<size_t>(a.max_frames)) : clip.size();
  if (!a.fps_given && clip.fps() > 0) a.fps = clip.fps();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(a.model, ec))
    return invalid_input(a.model + ": no such model file (give the detector with --model)");
  KILN_ASSIGN_OR_RETURN(GraphLoader loader, shape_override_loader({}));
  KILN_ASSIGN_OR_RETURN(auto graph, loader(a.model));
  KILN_ASSIGN_OR_RETURN(DetectorInput in, detector_input(*graph, a));
  KILN_ASSIGN_OR_RETURN(std::string backend_name, choose_backend(a.backend));
  KILN_ASSIGN_OR_RETURN(BackendSpec spec, parse_backend(backend_name));
  KILN_ASSIGN_OR_RETURN(auto runner, make_backend(spec, a.model, loader));
  std::cout << "demo braking: " << clip.summary() << "\n  detector " << a.model << " on " << spec.name << " ("
            << runner->description() << "), input " << in.w << "x" << in.h << "\n  lane x in [" << a.config.lane_left
            << ", " << a.config.lane_right << "] of the width, " << a.fps
            << " frames/s, WARN at TTC <= " << a.config.warn_ttc << " s, BRAKE at TTC <= " << a.config.brake_ttc
            << " s\n";

  detect::BrakingMonitor monitor(a.config);
  nlohmann::json frames = nlohmann::json::array();
  std::vector<data::U8Image> annotated;
  std::vector<double> latencies;
  int counts[3] = {0, 0, 0};
  long first_brake = -1;
  for (size_t i = 0; i < frames_used; ++i) {
    auto frame = clip.frame(i);
    if (!frame.ok()) return frame.status().with_context("frame " + clip.name(i) + ": ");
    const data::U8Image model_image = resize_bilinear(*frame, in.h, in.w);
    TensorMap feeds;
    feeds[in.name] = planar_input(model_image, in);
    const auto t0 = std::chrono::steady_clock::now();
    auto outs = runner->run({feeds});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!outs.ok()) return outs.status().with_context("backend " + spec.name + ", frame " + clip.name(i) + ": ");
    KILN_ASSIGN_OR_RETURN(
        auto dets, decode(outs->at(0), a, static_cast<double>(frame->w) / in.w, static_cast<double>(frame->h) / in.h));
    const detect::FrameResult r = monitor.update(dets, static_cast<double>(frame->w), 1.0 / a.fps);
    latencies.push_back(ms);
    counts[static_cast<int>(r.decision)] += 1;
    if (r.decision == detect::Decision::kBrake && first_brake < 0) first_brake = static_cast<long>(i);
    if (!a.quiet) {
      char line[200];
      std::snprintf(line, sizeof(line), "frame %3zu %-14s %-5s", i, clip.name(i).c_str(),
                    detect::decision_name(r.decision));
      std::cout << line;
      if (r.track_id >= 0) {
        std::snprintf(line, sizeof(line), "  TTC %5.2f s (track %lld)", r.ttc, static_cast<long long>(r.track_id));
        std::cout << line;
      } else {
        std::cout << "                          ";
      }
      std::snprintf(line, sizeof(line), "  latency %7.2f ms", ms);
      std::cout << line << "\n";
    }
    frames.push_back(frame_json(i, clip.name(i), ms, dets.size(), r));
    annotated.push_back(annotate_frame({&*frame, &r, &a.config, ms, i}, a.gif_scale));
  }

  std::vector<double> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double v : latencies) mean += v / latencies.size();
  const double median = sorted[sorted.size() / 2];
  std::filesystem::create_directories(a.output_dir, ec);
  if (ec) return invalid_input(a.output_dir + ": cannot create the output folder (" + ec.message() + ")");
  const std::string gif_path = a.output_dir + "/braking.gif", json_path = a.output_dir + "/braking.json";
  KILN_ASSIGN_OR_RETURN(std::string gif, data::encode_gif(annotated, static_cast<int>(std::lround(100 / a.fps))));
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(gif_path, gif));
  nlohmann::json doc = {
      {"schema", "kiln.demo.braking/1"},
      {"kiln", {{"version", KILN_VERSION}, {"git_sha", KILN_GIT_SHA}}},
      {"input", a.input},
      {"model", a.model},
      {"backend", {{"name", spec.name}, {"description", runner->description()}}},
      {"fps", a.fps},
      {"fps_from", a.fps_given || clip.fps() <= 0 ? "flag" : "video"},
      {"config",
       {{"lane", {a.config.lane_left, a.config.lane_right}},
        {"score_threshold", a.config.score_threshold},
        {"match_iou", a.config.match_iou},
        {"max_missed", a.config.max_missed},
        {"min_frames", a.config.min_frames},
        {"ttc_window", a.config.ttc_window},
        {"smoothing", a.config.smoothing},
        {"warn_ttc", a.config.warn_ttc},
        {"brake_ttc", a.config.brake_ttc}}},
      {"summary",
       {{"frames", frames_used},
        {"clear", counts[0]},
        {"warn", counts[1]},
        {"brake", counts[2]},
        {"first_brake_frame", first_brake >= 0 ? nlohmann::json(first_brake) : nlohmann::json()},
        {"latency_ms", {{"mean", mean}, {"median", median}, {"min", sorted.front()}, {"max", sorted.back()}}}}},
      {"gif", gif_path},
      {"frames", frames}};
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(json_path, doc.dump(2) + "\n"));
  char line[200];
  std::snprintf(line, sizeof(line), "%zu frames: %d CLEAR, %d WARN, %d BRAKE", frames_used, counts[0], counts[1],
                counts[2]);
  std::cout << line;
  if (first_brake >= 0) {
    std::snprintf(line, sizeof(line), "; first BRAKE at frame %ld (%.2f s)", first_brake, first_brake / a.fps);
    std::cout << line;
  }
  std::snprintf(line, sizeof(line), "\ndetection latency on %s: mean %.2f ms, median %.2f ms, max %.2f ms\n",
                spec.name.c_str(), mean, median, sorted.back());
  std::cout << line << "annotated GIF: " << gif_path << "\nlog: " << json_path << "\n";
  return Status::Ok();
}

void add_braking(CLI::App& demo, std::shared_ptr<BrakingArgs> a) {
  CLI::App* app = demo.add_subcommand("braking", "Emergency braking on a clip: detect, track, time to collision");
  app->add_option("input", a->input,
                  "Folder of frames (.png .ppm .jpg .jpeg .bmp, sorted by name), an .npz with 'frames' uint8 "
                  "[N, H, W, 3], or a video file (OpenCV videoio)")
      ->capture_default_str();
  app->add_option("--model", a->model,
                  "The detector (ONNX): one float32 input [3, H, W] or [1, 3, H, W] taking pixels 0..255; outputs "
                  "boxes [N, 4] x1, y1, x2, y2, scores [N], labels [N]")
      ->capture_default_str();
  app->add_option("--backend", a->backend,
                  "auto (cuda:fp16 with a GPU, else cpu), or one backend as for kiln compare: " + known_backends_text())
      ->capture_default_str();
  app->add_option("-o,--output-dir", a->output_dir, "Writes braking.json (log) and braking.gif (annotated) here")
      ->capture_default_str();
  app->add_option("--fps", a->fps, "Frames per second of the clip (the TTC's time step; a video's own rate by default)")
      ->capture_default_str()
      ->each([a](const std::string&) { a->fps_given = true; });
  app->add_option("--max-frames", a->max_frames, "Use at most this many frames (0: all)")->capture_default_str();
  app->add_option("--lane", a->lane, "The lane: box centres with x in [LEFT, RIGHT] (fractions of the width)")
      ->delimiter(',')
      ->expected(2)
      ->capture_default_str();
  app->add_option("--score-threshold", a->config.score_threshold, "Detections scoring less are ignored")
      ->capture_default_str();
  app->add_option("--match-iou", a->config.match_iou, "IoU for a detection to continue a track")->capture_default_str();
  app->add_option("--max-missed", a->config.max_missed, "Frames a track survives without a detection")
      ->capture_default_str();
  app->add_option("--min-frames", a->config.min_frames, "Frames a track needs before it has a TTC")
      ->capture_default_str();
  app->add_option("--ttc-window", a->config.ttc_window,
                  "Observations of a track the height growth spans (1: frame to frame)")
      ->capture_default_str();
  app->add_option("--smoothing", a->config.smoothing,
                  "Weight of the newest growth rate in the moving average (1: no smoothing)")
      ->capture_default_str();
  app->add_option("--warn-ttc", a->config.warn_ttc, "WARN when an in-lane object's TTC is at most this (s)")
      ->capture_default_str();
  app->add_option("--brake-ttc", a->config.brake_ttc, "BRAKE when an in-lane object's TTC is at most this (s)")
      ->capture_default_str();
  app->add_option("--boxes", a->boxes, "Output name of the boxes")->capture_default_str();
  app->add_option("--scores", a->scores, "Output name of the scores")->capture_default_str();
  app->add_option("--labels", a->labels, "Output name of the labels")->capture_default_str();
  app->add_option("--gif-scale", a->gif_scale, "Upscaling of the annotated GIF (1..8)")->capture_default_str();
  app->add_flag("-q,--quiet", a->quiet, "Print the summary only, not a line per frame");
  app->footer(
      "Per frame: the detector runs on the backend (its latency is timed), detections scoring at least\n"
      "--score-threshold are matched to tracks by IoU, and each track's TTC = dt / (h_t / h_prev - 1) from the\n"
      "growth of its box height since --ttc-window observations back (dt: the time between them), averaged as a\n"
      "growth rate (1 / TTC). The frame is BRAKE when an in-lane track\n"
      "seen in this frame has TTC <= --brake-ttc, WARN when <= --warn-ttc, else CLEAR (docs/DETECTION.md).\n"
      "Exit codes: 0 done (whatever the decisions), 1 bad flags, 2 bad input (missing or unreadable clip,\n"
      "frame or video, a model without the outputs), 3 unsupported (a video, when the image plugin has no\n"
      "OpenCV videoio), 5 backend unavailable.\n"
      "Examples:\n"
      "  kiln demo braking examples/braking/approach\n"
      "  kiln demo braking frames/ --model detector.onnx --backend cuda:fp16 --fps 30 --lane 0.35,0.65\n"
      "  kiln demo braking dashcam.mp4 --model detector.onnx --max-frames 300\n");
}

KILN_SUBCOMMAND(demo, Subcommand{"demo", "Demos on a model: 'braking' (emergency braking on a clip)",
                                 [](CLI::App& app) -> std::function<int()> {
                                   auto a = std::make_shared<BrakingArgs>();
                                   add_braking(app, a);
                                   app.require_subcommand(1);
                                   CLI::App* braking = app.get_subcommand("braking");
                                   return [a, braking] {
                                     if (braking->parsed()) {
                                       Status s = run_braking(*a);
                                       return s.ok() ? 0 : fail("demo braking", s);
                                     }
                                     return fail("demo", usage_error("name a demo: braking"));
                                   };
                                 }});

}  // namespace
}  // namespace kiln::cli
