// The dlopen'ed image plugin (src/data/image_plugin_abi.h): search, symbol checks, and Status errors.
#include "data/image_codec.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "data/image_plugin_abi.h"

namespace kiln::data {

namespace fs = std::filesystem;

struct ImageCodec::Api {
  int (*abi_version)() = nullptr;
  const char* (*backend)() = nullptr;
  int (*load)(const char*, int*, int*, unsigned char**, char*, size_t) = nullptr;
  int (*resize)(const unsigned char*, int, int, int, int, unsigned char*, char*, size_t) = nullptr;
  int (*save)(const char*, const unsigned char*, int, int, char*, size_t) = nullptr;
  void (*free)(unsigned char*) = nullptr;
  // Optional (videoio): null when the plugin was built without it.
  int (*video_load)(const char*, int, int*, int*, int*, double*, unsigned char**, char*, size_t) = nullptr;
  int (*video_save)(const char*, const unsigned char*, int, int, int, double, char*, size_t) = nullptr;
};

namespace {

constexpr const char* kLibrary = "libkiln_image.so";

template <typename F>
bool sym(void* handle, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  return fn != nullptr;
}

// Tries one path; on failure appends why to `why`.
std::unique_ptr<ImageCodec> try_open(const std::string& path, std::string& why) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    // dlerror names the plugin only when the plugin itself is unreadable, not a missing OpenCV library.
    const char* e = dlerror();
    std::string msg = e ? e : "unknown dlopen error";
    if (msg.rfind(path, 0) != 0) msg = path + ": " + msg;
    why += (why.empty() ? "" : "; ") + msg;
    return nullptr;
  }
  auto api = std::make_unique<ImageCodec::Api>();
  const bool all = sym(h, "kiln_image_abi_version", api->abi_version) && sym(h, "kiln_image_backend", api->backend) &&
                   sym(h, "kiln_image_load", api->load) && sym(h, "kiln_image_resize", api->resize) &&
                   sym(h, "kiln_image_save", api->save) && sym(h, "kiln_image_free", api->free);
  if (!all) {
    why += std::string(why.empty() ? "" : "; ") + path + " lacks the kiln_image_* entry points";
    dlclose(h);
    return nullptr;
  }
  if (api->abi_version() != KILN_IMAGE_ABI_VERSION) {
    why += std::string(why.empty() ? "" : "; ") + path + " has image ABI version " +
           std::to_string(api->abi_version()) + ", this kiln needs " + std::to_string(KILN_IMAGE_ABI_VERSION) +
           " (rebuild both together)";
    dlclose(h);
    return nullptr;
  }
  if (!sym(h, "kiln_image_video_load", api->video_load) || !sym(h, "kiln_image_video_save", api->video_save)) {
    api->video_load = nullptr;
    api->video_save = nullptr;
  }
  std::string desc = std::string(api->backend()) + " (" + path + ")";
  return std::make_unique<ImageCodec>(std::move(api), std::move(desc));
}

std::string exe_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.parent_path().string();
}

}  // namespace

ImageCodec::ImageCodec(std::unique_ptr<Api> api, std::string description)
    : api_(std::move(api)), description_(std::move(description)) {}

// The plugin stays loaded for the life of the process (OpenCV's static state does not like dlclose).
ImageCodec::~ImageCodec() = default;

std::vector<std::string> ImageCodec::search_paths() {
  if (const char* env = std::getenv("KILN_IMAGE_PLUGIN"); env && *env) return {env};
  std::vector<std::string> paths;
  const std::string dir = exe_dir();
  if (!dir.empty()) {
    paths.push_back((fs::path(dir) / kLibrary).string());
    paths.push_back((fs::path(dir).parent_path() / "lib" / kLibrary).string());
  }
  paths.push_back(kLibrary);  // the loader's search path (LD_LIBRARY_PATH, ld.so.cache)
  return paths;
}

Expected<const ImageCodec*> ImageCodec::get() {
  static std::once_flag once;
  static std::unique_ptr<ImageCodec> codec;
  static std::string why;
  std::call_once(once, [] {
    const auto paths = search_paths();
    for (const std::string& p : paths) {
      // A path with a '/' that does not exist: say so instead of dlopen's longer message.
      if (p.find('/') != std::string::npos && !fs::exists(p)) {
        if (std::getenv("KILN_IMAGE_PLUGIN")) why += p + ": no such file (KILN_IMAGE_PLUGIN)";
        continue;
      }
      codec = try_open(p, why);
      if (codec) return;
    }
  });
  if (codec) return static_cast<const ImageCodec*>(codec.get());
  return unsupported(
      "image inputs need OpenCV: could not load " + std::string(kLibrary) + " (" + why +
      "); install libopencv-imgcodecs-dev and rebuild kiln (a machine that only runs kiln needs OpenCV's "
      "runtime libraries, libopencv-imgcodecs4xx), or pass the inputs as .npz");
}

Expected<U8Image> ImageCodec::load(const std::string& path) const {
  int h = 0, w = 0;
  unsigned char* buf = nullptr;
  char err[512] = {0};
  if (api_->load(path.c_str(), &h, &w, &buf, err, sizeof err) != 0 || !buf)
    return invalid_input(path + ": cannot read the image: " + err);
  U8Image img;
  img.h = h;
  img.w = w;
  img.rgb.assign(buf, buf + static_cast<size_t>(h) * static_cast<size_t>(w) * 3);
  api_->free(buf);
  return img;
}

Expected<U8Image> ImageCodec::resize(const U8Image& img, Size2 size) const {
  U8Image out;
  out.h = size.h;
  out.w = size.w;
  out.rgb.resize(static_cast<size_t>(size.h * size.w * 3));
  char err[512] = {0};
  if (api_->resize(img.rgb.data(), static_cast<int>(img.h), static_cast<int>(img.w), static_cast<int>(size.h),
                   static_cast<int>(size.w), out.rgb.data(), err, sizeof err) != 0)
    return invalid_input(std::string("resize failed: ") + err);
  return out;
}

Status ImageCodec::save(const std::string& path, const U8Image& img) const {
  char err[512] = {0};
  if (api_->save(path.c_str(), img.rgb.data(), static_cast<int>(img.h), static_cast<int>(img.w), err, sizeof err) != 0)
    return invalid_input(path + ": cannot write the image: " + err);
  return Status::Ok();
}

bool ImageCodec::has_video() const { return api_->video_load != nullptr; }

namespace {
Status no_video(const std::string& path) {
  return unsupported(path +
                     ": reading video needs libkiln_image.so built with OpenCV's videoio (install "
                     "libopencv-videoio-dev and rebuild kiln), or extract the frames, e.g. ffmpeg -i " +
                     path + " frames/%05d.png, and pass the folder");
}
}  // namespace

Expected<ImageCodec::Video> ImageCodec::load_video(const std::string& path, int max_frames) const {
  if (!has_video()) return no_video(path);
  int n = 0, h = 0, w = 0;
  double fps = 0;
  unsigned char* buf = nullptr;
  char err[512] = {0};
  if (api_->video_load(path.c_str(), max_frames, &n, &h, &w, &fps, &buf, err, sizeof err) != 0 || !buf)
    return invalid_input(path + ": cannot read the video: " + err);
  Video v;
  v.fps = fps;
  const size_t frame_bytes = static_cast<size_t>(h) * static_cast<size_t>(w) * 3;
  for (int f = 0; f < n; ++f) {
    U8Image img;
    img.h = h;
    img.w = w;
    img.rgb.assign(buf + f * frame_bytes, buf + (f + 1) * frame_bytes);
    v.frames.push_back(std::move(img));
  }
  api_->free(buf);
  return v;
}

Status ImageCodec::save_video(const std::string& path, const std::vector<U8Image>& frames, double fps) const {
  if (!has_video()) return no_video(path);
  if (frames.empty()) return invalid_input(path + ": no frames to write");
  std::vector<unsigned char> all;
  for (const U8Image& f : frames) {
    if (f.h != frames[0].h || f.w != frames[0].w) return invalid_input(path + ": frames differ in size");
    all.insert(all.end(), f.rgb.begin(), f.rgb.end());
  }
  char err[512] = {0};
  if (api_->video_save(path.c_str(), all.data(), static_cast<int>(frames.size()), static_cast<int>(frames[0].h),
                       static_cast<int>(frames[0].w), fps, err, sizeof err) != 0)
    return invalid_input(path + ": cannot write the video: " + err);
  return Status::Ok();
}

}  // namespace kiln::data
