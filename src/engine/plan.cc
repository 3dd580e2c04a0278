// The plan file format (docs/PLAN_FORMAT.md): magic, format version, JSON header, ONNX model bytes, CRC-32;
// atomic writing, defensive reading (every size checked against the file before use), environment check.
#include "engine/plan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kiln {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
constexpr size_t kMagicSize = sizeof(kMagic);
// magic + version + header length; after the header: model length; at the end: CRC-32.
constexpr size_t kPrefixSize = kMagicSize + 4 + 8;
constexpr size_t kMinPlanSize = kPrefixSize + 8 + 4;

using json = nlohmann::json;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t get_u32(const std::string& in, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
uint64_t get_u64(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

// zlib's crc32 takes uInt lengths: feed large buffers in pieces.
uint32_t crc32_of(const std::string& bytes, size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < length) {
    const size_t piece = std::min<size_t>(length - done, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(piece));
    done += piece;
  }
  return static_cast<uint32_t>(crc);
}

json shape_map_json(const ShapeMap& shapes) {
  json j = json::object();
  for (const auto& [name, dims] : shapes) j[name] = dims;
  return j;
}

json io_json(const std::vector<EngineIO>& ios) {
  json j = json::array();
  for (const EngineIO& io : ios) j.push_back({{"name", io.name}, {"dtype", io.dtype}, {"dims", io.dims}});
  return j;
}

json header_json(const PlanContents& p) {
  json j;
  j["env"] = {{"gpu_name", p.env.gpu_name}, {"sm", p.env.sm},         {"cuda_runtime", p.env.cuda_runtime},
              {"cudnn", p.env.cudnn},       {"cublas", p.env.cublas}, {"kiln_version", p.env.kiln_version},
              {"git_sha", p.env.git_sha}};
  j["precision"] = p.precision;
  j["profiles"] = json::array();
  for (const ShapeProfile& prof : p.profiles)
    j["profiles"].push_back(
        {{"min", shape_map_json(prof.min)}, {"opt", shape_map_json(prof.opt)}, {"max", shape_map_json(prof.max)}});
  j["layer_precisions"] = p.layer_precisions;
  if (!p.input_values.empty()) j["input_values"] = p.input_values;  // optional: absent before 2026-12-07
  if (!p.precision_pins.empty()) j["precision_pins"] = p.precision_pins;  // optional, as input_values
  j["workspace_limit"] = p.workspace_limit;
  j["layers"] = json::array();
  for (const PlanLayer& l : p.layers)
    j["layers"].push_back({{"key", l.key}, {"op", l.op}, {"precision", l.precision}, {"tactic", l.tactic}});
  j["memory"] = {{"weight_bytes", p.weight_bytes},
                 {"activation_bytes", p.activation_bytes},
                 {"workspace_bytes", p.workspace_bytes}};
  j["inputs"] = io_json(p.inputs);
  j["outputs"] = io_json(p.outputs);
  return j;
}

// nlohmann's typed access throws on a missing key or wrong type; the caller turns that into a Status naming
// the field, so a hand-edited or foreign header is refused, never trusted.
template <typename T>
T field(const json& j, const char* key) {
  return j.at(key).get<T>();
}

std::vector<EngineIO> io_from_json(const json& j) {
  std::vector<EngineIO> out;
  for (const json& e : j)
    out.push_back({field<std::string>(e, "name"), field<std::string>(e, "dtype"), field<Dims>(e, "dims")});
  return out;
}

void contents_from_header(const json& j, PlanContents& p) {
  const json& env = j.at("env");
  p.env.gpu_name = field<std::string>(env, "gpu_name");
  p.env.sm = field<int>(env, "sm");
  p.env.cuda_runtime = field<int>(env, "cuda_runtime");
  p.env.cudnn = field<int>(env, "cudnn");
  p.env.cublas = field<int>(env, "cublas");
  p.env.kiln_version = field<std::string>(env, "kiln_version");
  p.env.git_sha = field<std::string>(env, "git_sha");
  p.precision = field<std::string>(j, "precision");
  for (const json& prof : j.at("profiles"))
    p.profiles.push_back({field<ShapeMap>(prof, "min"), field<ShapeMap>(prof, "opt"), field<ShapeMap>(prof, "max")});
  p.layer_precisions = field<std::map<std::string, std::string>>(j, "layer_precisions");
  if (j.contains("input_values"))
    p.input_values = field<std::map<std::string, std::vector<double>>>(j, "input_values");
  if (j.contains("precision_pins"))
    p.precision_pins = field<std::map<std::string, std::string>>(j, "precision_pins");
  p.workspace_limit = field<uint64_t>(j, "workspace_limit");
  for (const json& l : j.at("layers"))
    p.layers.push_back({field<std::string>(l, "key"), field<std::string>(l, "op"), field<std::string>(l, "precision"),
                        field<std::string>(l, "tactic")});
  const json& mem = j.at("memory");
  p.weight_bytes = field<uint64_t>(mem, "weight_bytes");
  p.activation_bytes = field<uint64_t>(mem, "activation_bytes");
  p.workspace_bytes = field<uint64_t>(mem, "workspace_bytes");
  p.inputs = io_from_json(j.at("inputs"));
  p.outputs = io_from_json(j.at("outputs"));
}

Status write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return runtime_error(path + ": cannot write the plan (" + std::strerror(errno) + ")");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Expected<std::string> read_file_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return invalid_input(path + ": cannot open the plan (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) return invalid_input(path + ": is a directory, not a plan file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_input(path + ": cannot open the plan (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return invalid_input(path + ": read error");
  return ss.str();
}

// For a file whose checksum does not hold: the most useful explanation (cut short, or damaged in place).
Status checksum_failure(const std::string& bytes, const std::string& path) {
  const uint64_t size = bytes.size();
  const uint64_t header_len = get_u64(bytes, kMagicSize + 4);
  const std::string what = path + ": checksum mismatch: the file is corrupt";
  if (header_len > size - kMinPlanSize)
    return invalid_input(what + " or truncated (its header section claims " + std::to_string(header_len) +
                         " bytes but the file has " + std::to_string(size) + "); rebuild it with kiln build");
  const uint64_t model_len = get_u64(bytes, kPrefixSize + header_len);
  if (model_len != size - kMinPlanSize - header_len)
    return invalid_input(what + " or truncated (its sections claim " +
                         std::to_string(kMinPlanSize + header_len + model_len) + " bytes but the file has " +
                         std::to_string(size) + "); rebuild it with kiln build");
  return invalid_input(what + "; rebuild it with kiln build");
}

}  // namespace

std::string library_version_string(const std::string& library, int v) {
  if (v <= 0) return std::to_string(v);
  if (library == "CUDA runtime")  // cudaRuntimeGetVersion: 1000 * major + 10 * minor
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) + " (" + std::to_string(v) + ")";
  // cuDNN 9 and cuBLASLt: 10000 * major + 100 * minor + patch
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100) + " (" +
         std::to_string(v) + ")";
}

bool is_plan_file(const std::string& path) {
  char head[kMagicSize] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(head, kMagicSize) && std::memcmp(head, kMagic, kMagicSize) == 0;
}

std::string plan_header_json(const PlanContents& plan) {
  return header_json(plan).dump(2, ' ', false, json::error_handler_t::replace);
}

Status write_plan(const PlanContents& plan, const std::string& path) {
  std::string header;
  try {
    header = header_json(plan).dump();
  } catch (const std::exception& e) {  // invalid UTF-8 in a name
    return invalid_input(path + ": cannot encode the plan header (" + e.what() + ")");
  }
  std::string bytes(kMagic, kMagicSize);
  bytes.reserve(kMinPlanSize + header.size() + plan.model.size());
  put_u32(bytes, plan.format_version);
  put_u64(bytes, header.size());
  bytes += header;
  put_u64(bytes, plan.model.size());
  bytes += plan.model;
  put_u32(bytes, crc32_of(bytes, bytes.size()));

  // A unique temp name in the same folder, so rename() is atomic and never crosses file systems.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return runtime_error(path + ": cannot create the plan (" + std::strerror(errno) + ")");
  Status s = write_all(fd, bytes, path);
  if (s.ok() && ::fsync(fd) != 0) s = runtime_error(path + ": cannot flush the plan (" + std::strerror(errno) + ")");
  if (::close(fd) != 0 && s.ok()) s = runtime_error(path + ": cannot write the plan (" + std::strerror(errno) + ")");
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = runtime_error(path + ": cannot write the plan (" + std::strerror(errno) + ")");
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // Make the rename itself durable; failing to open the folder only loses that guarantee.
  const int dir = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Expected<PlanContents> read_plan(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file_bytes(path));
  const size_t size = bytes.size();
  if (size == 0) return invalid_input(path + ": the file is empty, not a kiln plan; build one with kiln build");
  if (std::memcmp(bytes.data(), kMagic, std::min(size, kMagicSize)) != 0)
    return invalid_input(path + ": not a kiln plan (it does not start with \"KILNPLAN\"); build one with kiln build");
  if (size < kMinPlanSize)
    return invalid_input(path + ": truncated kiln plan (" + std::to_string(size) +
                         " bytes, shorter than any plan): the file is corrupt or was cut short; rebuild it with "
                         "kiln build");
  const uint32_t version = get_u32(bytes, kMagicSize);
  const bool checksum_ok = crc32_of(bytes, size - 4) == get_u32(bytes, size - 4);
  if (version != kPlanFormatVersion)
    return invalid_input(path + ": plan format version " + std::to_string(version) + ", this kiln reads version " +
                         std::to_string(kPlanFormatVersion) +
                         (checksum_ok ? "" : " (and the checksum does not match: the file may be corrupt)") +
                         "; rebuild the engine with this kiln's kiln build");
  if (!checksum_ok) return checksum_failure(bytes, path);

  const uint64_t header_len = get_u64(bytes, kMagicSize + 4);
  if (header_len > size - kMinPlanSize || get_u64(bytes, kPrefixSize + header_len) != size - kMinPlanSize - header_len)
    return invalid_input(path +
                         ": malformed kiln plan: its section sizes do not add up to the file size; the file "
                         "is corrupt, rebuild it with kiln build");
  PlanContents plan;
  plan.format_version = version;
  const json header = json::parse(bytes.begin() + kPrefixSize, bytes.begin() + kPrefixSize + header_len, nullptr,
                                  /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return invalid_input(path + ": malformed kiln plan: the header is not a JSON object; rebuild it with kiln build");
  try {
    contents_from_header(header, plan);
  } catch (const std::exception& e) {
    return invalid_input(path + ": malformed kiln plan header (" + e.what() + "); rebuild it with kiln build");
  }
  plan.model = bytes.substr(kPrefixSize + header_len + 8, size - kMinPlanSize - header_len);
  return plan;
}

Status check_plan_environment(const PlanEnvironment& built, const PlanEnvironment& current) {
  std::vector<std::string> diffs;
  auto quoted = [](const std::string& s) { return "'" + s + "'"; };
  if (built.gpu_name != current.gpu_name)
    diffs.push_back("GPU " + quoted(built.gpu_name) + ", this machine has " + quoted(current.gpu_name));
  if (built.sm != current.sm)
    diffs.push_back("SM " + std::to_string(built.sm) + ", this machine has SM " + std::to_string(current.sm));
  const std::pair<const char*, std::pair<int, int>> libs[] = {
      {"CUDA runtime", {built.cuda_runtime, current.cuda_runtime}},
      {"cuDNN", {built.cudnn, current.cudnn}},
      {"cuBLAS", {built.cublas, current.cublas}}};
  for (const auto& [name, v] : libs)
    if (v.first != v.second)
      diffs.push_back(std::string(name) + " " + library_version_string(name, v.first) + ", this machine has " +
                      library_version_string(name, v.second));
  // The version decides compatibility; the sha only helps the user find the build.
  if (built.kiln_version != current.kiln_version)
    diffs.push_back("kiln " + built.kiln_version + " (git " + built.git_sha + "), this is kiln " +
                    current.kiln_version + " (git " + current.git_sha + ")");
  if (diffs.empty()) return Status::Ok();
  std::string message = "plan built for ";
  for (size_t i = 0; i < diffs.size(); ++i) message += (i ? "; and for " : "") + diffs[i];
  return invalid_input(message + ": rebuild the engine with kiln build on this machine");
}

}  // namespace kiln
