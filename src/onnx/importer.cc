// ONNX ModelProto -> Graph: opset checks, values and types, initializers, nodes and attributes, then
// topological sort, shape inference and verification. The file is untrusted: every field is checked.
#include "onnx/importer.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <unordered_map>

#include "onnx/proto_convert.h"
#include "ops/registry.h"

namespace kiln {
namespace {
using onnx_detail::ExternalDataContext;

struct ImportContext {
  ExternalDataContext ext;
  ImportOptions options;
  int depth = 0;  // subgraph nesting
};

// If bodies nested deeper than this are refused (each level recurses through the importer and inference).
constexpr int kMaxSubgraphDepth = 8;

// Finds a value by name in the scope being imported or, for a subgraph, in the enclosing scopes (which
// then becomes one of the subgraph's captured inputs). nullptr: no scope has it.
using Resolver = std::function<Value*(const std::string&)>;

const char* type_case_name(const onnx::TypeProto& t) {
  switch (t.value_case()) {
    case onnx::TypeProto::kSequenceType:
      return "a sequence";
    case onnx::TypeProto::kMapType:
      return "a map";
    case onnx::TypeProto::kOptionalType:
      return "an optional";
    case onnx::TypeProto::kSparseTensorType:
      return "a sparse tensor";
    default:
      return "of an unknown kind";
  }
}

// A declared shape must be allocatable: refuse negative dims and sizes over the per-tensor limit here,
// so nothing downstream ever sizes a buffer from them.
Status check_declared_size(DType dtype, const SymShape& shape, const std::string& what) {
  const size_t esize = dtype_size(dtype) ? dtype_size(dtype) : 1;
  uint64_t n = 1;
  for (const Dim& d : shape.dims) {
    if (!d.known() || d.value == 0) continue;
    const uint64_t v = static_cast<uint64_t>(d.value);
    if (n > max_tensor_bytes() / esize / v)
      return invalid_input(what + " declares shape " + shape.to_string() + " of " + dtype_name(dtype) +
                           ", over the per-tensor limit of " + std::to_string(max_tensor_bytes() >> 20) + " MiB");
    n *= v;
  }
  return Status::Ok();
}

// TypeProto -> (dtype, shape). Non-tensor types and unsupported element types are errors only when
// the caller needs every op supported; otherwise the value keeps an unknown type.
Status type_from_proto(const onnx::TypeProto& type, const std::string& what, const ImportContext& ctx, DType* dtype,
                       SymShape* shape) {
  *dtype = DType::kUndefined;
  *shape = SymShape();
  if (type.value_case() == onnx::TypeProto::VALUE_NOT_SET) return Status::Ok();
  if (!type.has_tensor_type()) {
    if (ctx.options.require_supported_ops)
      return unsupported(what + " is " + type_case_name(type) + "; kiln supports only tensor values");
    return Status::Ok();
  }
  const auto& tt = type.tensor_type();
  const int32_t elem = tt.elem_type();
  if (elem != 0 && !dtype_is_known(elem)) {
    if (ctx.options.require_supported_ops)
      return unsupported(what + " has ONNX element type " + std::to_string(elem) + " (" +
                         dtype_name(static_cast<DType>(elem)) + "), which kiln does not support");
  } else {
    *dtype = static_cast<DType>(elem);
  }
  if (!tt.has_shape()) return Status::Ok();
  std::vector<Dim> dims;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) return invalid_input(what + " has a negative dimension " + std::to_string(d.dim_value()));
      dims.emplace_back(d.dim_value());
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      dims.push_back(Dim::sym(d.dim_param()));
    } else {
      dims.emplace_back();
    }
  }
  *shape = SymShape(std::move(dims));
  return check_declared_size(*dtype, *shape, what);
}

AttrType infer_missing_attr_type(const onnx::AttributeProto& a) {
  // Old exporters leave `type` unset; the populated field says what it is.
  if (a.has_f()) return AttrType::kFloat;
  if (a.has_i()) return AttrType::kInt;
  if (a.has_s()) return AttrType::kString;
  if (a.has_t()) return AttrType::kTensor;
  if (a.has_g()) return AttrType::kGraph;
  if (a.floats_size()) return AttrType::kFloats;
  if (a.ints_size()) return AttrType::kInts;
  if (a.strings_size()) return AttrType::kStrings;
  if (a.graphs_size()) return AttrType::kGraph;
  return AttrType::kOther;
}

AttrType attr_type_from_proto(const onnx::AttributeProto& a) {
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT:
      return AttrType::kFloat;
    case onnx::AttributeProto::INT:
      return AttrType::kInt;
    case onnx::AttributeProto::STRING:
      return AttrType::kString;
    case onnx::AttributeProto::TENSOR:
      return AttrType::kTensor;
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      return AttrType::kGraph;
    case onnx::AttributeProto::FLOATS:
      return AttrType::kFloats;
    case onnx::AttributeProto::INTS:
      return AttrType::kInts;
    case onnx::AttributeProto::STRINGS:
      return AttrType::kStrings;
    case onnx::AttributeProto::UNDEFINED:
      return infer_missing_attr_type(a);
    default:
      return AttrType::kOther;  // sparse tensors, type protos, tensor lists
  }
}

Expected<Attribute> attr_from_proto(const onnx::AttributeProto& a, const std::string& node_desc,
                                    const ImportContext& ctx) {
  Attribute out;
  out.type = attr_type_from_proto(a);
  switch (out.type) {
    case AttrType::kFloat:
      out.f = a.f();
      break;
    case AttrType::kInt:
      out.i = a.i();
      break;
    case AttrType::kString:
      out.s = a.s();
      break;
    case AttrType::kFloats:
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case AttrType::kInts:
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case AttrType::kStrings:
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case AttrType::kTensor: {
      auto t = onnx_detail::tensor_from_proto(a.t(), ctx.ext, "attribute '" + a.name() + "' of " + node_desc);
      if (!t.ok()) {
        if (t.status().code() != StatusCode::kUnsupported || ctx.options.require_supported_ops) return t.status();
        out.type = AttrType::kOther;  // e.g. a string tensor in a node kiln info only lists
        break;
      }
      out.t = std::move(t).value();
      break;
    }
    default:
      break;  // subgraphs are kept as a marker without a body: ops that need them are unsupported
  }
  return out;
}

Status check_opsets(const onnx::ModelProto& model, Graph* g) {
  for (const auto& op : model.opset_import()) {
    const std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
    if (op.version() < 1 || op.version() > INT32_MAX)
      return invalid_input("the model imports an invalid opset version " + std::to_string(op.version()) +
                           " for domain '" + op.domain() + "'");
    if (domain.empty() && op.version() > kMaxSupportedOpset)
      return unsupported("the model uses opset " + std::to_string(op.version()) +
                         " of the default ONNX domain, newer than the newest kiln supports (" +
                         std::to_string(kMaxSupportedOpset) +
                         "); re-export the model with opset <= " + std::to_string(kMaxSupportedOpset));
    g->opset_imports[domain] = static_cast<int>(op.version());
  }
  return Status::Ok();
}

Status add_initializers(const onnx::GraphProto& gp, const ImportContext& ctx, Graph* g) {
  if (gp.sparse_initializer_size())
    return unsupported("the model has sparse initializers ('" + gp.sparse_initializer(0).values().name() +
                       "'), which kiln does not support");
  for (const auto& tp : gp.initializer()) {
    if (tp.name().empty()) return invalid_input("the model has an initializer without a name");
    const std::string what = "initializer '" + tp.name() + "'";
    if (g->find_value(tp.name())) return invalid_input(what + " is defined more than once");
    KILN_ASSIGN_OR_RETURN(Tensor t, onnx_detail::tensor_from_proto(tp, ctx.ext, what));
    KILN_RETURN_IF_ERROR(g->add_initializer(tp.name(), std::move(t)).status());
  }
  return Status::Ok();
}

Status add_inputs(const onnx::GraphProto& gp, const ImportContext& ctx, Graph* g) {
  std::set<std::string> seen;
  for (const auto& vi : gp.input()) {
    const std::string what = "graph input '" + vi.name() + "'";
    if (vi.name().empty()) return invalid_input("the model has a graph input without a name");
    if (!seen.insert(vi.name()).second) return invalid_input(what + " is listed more than once");
    if (Value* init = g->find_value(vi.name())) {
      (void)init;  // ONNX IR < 4 lists initializers as inputs too: the initializer wins (a constant)
      continue;
    }
    DType dtype;
    SymShape shape;
    KILN_RETURN_IF_ERROR(type_from_proto(vi.type(), what, ctx, &dtype, &shape));
    KILN_ASSIGN_OR_RETURN(Value * v, g->add_value(vi.name(), dtype, std::move(shape)));
    v->is_graph_input = true;
    g->inputs.push_back(v);
  }
  return Status::Ok();
}

// Names nodes that have none "<op>_<index>", avoiding names already in the model.
std::vector<std::string> node_names(const onnx::GraphProto& gp) {
  std::set<std::string> used;
  for (const auto& n : gp.node())
    if (!n.name().empty()) used.insert(n.name());
  std::vector<std::string> names;
  for (int i = 0; i < gp.node_size(); ++i) {
    std::string name = gp.node(i).name();
    for (int k = 0; name.empty() || (gp.node(i).name().empty() && used.count(name)); ++k)
      name = gp.node(i).op_type() + "_" + std::to_string(i) + (k ? "_" + std::to_string(k) : std::string());
    if (gp.node(i).name().empty()) used.insert(name);
    names.push_back(name);
  }
  return names;
}

std::string describe_node(const onnx::NodeProto& n, const std::string& name) {
  return "node '" + name + "' (" + (n.domain().empty() ? "" : n.domain() + ".") + n.op_type() + ")";
}

Status add_if_branches(const onnx::NodeProto& np, const std::string& desc, const ImportContext& ctx, Graph* g,
                       const Resolver& resolve, Node* node);

Status add_nodes(const onnx::GraphProto& gp, const ImportContext& ctx, Graph* g, const Resolver& resolve) {
  const std::vector<std::string> names = node_names(gp);
  // Outputs first, so a node may read a value produced later in the file (topological_sort reorders).
  std::unordered_map<std::string, size_t> producer;
  std::vector<std::vector<Value*>> outs(gp.node_size());
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    const std::string desc = describe_node(np, names[i]);
    if (np.op_type().empty()) return invalid_input("node '" + names[i] + "' has no op_type");
    for (const auto& name : np.output()) {
      if (name.empty()) {
        outs[i].push_back(nullptr);
        continue;
      }
      if (auto it = producer.find(name); it != producer.end())
        return invalid_input("value '" + name + "' is produced twice: by " +
                             describe_node(gp.node(static_cast<int>(it->second)), names[it->second]) + " and by " +
                             desc);
      if (g->find_value(name))
        return invalid_input(desc + " produces '" + name + "', which is already a graph input or initializer");
      producer[name] = static_cast<size_t>(i);
      KILN_ASSIGN_OR_RETURN(Value * v, g->add_value(name));
      outs[i].push_back(v);
    }
  }
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    const std::string desc = describe_node(np, names[i]);
    std::vector<Value*> ins;
    for (const auto& name : np.input()) {
      if (name.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      Value* v = resolve(name);
      if (!v)
        return invalid_input(desc + " reads '" + name +
                             "', which no node, graph input or initializer produces (dangling input)");
      ins.push_back(v);
    }
    Node* node = g->add_node(np.op_type(), names[i], std::move(ins), std::move(outs[i]));
    node->domain = np.domain() == "ai.onnx" ? "" : np.domain();
    node->opset = g->opset(node->domain);
    if (node->domain.empty() && node->opset == 0)
      return invalid_input(desc + " is in the default ONNX domain but the model imports no opset for it");
    for (const auto& ap : np.attribute()) {
      if (ap.name().empty()) return invalid_input(desc + " has an attribute without a name");
      KILN_ASSIGN_OR_RETURN(Attribute a, attr_from_proto(ap, desc, ctx));
      if (!node->attrs.emplace(ap.name(), std::move(a)).second)
        return invalid_input(desc + " has attribute '" + ap.name() + "' more than once");
    }
    if (node->op_type == "If" && node->domain.empty())
      KILN_RETURN_IF_ERROR(add_if_branches(np, desc, ctx, g, resolve, node));
  }
  return Status::Ok();
}

// Graph outputs and value_info: declared types of computed values (infer_shapes merges them).
Status add_outputs_and_value_info(const onnx::GraphProto& gp, const ImportContext& ctx, Graph* g,
                                  const Resolver& resolve) {
  std::set<std::string> seen;
  for (const auto& vi : gp.output()) {
    const std::string what = "graph output '" + vi.name() + "'";
    Value* v = resolve(vi.name());
    if (!v) return invalid_input(what + " is not produced by any node, graph input or initializer");
    if (!seen.insert(vi.name()).second) return invalid_input(what + " is listed more than once");
    DType dtype;
    SymShape shape;
    KILN_RETURN_IF_ERROR(type_from_proto(vi.type(), what, ctx, &dtype, &shape));
    if (v->producer) {
      v->dtype = dtype;
      v->shape = std::move(shape);
    }
    v->is_graph_output = true;
    g->outputs.push_back(v);
  }
  for (const auto& vi : gp.value_info()) {
    Value* v = g->find_value(vi.name());
    if (!v || !v->producer || v->is_graph_output) continue;  // stale entries are harmless: ignore them
    DType dtype;
    SymShape shape;
    KILN_RETURN_IF_ERROR(type_from_proto(vi.type(), "value '" + vi.name() + "'", ctx, &dtype, &shape));
    v->dtype = dtype;
    v->shape = std::move(shape);
  }
  return Status::Ok();
}

// One If branch: its own initializers and nodes; every name it reads from an enclosing scope becomes a
// graph input of the branch (a capture), listed in `captures` in first-use order.
Expected<std::shared_ptr<Graph>> build_branch(const onnx::GraphProto& gp, const std::string& what,
                                              const ImportContext& ctx, const Graph& outer, const Resolver& resolve,
                                              std::vector<std::string>* captures) {
  if (ctx.depth >= kMaxSubgraphDepth)
    return invalid_input(what + " is nested more than " + std::to_string(kMaxSubgraphDepth) + " subgraphs deep");
  if (gp.input_size())
    return invalid_input(what + " declares " + std::to_string(gp.input_size()) + " input(s); If branches take none");
  if (gp.output_size() == 0) return invalid_input(what + " has no outputs");
  auto g = std::make_shared<Graph>();
  g->name = gp.name();
  g->opset_imports = outer.opset_imports;
  g->ir_version = outer.ir_version;
  ImportContext inner = ctx;
  inner.depth = ctx.depth + 1;
  KILN_RETURN_IF_ERROR(add_initializers(gp, inner, g.get()).with_context(what + ": "));
  Graph* gr = g.get();
  const Resolver capture = [gr, &resolve, captures](const std::string& name) -> Value* {
    if (Value* v = gr->find_value(name)) return v;
    if (!resolve(name)) return nullptr;
    auto v = gr->add_value(name);
    if (!v.ok()) return nullptr;
    (*v)->is_graph_input = true;
    gr->inputs.push_back(*v);
    captures->push_back(name);
    return *v;
  };
  KILN_RETURN_IF_ERROR(add_nodes(gp, inner, gr, capture).with_context(what + ": "));
  KILN_RETURN_IF_ERROR(add_outputs_and_value_info(gp, inner, gr, capture).with_context(what + ": "));
  KILN_RETURN_IF_ERROR(gr->topological_sort().with_context(what + ": "));
  return g;
}

// Imports then_branch and else_branch of an If node. Both branches get the same captured inputs (the union,
// in order), and the node reads those outer values after its condition, so that ordering, liveness and
// the passes see what the branches use.
Status add_if_branches(const onnx::NodeProto& np, const std::string& desc, const ImportContext& ctx, Graph* g,
                       const Resolver& resolve, Node* node) {
  if (np.input_size() != 1) return invalid_input(desc + " has " + std::to_string(np.input_size()) +
                                                 " inputs; If takes exactly one, the condition");
  std::vector<std::string> captures;
  std::vector<Graph*> branches;
  for (const char* key : {"then_branch", "else_branch"}) {
    const onnx::AttributeProto* ap = nullptr;
    for (const auto& a : np.attribute())
      if (a.name() == key) ap = &a;
    if (!ap || !ap->has_g()) return invalid_input(desc + " has no graph attribute '" + key + "'");
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> body,
                          build_branch(ap->g(), desc + " " + key, ctx, *g, resolve, &captures));
    node->attrs[key].type = AttrType::kGraph;
    node->attrs[key].g = body;
    branches.push_back(body.get());
  }
  // Captures: dedupe (both branches may read a name), then give every branch every capture, in that order.
  std::vector<std::string> names;
  for (const std::string& n : captures)
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  for (Graph* b : branches) {
    std::vector<Value*> inputs;
    for (const std::string& n : names) {
      Value* v = b->find_value(n);
      if (!v) {
        KILN_ASSIGN_OR_RETURN(v, b->add_value(n));
        v->is_graph_input = true;
      }
      if (!v->is_graph_input)
        return invalid_input(desc + ": a branch defines '" + n + "', a name an enclosing scope already has");
      inputs.push_back(v);
    }
    b->inputs = std::move(inputs);
  }
  for (const std::string& n : names) {
    Value* v = resolve(n);
    if (!v) return invalid_input(desc + ": captured value '" + n + "' vanished");
    node->inputs.push_back(v);
  }
  return Status::Ok();
}

Expected<std::unique_ptr<Graph>> build_graph(const onnx::ModelProto& model, const ImportContext& ctx) {
  auto g = std::make_unique<Graph>();
  const auto& gp = model.graph();
  g->name = gp.name();
  g->ir_version = model.ir_version();
  g->producer_name = model.producer_name();
  g->producer_version = model.producer_version();
  KILN_RETURN_IF_ERROR(check_opsets(model, g.get()));
  KILN_RETURN_IF_ERROR(add_initializers(gp, ctx, g.get()));
  KILN_RETURN_IF_ERROR(add_inputs(gp, ctx, g.get()));
  const Resolver top = [&g](const std::string& name) { return g->find_value(name); };
  KILN_RETURN_IF_ERROR(add_nodes(gp, ctx, g.get(), top));
  KILN_RETURN_IF_ERROR(add_outputs_and_value_info(gp, ctx, g.get(), top));
  if (gp.output_size() == 0) return invalid_input("the model's graph has no outputs");
  KILN_RETURN_IF_ERROR(g->topological_sort());
  if (ctx.options.require_supported_ops) {
    for (const auto& n : g->nodes()) KILN_RETURN_IF_ERROR(lookup_op(*n).status());
  }
  if (ctx.options.infer_shapes) {
    InferOptions io;
    io.skip_unsupported = !ctx.options.require_supported_ops;
    KILN_RETURN_IF_ERROR(infer_shapes(*g, io));
  }
  KILN_RETURN_IF_ERROR(verify_graph(*g));
  return g;
}

}  // namespace

Expected<std::unique_ptr<Graph>> load_onnx_from_bytes(const void* data, size_t size, const std::string& base_dir,
                                                      const ImportOptions& options) {
  onnx::ModelProto model;
  if (size == 0) return invalid_input("not an ONNX model: the input is empty");
  if (!onnx_detail::parse_proto(data, size, &model))
    return invalid_input("not an ONNX model, or a truncated/corrupt one: protobuf parsing failed (" +
                         std::to_string(size) + " bytes)");
  if (!model.has_graph()) return invalid_input("not an ONNX model: it has no graph");
  if (model.ir_version() <= 0) return invalid_input("not an ONNX model: it has no valid ir_version");
  ImportContext ctx;
  ctx.ext.base_dir = base_dir;
  ctx.options = options;
  return build_graph(model, ctx);
}

Expected<std::unique_ptr<Graph>> load_onnx(const std::string& path, const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::string bytes,
                        onnx_detail::read_file_bytes(path, onnx_detail::kMaxProtoBytes, "model file"));
  std::string base = std::filesystem::path(path).parent_path().string();
  if (base.empty()) base = ".";
  auto g = load_onnx_from_bytes(bytes.data(), bytes.size(), base, options);
  if (!g.ok()) return g.status().with_context(path + ": ");
  return g;
}

}  // namespace kiln
