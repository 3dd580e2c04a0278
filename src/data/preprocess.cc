// Image preprocessing: spec parsing and validation, resize/crop geometry, normalization and layout.
#include "data/preprocess.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kiln::data {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// A whole-string positive integer.
std::optional<int64_t> positive_int(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 9) return std::nullopt;
  const int64_t v = std::stoll(t);
  if (v < 1) return std::nullopt;
  return v;
}

std::optional<double> number(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (errno != 0 || end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// "HxW" (either separator x or X).
std::optional<Size2> hxw(const std::string& text) {
  const size_t x = text.find_first_of("xX");
  if (x == std::string::npos) return std::nullopt;
  auto h = positive_int(text.substr(0, x)), w = positive_int(text.substr(x + 1));
  if (!h || !w) return std::nullopt;
  return Size2{*h, *w};
}

std::string fmt_num(double v) { return fmt::format("{:g}", v); }

}  // namespace

PreprocessText overlay(const PreprocessText& base, const PreprocessText& over) {
  PreprocessText r = base;
  for (auto [dst, src] :
       {std::pair{&r.resize, &over.resize}, std::pair{&r.crop, &over.crop}, std::pair{&r.mean, &over.mean},
        std::pair{&r.std, &over.std}, std::pair{&r.scale, &over.scale}, std::pair{&r.channels, &over.channels},
        std::pair{&r.layout, &over.layout}})
    if (!src->empty()) *dst = *src;
  return r;
}

Expected<ResizeSpec> parse_resize(const std::string& text, const std::string& what) {
  ResizeSpec r;
  if (auto n = positive_int(text)) {
    r.shorter_side = true;
    r.side = *n;
    return r;
  }
  if (auto s = hxw(text)) {
    r.size = *s;
    return r;
  }
  return usage_error(what + " '" + text + "' is not N (shorter side to N, e.g. 256) or HxW (e.g. 224x224)");
}

Expected<Size2> parse_crop(const std::string& text, const std::string& what) {
  if (auto n = positive_int(text)) return Size2{*n, *n};
  if (auto s = hxw(text)) return *s;
  return usage_error(what + " '" + text + "' is not N (an N x N center crop, e.g. 224) or HxW (e.g. 224x192)");
}

Expected<std::array<double, 3>> parse_triple(const std::string& text, const std::string& what, bool positive) {
  std::vector<double> v;
  std::stringstream ss(text);
  bool bad = false;
  for (std::string item; std::getline(ss, item, ',');) {
    auto d = number(item);
    if (!d || (positive && *d <= 0)) bad = true;
    if (d) v.push_back(*d);
  }
  if (!text.empty() && text.back() == ',') bad = true;
  if (bad || (v.size() != 1 && v.size() != 3))
    return usage_error(what + " '" + text + "' is not three " + (positive ? "positive " : "") +
                       "numbers a,b,c (one per channel, e.g. 0.485,0.456,0.406) or one number for all");
  if (v.size() == 1) return std::array<double, 3>{v[0], v[0], v[0]};
  return std::array<double, 3>{v[0], v[1], v[2]};
}

Expected<double> parse_scale(const std::string& text, const std::string& what) {
  const size_t slash = text.find('/');
  std::optional<double> v;
  if (slash == std::string::npos) {
    v = number(text);
  } else {
    auto a = number(text.substr(0, slash)), b = number(text.substr(slash + 1));
    if (a && b && *b != 0) v = *a / *b;
  }
  if (!v || *v <= 0)
    return usage_error(what + " '" + text + "' is not a positive number or fraction (e.g. 1/255 or 1)");
  return *v;
}

Expected<PreprocessSpec> parse_preprocess(const PreprocessText& t, const std::string& where) {
  PreprocessSpec s;
  if (!t.resize.empty()) {
    KILN_ASSIGN_OR_RETURN(s.resize, parse_resize(t.resize, where + "resize"));
  }
  if (!t.crop.empty()) {
    KILN_ASSIGN_OR_RETURN(s.crop, parse_crop(t.crop, where + "crop"));
  }
  if (!t.mean.empty()) {
    KILN_ASSIGN_OR_RETURN(s.mean, parse_triple(t.mean, where + "mean", false));
  }
  if (!t.std.empty()) {
    KILN_ASSIGN_OR_RETURN(s.std, parse_triple(t.std, where + "std", true));
  }
  if (!t.scale.empty()) {
    KILN_ASSIGN_OR_RETURN(s.scale, parse_scale(t.scale, where + "scale"));
  }
  const std::string ch = trim(t.channels);
  if (ch == "bgr" || ch == "BGR") {
    s.bgr = true;
  } else if (!ch.empty() && ch != "rgb" && ch != "RGB") {
    return usage_error(where + "channels '" + t.channels + "' is not rgb or bgr");
  }
  const std::string lay = trim(t.layout);
  if (lay == "nchw" || lay == "NCHW") {
    s.layout = Layout::kNCHW;
  } else if (lay == "nhwc" || lay == "NHWC") {
    s.layout = Layout::kNHWC;
  } else if (!lay.empty()) {
    return usage_error(where + "layout '" + t.layout + "' is not nchw or nhwc");
  }
  return s;
}

std::string describe(const PreprocessSpec& s) {
  std::string out;
  if (s.resize)
    out += s.resize->shorter_side ? fmt::format("resize {} (shorter side), ", s.resize->side)
                                  : fmt::format("resize {}x{}, ", s.resize->size.h, s.resize->size.w);
  if (s.crop) out += fmt::format("crop {}x{}, ", s.crop->h, s.crop->w);
  const double inverse = 1 / s.scale;
  const bool fraction = s.scale < 1 && std::abs(inverse - std::round(inverse)) < 1e-9;
  out += "scale " + (fraction ? "1/" + fmt_num(std::round(inverse)) : fmt_num(s.scale)) + ", mean [" +
         fmt_num(s.mean[0]) + "," + fmt_num(s.mean[1]) + "," + fmt_num(s.mean[2]) + "], std [" + fmt_num(s.std[0]) +
         "," + fmt_num(s.std[1]) + "," + fmt_num(s.std[2]) + "], " + (s.bgr ? "bgr" : "rgb");
  return out;
}

Expected<ImagePlan> plan_image_input(const PreprocessSpec& spec, const std::vector<int64_t>& dims,
                                     const std::string& name) {
  auto dims_text = [&] {
    std::string t;
    for (int64_t d : dims) t += (t.empty() ? "" : "x") + (d < 0 ? std::string("?") : std::to_string(d));
    return "[" + t + "]";
  };
  if (dims.size() != 4)
    return invalid_input("input '" + name + "' is " + dims_text() +
                         "; image inputs must be rank 4 (N,3,H,W or N,H,W,3)");
  ImagePlan p;
  p.spec = spec;
  if (spec.layout == Layout::kAuto) {
    if (dims[1] == 3) {
      p.nchw = true;
    } else if (dims[3] == 3) {
      p.nchw = false;
    } else {
      return invalid_input("input '" + name + "' is " + dims_text() +
                           ": no dim of 3 channels at position 1 (NCHW) or 3 (NHWC); pass --layout nchw|nhwc "
                           "(and --shapes when dims are symbolic)");
    }
  } else {
    p.nchw = spec.layout == Layout::kNCHW;
  }
  p.spec.layout = p.nchw ? Layout::kNCHW : Layout::kNHWC;
  const int64_t c = dims[p.nchw ? 1 : 3], h = dims[p.nchw ? 2 : 1], w = dims[p.nchw ? 3 : 2];
  if (c >= 0 && c != 3)
    return invalid_input("input '" + name + "' is " + dims_text() + ": " + (p.nchw ? "NCHW" : "NHWC") + " with " +
                         std::to_string(c) + " channels; images give 3");
  std::optional<Size2> from_spec;
  if (spec.crop) {
    from_spec = spec.crop;
  } else if (spec.resize && !spec.resize->shorter_side) {
    from_spec = spec.resize->size;
  }
  if (h >= 0 && w >= 0) {
    p.size = {h, w};
    if (from_spec && *from_spec != p.size)
      return usage_error(fmt::format("the preprocessing ends at {}x{} ({}) but input '{}' {} takes {}x{} images",
                                     from_spec->h, from_spec->w, spec.crop ? "--crop" : "--resize", name, dims_text(),
                                     h, w));
  } else if (from_spec) {
    p.size = *from_spec;
  } else {
    return usage_error("input '" + name + "' is " + dims_text() +
                       ": its height/width are symbolic; give --crop HxW or --resize HxW (or fix them with --shapes)");
  }
  return p;
}

Size2 resized_size(const ResizeSpec& r, Size2 img) {
  if (!r.shorter_side) return r.size;
  if (img.h <= img.w) return {r.side, std::max<int64_t>(1, img.w * r.side / img.h)};
  return {std::max<int64_t>(1, img.h * r.side / img.w), r.side};
}

int64_t center_offset(int64_t size, int64_t crop) {
  const int64_t diff = size - crop;
  const int64_t half = diff / 2;
  // diff odd: (diff / 2) is half + 0.5; Python's round() takes the even neighbour.
  return diff % 2 == 0 ? half : (half % 2 == 0 ? half : half + 1);
}

Expected<U8Image> center_crop(const U8Image& img, Size2 crop, const std::string& what) {
  if (crop.h > img.h || crop.w > img.w)
    return invalid_input(fmt::format("{}: the {}x{} crop is larger than the {}x{} image (after --resize)", what, crop.h,
                                     crop.w, img.h, img.w));
  const int64_t top = center_offset(img.h, crop.h), left = center_offset(img.w, crop.w);
  U8Image out;
  out.h = crop.h;
  out.w = crop.w;
  out.rgb.resize(static_cast<size_t>(crop.h * crop.w * 3));
  for (int64_t y = 0; y < crop.h; ++y) {
    const uint8_t* src = img.rgb.data() + ((top + y) * img.w + left) * 3;
    std::copy(src, src + crop.w * 3, out.rgb.begin() + y * crop.w * 3);
  }
  return out;
}

Expected<U8Image> fit_image(const U8Image& img, const ImagePlan& plan, const ResizeFn& resize,
                            const std::string& what) {
  const PreprocessSpec& s = plan.spec;
  const Size2 size{img.h, img.w};
  std::optional<Size2> target;
  if (s.resize) {
    target = resized_size(*s.resize, size);
  } else if (!s.crop) {
    target = plan.size;
  }
  U8Image cur;
  const U8Image* in = &img;
  if (target && *target != size) {
    auto r = resize(img, *target);
    if (!r.ok()) return r.status().with_context(what + ": ");
    cur = std::move(*r);
    in = &cur;
  }
  if (s.crop) {
    KILN_ASSIGN_OR_RETURN(cur, center_crop(*in, *s.crop, what));
    in = &cur;
  }
  if (in->h != plan.size.h || in->w != plan.size.w)
    return invalid_input(
        fmt::format("{}: the {}x{} image is {}x{} after preprocessing but the model takes {}x{}; "
                    "add --crop {}x{}",
                    what, img.h, img.w, in->h, in->w, plan.size.h, plan.size.w, plan.size.h, plan.size.w));
  if (in == &img) return img;
  return cur;
}

void normalize_into(const U8Image& img, const ImagePlan& plan, float* dst) {
  const PreprocessSpec& s = plan.spec;
  const int64_t hw = img.h * img.w;
  // (pixel * scale - mean) / std in double, rounded once to float: a table per channel.
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) table[c][v] = static_cast<float>((v * s.scale - s.mean[c]) / s.std[c]);
  for (int64_t i = 0; i < hw; ++i) {
    const uint8_t* px = img.rgb.data() + i * 3;
    for (int c = 0; c < 3; ++c) {
      const float f = table[c][px[s.bgr ? 2 - c : c]];
      if (plan.nchw)
        dst[c * hw + i] = f;
      else
        dst[i * 3 + c] = f;
    }
  }
}

}  // namespace kiln::data
