// libkiln_image.so: image decoding, bilinear resize and encoding through OpenCV behind a C ABI
// (src/data/image_plugin_abi.h). kiln never links OpenCV; it dlopens this library when images are used.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>
#ifdef KILN_IMAGE_VIDEO
#include <opencv2/videoio.hpp>
#endif

#include "data/image_plugin_abi.h"

namespace {

int fail(char* err, size_t errlen, const std::string& msg) {
  if (err && errlen > 0) std::snprintf(err, errlen, "%s", msg.c_str());
  return 1;
}

// OpenCV logs "can't open/read file" warnings on stderr; kiln reports the error itself.
void quiet() {
  static const bool once = [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
    return true;
  }();
  (void)once;
}

template <typename F>
int guarded(char* err, size_t errlen, F&& f) {
  try {
    return f();
  } catch (const cv::Exception& e) {
    return fail(err, errlen, "OpenCV: " + e.msg);
  } catch (const std::exception& e) {
    return fail(err, errlen, e.what());
  } catch (...) {
    return fail(err, errlen, "unknown error in the image plugin");
  }
}

}  // namespace

extern "C" {

int kiln_image_abi_version(void) { return KILN_IMAGE_ABI_VERSION; }

const char* kiln_image_backend(void) { return "OpenCV " CV_VERSION; }

int kiln_image_load(const char* path, int* height, int* width, unsigned char** rgb, char* err, size_t errlen) {
  quiet();
  return guarded(err, errlen, [&] {
    *rgb = nullptr;
    const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty())
      return fail(err, errlen, "OpenCV cannot decode it (not an image, truncated, or an unsupported format)");
    cv::Mat out(bgr.rows, bgr.cols, CV_8UC3);
    cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
    const size_t bytes = static_cast<size_t>(out.rows) * static_cast<size_t>(out.cols) * 3;
    auto* buf = static_cast<unsigned char*>(std::malloc(bytes));
    if (!buf) return fail(err, errlen, "out of memory");
    for (int y = 0; y < out.rows; ++y)
      std::memcpy(buf + static_cast<size_t>(y) * out.cols * 3, out.ptr(y), out.cols * 3);
    *height = out.rows;
    *width = out.cols;
    *rgb = buf;
    return 0;
  });
}

int kiln_image_resize(const unsigned char* rgb, int height, int width, int out_height, int out_width,
                      unsigned char* out, char* err, size_t errlen) {
  quiet();
  return guarded(err, errlen, [&] {
    if (height < 1 || width < 1 || out_height < 1 || out_width < 1) return fail(err, errlen, "empty image size");
    const cv::Mat src(height, width, CV_8UC3, const_cast<unsigned char*>(rgb));
    cv::Mat dst(out_height, out_width, CV_8UC3, out);
    cv::resize(src, dst, cv::Size(out_width, out_height), 0, 0, cv::INTER_LINEAR);
    if (dst.data != out) return fail(err, errlen, "cv::resize reallocated its output");
    return 0;
  });
}

int kiln_image_save(const char* path, const unsigned char* rgb, int height, int width, char* err, size_t errlen) {
  quiet();
  return guarded(err, errlen, [&] {
    const cv::Mat src(height, width, CV_8UC3, const_cast<unsigned char*>(rgb));
    cv::Mat bgr;
    cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite(path, bgr)) return fail(err, errlen, std::string("OpenCV cannot write ") + path);
    return 0;
  });
}

void kiln_image_free(unsigned char* rgb) { std::free(rgb); }

#ifdef KILN_IMAGE_VIDEO
int kiln_image_video_load(const char* path, int max_frames, int* frames, int* height, int* width, double* fps,
                          unsigned char** rgb, char* err, size_t errlen) {
  quiet();
  return guarded(err, errlen, [&] {
    *rgb = nullptr;
    // FFmpeg, then OpenCV's own Motion-JPEG reader; not GStreamer, which prints to stderr on files it cannot
    // open. FFmpeg's messages ("moov atom not found") are silenced unless the user set their level.
    setenv("OPENCV_FFMPEG_LOGLEVEL", "0", 0);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    cv::VideoCapture cap;
    if (!cap.open(path, cv::CAP_FFMPEG) && !cap.open(path, cv::CAP_OPENCV_MJPEG))
      return fail(err, errlen, "OpenCV cannot open it as a video (not a video, or no decoder)");
    std::vector<cv::Mat> rgb_frames;
    cv::Mat bgr;
    while ((max_frames <= 0 || static_cast<int>(rgb_frames.size()) < max_frames) && cap.read(bgr) && !bgr.empty()) {
      if (!rgb_frames.empty() && (bgr.rows != rgb_frames[0].rows || bgr.cols != rgb_frames[0].cols))
        return fail(err, errlen, "frame " + std::to_string(rgb_frames.size()) + " changes the frame size");
      cv::Mat out;
      cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
      rgb_frames.push_back(out);
    }
    if (rgb_frames.empty()) return fail(err, errlen, "OpenCV decoded no frame from it");
    const size_t frame_bytes = static_cast<size_t>(rgb_frames[0].rows) * rgb_frames[0].cols * 3;
    auto* buf = static_cast<unsigned char*>(std::malloc(frame_bytes * rgb_frames.size()));
    if (!buf) return fail(err, errlen, "out of memory");
    for (size_t f = 0; f < rgb_frames.size(); ++f)
      for (int y = 0; y < rgb_frames[f].rows; ++y)
        std::memcpy(buf + f * frame_bytes + static_cast<size_t>(y) * rgb_frames[f].cols * 3, rgb_frames[f].ptr(y),
                    rgb_frames[f].cols * 3);
    *frames = static_cast<int>(rgb_frames.size());
    *height = rgb_frames[0].rows;
    *width = rgb_frames[0].cols;
    const double rate = cap.get(cv::CAP_PROP_FPS);
    *fps = rate > 0 && rate < 1000 ? rate : 0;
    *rgb = buf;
    return 0;
  });
}

int kiln_image_video_save(const char* path, const unsigned char* rgb, int frames, int height, int width, double fps,
                          char* err, size_t errlen) {
  quiet();
  return guarded(err, errlen, [&] {
    if (frames < 1 || height < 1 || width < 1 || !(fps > 0)) return fail(err, errlen, "no frames, or fps <= 0");
    cv::VideoWriter w(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                      cv::Size(width, height), true);
    if (!w.isOpened()) return fail(err, errlen, std::string("OpenCV cannot write a Motion-JPEG .avi to ") + path);
    const size_t frame_bytes = static_cast<size_t>(height) * width * 3;
    for (int f = 0; f < frames; ++f) {
      const cv::Mat src(height, width, CV_8UC3, const_cast<unsigned char*>(rgb + f * frame_bytes));
      cv::Mat bgr;
      cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
      w.write(bgr);
    }
    return 0;
  });
}
#endif

}  // extern "C"
