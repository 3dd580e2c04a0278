// Image folders as model inputs: the file list (flat, or ImageNet-style class folders) and batches of
// preprocessed images as float tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/preprocess.h"
#include "kiln/status.h"

namespace kiln::data {

// .png .jpg .jpeg .bmp .ppm (any case).
bool is_image_file(const std::string& path);
// True when `dir` is a directory holding image files, or folders that hold image files.
bool is_image_folder(const std::string& dir);

struct ImageFolder {
  std::string dir;
  std::vector<std::string> files;  // sorted by file name (class folders: by class, then file name)
  // Class-folder layout (DIR/<class>/<image>, no images directly in DIR): the classes in sorted order and
  // each file's class index. Empty for a flat folder.
  std::vector<std::string> classes;
  std::vector<int64_t> labels;
};

// kInvalidInput when the folder is missing or holds no images; names the extensions it looks for.
Expected<ImageFolder> list_image_folder(const std::string& dir);

// Decodes and preprocesses files[begin, end) into one float32 tensor [n,3,H,W] or [n,H,W,3] (the plan's
// layout). `load` and `resize` are the codec's (tests pass stand-ins). Errors name the file.
using LoadFn = std::function<Expected<U8Image>(const std::string&)>;
Expected<Tensor> load_image_batch(const std::vector<std::string>& files, size_t begin, size_t end,
                                  const ImagePlan& plan, const LoadFn& load, const ResizeFn& resize);

}  // namespace kiln::data
