// Clip input (image folder or .npz), bilinear resize and frame annotation for `kiln demo braking`.
#include "tools/kiln/demo_frames.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/npy.h"
#include "data/image_codec.h"
#include "data/image_folder.h"

namespace kiln::cli {
namespace fs = std::filesystem;

namespace {

bool has_suffix(std::string s, const std::string& suffix) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

Expected<FrameSource> FrameSource::open(const std::string& path, int max_frames) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return invalid_input(path + ": no such file or directory (give a folder of frames, an .npz or a video)");
  FrameSource s;
  s.path_ = path;
  if (fs::is_directory(path, ec)) {
    KILN_ASSIGN_OR_RETURN(data::ImageFolder folder, data::list_image_folder(path));
    if (!folder.classes.empty())
      return invalid_input(path + ": holds sub-folders of images; give one folder of frames (sorted by file name)");
    s.files_ = folder.files;
    s.count_ = s.files_.size();
    s.summary_ = path + ": " + std::to_string(s.count_) + " frames (image files, sorted by name)";
    return s;
  }
  if (has_suffix(path, ".npz")) {
    KILN_ASSIGN_OR_RETURN(NamedTensors members, read_npz(path));
    const Tensor* frames = nullptr;
    for (const auto& [name, t] : members)
      if (name == "frames") frames = &t;
    if (!frames) return invalid_input(path + ": no member 'frames' (uint8 [N, H, W, 3], RGB)");
    if (frames->dtype() != DType::kUint8 || frames->rank() != 4 || frames->dim(3) != 3 || frames->dim(0) < 1 ||
        frames->dim(1) < 1 || frames->dim(2) < 1)
      return invalid_input(path + ": member 'frames' is " + frames->describe() + "; expected uint8 [N, H, W, 3] (RGB)");
    const int64_t n = frames->dim(0), h = frames->dim(1), w = frames->dim(2);
    const uint8_t* p = frames->data<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
      data::U8Image img;
      img.h = h;
      img.w = w;
      img.rgb.assign(p + i * h * w * 3, p + (i + 1) * h * w * 3);
      s.frames_.push_back(std::move(img));
    }
    s.count_ = static_cast<size_t>(n);
    s.summary_ = path + ": " + std::to_string(n) + " frames " + std::to_string(w) + "x" + std::to_string(h);
    return s;
  }
  if (data::is_image_file(path))
    return invalid_input(path + ": a single image; give the folder that holds the clip's frames");
  // Anything else is taken for a video.
  KILN_ASSIGN_OR_RETURN(const data::ImageCodec* codec, data::ImageCodec::get());
  KILN_ASSIGN_OR_RETURN(data::ImageCodec::Video video, codec->load_video(path, max_frames));
  s.frames_ = std::move(video.frames);
  s.count_ = s.frames_.size();
  s.fps_ = video.fps;
  char rate[32] = "";
  if (s.fps_ > 0) std::snprintf(rate, sizeof rate, ", %.3g frames/s", s.fps_);
  s.summary_ = path + ": " + std::to_string(s.count_) + " frames " + std::to_string(s.frames_[0].w) + "x" +
               std::to_string(s.frames_[0].h) + rate + " (video, " + codec->description() + ")";
  return s;
}

std::string FrameSource::name(size_t i) const {
  if (!files_.empty()) return fs::path(files_[i]).filename().string();
  return "frames[" + std::to_string(i) + "]";
}

Expected<data::U8Image> FrameSource::frame(size_t i) const {
  if (i >= count_) return invalid_input(path_ + ": no frame " + std::to_string(i));
  if (files_.empty()) return frames_[i];
  KILN_ASSIGN_OR_RETURN(const data::ImageCodec* codec, data::ImageCodec::get());
  return codec->load(files_[i]);
}

data::U8Image resize_bilinear(const data::U8Image& img, int64_t h, int64_t w) {
  if (img.h == h && img.w == w) return img;
  data::U8Image out;
  out.h = h;
  out.w = w;
  out.rgb.resize(static_cast<size_t>(h * w * 3));
  auto axis = [](int64_t out_size, int64_t in_size, int64_t i, int64_t& lo, int64_t& hi, double& t) {
    const double c =
        std::clamp((i + 0.5) * static_cast<double>(in_size) / out_size - 0.5, 0.0, static_cast<double>(in_size - 1));
    lo = static_cast<int64_t>(std::floor(c));
    hi = std::min(lo + 1, in_size - 1);
    t = c - lo;
  };
  for (int64_t y = 0; y < h; ++y) {
    int64_t y0, y1;
    double ty;
    axis(h, img.h, y, y0, y1, ty);
    for (int64_t x = 0; x < w; ++x) {
      int64_t x0, x1;
      double tx;
      axis(w, img.w, x, x0, x1, tx);
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int64_t yy, int64_t xx) {
          return static_cast<double>(img.rgb[static_cast<size_t>((yy * img.w + xx) * 3 + c)]);
        };
        const double v =
            (at(y0, x0) * (1 - tx) + at(y0, x1) * tx) * (1 - ty) + (at(y1, x0) * (1 - tx) + at(y1, x1) * tx) * ty;
        out.rgb[static_cast<size_t>((y * w + x) * 3 + c)] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

data::U8Image annotate_frame(const AnnotatedFrame& f, int scale) {
  const data::Rgb red{230, 30, 30}, yellow{250, 210, 0}, green{40, 200, 60}, grey{170, 170, 170}, blue{60, 140, 255},
      black{0, 0, 0};
  data::U8Image out = data::upscale_nearest(*f.image, scale);
  const int64_t s = scale;
  for (double edge : {f.config->lane_left, f.config->lane_right}) {
    const int64_t x = static_cast<int64_t>(std::lround(edge * f.image->w * s));
    for (int64_t y = 0; y < out.h; y += 6) data::fill_rect(out, x - 1, y, x + 1, y + 3, blue);
  }
  const int text = std::max(1, scale / 2);
  for (const detect::Track& t : f.result->tracks) {
    if (!t.matched) continue;
    const data::Rgb c = !t.in_lane                     ? grey
                        : t.ttc <= f.config->brake_ttc ? red
                        : t.ttc <= f.config->warn_ttc  ? yellow
                                                       : green;
    const detect::Box& b = t.detection.box;
    const int64_t x1 = std::lround(b.x1 * s), y1 = std::lround(b.y1 * s), x2 = std::lround(b.x2 * s),
                  y2 = std::lround(b.y2 * s);
    data::draw_rect(out, x1, y1, x2, y2, c, std::max(1, scale / 2 + 1));
    std::string label = "#" + std::to_string(t.id);
    if (t.in_lane && std::isfinite(t.ttc)) label += " " + fixed(t.ttc, 1) + "S";
    const int64_t ty = y2 + 2 + 7 * text <= out.h ? y2 + 2 : std::max<int64_t>(0, y1 - 2 - 7 * text);
    data::fill_rect(out, x1, ty - 1, x1 + data::text_width(label, text) + 1, ty + 7 * text + 1, black);
    data::draw_text(out, x1 + 1, ty, label, c, text);
  }
  const detect::Decision d = f.result->decision;
  const data::Rgb banner = d == detect::Decision::kBrake ? red : d == detect::Decision::kWarn ? yellow : green;
  std::string line = detect::decision_name(d);
  if (std::isfinite(f.result->ttc)) line += " TTC " + fixed(f.result->ttc, 1) + "S";
  line += " " + fixed(f.latency_ms, 0) + "MS #" + std::to_string(f.index);
  int big = std::max(1, scale * 2 / 3);
  while (big > 1 && data::text_width(line, big) + 4 > out.w) --big;
  data::fill_rect(out, 0, 0, out.w, 7 * big + 4, banner);
  data::draw_text(out, 2, 2, line, black, big);
  return out;
}

}  // namespace kiln::cli
