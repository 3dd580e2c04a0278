// Image folders as model inputs for kiln accuracy and kiln compare: the preprocessing flags, the choice of
// the input the images feed, and the batches (decoded by the OpenCV plugin, see src/data/image_codec.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/image_folder.h"
#include "data/preprocess.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cli {

struct ImageArgs {
  data::PreprocessText flags;
  std::string config;  // --config model.yaml (its inputs[].preprocess blocks)
  std::string input;   // --image-input NAME
};

// Adds --resize --crop --scale --mean --std --channels --layout --config --image-input (group "Image inputs").
void add_image_options(CLI::App& app, ImageArgs& a);
// The flags given, e.g. "--resize, --mean" (empty when none): an error when the inputs are not images.
std::string image_flags_given(const ImageArgs& a);

struct ImageFeeds {
  const Value* input = nullptr;  // the graph input the images feed
  data::ImageFolder folder;
  data::ImagePlan plan;
  std::vector<Tensor> batches;  // float32, the plan's layout; the model's batch when fixed, else `batch`
  std::string summary;          // "DIR: 48 images; resize ..., via OpenCV 4.6.0 (...)"
};

// Reads the images of `dir` for `g`. Batches hold the model's fixed batch (a count of images that is not
// a multiple of it is an error), else `batch` images (the last batch may be smaller).
Expected<ImageFeeds> load_image_feeds(const ImageArgs& a, const Graph& g, const std::string& dir, int64_t batch);

}  // namespace kiln::cli
