// Image decoding for kiln: libkiln_image.so (OpenCV inside) loaded with dlopen on first use, so the kiln
// binary runs on machines without OpenCV and only image inputs need it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/preprocess.h"
#include "kiln/status.h"

namespace kiln::data {

class ImageCodec {
 public:
  // The plugin, loaded once per process. Where from: $KILN_IMAGE_PLUGIN, else beside the running
  // executable, else ../lib from it, else the dynamic loader's search path. When none loads, kUnsupported
  // explaining what is missing (the dlerror of each try) and what to do.
  static Expected<const ImageCodec*> get();
  // The places get() tries, in order.
  static std::vector<std::string> search_paths();

  Expected<U8Image> load(const std::string& path) const;
  Expected<U8Image> resize(const U8Image& img, Size2 size) const;
  Status save(const std::string& path, const U8Image& img) const;

  // Video, when the plugin was built with OpenCV's videoio (else kUnsupported saying what to install).
  struct Video {
    std::vector<U8Image> frames;
    double fps = 0;  // the container's frame rate; 0 when it records none
  };
  bool has_video() const;
  // Every frame (at most max_frames; 0: all). kInvalidInput naming the file when it does not decode.
  Expected<Video> load_video(const std::string& path, int max_frames = 0) const;
  // A Motion-JPEG .avi of equally sized frames.
  Status save_video(const std::string& path, const std::vector<U8Image>& frames, double fps) const;
  // "OpenCV 4.6.0 (/path/libkiln_image.so)".
  const std::string& description() const { return description_; }

  struct Api;
  ImageCodec(std::unique_ptr<Api> api, std::string description);
  ~ImageCodec();

 private:
  std::unique_ptr<Api> api_;
  std::string description_;
};

}  // namespace kiln::data
