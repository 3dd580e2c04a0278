// The GIF encoder: an LZW code stream worked out by hand, a round trip through an LZW decoder written here
// from the GIF89a specification (variable code width, clear codes), the palette and the file layout.
#include "data/gif.h"

#include <gtest/gtest.h>

#include <random>

#include "data/draw.h"

namespace kiln::data {
namespace {

// GIF89a appendix F, decoder side: codes read least significant bit first, width 9 after a clear code,
// one more bit once the next free code reaches 2^width (at most 12).
std::vector<uint8_t> lzw_decode(const std::string& bytes) {
  std::vector<std::vector<uint8_t>> table;
  auto reset = [&] {
    table.assign(258, {});
    for (int i = 0; i < 256; ++i) table[i] = {static_cast<uint8_t>(i)};
  };
  reset();
  std::vector<uint8_t> out;
  size_t bit = 0;
  int width = 9, prev = -1;
  auto read = [&](int n) {
    int v = 0;
    for (int k = 0; k < n; ++k, ++bit)
      if (bit / 8 < bytes.size() && (static_cast<uint8_t>(bytes[bit / 8]) >> (bit % 8)) & 1) v |= 1 << k;
    return v;
  };
  while (bit + width <= bytes.size() * 8) {
    const int code = read(width);
    if (code == 256) {
      reset();
      width = 9;
      prev = -1;
      continue;
    }
    if (code == 257) return out;
    std::vector<uint8_t> entry;
    if (code < static_cast<int>(table.size()) && !table[code].empty())
      entry = table[code];
    else if (prev >= 0 && code == static_cast<int>(table.size())) {
      entry = table[prev];
      entry.push_back(table[prev][0]);
    } else {
      ADD_FAILURE() << "bad code " << code;
      return out;
    }
    out.insert(out.end(), entry.begin(), entry.end());
    if (prev >= 0 && table.size() < 4096) {
      std::vector<uint8_t> added = table[prev];
      added.push_back(entry[0]);
      table.push_back(added);
      if (table.size() == (1u << width) && width < 12) ++width;
    }
    prev = code;
  }
  ADD_FAILURE() << "no end code";
  return out;
}

TEST(GifLzw, FourEqualPixelsByHand) {
  // Codes: clear 256, 0, 258 (= "0 0", added after the first 0), 0, end 257; all 9 bits, packed LSB first:
  // bits 0-8 = 256, 9-17 = 0, 18-26 = 258, 27-35 = 0, 36-44 = 257 ->
  // 0x00, 0x01 (bit 8 of 256), 0x08 (258's low bits 000010 at bit 2), 0x04 (258's high bits 100),
  // 0x10 (257's low bits 0001 at bit 4), 0x10 (257's high bits 10000).
  const std::string codes = gif_lzw({0, 0, 0, 0});
  EXPECT_EQ(codes, std::string("\x00\x01\x08\x04\x10\x10", 6));
  EXPECT_EQ(lzw_decode(codes), (std::vector<uint8_t>{0, 0, 0, 0}));
}

TEST(GifLzw, RoundTripsThroughWidthChangesAndClearCodes) {
  std::mt19937 rng(7);
  // Random indices fill the 4096-entry table several times (clear codes); a ramp with runs grows the width
  // slowly through 10, 11 and 12 bits; the empty and one-pixel streams are edge cases.
  std::vector<uint8_t> noise(60000), ramp(200000);
  for (auto& v : noise) v = static_cast<uint8_t>(rng() % 256);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<uint8_t>((i / 5) % 256 ^ (i / 4096));
  for (const auto& data : {noise, ramp, std::vector<uint8_t>{}, std::vector<uint8_t>{7}}) {
    const std::vector<uint8_t> back = lzw_decode(gif_lzw(data));
    EXPECT_EQ(back, data) << "size " << data.size();
  }
}

TEST(GifPalette, CubeAndGreys) {
  const std::vector<uint8_t>& p = gif_palette_rgb();
  ASSERT_EQ(p.size(), 768u);
  EXPECT_EQ(gif_palette_index(255, 0, 0), 180);  // r level 5 * 36
  EXPECT_EQ(p[180 * 3], 255);
  EXPECT_EQ(p[180 * 3 + 1], 0);
  EXPECT_EQ(gif_palette_index(250, 210, 0), 5 * 36 + 4 * 6);  // (210 + 25) / 51 = 4
  // Grey 128: ramp step round(128 * 39 / 255) = round(19.58) = 20, value round(20 * 255 / 39) = 131.
  EXPECT_EQ(gif_palette_index(128, 128, 130), 236);
  EXPECT_EQ(p[236 * 3], 131);
  EXPECT_EQ(gif_palette_index(0, 0, 0), 216);
  EXPECT_EQ(gif_palette_index(255, 255, 255), 255);
}

TEST(GifFile, LayoutAndErrors) {
  U8Image a{2, 3, std::vector<uint8_t>(18, 0)}, b{2, 3, std::vector<uint8_t>(18, 255)};
  auto gif = encode_gif({a, b}, 10);
  ASSERT_TRUE(gif.ok()) << gif.status().message();
  EXPECT_EQ(gif->substr(0, 6), "GIF89a");
  EXPECT_EQ(static_cast<uint8_t>((*gif)[6]), 3);  // width, little endian
  EXPECT_EQ(static_cast<uint8_t>((*gif)[8]), 2);  // height
  EXPECT_EQ(gif->back(), '\x3B');
  size_t frames = 0;
  for (size_t at = gif->find("\x21\xF9\x04", 0, 3); at != std::string::npos; at = gif->find("\x21\xF9\x04", at + 1, 3))
    ++frames;
  EXPECT_EQ(frames, 2u);
  EXPECT_EQ(encode_gif({}, 10).status().code(), StatusCode::kInvalidInput);
  U8Image other{3, 3, std::vector<uint8_t>(27, 0)};
  EXPECT_EQ(encode_gif({a, other}, 10).status().code(), StatusCode::kInvalidInput);
}

TEST(Draw, RectanglesClipAndTextIsSixPixelsACharacter) {
  U8Image img{4, 5, std::vector<uint8_t>(60, 0)};
  draw_rect(img, 1, 1, 4, 4, {9, 9, 9}, 1);  // outline of x 1..3, y 1..3 (the image ends at y 3)
  auto at = [&](int x, int y) { return img.rgb[(y * 5 + x) * 3]; };
  EXPECT_EQ(at(1, 1), 9);
  EXPECT_EQ(at(3, 3), 9);
  EXPECT_EQ(at(2, 2), 0);  // inside stays
  EXPECT_EQ(at(4, 1), 0);  // right of the box
  EXPECT_EQ(at(0, 0), 0);
  fill_rect(img, -5, -5, 100, 100, {1, 1, 1});  // clipped, no overrun
  EXPECT_EQ(at(4, 3), 1);
  EXPECT_EQ(text_width("BRAKE", 2), 60);
  U8Image big = upscale_nearest(img, 3);
  EXPECT_EQ(big.w, 15);
  EXPECT_EQ(big.h, 12);
}

}  // namespace
}  // namespace kiln::data
