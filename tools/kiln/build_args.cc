// Parsing of the trtexec-named engine build flags (see build_args.h and docs/CLI.md).
#include "tools/kiln/build_args.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/shape.h"

namespace kiln::cli {
namespace {

std::vector<std::string> split_items(const std::vector<std::string>& specs) {
  std::vector<std::string> items;
  for (const auto& spec : specs) {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::string join_names(const ShapeMap& m) {
  std::string s;
  for (const auto& kv : m) s += (s.empty() ? "" : ", ") + kv.first;
  return s.empty() ? "(none)" : s;
}

// Every input named in `other` is named in `reference` too (and vice versa, by calling it both ways).
Status same_inputs(const ShapeMap& reference, const char* ref_flag, const ShapeMap& other, const char* other_flag) {
  for (const auto& kv : other)
    if (!reference.count(kv.first))
      return usage_error(std::string(other_flag) + " gives input '" + kv.first + "' but " + ref_flag + " does not (" +
                         ref_flag + " names: " + join_names(reference) + "); give every dynamic " +
                         "input in all three of --minShapes, --optShapes and --maxShapes");
  return Status::Ok();
}

}  // namespace

void add_build_flags(CLI::App& app, BuildFlags& f, bool with_shapes) {
  app.add_flag("--fp32", f.fp32, "FP32 engine (the default; TF32 off)");
  app.add_flag("--tf32", f.tf32, "FP32 engine with TF32 tensor-core math allowed");
  app.add_flag("--fp16", f.fp16, "FP16 engine (FP32 accumulation; softmax/reductions/normalizations stay FP32)");
  app.add_flag("--bf16", f.bf16, "BF16 engine (FP32 accumulation)");
  if (with_shapes)
    app.add_option("--shapes", f.shapes,
                   "Static engine: shapes for the inputs' symbolic dims, NAME:DIMS[,NAME:DIMS...]");
  app.add_option("--minShapes", f.min_shapes, "Dynamic engine: smallest shapes of the profile, NAME:DIMS[,...]");
  app.add_option("--optShapes", f.opt_shapes, "Dynamic engine: shapes the tactics are tuned at, NAME:DIMS[,...]");
  app.add_option("--maxShapes", f.max_shapes,
                 "Dynamic engine: largest shapes of the profile (memory is sized for them), NAME:DIMS[,...]");
  app.add_option("--layerPrecisions", f.layer_precisions,
                 "Pin layers to a precision: NODE:fp32|fp16|bf16[,NODE:PREC...] (node names as in kiln info)");
  app.add_option("--inputValues", f.input_values,
                 "Fix model inputs to values at build: NAME:V1,V2,... (repeatable). They stop being engine inputs "
                 "and fold like constants: parameter inputs (Resize sizes, Slice starts, Reduce axes, TopK k) that "
                 "the GPU needs as constants; a run may feed them with the same values only");
  app.add_option("--inputIOFormats", f.input_io_formats,
                 "Engine input types, one per input in order: TYPE[:chw][,...] with TYPE fp32|fp16|bf16 "
                 "(default: the model's; e.g. --inputIOFormats=fp16:chw)");
  app.add_option("--outputIOFormats", f.output_io_formats,
                 "Engine output types, one per output in order: TYPE[:chw][,...] (default: the model's)");
  app.add_option("--memPoolSize", f.mem_pool_size,
                 "Workspace limit, trtexec syntax workspace:N (MiB, or with a B/K/M/G suffix); default 256 MiB");
  app.add_option("--timingCacheFile", f.timing_cache_file,
                 "Timing cache: tactic choices are read from it if it exists and written back after the build");
  app.add_flag("--noTune", f.no_tune, "Pick tactics from heuristics only (no timing): faster builds");
  app.add_flag("--skipRangeCheck", f.skip_range_check,
               "FP16 builds: skip the check that runs the model once on the CPU reference and warns about layers "
               "whose values overflow or flush to zero in FP16");
  app.add_flag("--simulateInt8", f.simulate_int8,
               "Q/DQ graphs (QDQ models, --int8): run every layer as simulated quantization in float instead of "
               "INT8 conv kernels (the reference's numbers at float speed)");
  app.add_option("--builderOptimizationLevel", f.optimization_level,
                 "0..5, default 3: conv tactics timed per cuDNN graph. 0 none (as --noTune); 1/2/3 the heuristics' "
                 "top 2/4/8 (at most 1/2/2 runtime-compiled); 4/5 add up to 4/16 engines the heuristics did not offer "
                 "and more runtime-compiled ones (longer builds)")
      ->check(CLI::Range(0, 5));
}

Expected<std::string> precision_from_flags(const BuildFlags& f) {
  std::vector<std::string> given;
  if (f.fp32) given.push_back("fp32");
  if (f.tf32) given.push_back("tf32");
  if (f.fp16) given.push_back("fp16");
  if (f.bf16) given.push_back("bf16");
  if (given.size() > 1)
    return usage_error("--" + given[0] + " and --" + given[1] +
                       " both given: choose one engine precision (pin single layers with --layerPrecisions)");
  return given.empty() ? std::string("fp32") : given[0];
}

Expected<ShapeMap> parse_shape_list(const std::string& flag, const std::vector<std::string>& specs) {
  ShapeMap out;
  for (const std::string& item : split_items(specs)) {
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return usage_error(flag + " '" + item + "' is not NAME:DIMS (e.g. " + flag + " input:1x3x224x224)");
    const std::string name = item.substr(0, colon);
    auto shape = parse_shape(item.substr(colon + 1));
    if (!shape.ok()) return usage_error(flag + " '" + item + "': " + shape.status().message());
    if (shape->empty()) return usage_error(flag + " '" + item + "' has no dims (e.g. " + name + ":1x3x224x224)");
    if (out.count(name)) return usage_error(flag + " gives input '" + name + "' twice");
    out[name] = *shape;
  }
  return out;
}

Expected<ShapeProfile> parse_profile(const std::vector<std::string>& min, const std::vector<std::string>& opt,
                                     const std::vector<std::string>& max) {
  ShapeProfile p;
  KILN_ASSIGN_OR_RETURN(p.min, parse_shape_list("--minShapes", min));
  KILN_ASSIGN_OR_RETURN(p.opt, parse_shape_list("--optShapes", opt));
  KILN_ASSIGN_OR_RETURN(p.max, parse_shape_list("--maxShapes", max));
  if (p.min.empty() || p.opt.empty() || p.max.empty())
    return usage_error(
        "a dynamic profile needs all three of --minShapes, --optShapes and --maxShapes (e.g. "
        "--minShapes input:1x3x224x224 --optShapes input:8x3x224x224 --maxShapes input:16x3x224x224)");
  KILN_RETURN_IF_ERROR(same_inputs(p.min, "--minShapes", p.opt, "--optShapes"));
  KILN_RETURN_IF_ERROR(same_inputs(p.min, "--minShapes", p.max, "--maxShapes"));
  KILN_RETURN_IF_ERROR(same_inputs(p.opt, "--optShapes", p.min, "--minShapes"));
  KILN_RETURN_IF_ERROR(same_inputs(p.max, "--maxShapes", p.min, "--minShapes"));
  for (const auto& [name, lo] : p.min) {
    const Dims& mid = p.opt.at(name);
    const Dims& hi = p.max.at(name);
    if (lo.size() != mid.size() || lo.size() != hi.size())
      return usage_error("input '" + name + "' has rank " + std::to_string(lo.size()) + " in --minShapes, " +
                         std::to_string(mid.size()) + " in --optShapes and " + std::to_string(hi.size()) +
                         " in --maxShapes: the ranks must agree");
    for (size_t d = 0; d < lo.size(); ++d)
      if (lo[d] > mid[d] || mid[d] > hi[d])
        return usage_error("input '" + name + "' dim " + std::to_string(d) + ": min " + std::to_string(lo[d]) +
                           ", opt " + std::to_string(mid[d]) + ", max " + std::to_string(hi[d]) +
                           " is not min <= opt <= max");
  }
  return p;
}

Expected<std::map<std::string, std::string>> parse_layer_precisions(const std::vector<std::string>& specs) {
  std::map<std::string, std::string> out;
  for (const std::string& item : split_items(specs)) {
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return usage_error("--layerPrecisions '" + item + "' is not NODE:PRECISION (e.g. --layerPrecisions fc:fp32)");
    const std::string name = item.substr(0, colon), precision = item.substr(colon + 1);
    if (precision != "fp32" && precision != "fp16" && precision != "bf16")
      return usage_error("--layerPrecisions '" + item + "': precision '" + precision +
                         "' is not one of fp32, fp16, bf16");
    if (out.count(name)) return usage_error("--layerPrecisions gives layer '" + name + "' twice");
    out[name] = precision;
  }
  return out;
}

Expected<std::vector<std::string>> parse_io_formats(const std::string& flag, const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const std::string& item : split_items(specs)) {
    const size_t colon = item.find(':');
    const std::string type = item.substr(0, colon);
    const std::string format = colon == std::string::npos ? "" : item.substr(colon + 1);
    if (type != "fp32" && type != "fp16" && type != "bf16")
      return usage_error(flag + " '" + item + "': type '" + type + "' is not one of fp32, fp16, bf16 (e.g. " + flag +
                         "=fp16:chw)");
    if (!format.empty() && format != "chw" && format != "linear")
      return usage_error(flag + " '" + item + "': format '" + format +
                         "' is not supported; kiln engines take dense row-major I/O (chw)");
    out.push_back(type);
  }
  return out;
}

Expected<size_t> parse_mem_pool_size(const std::string& spec) {
  const std::string bad = "--memPoolSize '" + spec + "'";
  std::string size = spec;
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    const std::string pool = spec.substr(0, colon);
    if (pool != "workspace")
      return usage_error(bad + ": kiln has only the workspace pool (e.g. --memPoolSize=workspace:1024)");
    size = spec.substr(colon + 1);
  }
  double unit = 1 << 20;  // trtexec's default unit is MiB
  if (!size.empty()) {
    const char suffix = size.back();
    const std::map<char, double> units = {{'B', 1.0}, {'K', 1024.0}, {'M', 1048576.0}, {'G', 1073741824.0}};
    auto it = units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(suffix))));
    if (it != units.end()) {
      unit = it->second;
      size.pop_back();
    }
  }
  char* end = nullptr;
  const double n = size.empty() ? NAN : std::strtod(size.c_str(), &end);
  if (size.empty() || end != size.c_str() + size.size() || !std::isfinite(n) || n < 0 || size[0] == '-' ||
      size[0] == '+' || std::isspace(static_cast<unsigned char>(size[0])))
    return usage_error(bad + " is not workspace:N with N in MiB (e.g. workspace:1024, workspace:2G)");
  const double bytes = n * unit;
  if (bytes > static_cast<double>(uint64_t{1} << 50)) return usage_error(bad + " is larger than any GPU memory");
  return static_cast<size_t>(bytes);
}

Expected<std::map<std::string, std::vector<double>>> parse_input_values(const std::vector<std::string>& specs) {
  std::map<std::string, std::vector<double>> out;
  for (const std::string& joined : specs) {
    std::stringstream items(joined);
    std::string spec;
    while (std::getline(items, spec, ';')) {
      const size_t colon = spec.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
        return usage_error("--inputValues '" + spec + "': expected NAME:V1,V2,... (e.g. k:3 or axes:0,2)");
      const std::string name = spec.substr(0, colon);
      if (out.count(name)) return usage_error("--inputValues gives input '" + name + "' twice");
      std::vector<double> values;
      std::stringstream list(spec.substr(colon + 1));
      std::string item;
      while (std::getline(list, item, ',')) {
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || end != item.c_str() + item.size())
          return usage_error("--inputValues '" + spec + "': '" + item + "' is not a number");
        values.push_back(v);
      }
      out[name] = std::move(values);
    }
  }
  return out;
}

Expected<BuildOptions> build_options_from_flags(const BuildFlags& f) {
  BuildOptions o;
  KILN_ASSIGN_OR_RETURN(o.precision, precision_from_flags(f));
  const bool dynamic = !f.min_shapes.empty() || !f.opt_shapes.empty() || !f.max_shapes.empty();
  if (dynamic && !f.shapes.empty())
    return usage_error(
        "--shapes (static engine) and --minShapes/--optShapes/--maxShapes (dynamic engine) cannot "
        "be combined: for a static engine give --shapes only");
  if (dynamic) {
    KILN_ASSIGN_OR_RETURN(ShapeProfile p, parse_profile(f.min_shapes, f.opt_shapes, f.max_shapes));
    o.profiles.push_back(std::move(p));
  } else {
    KILN_ASSIGN_OR_RETURN(o.shapes, parse_shape_list("--shapes", f.shapes));
  }
  KILN_ASSIGN_OR_RETURN(o.layer_precisions, parse_layer_precisions(f.layer_precisions));
  KILN_ASSIGN_OR_RETURN(o.input_values, parse_input_values(f.input_values));
  KILN_ASSIGN_OR_RETURN(o.input_io_formats, parse_io_formats("--inputIOFormats", f.input_io_formats));
  KILN_ASSIGN_OR_RETURN(o.output_io_formats, parse_io_formats("--outputIOFormats", f.output_io_formats));
  if (!f.mem_pool_size.empty()) {
    KILN_ASSIGN_OR_RETURN(o.workspace_bytes, parse_mem_pool_size(f.mem_pool_size));
  }
  o.timing_cache_file = f.timing_cache_file;
  o.tune = !f.no_tune;
  o.range_check = !f.skip_range_check;
  o.int8_kernels = !f.simulate_int8;
  o.optimization_level = f.optimization_level;
  return o;
}

}  // namespace kiln::cli
