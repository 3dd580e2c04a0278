// Helpers of the C ABI: thread-local error, strings, and build options / shape maps from JSON.
#include "capi/capi_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>

namespace kiln::capi {
namespace {

using nlohmann::json;

Expected<Dims> dims_from(const json& j, const std::string& what) {
  if (!j.is_array()) return usage_error(what + " must be a list of dims, e.g. [1,3,224,224]");
  Dims d;
  for (const json& v : j) {
    if (!v.is_number_integer()) return usage_error(what + " must be a list of integers, got " + j.dump());
    d.push_back(v.get<int64_t>());
  }
  return d;
}

Expected<ShapeMap> shape_map_from(const json& j, const std::string& what) {
  if (!j.is_object()) return usage_error(what + " must map input names to dims, e.g. {\"input\": [1,3,224,224]}");
  ShapeMap m;
  for (const auto& [name, dims] : j.items()) {
    KILN_ASSIGN_OR_RETURN(m[name], dims_from(dims, what + "['" + name + "']"));
  }
  return m;
}

Expected<std::vector<std::string>> string_list(const json& j, const std::string& what) {
  if (!j.is_array()) return usage_error(what + " must be a list of strings, e.g. [\"fp16\"]");
  std::vector<std::string> out;
  for (const json& v : j) {
    if (!v.is_string()) return usage_error(what + " must be a list of strings, got " + j.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

Expected<json> parse_object(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return usage_error(what + " is not valid JSON: " + text);
  if (!j.is_object()) return usage_error(what + " must be a JSON object, got " + text);
  return j;
}

Status apply_option(BuildOptions& o, const std::string& key, const json& v) {
  auto type_error = [&](const char* want) { return usage_error("build option '" + key + "' must be " + want); };
  if (key == "precision") {
    if (!v.is_string()) return type_error("a string (fp32, tf32, fp16 or bf16)");
    o.precision = v.get<std::string>();
  } else if (key == "shapes") {
    KILN_ASSIGN_OR_RETURN(o.shapes, shape_map_from(v, "build option 'shapes'"));
  } else if (key == "profiles") {
    if (!v.is_array()) return type_error("a list of {\"min\": ..., \"opt\": ..., \"max\": ...} objects");
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string what = "build option 'profiles'[" + std::to_string(i) + "]";
      if (!v[i].is_object()) return usage_error(what + " must be a {\"min\", \"opt\", \"max\"} object");
      ShapeProfile p;
      for (const auto& [k, m] : v[i].items()) {
        if (k != "min" && k != "opt" && k != "max")
          return usage_error(what + " has key '" + k + "'; the keys are min, opt and max");
        KILN_ASSIGN_OR_RETURN(ShapeMap sm, shape_map_from(m, what + "['" + k + "']"));
        (k == "min" ? p.min : k == "opt" ? p.opt : p.max) = std::move(sm);
      }
      o.profiles.push_back(std::move(p));
    }
  } else if (key == "layer_precisions") {
    if (!v.is_object()) return type_error("an object {\"node name\": \"fp32\", ...}");
    for (const auto& [name, p] : v.items()) {
      if (!p.is_string()) return type_error("an object of strings {\"node name\": \"fp32\", ...}");
      o.layer_precisions[name] = p.get<std::string>();
    }
  } else if (key == "input_values") {
    if (!v.is_object()) return type_error("an object {\"input name\": [numbers], ...}");
    for (const auto& [name, list] : v.items()) {
      if (list.is_number()) {
        o.input_values[name] = {list.get<double>()};
        continue;
      }
      if (!list.is_array()) return type_error("an object of number lists {\"k\": [3], \"axes\": [0, 2]}");
      std::vector<double>& values = o.input_values[name];
      for (const json& x : list) {
        if (!x.is_number()) return type_error("an object of number lists {\"k\": [3], \"axes\": [0, 2]}");
        values.push_back(x.get<double>());
      }
    }
  } else if (key == "input_io_formats") {
    KILN_ASSIGN_OR_RETURN(o.input_io_formats, string_list(v, "build option 'input_io_formats'"));
  } else if (key == "output_io_formats") {
    KILN_ASSIGN_OR_RETURN(o.output_io_formats, string_list(v, "build option 'output_io_formats'"));
  } else if (key == "workspace_mib") {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() > (1 << 30))
      return type_error("a number of MiB, 0 or more");
    o.workspace_bytes = static_cast<size_t>(v.get<double>() * 1048576.0);
  } else if (key == "timing_cache") {
    if (!v.is_string()) return type_error("a file path");
    o.timing_cache_file = v.get<std::string>();
  } else if (key == "optimization_level") {
    if (!v.is_number_integer()) return type_error("an integer 0..5");
    o.optimization_level = v.get<int>();
  } else if (key == "tune") {
    if (!v.is_boolean()) return type_error("true or false");
    o.tune = v.get<bool>();
  } else {
    return usage_error("unknown build option '" + key +
                       "' (options: precision, shapes, profiles, layer_precisions, input_values, input_io_formats, "
                       "output_io_formats, workspace_mib, timing_cache, optimization_level, tune)");
  }
  return Status::Ok();
}

}  // namespace

std::string& last_error() {
  thread_local std::string message;
  return message;
}

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

bool file_exists(const char* path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string dims_text(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Expected<BuildOptions> build_options_from_json(const std::string& text) {
  BuildOptions o;
  if (text.empty()) return o;
  KILN_ASSIGN_OR_RETURN(json j, parse_object(text, "build options"));
  for (const auto& [key, value] : j.items())
    if (!value.is_null()) KILN_RETURN_IF_ERROR(apply_option(o, key, value));
  if (!o.shapes.empty() && !o.profiles.empty())
    return usage_error("build options 'shapes' (static engine) and 'profiles' (dynamic engine) cannot be combined");
  return o;
}

Expected<ShapeMap> shape_map_from_json(const std::string& text, const std::string& what) {
  KILN_ASSIGN_OR_RETURN(json j, parse_object(text, what));
  return shape_map_from(j, what);
}

}  // namespace kiln::capi
