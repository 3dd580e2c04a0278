// Calibration cache reading/writing (JSON, see calib_cache.h) and its key check.
#include "quant/calib_cache.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/npy.h"

namespace kiln::quant {

std::string model_hash(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis; prime 0x100000001b3
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Status write_calib_cache(const std::string& path, const CalibCache& cache) {
  nlohmann::ordered_json j;
  j["format"] = kCalibCacheFormat;
  j["version"] = kCalibCacheVersion;
  j["model_hash"] = cache.model_hash;
  j["method"] = cache.method;
  j["batches"] = cache.batches;
  j["algorithm"] = cache.algorithm;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  for (const auto& [name, s] : cache.tensors)
    tensors[name] = {{"scale", s.scale}, {"threshold", s.threshold}, {"amax", s.amax}};
  j["tensors"] = std::move(tensors);
  return write_file_atomic(path, j.dump(2) + "\n");
}

Expected<CalibCache> read_calib_cache(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file_bytes(path));
  const std::string what = path + ": corrupt calibration cache: ";
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalid_input(what + "not valid JSON (truncated or damaged?); delete it to recalibrate");
  if (!j.contains("format") || j["format"] != kCalibCacheFormat)
    return invalid_input(what + "no \"format\": \"" + kCalibCacheFormat + "\"");
  if (!j.contains("version") || !j["version"].is_number_integer())
    return invalid_input(what + "no integer \"version\"");
  if (j["version"].get<int>() != kCalibCacheVersion)
    return invalid_input(path + ": calibration cache format version " + std::to_string(j["version"].get<int>()) +
                         ", this kiln reads version " + std::to_string(kCalibCacheVersion) +
                         "; delete it to recalibrate");
  CalibCache c;
  if (!j.contains("model_hash") || !j["model_hash"].is_string() || !j.contains("method") || !j["method"].is_string() ||
      !j.contains("batches") || !j["batches"].is_number_integer() || !j.contains("tensors") ||
      !j["tensors"].is_object())
    return invalid_input(what + "needs string \"model_hash\" and \"method\", integer \"batches\", object \"tensors\"");
  c.model_hash = j["model_hash"].get<std::string>();
  c.method = j["method"].get<std::string>();
  c.batches = j["batches"].get<int64_t>();
  c.algorithm = j.contains("algorithm") && j["algorithm"].is_number_integer() ? j["algorithm"].get<int>() : 1;
  for (const auto& [name, t] : j["tensors"].items()) {
    if (!t.is_object() || !t.contains("scale") || !t["scale"].is_number())
      return invalid_input(what + "tensor '" + name + "' has no numeric \"scale\"");
    TensorStats s;
    s.scale = t["scale"].get<float>();
    if (t.contains("threshold") && t["threshold"].is_number()) s.threshold = t["threshold"].get<double>();
    if (t.contains("amax") && t["amax"].is_number()) s.amax = t["amax"].get<double>();
    if (!std::isfinite(s.scale) || s.scale <= 0)
      return invalid_input(what + "tensor '" + name + "' has scale " + std::to_string(s.scale) + " (must be > 0)");
    c.tensors[name] = s;
  }
  return c;
}

std::string calib_cache_mismatch(const CalibCache& cache, const std::string& hash, const std::string& method,
                                 int64_t batches) {
  if (cache.model_hash != hash) return "model hash " + cache.model_hash + " in the cache, the model is " + hash;
  if (cache.method != method) return "method " + cache.method + " in the cache, " + method + " asked";
  if (cache.algorithm != kCalibAlgorithm)
    return "thresholds from calibration algorithm revision " + std::to_string(cache.algorithm) + ", this kiln uses " +
           std::to_string(kCalibAlgorithm);
  if (batches > 0 && cache.batches != batches)
    return std::to_string(cache.batches) + " batches in the cache, " + std::to_string(batches) + " asked";
  return "";
}

}  // namespace kiln::quant
