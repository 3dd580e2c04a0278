// kiln demo braking end to end on the shipped clips (examples/braking, rendered by peers/make_braking_clip.py)
// with the committed detector (models/fashion_detect): BRAKE for the item closing in the lane, judged against
// the scene's own ground truth (clip.json: true TTC = 3.75 - 0.1 * frame s), CLEAR throughout when nothing is
// in the lane; the outputs; a video file (OpenCV videoio) and its frame rate; and the bad-input exit codes.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "core/npy.h"
#include "data/image_codec.h"

namespace kiln::clitest {
namespace {

#ifdef KILN_IMAGE_PLUGIN_BUILT
constexpr bool kPluginBuilt = true;
#else
constexpr bool kPluginBuilt = false;
#endif

#ifdef KILN_IMAGE_VIDEO_BUILT
constexpr bool kVideoBuilt = true;
#else
constexpr bool kVideoBuilt = false;
#endif

bool plugin_has_video() {
  auto codec = data::ImageCodec::get();
  return codec.ok() && (*codec)->has_video();
}

#define REQUIRE_PLUGIN()                                                                           \
  if (auto codec = data::ImageCodec::get(); !codec.ok()) {                                         \
    if (kPluginBuilt) FAIL() << "libkiln_image.so was built but " << codec.status().message();     \
    GTEST_SKIP() << "no OpenCV image plugin beside the test binary: " << codec.status().message(); \
  }

const std::string kSource = KILN_SOURCE_DIR;
const std::string kModel = kSource + "/models/fashion_detect/fashion_detect.onnx";
const std::string kApproach = kSource + "/examples/braking/approach";
const std::string kClear = kSource + "/examples/braking/clear";

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }

double box_iou(const std::vector<double>& a, const std::vector<double>& b) {
  const double iw = std::min(a[2], b[2]) - std::max(a[0], b[0]), ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  const double inter = iw > 0 && ih > 0 ? iw * ih : 0;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

TEST(DemoBraking, ApproachingItemInTheLaneBrakes) {
  REQUIRE_PLUGIN();
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  CliResult r = kiln("demo braking " + kApproach + " --model " + kModel + " --backend cpu -o " + dir);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("BRAKE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("annotated GIF: " + dir + "/braking.gif"), std::string::npos) << r.out;
  const nlohmann::json log = read_json(dir + "/braking.json");
  const nlohmann::json truth = read_json(kApproach + "/clip.json");
  ASSERT_EQ(log["frames"].size(), truth["frames"].size());
  EXPECT_EQ(log["schema"], "kiln.demo.braking/1");
  EXPECT_EQ(log["backend"]["name"], "cpu");

  // The scene: true TTC 3.75 - 0.1 i s. The first BRAKE must come once the item is truly within the WARN
  // horizon (TTC <= 3 s: frame 8 on) and the last frame (true TTC 0.75 s) must be BRAKE.
  ASSERT_FALSE(log["summary"]["first_brake_frame"].is_null()) << r.out;
  const int first = log["summary"]["first_brake_frame"];
  EXPECT_GE(first, 8) << r.out;
  EXPECT_EQ(log["frames"].back()["decision"], "BRAKE") << r.out;
  // Every BRAKE is for the lane item: the deciding track's box overlaps the item's true box.
  for (size_t i = 0; i < log["frames"].size(); ++i) {
    const nlohmann::json& f = log["frames"][i];
    EXPECT_GT(f["latency_ms"].get<double>(), 0.0);
    if (f["decision"] != "BRAKE") continue;
    std::vector<double> lane_box;
    for (const auto& o : truth["frames"][i]["objects"])
      if (o["what"] == "lane") lane_box = o["box"].get<std::vector<double>>();
    ASSERT_EQ(lane_box.size(), 4u);
    bool found = false;
    for (const auto& t : f["tracks"])
      if (t["id"] == f["track"]) {
        found = true;
        EXPECT_TRUE(t["in_lane"].get<bool>());
        EXPECT_GE(box_iou(t["box"].get<std::vector<double>>(), lane_box), 0.5) << "frame " << i;
      }
    EXPECT_TRUE(found) << "frame " << i;
  }
  const std::string gif = slurp(dir + "/braking.gif");
  EXPECT_EQ(gif.substr(0, 6), "GIF89a");
  EXPECT_EQ(gif.back(), '\x3B');
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
}

TEST(DemoBraking, NothingInTheLaneStaysClear) {
  REQUIRE_PLUGIN();
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  CliResult r = kiln("demo braking " + kClear + " --model " + kModel + " --backend cpu --quiet -o " + dir);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const nlohmann::json log = read_json(dir + "/braking.json");
  EXPECT_EQ(log["summary"]["warn"], 0) << r.out;
  EXPECT_EQ(log["summary"]["brake"], 0) << r.out;
  EXPECT_EQ(log["summary"]["clear"], log["frames"].size());
  // Not vacuous: the parked items beside the road are detected and tracked (outside the lane) in most frames.
  size_t with_tracks = 0;
  for (const auto& f : log["frames"]) {
    with_tracks += f["tracks"].empty() ? 0 : 1;
    for (const auto& t : f["tracks"]) EXPECT_FALSE(t["in_lane"].get<bool>()) << f.dump();
  }
  EXPECT_GE(with_tracks, log["frames"].size() / 2) << r.out;
}

TEST(DemoBraking, NpzClipOfEmptyRoad) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  // Four flat grey 128x128 frames: nothing to detect, so nothing to brake for.
  auto frames = Tensor::from_vector<uint8_t>({4, 128, 128, 3}, std::vector<uint8_t>(4 * 128 * 128 * 3, 120));
  ASSERT_TRUE(write_npz(dir + "/clip.npz", {{"frames", frames}}).ok());
  CliResult r = kiln("demo braking " + dir + "/clip.npz --model " + kModel + " --backend cpu -o " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const nlohmann::json log = read_json(dir + "/out/braking.json");
  EXPECT_EQ(log["summary"]["frames"], 4);
  EXPECT_EQ(log["summary"]["clear"], 4);
  EXPECT_EQ(log["frames"][0]["frame"], "frames[0]");
}

TEST(DemoBraking, BadInputsExitTwoNamingTheCulprit) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  expect_error_line(kiln("demo braking " + dir + "/nope --model " + kModel + " -o " + dir), 2,
                    "kiln demo braking: error:", {dir + "/nope", "no such file"});
  expect_error_line(kiln("demo braking " + kClear + " --model " + dir + "/missing.onnx -o " + dir), 2,
                    "kiln demo braking: error:", {dir + "/missing.onnx"});
  std::filesystem::create_directories(dir + "/empty");
  expect_error_line(kiln("demo braking " + dir + "/empty --model " + kModel + " -o " + dir), 2,
                    "kiln demo braking: error:", {dir + "/empty"});
  // A model whose outputs are not boxes/scores/labels.
  const std::string relu = write_one_node_model(dir + "/relu.onnx", "Relu", {"3", "8", "8"});
  expect_error_line(kiln("demo braking " + kClear + " --model " + relu + " -o " + dir), 2,
                    "kiln demo braking: error:", {"no output 'boxes'", "--boxes"});
  // An .npz that is not a clip.
  auto wrong = Tensor::from_vector<float>({2, 4, 4, 3}, std::vector<float>(96, 0.f));
  ASSERT_TRUE(write_npz(dir + "/wrong.npz", {{"frames", wrong}}).ok());
  expect_error_line(kiln("demo braking " + dir + "/wrong.npz --model " + kModel + " -o " + dir), 2,
                    "kiln demo braking: error:", {dir + "/wrong.npz", "uint8 [N, H, W, 3]"});
  // A file that is no video: exit 2 naming it where the plugin reads video, else 3 saying what to install.
  std::ofstream(dir + "/clip.mp4") << "not really a video";
  if (plugin_has_video())
    expect_error_line(kiln("demo braking " + dir + "/clip.mp4 --model " + kModel + " -o " + dir), 2,
                      "kiln demo braking: error:", {dir + "/clip.mp4", "cannot read the video"});
  else
    expect_error_line(kiln("demo braking " + dir + "/clip.mp4 --model " + kModel + " -o " + dir), 3,
                      "kiln demo braking: error:", {dir + "/clip.mp4", "videoio", "ffmpeg"});
  // Bad flags: exit 1.
  expect_error_line(kiln("demo braking " + kClear + " --model " + kModel + " --lane 0.8,0.2 -o " + dir), 1,
                    "kiln demo braking: error:", {"lane"});
  expect_error_line(kiln("demo braking " + kClear + " --model " + kModel + " --brake-ttc 5 -o " + dir), 1,
                    "kiln demo braking: error:", {"brake"});
  expect_error_line(kiln("demo braking " + kClear + " --model " + kModel + " --fps 0 -o " + dir), 1,
                    "kiln demo braking: error:", {"--fps"});
  expect_error_line(kiln("demo braking " + kClear + " --model " + kModel + " --ttc-window 0 -o " + dir), 1,
                    "kiln demo braking: error:", {"window"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/braking.json"));  // nothing written on failure
}

TEST(DemoBraking, VideoFileTakesItsFrameRate) {
  REQUIRE_PLUGIN();
  KILN_REQUIRE_IMPORTER();
  if (!plugin_has_video()) {
    if (kVideoBuilt) FAIL() << "libkiln_image.so was built with videoio but does not read video";
    GTEST_SKIP() << "the image plugin has no OpenCV videoio (libopencv-videoio-dev)";
  }
  const std::string dir = scratch_dir();
  const data::ImageCodec* codec = *data::ImageCodec::get();
  std::vector<data::U8Image> frames;
  for (int i = 0; i < 31; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/frame_%03d.png", i);
    auto img = codec->load(kApproach + name);
    ASSERT_TRUE(img.ok()) << img.status().message();
    frames.push_back(*img);
  }
  // The approach clip as a Motion-JPEG .avi at 15 frames/s: the demo takes the rate from the file.
  ASSERT_TRUE(codec->save_video(dir + "/approach.avi", frames, 15).ok());
  CliResult r =
      kiln("demo braking " + dir + "/approach.avi --model " + kModel + " --backend cpu -q -o " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  nlohmann::json log = read_json(dir + "/out/braking.json");
  EXPECT_EQ(log["summary"]["frames"], 31);
  EXPECT_DOUBLE_EQ(log["fps"].get<double>(), 15.0);
  EXPECT_EQ(log["fps_from"], "video");
  EXPECT_NE(r.out.find("31 frames 128x128, 15 frames/s (video"), std::string::npos) << r.out;
  // --fps overrides the file's rate; --max-frames cuts the clip.
  r = kiln("demo braking " + dir + "/approach.avi --model " + kModel + " --backend cpu -q --fps 10 --max-frames 5 -o " +
           dir + "/out2");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  log = read_json(dir + "/out2/braking.json");
  EXPECT_EQ(log["summary"]["frames"], 5);
  EXPECT_DOUBLE_EQ(log["fps"].get<double>(), 10.0);
  EXPECT_EQ(log["fps_from"], "flag");
}

TEST(DemoBraking, LargerFramesAreResizedAndBoxesScaledBack) {
  REQUIRE_PLUGIN();
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  // The approach clip at 256x256, every pixel doubled. Halving it bilinearly with half-pixel centres samples
  // at 2i + 0.5, the mean of two equal pixels: the detector sees the 128x128 frames exactly, so every box
  // must come back doubled and every decision unchanged.
  const data::ImageCodec* codec = *data::ImageCodec::get();
  std::vector<uint8_t> big;
  for (int i = 0; i < 31; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/frame_%03d.png", i);
    auto img = codec->load(kApproach + name);
    ASSERT_TRUE(img.ok()) << img.status().message();
    ASSERT_EQ(img->h, 128);
    for (int64_t y = 0; y < 256; ++y)
      for (int64_t x = 0; x < 256; ++x)
        for (int c = 0; c < 3; ++c) big.push_back(img->rgb[((y / 2) * 128 + x / 2) * 3 + c]);
  }
  ASSERT_TRUE(write_npz(dir + "/big.npz", {{"frames", Tensor::from_vector<uint8_t>({31, 256, 256, 3}, big)}}).ok());
  CliResult small = kiln("demo braking " + kApproach + " --model " + kModel + " --backend cpu -q -o " + dir + "/small");
  CliResult large =
      kiln("demo braking " + dir + "/big.npz --model " + kModel + " --backend cpu -q -o " + dir + "/large");
  ASSERT_EQ(small.code, 0) << small.err;
  ASSERT_EQ(large.code, 0) << large.err;
  const nlohmann::json a = read_json(dir + "/small/braking.json"), b = read_json(dir + "/large/braking.json");
  ASSERT_EQ(a["frames"].size(), b["frames"].size());
  for (size_t i = 0; i < a["frames"].size(); ++i) {
    const nlohmann::json &fa = a["frames"][i], &fb = b["frames"][i];
    EXPECT_EQ(fa["decision"], fb["decision"]) << "frame " << i;
    ASSERT_EQ(fa["tracks"].size(), fb["tracks"].size()) << "frame " << i;
    for (size_t t = 0; t < fa["tracks"].size(); ++t)
      for (int k = 0; k < 4; ++k)
        EXPECT_NEAR(2 * fa["tracks"][t]["box"][k].get<double>(), fb["tracks"][t]["box"][k].get<double>(), 1e-3);
  }
  // The GIF is the frame size times --gif-scale: 256 * 3 = 768 wide (bytes 6-7, little endian).
  const std::string gif = slurp(dir + "/large/braking.gif");
  ASSERT_GT(gif.size(), 10u);
  EXPECT_EQ(static_cast<uint8_t>(gif[6]) | static_cast<uint8_t>(gif[7]) << 8, 768);
}

TEST(DemoBraking, UnreadableFrameExitsTwoNamingTheFile) {
  REQUIRE_PLUGIN();
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  std::filesystem::create_directories(dir + "/frames");
  std::filesystem::copy_file(kApproach + "/frame_000.png", dir + "/frames/frame_000.png");
  std::ofstream(dir + "/frames/frame_001.png") << "truncated";
  CliResult r = kiln("demo braking " + dir + "/frames --model " + kModel + " --backend cpu -o " + dir + "/out");
  expect_error_line(r, 2, "kiln demo braking: error:", {"frame_001.png"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/out/braking.gif"));
}

}  // namespace
}  // namespace kiln::clitest
