// Image folders (listing, class folders, batches with stand-in decoders) and, when libkiln_image.so is
// built, the OpenCV plugin itself: decoding PPM/PNG, bilinear resize, and errors naming the file.
#include "data/image_folder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data/image_codec.h"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;

std::string scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path p = fs::path(::testing::TempDir()) / ("kiln_img_" + std::to_string(getpid()) + "_" + info->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void touch(const fs::path& p, const std::string& bytes = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

// Binary PPM (P6): OpenCV reads it, and it needs no encoder in the test.
void write_ppm(const fs::path& p, const U8Image& img) {
  std::ofstream f(p, std::ios::binary);
  f << "P6\n" << img.w << " " << img.h << "\n255\n";
  f.write(reinterpret_cast<const char*>(img.rgb.data()), static_cast<std::streamsize>(img.rgb.size()));
}

U8Image pattern(int64_t h, int64_t w, int seed) {
  U8Image img{h, w, {}};
  for (int64_t i = 0; i < h * w * 3; ++i) img.rgb.push_back(static_cast<uint8_t>((i * 37 + seed * 11) % 256));
  return img;
}

// Requires the plugin when it was built; skips, saying why, when it was not.
#define REQUIRE_IMAGE_CODEC(codec)                                                                  \
  auto codec##_or = ImageCodec::get();                                                              \
  if (!codec##_or.ok()) {                                                                           \
    if (kPluginBuilt) FAIL() << "libkiln_image.so was built but " << codec##_or.status().message(); \
    GTEST_SKIP() << "no OpenCV image plugin: " << codec##_or.status().message();                    \
  }                                                                                                 \
  const ImageCodec& codec = **codec##_or

#ifdef KILN_IMAGE_PLUGIN_BUILT
constexpr bool kPluginBuilt = true;
#else
constexpr bool kPluginBuilt = false;
#endif

TEST(ImageFolder, FlatFolderSortedByNameAnyCaseExtensions) {
  const std::string d = scratch();
  for (const char* n : {"b.png", "a.JPEG", "c.bmp", "d.ppm", "e.jpg", "notes.txt", "labels.txt"})
    touch(fs::path(d) / n);
  touch(fs::path(d) / "sub" / "z.png");  // ignored: images directly in DIR make it a flat folder
  auto f = list_image_folder(d);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->files.size(), 5u);
  EXPECT_EQ(fs::path(f->files[0]).filename().string(), "a.JPEG");
  EXPECT_EQ(fs::path(f->files[4]).filename().string(), "e.jpg");
  EXPECT_TRUE(f->classes.empty());
  EXPECT_TRUE(is_image_folder(d));
}

TEST(ImageFolder, ClassFoldersGiveLabelsInSortedOrder) {
  const std::string d = scratch();
  touch(fs::path(d) / "dog" / "2.png");
  touch(fs::path(d) / "dog" / "1.png");
  touch(fs::path(d) / "cat" / "x.jpg");
  touch(fs::path(d) / "empty" / "readme.txt");  // keeps its index: labels follow the sorted folder names
  touch(fs::path(d) / "zebra" / "a.png");
  auto f = list_image_folder(d);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->classes, (std::vector<std::string>{"cat", "dog", "empty", "zebra"}));
  ASSERT_EQ(f->files.size(), 4u);
  EXPECT_EQ(f->labels, (std::vector<int64_t>{0, 1, 1, 3}));
  EXPECT_EQ(fs::path(f->files[1]).filename().string(), "1.png");
}

TEST(ImageFolder, MissingAndEmptyFoldersAreClearErrors) {
  const std::string d = scratch();
  auto missing = list_image_folder(d + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(missing.status().message().find("nope: no such directory"), std::string::npos);
  touch(fs::path(d) / "notes.txt");
  auto empty = list_image_folder(d);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("holds no images (.png .jpg .jpeg .bmp .ppm)"), std::string::npos);
  EXPECT_FALSE(is_image_folder(d));
}

TEST(ImageFolder, BatchWithStandInDecoder) {
  const std::vector<std::string> files = {"a", "b", "c"};
  LoadFn load = [](const std::string& p) -> Expected<U8Image> {
    if (p == "c") return invalid_input(p + ": cannot read the image: broken");
    return pattern(2, 2, p[0]);
  };
  ResizeFn no_resize = [](const U8Image&, Size2) -> Expected<U8Image> { return invalid_input("unexpected resize"); };
  auto plan = plan_image_input({}, {-1, 2, 2, 3}, "x");
  ASSERT_TRUE(plan.ok());
  auto t = load_image_batch(files, 0, 2, *plan, load, no_resize);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{2, 2, 2, 3}));
  const U8Image b = pattern(2, 2, 'b');
  EXPECT_EQ(t->data<float>()[12], static_cast<float>(b.rgb[0] / 255.0));
  auto bad = load_image_batch(files, 1, 3, *plan, load, no_resize);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("c: cannot read the image"), std::string::npos);
}

TEST(ImageCodecPlugin, SearchPathsStartBesideTheExecutable) {
  const auto paths = ImageCodec::search_paths();
  if (std::getenv("KILN_IMAGE_PLUGIN")) GTEST_SKIP() << "KILN_IMAGE_PLUGIN is set";
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(fs::path(paths[0]).filename().string(), "libkiln_image.so");
  EXPECT_EQ(fs::path(paths[1]).parent_path().filename().string(), "lib");
  EXPECT_EQ(paths[2], "libkiln_image.so");
}

TEST(ImageCodecPlugin, DecodesPpmAndPngExactly) {
  REQUIRE_IMAGE_CODEC(codec);
  const std::string d = scratch();
  const U8Image img = pattern(5, 7, 3);
  write_ppm(fs::path(d) / "a.ppm", img);
  auto ppm = codec.load(d + "/a.ppm");
  ASSERT_TRUE(ppm.ok()) << ppm.status().message();
  EXPECT_EQ(ppm->h, 5);
  EXPECT_EQ(ppm->w, 7);
  EXPECT_EQ(ppm->rgb, img.rgb);  // RGB order, as written
  ASSERT_TRUE(codec.save(d + "/a.png", img).ok());
  auto png = codec.load(d + "/a.png");
  ASSERT_TRUE(png.ok()) << png.status().message();
  EXPECT_EQ(png->rgb, img.rgb);
  EXPECT_NE(codec.description().find("OpenCV"), std::string::npos);
}

TEST(ImageCodecPlugin, BilinearHalvingAveragesPixelPairs) {
  REQUIRE_IMAGE_CODEC(codec);
  // 4x4 -> 2x2: sample points fall between pixel pairs, so each output is the mean of a 2x2 block; blocks
  // whose sum is a multiple of 4 make that exact whatever the rounding.
  U8Image img{4, 4, std::vector<uint8_t>(48)};
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 4; ++x)
      for (int64_t c = 0; c < 3; ++c)
        img.rgb[(y * 4 + x) * 3 + c] = static_cast<uint8_t>(40 * c + 8 * (y + x) + 4 * (x % 2));
  auto out = codec.resize(img, {2, 2});
  ASSERT_TRUE(out.ok()) << out.status().message();
  for (int64_t y = 0; y < 2; ++y)
    for (int64_t x = 0; x < 2; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        int sum = 0;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) sum += img.rgb[((2 * y + dy) * 4 + 2 * x + dx) * 3 + c];
        ASSERT_EQ(sum % 4, 0);
        EXPECT_EQ(out->rgb[(y * 2 + x) * 3 + c], sum / 4) << y << "," << x << "," << c;
      }
}

TEST(ImageCodecPlugin, CorruptAndMissingFilesNameTheFile) {
  REQUIRE_IMAGE_CODEC(codec);
  const std::string d = scratch();
  touch(fs::path(d) / "bad.png", "this is not a png");
  auto bad = codec.load(d + "/bad.png");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status().message().find("bad.png: cannot read the image"), std::string::npos) << bad.status().message();
  auto missing = codec.load(d + "/missing.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.png"), std::string::npos);
}

}  // namespace
}  // namespace kiln::data
