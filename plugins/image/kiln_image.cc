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

}  // extern "C"
