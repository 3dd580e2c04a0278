// kiln accuracy / kiln compare on image folders: the metrics and outputs equal those of an .npz made from
// the same pixels with the preprocessing computed here independently; errors for bad folders, files, specs
// and a missing OpenCV plugin. Skips (saying why) when libkiln_image.so is absent.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "core/npy.h"
#include "data/image_codec.h"

namespace kiln::clitest {
namespace {

namespace fs = std::filesystem;
using data::U8Image;

#ifdef KILN_IMAGE_PLUGIN_BUILT
constexpr bool kPluginBuilt = true;
#else
constexpr bool kPluginBuilt = false;
#endif

// Skips (saying why) without the plugin; fails when it was built but does not load.
#define REQUIRE_PLUGIN()                                                                           \
  if (auto codec = data::ImageCodec::get(); !codec.ok()) {                                         \
    if (kPluginBuilt) FAIL() << "libkiln_image.so was built but " << codec.status().message();     \
    GTEST_SKIP() << "no OpenCV image plugin beside the test binary: " << codec.status().message(); \
  }

void write_ppm(const std::string& path, const U8Image& img) {
  std::ofstream f(path, std::ios::binary);
  f << "P6\n" << img.w << " " << img.h << "\n255\n";
  f.write(reinterpret_cast<const char*>(img.rgb.data()), static_cast<std::streamsize>(img.rgb.size()));
}

// PNG through the plugin for even indices, PPM otherwise: both decoders get exercised.
void write_image(const std::string& stem, const U8Image& img, int i) {
  if (i % 2 == 0) {
    ASSERT_TRUE((*data::ImageCodec::get())->save(stem + ".png", img).ok());
  } else {
    write_ppm(stem + ".ppm", img);
  }
}

// Pixels on a coarse grid of 2x2 blocks (so halving them with any bilinear filter is exact).
U8Image blocky(int64_t h, int64_t w, int seed) {
  U8Image img{h, w, std::vector<uint8_t>(static_cast<size_t>(h * w * 3))};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c)
        img.rgb[(y * w + x) * 3 + c] = static_cast<uint8_t>((seed * 53 + (y / 2) * 29 + (x / 2) * 71 + c * 97) % 256);
  return img;
}

struct Norm {
  double mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
  bool bgr = false;
};

// The expected NCHW tensor of images cropped at (top, left) to h x w, computed independently of kiln:
// value = (pixel * (1/255) - mean[c]) / std[c] in double, channel c of the tensor = R,G,B (or B,G,R).
Tensor expected_batch(const std::vector<U8Image>& imgs, int64_t top, int64_t left, int64_t h, int64_t w,
                      const Norm& n) {
  std::vector<float> v;
  for (const U8Image& img : imgs)
    for (int c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int src_c = n.bgr ? 2 - c : c;
          const double p = img.rgb[((top + y) * img.w + left + x) * 3 + src_c];
          v.push_back(static_cast<float>((p * (1.0 / 255) - n.mean[c]) / n.std[c]));
        }
  return Tensor::from_vector<float>({static_cast<int64_t>(imgs.size()), 3, h, w}, v);
}

// Every 2x2 block's top-left pixel: the image halved.
U8Image halve(const U8Image& img) {
  U8Image out{img.h / 2, img.w / 2, {}};
  for (int64_t y = 0; y < out.h; ++y)
    for (int64_t x = 0; x < out.w; ++x)
      for (int64_t c = 0; c < 3; ++c) out.rgb.push_back(img.rgb[((2 * y) * img.w + 2 * x) * 3 + c]);
  return out;
}

class ImageCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir();
    model_ = dir_ + "/model.onnx";
    const CliResult z = kiln("zoo tiny_cnn --batch dynamic --height 16 --width 16 --classes 6 --seed 3 -o " + model_);
    ASSERT_EQ(z.code, 0) << z.err;
  }
  static nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }
  std::string dir_, model_;
};

TEST_F(ImageCli, AccuracyOnAFlatFolderEqualsTheNpz) {
  REQUIRE_PLUGIN();
  const std::string imgs = dir_ + "/imgs";
  fs::create_directories(imgs);
  std::vector<U8Image> pixels;
  std::string labels;
  for (int i = 0; i < 12; ++i) {
    pixels.push_back(blocky(16, 16, i));
    write_image(imgs + "/img" + std::to_string(10 + i), pixels.back(), i);
    labels += std::to_string(i % 6) + "\n";
  }
  std::ofstream(dir_ + "/labels.txt") << labels;
  Norm n{{0.5, 0.4, 0.3}, {0.25, 0.2, 0.3}, true};
  ASSERT_TRUE(write_npz(dir_ + "/data.npz", {{"images", expected_batch(pixels, 0, 0, 16, 16, n)}}).ok());
  const std::string common = "accuracy " + model_ + " --labels " + dir_ + "/labels.txt --backends cpu,cpu:opt ";
  const CliResult a =
      kiln(common + "--dataset " + imgs + " --mean 0.5,0.4,0.3 --std 0.25,0.2,0.3 --channels bgr --batch 5 --json " +
           dir_ + "/a.json");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.err.find("12 images"), std::string::npos) << a.err;
  const CliResult b = kiln(common + "--dataset " + dir_ + "/data.npz --json " + dir_ + "/b.json");
  ASSERT_EQ(b.code, 0) << b.err;
  const auto ja = read_json(dir_ + "/a.json"), jb = read_json(dir_ + "/b.json");
  EXPECT_EQ(ja["samples"], 12);
  EXPECT_EQ(ja["backends"], jb["backends"]);
  EXPECT_NE(ja["images"].get<std::string>().find("mean [0.5,0.4,0.3]"), std::string::npos) << ja["images"];
  // The same spec from a model config; a flag overrides one field.
  std::ofstream(dir_ + "/model.yaml") << "name: model\ninputs:\n  - name: input\n    dtype_str: float32\n"
                                         "    shapes: {runtime: [-1, 3, 16, 16]}\n    preprocess:\n"
                                         "      mean: [0.5, 0.4, 0.3]\n      std: [0.25, 0.2, 0.3]\n"
                                         "      channels: rgb\n";
  const CliResult c = kiln(common + "--dataset " + imgs + " --config " + dir_ + "/model.yaml --image-input input " +
                           "--channels bgr --json " + dir_ + "/c.json");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(read_json(dir_ + "/c.json")["backends"], jb["backends"]);
}

TEST_F(ImageCli, ClassFoldersResizeAndCrop) {
  REQUIRE_PLUGIN();
  const std::string imgs = dir_ + "/classes";
  std::vector<U8Image> halved;
  std::string labels;
  const char* classes[] = {"ant", "bee", "cat"};
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(imgs + "/" + classes[c]);
    for (int i = 0; i < 3; ++i) {
      const U8Image img = blocky(40, 40, 10 * c + i);
      write_image(imgs + "/" + classes[c] + "/" + std::to_string(i), img, i);
      halved.push_back(halve(img));
      labels += std::to_string(c) + "\n";
    }
  }
  std::ofstream(dir_ + "/labels.txt") << labels;
  // 40x40 -> --resize 20 -> center crop 16: offset round(2) = 2.
  ASSERT_TRUE(write_npz(dir_ + "/data.npz", {{"images", expected_batch(halved, 2, 2, 16, 16, Norm{})}}).ok());
  const CliResult a =
      kiln("accuracy " + model_ + " --dataset " + imgs + " --resize 20 --crop 16 --json " + dir_ + "/a.json");
  ASSERT_EQ(a.code, 0) << a.err;
  const CliResult b = kiln("accuracy " + model_ + " --dataset " + dir_ + "/data.npz --labels " + dir_ +
                           "/labels.txt --json " + dir_ + "/b.json");
  ASSERT_EQ(b.code, 0) << b.err;
  const auto ja = read_json(dir_ + "/a.json"), jb = read_json(dir_ + "/b.json");
  EXPECT_EQ(ja["backends"], jb["backends"]);
  EXPECT_EQ(ja["classes"], nlohmann::json({"ant", "bee", "cat"}));
  EXPECT_EQ(ja["labels"], "class folders");
}

TEST_F(ImageCli, CompareOnAFolderEqualsTheNpz) {
  REQUIRE_PLUGIN();
  const std::string imgs = dir_ + "/imgs";
  fs::create_directories(imgs);
  std::vector<U8Image> pixels;
  for (int i = 0; i < 4; ++i) {
    pixels.push_back(blocky(16, 16, 40 + i));
    write_image(imgs + "/" + std::to_string(i), pixels.back(), i);
  }
  ASSERT_TRUE(write_npz(dir_ + "/data.npz", {{"input", expected_batch(pixels, 0, 0, 16, 16, Norm{})}}).ok());
  const std::string common = "compare " + model_ + " --backends cpu,cpu:opt ";
  const CliResult a = kiln(common + "--inputs " + imgs + " --batch 4 --json " + dir_ + "/a.json");
  ASSERT_EQ(a.code, 0) << a.err;
  const CliResult b = kiln(common + "--inputs " + dir_ + "/data.npz --json " + dir_ + "/b.json");
  ASSERT_EQ(b.code, 0) << b.err;
  const auto ja = read_json(dir_ + "/a.json"), jb = read_json(dir_ + "/b.json");
  EXPECT_EQ(ja["pairs"], jb["pairs"]);
  EXPECT_EQ(ja["inputs"]["tensors"], jb["inputs"]["tensors"]);
  EXPECT_NE(ja["inputs"]["source"].get<std::string>().find("4 images"), std::string::npos);
}

TEST_F(ImageCli, BadFoldersFilesLabelsAndSpecs) {
  REQUIRE_PLUGIN();
  const std::string imgs = dir_ + "/imgs", empty = dir_ + "/empty";
  fs::create_directories(imgs);
  fs::create_directories(empty);
  for (int i = 0; i < 3; ++i) write_ppm(imgs + "/" + std::to_string(i) + ".ppm", blocky(16, 16, i));
  std::ofstream(dir_ + "/two.txt") << "0\n1\n";
  const std::string acc = "accuracy " + model_ + " --dataset ";
  expect_error_line(kiln(acc + empty + " --labels " + dir_ + "/two.txt"), 2,
                    "kiln accuracy: error:", {"holds no images"});
  expect_error_line(kiln(acc + dir_ + "/nowhere --labels " + dir_ + "/two.txt --resize 16"), 2,
                    "kiln accuracy: error:", {"nowhere: no such file or directory"});
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/two.txt"), 2,
                    "kiln accuracy: error:", {"two.txt holds 2 labels", "3 samples"});
  expect_error_line(kiln(acc + imgs), 1, "kiln accuracy: error:", {"--labels is required"});
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/two.txt --resize 12x"), 1,
                    "kiln accuracy: error:", {"--resize '12x'"});
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/two.txt --crop 8"), 1,
                    "kiln accuracy: error:", {"ends at 8x8 (--crop)", "16x16"});
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/two.txt --mean 1,2"), 1,
                    "kiln accuracy: error:", {"--mean '1,2'"});
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/two.txt --image-input nope"), 2,
                    "kiln accuracy: error:", {"no such input", "nope"});
  expect_error_line(kiln("compare " + model_ + " --backends cpu,cpu:opt --inputs " + empty), 2,
                    "kiln compare: error:", {"no images"});
  expect_error_line(kiln("compare " + model_ + " --backends cpu,cpu:opt --crop 16"), 1,
                    "kiln compare: error:", {"--crop apply to a folder of images"});
  std::ofstream(imgs + "/3.png") << "not a png at all";
  std::ofstream(dir_ + "/four.txt") << "0\n1\n2\n3\n";
  expect_error_line(kiln(acc + imgs + " --labels " + dir_ + "/four.txt"), 2,
                    "kiln accuracy: error:", {"3.png: cannot read the image"});
}

// y = a + b, both float32 [1,3,16,16].
std::string write_two_input_model(const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("two_inputs");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("a");
  n->add_input("b");
  n->add_output("y");
  for (const char* name : {"a", "b", "y"}) {
    auto* v = std::string(name) == "y" ? g->add_output() : g->add_input();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 3, 16, 16}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
  return path;
}

TEST_F(ImageCli, SeveralInputsNeedTheImageInputNamed) {
  REQUIRE_PLUGIN();
  const std::string imgs = dir_ + "/imgs", model = write_two_input_model(dir_ + "/two.onnx");
  fs::create_directories(imgs);
  for (int i = 0; i < 2; ++i) write_ppm(imgs + "/" + std::to_string(i) + ".ppm", blocky(16, 16, i));
  const std::string cmd = "compare " + model + " --backends cpu,cpu:opt --inputs " + imgs;
  expect_error_line(kiln(cmd), 1, "kiln compare: error:", {"2 inputs (a, b)", "--image-input NAME"});
  // Named: the images feed a (one image per feed set, the fixed batch), b is random.
  const CliResult r = kiln(cmd + " --image-input a --json " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = read_json(dir_ + "/r.json");
  EXPECT_EQ(j["iterations"], 2);
  EXPECT_NE(j["inputs"]["source"].get<std::string>().find("-> 'a'"), std::string::npos) << j["inputs"];
  expect_error_line(kiln("accuracy " + model + " --dataset " + imgs + " --image-input a --labels " + dir_ + "/x"), 3,
                    "kiln accuracy: error:", {"also has input 'b'"});
}

TEST_F(ImageCli, MissingPluginIsAClearErrorNotACrash) {
  const std::string imgs = dir_ + "/imgs";
  fs::create_directories(imgs);
  write_ppm(imgs + "/a.ppm", blocky(16, 16, 1));
  std::ofstream(dir_ + "/one.txt") << "0\n";
  std::ofstream(dir_ + "/not_a_library.so") << "plain text";
  for (const std::string& plugin : {dir_ + "/missing/libkiln_image.so", dir_ + "/not_a_library.so"}) {
    setenv("KILN_IMAGE_PLUGIN", plugin.c_str(), 1);
    const CliResult r = kiln("accuracy " + model_ + " --dataset " + imgs + " --labels " + dir_ + "/one.txt");
    unsetenv("KILN_IMAGE_PLUGIN");
    expect_error_line(r, 3, "kiln accuracy: error:",
                      {"image inputs need OpenCV: could not load libkiln_image.so", plugin,
                       "install libopencv-imgcodecs-dev", ".npz"});
  }
}

}  // namespace
}  // namespace kiln::clitest
