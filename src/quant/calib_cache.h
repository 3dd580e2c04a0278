// The calibration cache (--calibCache): per-tensor activation scales keyed by the model file's hash, the
// method and the number of batches, as versioned JSON written atomically. Format: docs/QUANTIZATION.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "kiln/status.h"
#include "quant/calibrate.h"

namespace kiln::quant {

constexpr const char* kCalibCacheFormat = "kiln.calib_cache";
constexpr int kCalibCacheVersion = 1;
// The thresholds' algorithm revision: a cache from another revision is recalibrated, not used (2: the
// entropy search no longer lets the zero bin steer it; caches without the field are revision 1).
constexpr int kCalibAlgorithm = 2;

struct CalibCache {
  std::string model_hash;  // model_hash() of the .onnx file bytes
  std::string method;      // CalibMethodSpec::to_string()
  int64_t batches = 0;
  std::map<std::string, TensorStats> tensors;
  int algorithm = kCalibAlgorithm;
};

// "fnv1a64:<16 hex digits>" of the bytes (FNV-1a, 64 bits: a fingerprint, not a security hash).
std::string model_hash(const std::string& bytes);

// A missing file is kInvalidInput too; callers check for existence first. Bad JSON, a truncated file, an
// unknown format or version, missing fields or a non-positive scale: kInvalidInput naming the file.
Expected<CalibCache> read_calib_cache(const std::string& path);
Status write_calib_cache(const std::string& path, const CalibCache& cache);

// Why `cache` cannot serve a request ("" when it can). `batches` 0 = any count (no calibration data given).
std::string calib_cache_mismatch(const CalibCache& cache, const std::string& model_hash, const std::string& method,
                                 int64_t batches);

}  // namespace kiln::quant
