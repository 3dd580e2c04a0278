// Graph -> ONNX ModelProto: nodes, attributes, typed inputs/outputs/value_info with symbolic dims, and
// initializers inline or in one external data file. Used by the model zoo, tests and round trips.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "kiln/version.h"
#include "onnx/importer.h"
#include "onnx/proto_convert.h"
#include "ops/registry.h"

namespace kiln {
namespace {

// Opset to write for hand-built graphs that import none.
constexpr int kDefaultWriteOpset = 17;

// Names to write for values of the scope being written: a subgraph's captured inputs take the names of the
// outer values their If node reads (passes may have renamed or replaced those since import).
using NameMap = std::map<const Value*, std::string>;
std::string name_of(const Value* v, const NameMap& names) {
  if (!v) return "";
  auto it = names.find(v);
  return it == names.end() ? v->name : it->second;
}

void type_to_proto(const Value& v, onnx::ValueInfoProto* vi, const NameMap& names = {}) {
  vi->set_name(name_of(&v, names));
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.shape.rank_known) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : v.shape.dims) {
    auto* dp = shape->add_dim();
    if (d.known()) {
      dp->set_dim_value(d.value);
    } else if (d.is_symbol()) {
      dp->set_dim_param(d.symbol);
    }
  }
}

Status write_body(const Graph& g, const NameMap& names, onnx::GraphProto* gp);

Status attr_to_proto(const Node& n, const std::string& key, const Attribute& a, onnx::AttributeProto* ap,
                     const NameMap& names) {
  ap->set_name(key);
  switch (a.type) {
    case AttrType::kFloat:
      ap->set_type(onnx::AttributeProto::FLOAT);
      ap->set_f(a.f);
      break;
    case AttrType::kInt:
      ap->set_type(onnx::AttributeProto::INT);
      ap->set_i(a.i);
      break;
    case AttrType::kString:
      ap->set_type(onnx::AttributeProto::STRING);
      ap->set_s(a.s);
      break;
    case AttrType::kFloats:
      ap->set_type(onnx::AttributeProto::FLOATS);
      for (float f : a.floats) ap->add_floats(f);
      break;
    case AttrType::kInts:
      ap->set_type(onnx::AttributeProto::INTS);
      for (int64_t i : a.ints) ap->add_ints(i);
      break;
    case AttrType::kStrings:
      ap->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& s : a.strings) ap->add_strings(s);
      break;
    case AttrType::kTensor:
      if (!a.t.defined()) return n.error(StatusCode::kInvalidInput, "attribute '" + key + "' holds no tensor");
      ap->set_type(onnx::AttributeProto::TENSOR);
      onnx_detail::tensor_to_proto(a.t, "", ap->mutable_t());
      break;
    case AttrType::kGraph:
      if (a.g) {
        // The body's captured inputs are the node's inputs after the condition: written as references to them.
        if (a.g->inputs.size() + 1 != n.inputs.size())
          return n.error(StatusCode::kInvalidInput, "attribute '" + key + "': the subgraph captures " +
                                                        std::to_string(a.g->inputs.size()) + " values but the node reads " +
                                                        std::to_string(n.inputs.size() - 1));
        NameMap inner;
        for (size_t j = 0; j < a.g->inputs.size(); ++j) inner[a.g->inputs[j]] = name_of(n.inputs[j + 1], names);
        ap->set_type(onnx::AttributeProto::GRAPH);
        return write_body(*a.g, inner, ap->mutable_g());
      }
      [[fallthrough]];
    default:
      // The importer keeps other subgraphs and kinds only as markers; writing them would drop content.
      return n.error(StatusCode::kUnsupported, "attribute '" + key + "' of type " + attr_type_name(a.type) +
                                                   " cannot be written (kiln does not keep its content)");
  }
  return Status::Ok();
}

void write_opsets(const Graph& g, onnx::ModelProto* m) {
  std::map<std::string, int> opsets = g.opset_imports;
  for (const auto& n : g.nodes()) {
    int& v = opsets[n->domain];
    v = std::max(v, n->opset);
  }
  if (opsets[""] <= 0) opsets[""] = kDefaultWriteOpset;
  for (const auto& [domain, version] : opsets) {
    auto* op = m->add_opset_import();
    op->set_domain(domain);
    op->set_version(version > 0 ? version : 1);
  }
}

bool has_body(const Node& n) {
  for (const auto& [key, a] : n.attrs)
    if (a.type == AttrType::kGraph && a.g) return true;
  return false;
}

Status write_nodes(const Graph& g, const NameMap& names, onnx::GraphProto* gp) {
  for (const auto& n : g.nodes()) {
    auto* np = gp->add_node();
    np->set_name(n->name);
    np->set_op_type(n->op_type);
    if (!n->domain.empty()) np->set_domain(n->domain);
    // An If node's inputs after the condition are its branches' captures: ONNX has them by name only.
    const size_t written = has_body(*n) ? std::min<size_t>(1, n->inputs.size()) : n->inputs.size();
    for (size_t i = 0; i < written; ++i) np->add_input(name_of(n->inputs[i], names));
    for (const Value* v : n->outputs) np->add_output(name_of(v, names));
    for (const auto& [key, attr] : n->attrs)
      KILN_RETURN_IF_ERROR(attr_to_proto(*n, key, attr, np->add_attribute(), names));
  }
  return Status::Ok();
}

// A subgraph: initializers inline, no inputs (captures are references to the enclosing scope), outputs,
// nodes and value_info.
Status write_body(const Graph& g, const NameMap& names, onnx::GraphProto* gp) {
  gp->set_name(g.name.empty() ? "branch" : g.name);
  for (const Value* v : g.initializers) {
    if (!v->constant || !v->constant->defined())
      return invalid_input("subgraph initializer '" + v->name + "' has no data to write");
    onnx_detail::tensor_to_proto(*v->constant, v->name, gp->add_initializer());
  }
  for (const Value* v : g.outputs) type_to_proto(*v, gp->add_output(), names);
  KILN_RETURN_IF_ERROR(write_nodes(g, names, gp));
  std::set<const Value*> listed(g.inputs.begin(), g.inputs.end());
  listed.insert(g.outputs.begin(), g.outputs.end());
  listed.insert(g.initializers.begin(), g.initializers.end());
  for (const auto& v : g.values())
    if (!listed.count(v.get()) && v->dtype != DType::kUndefined) type_to_proto(*v, gp->add_value_info(), names);
  return Status::Ok();
}

// Builds the model; with `data_name` set, initializers over `threshold` bytes go to `data` (appended at
// 64-byte-aligned offsets) and are referenced by location `data_name`.
Status build_model(const Graph& g, const WriteOptions& options, const std::string& data_name, std::string* data,
                   onnx::ModelProto* m) {
  m->set_ir_version(g.ir_version >= 4 ? g.ir_version : 8);
  m->set_producer_name(options.producer_name);
  m->set_producer_version(KILN_VERSION);
  write_opsets(g, m);
  auto* gp = m->mutable_graph();
  gp->set_name(g.name.empty() ? "kiln" : g.name);
  for (const Value* v : g.initializers) {
    auto* tp = gp->add_initializer();
    if (!v->constant || !v->constant->defined())
      return invalid_input("initializer '" + v->name + "' has no data to write");
    const Tensor& t = *v->constant;
    if (!data_name.empty() && t.nbytes() > options.external_threshold) {
      tp->set_name(v->name);
      tp->set_data_type(static_cast<int32_t>(t.dtype()));
      for (int64_t d : t.shape()) tp->add_dims(d);
      data->resize((data->size() + 63) / 64 * 64, '\0');
      tp->set_data_location(onnx::TensorProto::EXTERNAL);
      auto add = [&](const char* k, const std::string& val) {
        auto* e = tp->add_external_data();
        e->set_key(k);
        e->set_value(val);
      };
      add("location", data_name);
      add("offset", std::to_string(data->size()));
      add("length", std::to_string(t.nbytes()));
      data->append(static_cast<const char*>(t.raw()), t.nbytes());
    } else {
      onnx_detail::tensor_to_proto(t, v->name, tp);
    }
  }
  for (const Value* v : g.inputs) type_to_proto(*v, gp->add_input());
  for (const Value* v : g.outputs) type_to_proto(*v, gp->add_output());
  KILN_RETURN_IF_ERROR(write_nodes(g, {}, gp));
  std::set<const Value*> listed(g.inputs.begin(), g.inputs.end());
  listed.insert(g.outputs.begin(), g.outputs.end());
  listed.insert(g.initializers.begin(), g.initializers.end());
  for (const auto& v : g.values())
    if (!listed.count(v.get()) && v->dtype != DType::kUndefined) type_to_proto(*v, gp->add_value_info());
  return Status::Ok();
}

Expected<std::string> serialize(const onnx::ModelProto& m) {
  const size_t size = m.ByteSizeLong();
  if (size > onnx_detail::kMaxProtoBytes)
    return invalid_input("the model is " + std::to_string(size) +
                         " bytes, over protobuf's 2 GiB limit: write it with an external data threshold");
  std::string bytes;
  if (!m.SerializeToString(&bytes)) return runtime_error("protobuf serialization of the model failed");
  return bytes;
}

}  // namespace

Expected<std::string> serialize_onnx(const Graph& graph) {
  onnx::ModelProto m;
  std::string unused;
  KILN_RETURN_IF_ERROR(build_model(graph, WriteOptions{}, "", &unused, &m));
  return serialize(m);
}

Status write_onnx(const Graph& graph, const std::string& path, const WriteOptions& options) {
  onnx::ModelProto m;
  std::string data;
  const std::string data_name =
      options.external_threshold ? std::filesystem::path(path).filename().string() + ".data" : std::string();
  KILN_RETURN_IF_ERROR(build_model(graph, options, data_name, &data, &m));
  KILN_ASSIGN_OR_RETURN(std::string bytes, serialize(m));
  if (!data.empty()) {
    // The data file lands first so the model never refers to a file that is not complete yet.
    const std::string data_path = (std::filesystem::path(path).parent_path() / data_name).string();
    KILN_RETURN_IF_ERROR(onnx_detail::write_file_atomic(data_path, data));
  }
  return onnx_detail::write_file_atomic(path, bytes);
}

}  // namespace kiln
