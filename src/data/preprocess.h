// Image preprocessing spec (resize, center crop, scale, mean/std, channel order, layout) and the plain C++
// steps kiln does itself (crop, normalize, layout); decoding and the bilinear resize live in the OpenCV plugin.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::data {

struct Size2 {
  int64_t h = 0, w = 0;
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
  bool operator!=(const Size2& o) const { return !(*this == o); }
};

// --resize N: the shorter side becomes N (torchvision Resize(int)); --resize HxW: exactly H x W.
struct ResizeSpec {
  bool shorter_side = false;
  int64_t side = 0;  // when shorter_side
  Size2 size;        // otherwise
};

enum class Layout { kAuto, kNCHW, kNHWC };

struct PreprocessSpec {
  std::optional<ResizeSpec> resize;
  std::optional<Size2> crop;  // center crop
  double scale = 1.0 / 255;   // pixel * scale first, then (value - mean) / std
  std::array<double, 3> mean{0, 0, 0}, std{1, 1, 1};
  bool bgr = false;  // channel order of the tensor (the images are decoded as RGB)
  Layout layout = Layout::kAuto;
};

// The spec as text, one field per flag / YAML key; an empty field was not given.
struct PreprocessText {
  std::string resize, crop, mean, std, scale, channels, layout;
};

// `over`'s given fields replace `base`'s (flags over the YAML config).
PreprocessText overlay(const PreprocessText& base, const PreprocessText& over);

// Parsers; errors are kUsage naming the flag and showing a valid example. `what` names the source
// ("--resize" or "model.yaml: inputs[0].preprocess.resize").
Expected<ResizeSpec> parse_resize(const std::string& text, const std::string& what);
Expected<Size2> parse_crop(const std::string& text, const std::string& what);
// "a,b,c" or one value for all three channels.
Expected<std::array<double, 3>> parse_triple(const std::string& text, const std::string& what, bool positive);
// A number or a fraction "1/255".
Expected<double> parse_scale(const std::string& text, const std::string& what);
// `where` prefixes the names of the fields in errors ("--" for flags).
Expected<PreprocessSpec> parse_preprocess(const PreprocessText& text, const std::string& where = "--");

// One line for reports: "resize 256 (shorter side), crop 224x224, scale 0.00392157, mean [..], std [..], rgb, nchw".
std::string describe(const PreprocessSpec& spec);

// The spec resolved against one model input: the layout and the H x W every image must end at.
struct ImagePlan {
  PreprocessSpec spec;
  bool nchw = true;
  Size2 size;
};
// `dims` are the input's dims (-1 where unknown). The input must be rank 4 with 3 channels at dim 1 (NCHW)
// or 3 (NHWC); without --layout the position of the 3 decides. H x W come from the model, else from
// --crop, else from --resize HxW.
Expected<ImagePlan> plan_image_input(const PreprocessSpec& spec, const std::vector<int64_t>& dims,
                                     const std::string& input_name);

// An 8-bit RGB image, h rows of w * 3 bytes.
struct U8Image {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> rgb;
};

// The size --resize gives an h x w image. Shorter side N: the longer side is floor(long * N / short), as
// torchvision's Resize does.
Size2 resized_size(const ResizeSpec& r, Size2 image);
// The top/left of a centered crop: round((size - crop) / 2) with ties to even, as torchvision's CenterCrop.
int64_t center_offset(int64_t size, int64_t crop);
// kInvalidInput when the crop is larger than the image.
Expected<U8Image> center_crop(const U8Image& img, Size2 crop, const std::string& what);

// Bilinear resize to a size (the plugin's, or a stand-in in tests).
using ResizeFn = std::function<Expected<U8Image>(const U8Image&, Size2)>;
// resize (--resize, else straight to the plan's size when there is no --crop), center crop, then a check
// that the result is the plan's size. `what` names the image in errors.
Expected<U8Image> fit_image(const U8Image& img, const ImagePlan& plan, const ResizeFn& resize, const std::string& what);
// Writes one fitted image as floats ((pixel * scale - mean[c]) / std[c], channels in the spec's order) at
// `dst`, laid out C x H x W (nchw) or H x W x C.
void normalize_into(const U8Image& img, const ImagePlan& plan, float* dst);

}  // namespace kiln::data
