// Optimization profile completion and checks (see profiles.h).
#include "engine/profiles.h"

#include <fmt/format.h>

namespace kiln {
namespace {

std::string dims_str(const Dims& d) { return shape_to_string(d); }

Status check_input_shape(const Value* v, const Dims& d, const char* which) {
  if (!v->shape.accepts(d))
    return invalid_input(fmt::format("{} shape {} for input '{}' does not fit its declared shape {}", which, dims_str(d),
                                     v->name, v->shape.to_string()));
  for (int64_t x : d)
    if (x < 0) return invalid_input(fmt::format("{} shape {} for input '{}' has a negative dim", which, dims_str(d), v->name));
  return Status::Ok();
}

Status check_names(const Graph& g, const ShapeMap& m, const char* flag) {
  for (const auto& [name, dims] : m) {
    bool found = false;
    for (const Value* v : g.inputs) found |= v->name == name;
    if (!found) {
      std::string names;
      for (const Value* v : g.inputs) names += (names.empty() ? "" : ", ") + v->name;
      return invalid_input(fmt::format("{} names input '{}', which the model does not have (its inputs: {})", flag, name,
                                       names));
    }
  }
  return Status::Ok();
}

}  // namespace

Expected<std::vector<ShapeProfile>> resolve_profiles(const Graph& graph, const ShapeMap& shapes,
                                                     const std::vector<ShapeProfile>& profiles) {
  if (profiles.empty()) {
    KILN_RETURN_IF_ERROR(check_names(graph, shapes, "--shapes"));
    ShapeProfile p;
    for (const Value* v : graph.inputs) {
      Dims d;
      if (auto it = shapes.find(v->name); it != shapes.end()) {
        d = it->second;
      } else if (auto s = v->shape.to_static()) {
        d = *s;
      } else {
        return invalid_input(fmt::format("input '{}' has dynamic dims {}: give --shapes={}:<dims> for a static engine, "
                                         "or --minShapes/--optShapes/--maxShapes for a dynamic one",
                                         v->name, v->shape.to_string(), v->name));
      }
      KILN_RETURN_IF_ERROR(check_input_shape(v, d, "the"));
      p.min[v->name] = p.opt[v->name] = p.max[v->name] = d;
    }
    return std::vector<ShapeProfile>{p};
  }
  std::vector<ShapeProfile> out;
  for (ShapeProfile p : profiles) {
    KILN_RETURN_IF_ERROR(check_names(graph, p.min, "--minShapes"));
    KILN_RETURN_IF_ERROR(check_names(graph, p.opt, "--optShapes"));
    KILN_RETURN_IF_ERROR(check_names(graph, p.max, "--maxShapes"));
    for (const Value* v : graph.inputs) {
      const bool has_min = p.min.count(v->name), has_opt = p.opt.count(v->name), has_max = p.max.count(v->name);
      if (!has_min && !has_opt && !has_max) {
        auto s = v->shape.to_static();
        if (!s)
          return invalid_input(fmt::format("input '{}' has dynamic dims {} but the profile gives no shapes for it",
                                           v->name, v->shape.to_string()));
        p.min[v->name] = p.opt[v->name] = p.max[v->name] = *s;
        continue;
      }
      if (!has_min || !has_max)
        return invalid_input(fmt::format("input '{}': give --minShapes and --maxShapes (--optShapes defaults to max)", v->name));
      if (!has_opt) p.opt[v->name] = p.max[v->name];
      const Dims &mn = p.min[v->name], &op = p.opt[v->name], &mx = p.max[v->name];
      KILN_RETURN_IF_ERROR(check_input_shape(v, mn, "min"));
      KILN_RETURN_IF_ERROR(check_input_shape(v, op, "opt"));
      KILN_RETURN_IF_ERROR(check_input_shape(v, mx, "max"));
      for (size_t i = 0; i < mn.size(); ++i)
        if (!(mn[i] <= op[i] && op[i] <= mx[i]))
          return invalid_input(fmt::format("input '{}': need min <= opt <= max in every dim, got {} / {} / {}", v->name,
                                           dims_str(mn), dims_str(op), dims_str(mx)));
    }
    out.push_back(std::move(p));
  }
  return out;
}

bool profiles_are_static(const std::vector<ShapeProfile>& profiles) {
  for (const auto& p : profiles)
    if (p.min != p.max) return false;
  return profiles.size() <= 1;
}

std::string shape_outside_profile(const ShapeProfile& p, const ShapeMap& shapes) {
  for (const auto& [name, mn] : p.min) {
    auto it = shapes.find(name);
    if (it == shapes.end()) return fmt::format("no shape given for input '{}'", name);
    const Dims& d = it->second;
    const Dims& mx = p.max.at(name);
    if (d.size() != mn.size())
      return fmt::format("input '{}' has rank {}, the profile has rank {}", name, d.size(), mn.size());
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] < mn[i] || d[i] > mx[i])
        return fmt::format("input '{}' dim {} = {} is outside [{}, {}] (shape {}, profile {} .. {})", name, i, d[i], mn[i],
                           mx[i], dims_str(d), dims_str(mn), dims_str(mx));
  }
  for (const auto& [name, d] : shapes)
    if (!p.min.count(name)) return fmt::format("the engine has no input named '{}'", name);
  return "";
}

}  // namespace kiln
