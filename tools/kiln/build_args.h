// The trtexec-named engine build flags shared by `kiln build` and `kiln run --backend cuda`: registration on a
// CLI11 app and parsing into kiln::BuildOptions (shape lists, one optimization profile, layer precisions,
// workspace size). Input names are only parsed here; Engine::build checks them against the model.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::cli {

struct BuildFlags {
  bool fp32 = false, tf32 = false, fp16 = false, bf16 = false;
  std::vector<std::string> shapes, min_shapes, opt_shapes, max_shapes;
  std::vector<std::string> layer_precisions;
  std::vector<std::string> input_values;
  std::vector<std::string> input_io_formats, output_io_formats;
  std::string mem_pool_size;
  std::string timing_cache_file;
  bool no_tune = false;
  bool skip_range_check = false;
  bool simulate_int8 = false;
  int optimization_level = 3;
};

// Adds --fp32/--tf32/--fp16/--bf16, --minShapes/--optShapes/--maxShapes, --layerPrecisions, --memPoolSize,
// --timingCacheFile and --noTune. --shapes is added only with `with_shapes` (kiln run has its own).
void add_build_flags(CLI::App& app, BuildFlags& flags, bool with_shapes);

// All flags into BuildOptions (kUsage naming the flag and the offending text on any error).
Expected<BuildOptions> build_options_from_flags(const BuildFlags& flags);

// "fp32" unless one of the flags says otherwise; more than one is a usage error.
Expected<std::string> precision_from_flags(const BuildFlags& flags);

// "name:1x3x224x224[,name2:4x10]" (the flag may repeat); the name is split at the last ':'. `flag` names the
// option in errors ("--minShapes").
Expected<ShapeMap> parse_shape_list(const std::string& flag, const std::vector<std::string>& specs);

// One profile from the three lists: the same inputs in each, equal ranks, min <= opt <= max in every dim.
Expected<ShapeProfile> parse_profile(const std::vector<std::string>& min, const std::vector<std::string>& opt,
                                     const std::vector<std::string>& max);

// "conv1:fp32,fc:fp16" -> node name -> precision (fp32 | fp16 | bf16); split at the last ':'.
Expected<std::map<std::string, std::string>> parse_layer_precisions(const std::vector<std::string>& specs);

// --inputValues "k:3" / "axes:0,2" (the flag may repeat; ';' also separates inputs); the name is split at the
// last ':'. Values are numbers (inf, nan and exponents allowed).
Expected<std::map<std::string, std::vector<double>>> parse_input_values(const std::vector<std::string>& specs);

// trtexec's --inputIOFormats / --outputIOFormats list "fp16:chw,fp32:chw" (the flag may repeat) -> one dtype per
// item ("fp16", "fp32", "bf16"). kiln engines take dense row-major I/O, so the format part is "chw" (or
// "linear") or absent; others (hwc8, chw32, ...) are a usage error saying so.
Expected<std::vector<std::string>> parse_io_formats(const std::string& flag, const std::vector<std::string>& specs);

// trtexec's "workspace:N" (N in MiB unless suffixed B, K, M or G; fractions allowed), or just "N[suffix]".
Expected<size_t> parse_mem_pool_size(const std::string& spec);

}  // namespace kiln::cli
