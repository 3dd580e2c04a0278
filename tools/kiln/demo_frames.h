// Frames for `kiln demo braking`: a folder of images (decoded by the OpenCV plugin) or an .npz of frames, the
// resize to a detector's input, and the annotated frame (boxes, lane, decision) for the GIF.
#pragma once

#include <string>
#include <vector>

#include "data/draw.h"
#include "data/preprocess.h"
#include "detect/braking.h"
#include "kiln/status.h"

namespace kiln::cli {

// A clip: frames come one at a time (a folder decodes each file when asked).
class FrameSource {
 public:
  // DIR of .png/.ppm/.jpg/.jpeg/.bmp frames (sorted by file name), an .npz with member "frames" uint8
  // [N, H, W, 3] (RGB), or a video file (decoded whole by the plugin's OpenCV videoio, at most max_frames;
  // 0: all). kInvalidInput naming the path when it is missing, empty or does not decode; kUnsupported for a
  // video when the plugin has no videoio.
  static Expected<FrameSource> open(const std::string& path, int max_frames = 0);
  // The video's frame rate (0: unknown, or not a video).
  double fps() const { return fps_; }
  size_t size() const { return count_; }
  // Frame i's name: the file name, or "frames[i]".
  std::string name(size_t i) const;
  Expected<data::U8Image> frame(size_t i) const;
  // "DIR: 40 frames (image files, sorted by name)" / "clip.npz: 40 frames 128x128".
  const std::string& summary() const { return summary_; }

 private:
  std::string path_, summary_;
  std::vector<std::string> files_;
  std::vector<data::U8Image> frames_;  // .npz and video: all frames, decoded at open
  size_t count_ = 0;
  double fps_ = 0;
};

// Bilinear resize with half-pixel centres (as OpenCV's INTER_LINEAR); the image unchanged when the size matches.
data::U8Image resize_bilinear(const data::U8Image& img, int64_t h, int64_t w);

struct AnnotatedFrame {
  const data::U8Image* image = nullptr;
  const detect::FrameResult* result = nullptr;
  const detect::BrakingConfig* config = nullptr;
  double latency_ms = 0;
  size_t index = 0;
};
// The frame upscaled by `scale`, the lane edges, each track matched in this frame (red / yellow / green
// in the lane by its TTC, grey outside) with its id and TTC, and a banner with the decision.
data::U8Image annotate_frame(const AnnotatedFrame& f, int scale);

}  // namespace kiln::cli
