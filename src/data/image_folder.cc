// Image folders: listing (flat or class folders) and decoding + preprocessing into batches.
#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

// Sorted image files directly in `dir`.
std::vector<std::string> images_in(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_image_file(e.path().string()) && e.is_regular_file(ec)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> subdirs(const fs::path& dir) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

bool is_image_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".ppm";
}

bool is_image_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  if (!images_in(dir).empty()) return true;
  for (const auto& d : subdirs(dir))
    if (!images_in(d).empty()) return true;
  return false;
}

Expected<ImageFolder> list_image_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return invalid_input(dir + ": no such directory");
  if (!fs::is_directory(dir, ec)) return invalid_input(dir + ": not a directory of images");
  ImageFolder f;
  f.dir = dir;
  f.files = images_in(dir);
  if (f.files.empty()) {
    const auto dirs = subdirs(dir);
    for (size_t c = 0; c < dirs.size(); ++c) {
      f.classes.push_back(dirs[c].filename().string());
      for (auto& file : images_in(dirs[c])) {
        f.files.push_back(std::move(file));
        f.labels.push_back(static_cast<int64_t>(c));
      }
    }
    if (f.files.empty()) f.classes.clear();
  }
  if (f.files.empty())
    return invalid_input(dir + ": holds no images (.png .jpg .jpeg .bmp .ppm), neither directly nor in class folders");
  return f;
}

Expected<Tensor> load_image_batch(const std::vector<std::string>& files, size_t begin, size_t end,
                                  const ImagePlan& plan, const LoadFn& load, const ResizeFn& resize) {
  const int64_t n = static_cast<int64_t>(end - begin), h = plan.size.h, w = plan.size.w;
  const Shape shape = plan.nchw ? Shape{n, 3, h, w} : Shape{n, h, w, 3};
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::kFloat32, shape));
  float* dst = t.data<float>();
  for (size_t i = begin; i < end; ++i) {
    KILN_ASSIGN_OR_RETURN(U8Image img, load(files[i]));
    KILN_ASSIGN_OR_RETURN(U8Image fitted, fit_image(img, plan, resize, files[i]));
    normalize_into(fitted, plan, dst + static_cast<int64_t>(i - begin) * 3 * h * w);
  }
  return t;
}

}  // namespace kiln::data
