// The IR printer: a readable dump of a Graph (inputs, initializer shapes, nodes with attributes, outputs).
#include <cstdio>
#include <sstream>

#include "ir/graph.h"

namespace kiln {
namespace {

std::string type_string(const Value& v) { return std::string(dtype_name(v.dtype)) + v.shape.to_string(); }

std::string float_string(float f) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(f));
  return buf;
}

template <typename T, typename F>
std::string list_string(const std::vector<T>& items, F to_string, size_t max_items = 16) {
  std::string out = "[";
  for (size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? "," : "") + to_string(items[i]);
  if (items.size() > max_items) out += ",... (" + std::to_string(items.size()) + " values)";
  return out + "]";
}

std::string quoted(const std::string& s) { return "\"" + (s.size() > 64 ? s.substr(0, 64) + "..." : s) + "\""; }

std::string attr_string(const Attribute& a) {
  switch (a.type) {
    case AttrType::kFloat:
      return float_string(a.f);
    case AttrType::kInt:
      return std::to_string(a.i);
    case AttrType::kString:
      return quoted(a.s);
    case AttrType::kFloats:
      return list_string(a.floats, float_string);
    case AttrType::kInts:
      return list_string(a.ints, [](int64_t i) { return std::to_string(i); });
    case AttrType::kStrings:
      return list_string(a.strings, quoted);
    case AttrType::kTensor: {
      // Small tensors (Constant scalars, shape vectors) are worth seeing; big ones only by type.
      std::string out = "tensor " + a.t.describe();
      if (a.t.defined() && a.t.numel() <= 8) {
        std::vector<double> vals;
        for (int64_t i = 0; i < a.t.numel(); ++i) vals.push_back(a.t.get_as_double(i));
        out += " " + list_string(vals, [](double d) { return float_string(static_cast<float>(d)); });
      }
      return out;
    }
    case AttrType::kGraph:
      return "<subgraph>";
    default:
      return "<" + std::string(attr_type_name(a.type)) + ">";
  }
}

std::string value_ref(const Value* v) { return v ? v->name : std::string("<none>"); }

}  // namespace

std::string print_graph(const Graph& g, bool with_shapes) {
  std::ostringstream os;
  os << "graph '" << g.name << "'";
  if (g.ir_version) os << " ir_version " << g.ir_version;
  for (const auto& [domain, version] : g.opset_imports)
    os << " opset " << (domain.empty() ? "ai.onnx" : domain) << ":" << version;
  if (!g.producer_name.empty()) os << " producer " << g.producer_name << " " << g.producer_version;
  os << "\n";
  os << "inputs (" << g.inputs.size() << "):\n";
  for (const Value* v : g.inputs) os << "  " << v->name << ": " << type_string(*v) << "\n";
  os << "initializers (" << g.initializers.size() << "):\n";
  for (const Value* v : g.initializers) os << "  " << v->name << ": " << type_string(*v) << "\n";
  os << "nodes (" << g.nodes().size() << "):\n";
  for (const auto& n : g.nodes()) {
    os << "  " << n->name << ": " << (n->domain.empty() ? "" : n->domain + ".") << n->op_type << "(";
    for (size_t i = 0; i < n->inputs.size(); ++i) os << (i ? ", " : "") << value_ref(n->inputs[i]);
    os << ")";
    if (!n->attrs.empty()) {
      os << " {";
      bool first = true;
      for (const auto& [key, attr] : n->attrs) {
        os << (first ? "" : ", ") << key << "=" << attr_string(attr);
        first = false;
      }
      os << "}";
    }
    os << " -> ";
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      const Value* o = n->outputs[i];
      os << (i ? ", " : "") << value_ref(o);
      if (o && with_shapes) os << ": " << type_string(*o);
    }
    os << "\n";
  }
  os << "outputs (" << g.outputs.size() << "):\n";
  for (const Value* v : g.outputs) os << "  " << v->name << ": " << type_string(*v) << "\n";
  return os.str();
}

}  // namespace kiln
