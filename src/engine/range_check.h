// FP16 range check before a half-precision build: runs the model on the CPU reference (FP32) and names the
// layers whose values would overflow to inf or flush to zero (or sink below the normal range) in FP16.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln {

// FP16 limits: the largest finite value, the smallest normal (2^-14) and the smallest subnormal (2^-24).
constexpr double kFp16Max = 65504.0;
constexpr double kFp16MinNormal = 6.103515625e-05;
constexpr double kFp16MinSubnormal = 5.9604644775390625e-08;

enum class RangeKind {
  kNonFinite,    // already inf/NaN in FP32: the model itself, not FP16
  kOverflow,     // max |x| > 65504: becomes inf in FP16
  kFlushToZero,  // 0 < max |x| < 2^-24: every value rounds to 0 (or the smallest subnormal) in FP16
  kSubnormal,    // max |x| < 2^-14: every value is subnormal in FP16 (fewer than 10 significant bits)
};
const char* range_kind_name(RangeKind k);

struct RangeFinding {
  std::string node, op, value;  // the ONNX node (its name is what --layerPrecisions takes) and its output
  RangeKind kind = RangeKind::kOverflow;
  double max_abs = 0;
};

struct RangeReport {
  std::vector<RangeFinding> findings;  // in graph order; the first one is where values first leave FP16
  int64_t checked_values = 0;          // float node outputs examined
  std::string feeds;                   // what the check ran on, e.g. "1 seeded random input of 1x3x224x224"
  // One warning line per finding kind, naming the first layer; empty when nothing leaves FP16's range.
  std::vector<std::string> warnings() const;
  // A --layerPrecisions value pinning every flagged layer (overflow / flush / subnormal) to fp32.
  std::string suggested_layer_precisions() const;
};

// Examines every float32 node output of `graph` run on `feeds` (CPU reference, FP32), for the nodes for
// which `in_fp16(node name)` is true (all when it is empty). `graph` is not changed.
Expected<RangeReport> check_fp16_ranges(const Graph& graph, const TensorMap& feeds,
                                        const std::function<bool(const std::string&)>& in_fp16 = {});

// Seeded random feeds (uniform in [-1, 1) for floats) for the graph's inputs: symbolic dims take `shapes`
// when given, else 1 (a batch of one is enough to see ranges). kUnsupported when the inputs would exceed
// `max_elements` floats in all (the CPU reference would take too long): the caller then skips the check.
Expected<TensorMap> range_check_feeds(const Graph& graph, const ShapeMap& shapes, uint64_t seed, int64_t max_elements);

// True when some layer of a build with these options computes in FP16 (an fp16 engine, or layers pinned to fp16):
// only then does the builder run the check.
bool builds_in_fp16(const BuildOptions& options);

// The check as the builder runs it on a model (a copy of `graph`, which is not changed): feeds at batch 1
// (symbolic dims) or the model's fixed shapes, seed 0. Returns an empty report with `feeds` saying why when
// it was skipped (inputs too large, a model the CPU reference cannot run); errors only for internal failures.
Expected<RangeReport> fp16_range_check_for_build(const Graph& graph, const BuildOptions& options);

}  // namespace kiln
