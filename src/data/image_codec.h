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
