// Drawing on RGB images for annotated outputs: nearest-neighbour upscaling, rectangles and a 5x7 bitmap font.
#pragma once

#include <cstdint>
#include <string>

#include "data/preprocess.h"

namespace kiln::data {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// Each pixel becomes a factor x factor block.
U8Image upscale_nearest(const U8Image& img, int factor);
// Filled rectangle [x1, x2) x [y1, y2), clipped to the image.
void fill_rect(U8Image& img, int64_t x1, int64_t y1, int64_t x2, int64_t y2, Rgb c);
// Outline of [x1, x2) x [y1, y2), `thickness` pixels inward, clipped.
void draw_rect(U8Image& img, int64_t x1, int64_t y1, int64_t x2, int64_t y2, Rgb c, int thickness);
// Text in a 5x7 font (A-Z, 0-9, space and . : - # / %; lower case is drawn as upper case, others as '?'),
// each font pixel `scale` x `scale`, 6 * scale pixels per character; top-left at x, y, clipped.
void draw_text(U8Image& img, int64_t x, int64_t y, const std::string& text, Rgb c, int scale);
// The width draw_text uses for `text`.
int64_t text_width(const std::string& text, int scale);

}  // namespace kiln::data
