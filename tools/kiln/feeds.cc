// Feeds for kiln run / kiln compare: .npy/.npz files checked against the graph inputs, seeded random data.
#include "tools/kiln/feeds.h"

#include "core/npy.h"
#include "core/random.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {
namespace {

// A feed read from a file, checked against the graph input it is meant for (message names the file).
Status check_file_feed(const Value& in, const Tensor& t, const std::string& source) {
  if (in.dtype != DType::kUndefined && t.dtype() != in.dtype)
    return invalid_input("input '" + in.name + "' expects dtype " + dtype_name(in.dtype) + " but " + source +
                         " holds " + dtype_name(t.dtype()));
  if (!in.shape.accepts(t.shape()))
    return invalid_input("input '" + in.name + "' expects shape " + in.shape.to_string() + " but " + source +
                         " holds " + shape_to_string(t.shape()));
  return Status::Ok();
}

}  // namespace

Status read_feeds(const FeedSources& args, const Graph& g, TensorMap& feeds,
                  std::map<std::string, std::string>& origin) {
  return read_feeds(args, std::vector<const Value*>(g.inputs.begin(), g.inputs.end()), feeds, origin);
}

Status read_feeds(const FeedSources& args, const std::vector<const Value*>& inputs, TensorMap& feeds,
                  std::map<std::string, std::string>& origin) {
  auto find_input = [&](const std::string& name, const std::string& source) -> Expected<const Value*> {
    for (const Value* v : inputs)
      if (v->name == name) return v;
    std::string names;
    for (const Value* v : inputs) names += (names.empty() ? "" : ", ") + v->name;
    return invalid_input(source + " feeds '" + name + "' but the model has no such input (its inputs: " + names + ")");
  };
  if (!args.npz.empty()) {
    KILN_ASSIGN_OR_RETURN(NamedTensors all, read_npz(args.npz));
    for (auto& [name, t] : all) {
      const std::string source = args.npz + " member '" + name + "'";
      KILN_ASSIGN_OR_RETURN(const Value* in, find_input(name, args.npz));
      KILN_RETURN_IF_ERROR(check_file_feed(*in, t, source));
      origin[name] = args.npz;
      feeds[name] = std::move(t);
    }
  }
  for (const auto& spec : args.inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return usage_error("--input '" + spec + "' is not NAME=FILE.npy (e.g. --input input=image.npy)");
    const std::string name = spec.substr(0, eq), path = spec.substr(eq + 1);
    KILN_ASSIGN_OR_RETURN(const Value* in, find_input(name, "--input " + spec));
    KILN_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
    KILN_RETURN_IF_ERROR(check_file_feed(*in, t, path));
    origin[name] = path;
    feeds[name] = std::move(t);
  }
  // Seeded random data for the rest; input i's stream depends only on the seed and i.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* in = inputs[i];
    if (feeds.count(in->name)) continue;
    KILN_RETURN_IF_ERROR(require_static_input(*in, "or feed it with --input " + in->name + "=FILE.npy"));
    const Shape shape = *in->shape.to_static();
    KILN_ASSIGN_OR_RETURN(Tensor t, random_tensor(in->dtype, shape, splitmix64(args.seed ^ splitmix64(i))));
    origin[in->name] = "random (seed " + std::to_string(args.seed) + ")";
    feeds[in->name] = std::move(t);
  }
  return Status::Ok();
}

}  // namespace kiln::cli
