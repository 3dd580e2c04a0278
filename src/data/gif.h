// A small animated-GIF encoder (GIF89a, LZW) for annotated outputs such as `kiln demo braking`'s: RGB frames
// are mapped onto one fixed 256-colour palette (a 6x6x6 colour cube plus a 40-step grey ramp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/preprocess.h"
#include "kiln/status.h"

namespace kiln::data {

// The fixed palette: entries 0..215 are the cube (r * 36 + g * 6 + b, levels 0, 51, ..., 255), 216..255
// the greys round(k * 255 / 39), k = 0..39.
const std::vector<uint8_t>& gif_palette_rgb();  // 768 bytes
// The palette index of a colour: near-grey colours (max - min channel <= 12) take the nearest grey ramp
// entry, others the nearest cube entry per channel.
uint8_t gif_palette_index(uint8_t r, uint8_t g, uint8_t b);

// GIF's LZW code stream of palette indices (minimum code size 8) before it is cut into sub-blocks: clear
// code first, end code last, codes packed least significant bit first.
std::string gif_lzw(const std::vector<uint8_t>& indices);

// An animated GIF that loops forever, `delay_cs` hundredths of a second per frame. kInvalidInput when there
// are no frames, a frame is empty or larger than 65535 on a side, or the frames differ in size.
Expected<std::string> encode_gif(const std::vector<U8Image>& frames, int delay_cs);

}  // namespace kiln::data
