// Image-folder inputs for the CLI: preprocessing flags (over the --config YAML), the fed input, batches.
#include "tools/kiln/image_inputs.h"

#include <algorithm>

#include "data/image_codec.h"
#include "data/preprocess_config.h"

namespace kiln::cli {

void add_image_options(CLI::App& app, ImageArgs& a) {
  const std::string g = "Image inputs (a folder of .png/.jpg/.jpeg/.bmp/.ppm; needs the OpenCV plugin)";
  app.add_option("--resize", a.flags.resize,
                 "Resize (bilinear, as cv2.resize): N = shorter side to N keeping the aspect ratio, HxW = exactly. "
                 "Default: straight to the model's HxW when there is no --crop")
      ->group(g);
  app.add_option("--crop", a.flags.crop, "Center crop after the resize: N (N x N) or HxW")->group(g);
  app.add_option("--scale", a.flags.scale, "Multiply the 0..255 pixels first (default 1/255)")->group(g);
  app.add_option("--mean", a.flags.mean,
                 "Subtract per channel after scaling, in the tensor's channel order: a,b,c or one value (default 0)")
      ->group(g);
  app.add_option("--std", a.flags.std, "Then divide per channel: a,b,c or one value (default 1)")->group(g);
  app.add_option("--channels", a.flags.channels, "Channel order of the tensor: rgb (default) or bgr")->group(g);
  app.add_option("--layout", a.flags.layout,
                 "nchw or nhwc (default: from the input's shape, 3 at dim 1 = nchw, at dim 3 = nhwc)")
      ->group(g);
  app.add_option("--config", a.config,
                 "A seed-003 model config YAML whose inputs[].preprocess blocks give the same settings "
                 "(the flags override them; docs/CLI.md)")
      ->group(g);
  app.add_option("--image-input", a.input,
                 "The input the images feed (default: the only input, or the one with "
                 "a preprocess block in --config)")
      ->group(g);
}

std::string image_flags_given(const ImageArgs& a) {
  std::string s;
  const data::PreprocessText& t = a.flags;
  for (auto [name, v] :
       {std::pair{"--resize", &t.resize}, std::pair{"--crop", &t.crop}, std::pair{"--scale", &t.scale},
        std::pair{"--mean", &t.mean}, std::pair{"--std", &t.std}, std::pair{"--channels", &t.channels},
        std::pair{"--layout", &t.layout}, std::pair{"--config", &a.config}, std::pair{"--image-input", &a.input}})
    if (!v->empty()) s += (s.empty() ? "" : ", ") + std::string(name);
  return s;
}

namespace {

std::string input_names(const Graph& g) {
  std::string s;
  for (const Value* v : g.inputs) s += (s.empty() ? "" : ", ") + v->name;
  return s;
}

// The input the images feed, and its preprocessing text (the config's block under the flags).
Status choose_input(const ImageArgs& a, const Graph& g, const Value*& input, data::PreprocessText& text) {
  std::vector<data::InputPreprocess> blocks;
  if (!a.config.empty()) {
    KILN_ASSIGN_OR_RETURN(blocks, data::load_preprocess_config(a.config));
  }
  std::string name = a.input;
  if (name.empty() && blocks.size() == 1) name = blocks[0].input;
  if (name.empty() && blocks.size() > 1)
    return usage_error(a.config + " has preprocess blocks for several inputs; choose one with --image-input NAME");
  if (name.empty()) {
    if (g.inputs.size() != 1)
      return usage_error("the model has " + std::to_string(g.inputs.size()) + " inputs (" + input_names(g) +
                         "); name the one the images feed with --image-input NAME");
    name = g.inputs[0]->name;
  }
  input = nullptr;
  for (const Value* v : g.inputs)
    if (v->name == name) input = v;
  if (!input)
    return invalid_input("images are to feed input '" + name +
                         "' but the model has no such input (its inputs: " + input_names(g) + ")");
  if (input->dtype != DType::kFloat32)
    return unsupported("images feed float32 inputs; input '" + name + "' is " + dtype_name(input->dtype));
  data::PreprocessText base;
  for (const auto& b : blocks)
    if (b.input == name) base = b.text;
  text = data::overlay(base, a.flags);
  return Status::Ok();
}

}  // namespace

Expected<ImageFeeds> load_image_feeds(const ImageArgs& a, const Graph& g, const std::string& dir, int64_t batch) {
  ImageFeeds f;
  data::PreprocessText text;
  KILN_RETURN_IF_ERROR(choose_input(a, g, f.input, text));
  KILN_ASSIGN_OR_RETURN(data::PreprocessSpec spec, data::parse_preprocess(text));
  std::vector<int64_t> dims;
  for (const Dim& d : f.input->shape.dims) dims.push_back(d.known() ? d.value : -1);
  if (!f.input->shape.rank_known) dims.clear();
  KILN_ASSIGN_OR_RETURN(f.plan, data::plan_image_input(spec, dims, f.input->name));
  KILN_ASSIGN_OR_RETURN(f.folder, data::list_image_folder(dir));
  const int64_t n = static_cast<int64_t>(f.folder.files.size());
  if (dims[0] >= 0) {
    if (n % dims[0] != 0)
      return invalid_input(dir + " holds " + std::to_string(n) + " images, not a multiple of input '" + f.input->name +
                           "''s fixed batch " + std::to_string(dims[0]));
    batch = dims[0];
  }
  if (batch < 1) return usage_error("--batch must be at least 1");
  KILN_ASSIGN_OR_RETURN(const data::ImageCodec* codec, data::ImageCodec::get());
  auto load = [codec](const std::string& p) { return codec->load(p); };
  auto resize = [codec](const data::U8Image& img, data::Size2 s) { return codec->resize(img, s); };
  for (int64_t b = 0; b < n; b += batch) {
    const auto end = static_cast<size_t>(std::min(n, b + batch));
    KILN_ASSIGN_OR_RETURN(Tensor t,
                          data::load_image_batch(f.folder.files, static_cast<size_t>(b), end, f.plan, load, resize));
    f.batches.push_back(std::move(t));
  }
  f.summary = dir + ": " + std::to_string(n) + " images" +
              (f.folder.classes.empty() ? "" : " in " + std::to_string(f.folder.classes.size()) + " class folders") +
              " -> '" + f.input->name + "' (" + data::describe(f.plan.spec) + ", " + (f.plan.nchw ? "nchw" : "nhwc") +
              " " + std::to_string(f.plan.size.h) + "x" + std::to_string(f.plan.size.w) + "; " + codec->description() +
              ")";
  return f;
}

}  // namespace kiln::cli
