// `preprocess:` blocks of a seed-003 model config; values become the same text the flags take.
#include "data/preprocess_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace kiln::data {

namespace {

// A scalar as its text; a sequence as "a,b,c" (mean: [0.485, 0.456, 0.406]).
Expected<std::string> as_text(const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) {
    std::string out;
    for (const auto& item : n) {
      if (!item.IsScalar()) return invalid_input(key + " must be a value or a list of values");
      out += (out.empty() ? "" : ",") + item.Scalar();
    }
    return out;
  }
  return invalid_input(key + " must be a value or a list of values");
}

}  // namespace

Expected<std::vector<InputPreprocess>> parse_preprocess_config(const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalid_input(path + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap() || !root["inputs"] || !root["inputs"].IsSequence())
    return invalid_input(path + ": expected a model config with an inputs: list (seed-003 format)");
  std::vector<InputPreprocess> out;
  const YAML::Node inputs = root["inputs"];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const YAML::Node in = inputs[i];
    const std::string k = path + ": inputs[" + std::to_string(i) + "]";
    if (!in.IsMap() || !in["name"] || !in["name"].IsScalar()) return invalid_input(k + ".name is missing");
    const YAML::Node p = in["preprocess"];
    if (!p) continue;
    if (!p.IsMap())
      return invalid_input(k + ".preprocess must be a map (resize, crop, mean, std, scale, channels, layout)");
    InputPreprocess ip;
    ip.input = in["name"].Scalar();
    ip.where = k + ".preprocess.";
    PreprocessText& t = ip.text;
    for (const auto& kv : p) {
      const std::string key = kv.first.as<std::string>("");
      std::string* field = key == "resize"     ? &t.resize
                           : key == "crop"     ? &t.crop
                           : key == "mean"     ? &t.mean
                           : key == "std"      ? &t.std
                           : key == "scale"    ? &t.scale
                           : key == "channels" ? &t.channels
                           : key == "layout"   ? &t.layout
                                               : nullptr;
      if (!field)
        return invalid_input(ip.where + key +
                             " is not a preprocess key (resize, crop, mean, std, scale, channels, "
                             "layout)");
      auto v = as_text(kv.second, ip.where + key);
      if (!v.ok()) return v.status();
      *field = *v;
      if (field->empty()) return invalid_input(ip.where + key + " is empty");
    }
    // Check the values now so that the error names the file and key.
    auto spec = parse_preprocess(t, ip.where);
    if (!spec.ok()) return invalid_input(spec.status().message());
    out.push_back(std::move(ip));
  }
  return out;
}

Expected<std::vector<InputPreprocess>> load_preprocess_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return invalid_input(path + ": cannot open the model config (--config)");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_preprocess_config(ss.str(), path);
}

}  // namespace kiln::data
