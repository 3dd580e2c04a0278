// The kiln extension of the seed-003 model config YAML: an optional `preprocess:` block per input
// (resize, crop, mean, std, scale, channels, layout), read for kiln accuracy / compare --config.
#pragma once

#include <string>
#include <vector>

#include "data/preprocess.h"
#include "kiln/status.h"

namespace kiln::data {

struct InputPreprocess {
  std::string input;    // inputs[i].name
  std::string where;    // "model.yaml: inputs[0].preprocess." (prefix for errors)
  PreprocessText text;  // values as text, in the flags' syntax
};

// The inputs that carry a preprocess block, in file order. Unknown keys inside the block, or values of
// the wrong shape, are kInvalidInput naming the file and key.
Expected<std::vector<InputPreprocess>> parse_preprocess_config(const std::string& yaml_text, const std::string& path);
Expected<std::vector<InputPreprocess>> load_preprocess_config(const std::string& path);

}  // namespace kiln::data
