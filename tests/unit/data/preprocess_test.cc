// The image preprocessing spec (parsing, plan against model shapes) and kiln's own steps (crop geometry,
// normalization, layout), checked against hand-computed values; no OpenCV involved.
#include "data/preprocess.h"

#include <gtest/gtest.h>

#include "data/preprocess_config.h"

namespace kiln::data {
namespace {

U8Image ramp(int64_t h, int64_t w) {
  U8Image img{h, w, {}};
  for (int64_t i = 0; i < h * w * 3; ++i) img.rgb.push_back(static_cast<uint8_t>(i % 251));
  return img;
}

TEST(PreprocessSpec, ParsesEveryField) {
  PreprocessText t;
  t.resize = "256";
  t.crop = "224x192";
  t.mean = "0.485, 0.456,0.406";
  t.std = "0.5";
  t.scale = "1/127.5";
  t.channels = "bgr";
  t.layout = "nhwc";
  auto s = parse_preprocess(t);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_TRUE(s->resize && s->resize->shorter_side);
  EXPECT_EQ(s->resize->side, 256);
  EXPECT_EQ(*s->crop, (Size2{224, 192}));
  EXPECT_DOUBLE_EQ(s->mean[1], 0.456);
  EXPECT_DOUBLE_EQ(s->std[2], 0.5);
  EXPECT_DOUBLE_EQ(s->scale, 1 / 127.5);
  EXPECT_TRUE(s->bgr);
  EXPECT_EQ(s->layout, Layout::kNHWC);
  auto r = parse_resize("300x200", "--resize");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->shorter_side);
  EXPECT_EQ(r->size, (Size2{300, 200}));
  EXPECT_EQ(*parse_crop("7", "--crop"), (Size2{7, 7}));
}

TEST(PreprocessSpec, DefaultsAreScaleToUnitRgbAuto) {
  auto s = parse_preprocess({});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->resize);
  EXPECT_FALSE(s->crop);
  EXPECT_DOUBLE_EQ(s->scale, 1.0 / 255);
  EXPECT_FALSE(s->bgr);
  EXPECT_EQ(s->layout, Layout::kAuto);
}

TEST(PreprocessSpec, BadStringsAreUsageErrorsNamingTheFlag) {
  struct Case {
    PreprocessText t;
    std::string needle;
  };
  std::vector<Case> cases;
  auto with = [](std::string PreprocessText::*f, std::string v) {
    PreprocessText t;
    t.*f = std::move(v);
    return t;
  };
  cases.push_back({with(&PreprocessText::resize, "0"), "--resize '0'"});
  cases.push_back({with(&PreprocessText::resize, "224x"), "--resize '224x'"});
  cases.push_back({with(&PreprocessText::resize, "-3"), "--resize"});
  cases.push_back({with(&PreprocessText::crop, "abc"), "--crop 'abc'"});
  cases.push_back({with(&PreprocessText::crop, "2x0"), "--crop"});
  cases.push_back({with(&PreprocessText::mean, "1,2"), "--mean '1,2'"});
  cases.push_back({with(&PreprocessText::mean, "1,2,x"), "--mean"});
  cases.push_back({with(&PreprocessText::mean, "1,2,3,"), "--mean"});
  cases.push_back({with(&PreprocessText::std, "1,0,1"), "--std '1,0,1'"});
  cases.push_back({with(&PreprocessText::scale, "1/0"), "--scale '1/0'"});
  cases.push_back({with(&PreprocessText::scale, "-1"), "--scale"});
  cases.push_back({with(&PreprocessText::channels, "rgba"), "--channels 'rgba'"});
  cases.push_back({with(&PreprocessText::layout, "chw"), "--layout 'chw'"});
  for (const auto& c : cases) {
    auto s = parse_preprocess(c.t);
    ASSERT_FALSE(s.ok()) << c.needle;
    EXPECT_EQ(s.status().code(), StatusCode::kUsage);
    EXPECT_NE(s.status().message().find(c.needle), std::string::npos) << s.status().message();
  }
}

TEST(PreprocessSpec, OverlayKeepsBaseWhereOverIsEmpty) {
  PreprocessText base, over;
  base.resize = "256";
  base.mean = "1,2,3";
  over.mean = "4";
  const PreprocessText r = overlay(base, over);
  EXPECT_EQ(r.resize, "256");
  EXPECT_EQ(r.mean, "4");
}

TEST(PreprocessPlan, LayoutFromTheChannelDim) {
  auto nchw = plan_image_input({}, {1, 3, 32, 48}, "x");
  ASSERT_TRUE(nchw.ok()) << nchw.status().message();
  EXPECT_TRUE(nchw->nchw);
  EXPECT_EQ(nchw->size, (Size2{32, 48}));
  auto nhwc = plan_image_input({}, {-1, 32, 48, 3}, "x");
  ASSERT_TRUE(nhwc.ok());
  EXPECT_FALSE(nhwc->nchw);
  EXPECT_EQ(nhwc->size, (Size2{32, 48}));
}

TEST(PreprocessPlan, ErrorsSayWhatToPass) {
  auto rank = plan_image_input({}, {1, 3, 32}, "x");
  ASSERT_FALSE(rank.ok());
  EXPECT_NE(rank.status().message().find("rank 4"), std::string::npos);
  auto nochannel = plan_image_input({}, {1, 5, 32, 32}, "x");
  ASSERT_FALSE(nochannel.ok());
  EXPECT_NE(nochannel.status().message().find("--layout"), std::string::npos);
  PreprocessSpec s;
  s.layout = Layout::kNCHW;
  auto four = plan_image_input(s, {1, 4, 32, 32}, "x");
  ASSERT_FALSE(four.ok());
  EXPECT_NE(four.status().message().find("4 channels"), std::string::npos);
  auto symbolic = plan_image_input({}, {-1, 3, -1, -1}, "x");
  ASSERT_FALSE(symbolic.ok());
  EXPECT_NE(symbolic.status().message().find("--crop HxW or --resize HxW"), std::string::npos);
  s = {};
  s.crop = Size2{24, 24};
  auto mismatch = plan_image_input(s, {1, 3, 32, 32}, "x");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("ends at 24x24 (--crop)"), std::string::npos)
      << mismatch.status().message();
  auto from_crop = plan_image_input(s, {-1, 3, -1, -1}, "x");
  ASSERT_TRUE(from_crop.ok());
  EXPECT_EQ(from_crop->size, (Size2{24, 24}));
}

TEST(PreprocessGeometry, ShorterSideAsTorchvision) {
  ResizeSpec r;
  r.shorter_side = true;
  r.side = 256;
  EXPECT_EQ(resized_size(r, {375, 500}), (Size2{256, 341}));  // int(500 * 256 / 375) = 341
  EXPECT_EQ(resized_size(r, {500, 375}), (Size2{341, 256}));
  EXPECT_EQ(resized_size(r, {100, 100}), (Size2{256, 256}));
}

TEST(PreprocessGeometry, CenterOffsetRoundsHalfToEven) {
  EXPECT_EQ(center_offset(10, 4), 3);
  EXPECT_EQ(center_offset(256, 224), 16);
  EXPECT_EQ(center_offset(5, 2), 2);  // round(1.5) = 2
  EXPECT_EQ(center_offset(7, 2), 2);  // round(2.5) = 2
  EXPECT_EQ(center_offset(9, 2), 4);  // round(3.5) = 4
  EXPECT_EQ(center_offset(4, 4), 0);
}

TEST(PreprocessGeometry, CenterCropTakesTheMiddle) {
  const U8Image img = ramp(5, 6);
  auto c = center_crop(img, {3, 2}, "img.png");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->h, 3);
  ASSERT_EQ(c->w, 2);
  // top = round(1) = 1, left = round(2) = 2.
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 2; ++x)
      for (int64_t ch = 0; ch < 3; ++ch)
        EXPECT_EQ(c->rgb[(y * 2 + x) * 3 + ch], img.rgb[((y + 1) * 6 + x + 2) * 3 + ch]);
  auto big = center_crop(img, {6, 6}, "img.png");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("img.png: the 6x6 crop is larger than the 5x6 image"), std::string::npos);
}

TEST(PreprocessNormalize, ScaleMeanStdChannelsAndLayout) {
  U8Image img{1, 2, {10, 20, 30, 40, 50, 60}};  // two pixels RGB
  PreprocessSpec s;
  s.mean = {0.1, 0.2, 0.3};
  s.std = {0.5, 0.25, 2};
  ImagePlan p{s, true, {1, 2}};
  float out[6];
  normalize_into(img, p, out);
  auto v = [&](int px, int c) { return static_cast<float>((px / 255.0 - s.mean[c]) / s.std[c]); };
  EXPECT_EQ(out[0], v(10, 0));  // C x H x W: R of both pixels first
  EXPECT_EQ(out[1], v(40, 0));
  EXPECT_EQ(out[2], v(20, 1));
  EXPECT_EQ(out[5], v(60, 2));
  p.nchw = false;
  p.spec.bgr = true;
  normalize_into(img, p, out);
  EXPECT_EQ(out[0], v(30, 0));  // H x W x C, B first; mean/std follow the tensor's channel order
  EXPECT_EQ(out[1], v(20, 1));
  EXPECT_EQ(out[2], v(10, 2));
  EXPECT_EQ(out[3], v(60, 0));
}

TEST(PreprocessFit, ResizeThenCropWithAStandIn) {
  std::vector<Size2> asked;
  ResizeFn fake = [&](const U8Image& in, Size2 s) -> Expected<U8Image> {
    asked.push_back(s);
    U8Image out{s.h, s.w, std::vector<uint8_t>(static_cast<size_t>(s.h * s.w * 3), 7)};
    return out;
  };
  PreprocessSpec s;
  s.resize = ResizeSpec{true, 8, {}};
  s.crop = Size2{6, 6};
  auto p = plan_image_input(s, {1, 3, 6, 6}, "x");
  ASSERT_TRUE(p.ok());
  auto out = fit_image(ramp(16, 24), *p, fake, "a.png");
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], (Size2{8, 12}));
  EXPECT_EQ(out->h, 6);
  // No --resize/--crop: straight to the model's size; an image already that size is not resized.
  asked.clear();
  auto direct = plan_image_input({}, {1, 3, 6, 6}, "x");
  ASSERT_TRUE(fit_image(ramp(20, 10), *direct, fake, "b.png").ok());
  ASSERT_TRUE(fit_image(ramp(6, 6), *direct, fake, "c.png").ok());
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], (Size2{6, 6}));
  // Shorter-side resize alone to a non-square model size: the error names the file and suggests --crop.
  PreprocessSpec only_resize;
  only_resize.resize = ResizeSpec{true, 6, {}};
  auto pr = plan_image_input(only_resize, {1, 3, 6, 6}, "x");
  ASSERT_TRUE(pr.ok());
  auto bad = fit_image(ramp(12, 18), *pr, fake, "d.png");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("d.png"), std::string::npos);
  EXPECT_NE(bad.status().message().find("--crop 6x6"), std::string::npos) << bad.status().message();
}

TEST(PreprocessConfig, ReadsTheKilnBlockOfASeed003Config) {
  const std::string yaml = R"(name: resnet50
inputs:
  - name: input
    dtype_str: float32
    shapes:
      runtime: [-1, 3, 224, 224]
    preprocess:
      resize: 256
      crop: 224
      mean: [0.485, 0.456, 0.406]
      std: [0.229, 0.224, 0.225]
      scale: 1/255
      channels: rgb
      layout: nchw
  - name: other
    shapes: {runtime: [1]}
)";
  auto blocks = parse_preprocess_config(yaml, "m.yaml");
  ASSERT_TRUE(blocks.ok()) << blocks.status().message();
  ASSERT_EQ(blocks->size(), 1u);
  EXPECT_EQ((*blocks)[0].input, "input");
  EXPECT_EQ((*blocks)[0].text.mean, "0.485,0.456,0.406");
  EXPECT_EQ((*blocks)[0].text.resize, "256");
  auto spec = parse_preprocess((*blocks)[0].text);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->crop->w, 224);
}

TEST(PreprocessConfig, ErrorsNameTheFileAndKey) {
  auto unknown = parse_preprocess_config("inputs:\n  - name: x\n    preprocess: {resise: 3}\n", "m.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("m.yaml: inputs[0].preprocess.resise is not a preprocess key"),
            std::string::npos)
      << unknown.status().message();
  auto bad = parse_preprocess_config("inputs:\n  - name: x\n    preprocess: {mean: [1, 2]}\n", "m.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status().message().find("m.yaml: inputs[0].preprocess.mean '1,2'"), std::string::npos)
      << bad.status().message();
  auto notyaml = parse_preprocess_config("inputs: [", "m.yaml");
  ASSERT_FALSE(notyaml.ok());
  EXPECT_NE(notyaml.status().message().find("not valid YAML"), std::string::npos);
}

}  // namespace
}  // namespace kiln::data
