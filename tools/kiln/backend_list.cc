// `--backends` lists and --shapes graph loaders (see backend_list.h).
#include "tools/kiln/backend_list.h"

#include <sstream>

#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {

Expected<std::vector<BackendSpec>> parse_backend_list(const std::string& csv) {
  std::vector<BackendSpec> specs;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) {
      KILN_ASSIGN_OR_RETURN(BackendSpec s, parse_backend(item));
      specs.push_back(s);
    }
  if (specs.empty()) return usage_error("--backends names no backend");
  return specs;
}

Expected<GraphLoader> shape_override_loader(const std::vector<std::string>& shapes) {
  KILN_ASSIGN_OR_RETURN(auto overrides, parse_shape_overrides(shapes));
  return GraphLoader([overrides](const std::string& path) -> Expected<std::unique_ptr<Graph>> {
    KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(path));
    KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, overrides));
    return graph;
  });
}

}  // namespace kiln::cli
