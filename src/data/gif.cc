// GIF89a writer: fixed palette, LZW with variable code size (9..12 bits) and a clear code when the table fills.
#include "data/gif.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace kiln::data {
namespace {

constexpr int kCubeLevels = 6, kGreys = 40;

void put16(std::string& out, int v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
}

struct BitWriter {
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  void put(int code, int size) {
    acc |= static_cast<uint32_t>(code) << bits;
    bits += size;
    while (bits >= 8) {
      bytes.push_back(static_cast<char>(acc & 0xff));
      acc >>= 8;
      bits -= 8;
    }
  }
  void flush() {
    if (bits > 0) bytes.push_back(static_cast<char>(acc & 0xff));
    acc = 0;
    bits = 0;
  }
};

}  // namespace

const std::vector<uint8_t>& gif_palette_rgb() {
  static const std::vector<uint8_t> palette = [] {
    std::vector<uint8_t> p;
    for (int r = 0; r < kCubeLevels; ++r)
      for (int g = 0; g < kCubeLevels; ++g)
        for (int b = 0; b < kCubeLevels; ++b)
          for (int v : {r, g, b}) p.push_back(static_cast<uint8_t>(v * 51));
    for (int k = 0; k < kGreys; ++k)
      for (int c = 0; c < 3; ++c) p.push_back(static_cast<uint8_t>(std::lround(k * 255.0 / (kGreys - 1))));
    return p;
  }();
  return palette;
}

uint8_t gif_palette_index(uint8_t r, uint8_t g, uint8_t b) {
  const int hi = std::max({r, g, b}), lo = std::min({r, g, b});
  if (hi - lo <= 12) {
    const int mean = (r + g + b + 1) / 3;
    return static_cast<uint8_t>(216 + std::lround(mean * (kGreys - 1) / 255.0));
  }
  auto level = [](int v) { return (v + 25) / 51; };  // nearest of 0, 51, ..., 255
  return static_cast<uint8_t>(level(r) * 36 + level(g) * 6 + level(b));
}

std::string gif_lzw(const std::vector<uint8_t>& indices) {
  constexpr int kClear = 256, kEnd = 257, kMaxCode = 4096;
  BitWriter w;
  std::unordered_map<uint32_t, int> table;
  int next = kEnd + 1, size = 9;
  w.put(kClear, size);
  if (indices.empty()) {
    w.put(kEnd, size);
    w.flush();
    return w.bytes;
  }
  int prefix = indices[0];
  for (size_t i = 1; i < indices.size(); ++i) {
    const uint32_t key = (static_cast<uint32_t>(prefix) << 8) | indices[i];
    auto it = table.find(key);
    if (it != table.end()) {
      prefix = it->second;
      continue;
    }
    w.put(prefix, size);
    if (next < kMaxCode) {
      table.emplace(key, next++);
      // The decoder adds its entries one code later than the encoder: it widens when its own next code
      // reaches 2^size, i.e. once ours has passed it.
      if (next > (1 << size) && size < 12) ++size;
    } else {
      w.put(kClear, size);
      table.clear();
      next = kEnd + 1;
      size = 9;
    }
    prefix = indices[i];
  }
  w.put(prefix, size);
  w.put(kEnd, size);
  w.flush();
  return w.bytes;
}

Expected<std::string> encode_gif(const std::vector<U8Image>& frames, int delay_cs) {
  if (frames.empty()) return invalid_input("GIF: no frames to write");
  const int64_t h = frames[0].h, w = frames[0].w;
  for (size_t f = 0; f < frames.size(); ++f) {
    const U8Image& img = frames[f];
    if (img.h != h || img.w != w || img.h < 1 || img.w < 1 || img.h > 65535 || img.w > 65535 ||
        img.rgb.size() != static_cast<size_t>(img.h * img.w * 3))
      return invalid_input("GIF: frame " + std::to_string(f) + " is " + std::to_string(img.w) + "x" +
                           std::to_string(img.h) + "; every frame must have the first one's size (" +
                           std::to_string(w) + "x" + std::to_string(h) + ", at most 65535 a side)");
  }
  std::string out = "GIF89a";
  put16(out, static_cast<int>(w));
  put16(out, static_cast<int>(h));
  out += static_cast<char>(0xF7);  // global colour table of 256 entries, 8 bits of colour resolution
  out += '\0';                     // background colour index
  out += '\0';                     // no aspect ratio
  const std::vector<uint8_t>& palette = gif_palette_rgb();
  out.append(reinterpret_cast<const char*>(palette.data()), palette.size());
  out += std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19);  // loop forever
  std::vector<uint8_t> indices(static_cast<size_t>(h * w));
  for (const U8Image& img : frames) {
    out += std::string("\x21\xF9\x04\x00", 4);  // graphic control: no transparency, no disposal
    put16(out, std::max(0, std::min(delay_cs, 65535)));
    out += std::string("\x00\x00", 2);
    out += '\x2C';  // image descriptor at 0, 0, full size, no local table
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<int>(w));
    put16(out, static_cast<int>(h));
    out += '\0';
    for (size_t p = 0; p < indices.size(); ++p)
      indices[p] = gif_palette_index(img.rgb[3 * p], img.rgb[3 * p + 1], img.rgb[3 * p + 2]);
    out += '\x08';  // minimum code size
    const std::string codes = gif_lzw(indices);
    for (size_t at = 0; at < codes.size(); at += 255) {
      const size_t n = std::min<size_t>(255, codes.size() - at);
      out += static_cast<char>(n);
      out.append(codes, at, n);
    }
    out += '\0';  // block terminator
  }
  out += '\x3B';
  return out;
}

}  // namespace kiln::data
