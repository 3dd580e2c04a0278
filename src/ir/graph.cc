// Graph construction, node attribute access, topological sort.
#include "ir/graph.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace kiln {

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::kFloat: return "float";
    case AttrType::kInt: return "int";
    case AttrType::kString: return "string";
    case AttrType::kTensor: return "tensor";
    case AttrType::kFloats: return "floats";
    case AttrType::kInts: return "ints";
    case AttrType::kStrings: return "strings";
    case AttrType::kGraph: return "graph";
    case AttrType::kOther: return "other";
    default: return "undefined";
  }
}

const Attribute* Node::attr(const std::string& k) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? nullptr : &it->second;
}

std::string Node::describe() const {
  return "node '" + name + "' (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

Status Node::error(StatusCode code, const std::string& message) const {
  return Status(code, describe() + ": " + message);
}

namespace {
Status wrong_type(const Node& n, const std::string& k, AttrType want, AttrType got) {
  return n.error(StatusCode::kInvalidInput, "attribute '" + k + "' should be " + attr_type_name(want) +
                                                " but is " + attr_type_name(got));
}
}  // namespace

Expected<int64_t> Node::attr_int(const std::string& k, int64_t def) const {
  const Attribute* a = attr(k);
  if (!a) return def;
  if (a->type != AttrType::kInt) return wrong_type(*this, k, AttrType::kInt, a->type);
  return a->i;
}

Expected<float> Node::attr_float(const std::string& k, float def) const {
  const Attribute* a = attr(k);
  if (!a) return def;
  if (a->type == AttrType::kInt) return static_cast<float>(a->i);  // some exporters write ints
  if (a->type != AttrType::kFloat) return wrong_type(*this, k, AttrType::kFloat, a->type);
  return a->f;
}

Expected<std::string> Node::attr_string(const std::string& k, const std::string& def) const {
  const Attribute* a = attr(k);
  if (!a) return def;
  if (a->type != AttrType::kString) return wrong_type(*this, k, AttrType::kString, a->type);
  return a->s;
}

Expected<std::vector<int64_t>> Node::attr_ints(const std::string& k, const std::vector<int64_t>& def) const {
  const Attribute* a = attr(k);
  if (!a) return def;
  if (a->type == AttrType::kInt) return std::vector<int64_t>{a->i};
  if (a->type != AttrType::kInts) return wrong_type(*this, k, AttrType::kInts, a->type);
  return a->ints;
}

Expected<std::vector<float>> Node::attr_floats(const std::string& k, const std::vector<float>& def) const {
  const Attribute* a = attr(k);
  if (!a) return def;
  if (a->type != AttrType::kFloats) return wrong_type(*this, k, AttrType::kFloats, a->type);
  return a->floats;
}

Expected<Value*> Graph::add_value(const std::string& name, DType dtype, SymShape shape) {
  if (name.empty()) return invalid_input("a value with an empty name cannot be created");
  if (by_name_.count(name)) return invalid_input("value '" + name + "' is defined more than once");
  auto v = std::make_unique<Value>();
  v->name = name;
  v->dtype = dtype;
  v->shape = std::move(shape);
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_[name] = raw;
  return raw;
}

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::add_node(std::string op_type, std::string name, std::vector<Value*> ins, std::vector<Value*> outs) {
  auto n = std::make_unique<Node>();
  n->op_type = std::move(op_type);
  n->name = name.empty() ? unique_name(n->op_type) : std::move(name);
  n->inputs = std::move(ins);
  n->outputs = std::move(outs);
  n->opset = opset(n->domain);
  Node* raw = n.get();
  for (Value* o : raw->outputs)
    if (o) o->producer = raw;
  nodes_.push_back(std::move(n));
  return raw;
}

Expected<Value*> Graph::add_initializer(const std::string& name, Tensor data) {
  KILN_ASSIGN_OR_RETURN(Value * v, add_value(name, data.dtype(), SymShape::from(data.shape())));
  v->constant = std::move(data);
  initializers.push_back(v);
  return v;
}

void Graph::remove_nodes(const std::vector<Node*>& dead) {
  std::set<const Node*> d(dead.begin(), dead.end());
  for (auto& n : nodes_)
    if (d.count(n.get()))
      for (Value* o : n->outputs)
        if (o && o->producer == n.get()) o->producer = nullptr;
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return d.count(n.get()) != 0; }),
               nodes_.end());
  // Drop values nothing refers to any more (not inputs, outputs, initializers or node edges).
  std::set<const Value*> used;
  for (Value* v : inputs) used.insert(v);
  for (Value* v : outputs) used.insert(v);
  for (Value* v : initializers) used.insert(v);
  for (auto& n : nodes_) {
    for (Value* v : n->inputs) used.insert(v);
    for (Value* v : n->outputs) used.insert(v);
  }
  std::vector<std::unique_ptr<Value>> kept;
  for (auto& v : values_) {
    if (used.count(v.get())) {
      kept.push_back(std::move(v));
    } else {
      by_name_.erase(v->name);
    }
  }
  values_ = std::move(kept);
}

Status Graph::topological_sort() {
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Value*, std::vector<Node*>> users;
  std::vector<Node*> ready;
  for (auto& n : nodes_) {
    int count = 0;
    for (Value* v : n->inputs) {
      if (v && v->producer) {
        ++count;
        users[v].push_back(n.get());
      }
    }
    pending[n.get()] = count;
    if (count == 0) ready.push_back(n.get());
  }
  std::vector<Node*> order;
  // Keep the original relative order where possible: process `ready` FIFO.
  for (size_t i = 0; i < ready.size(); ++i) {
    Node* n = ready[i];
    order.push_back(n);
    for (Value* o : n->outputs) {
      if (!o) continue;
      for (Node* u : users[o])
        if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (order.size() != nodes_.size()) {
    for (auto& n : nodes_)
      if (pending[n.get()] > 0)
        return invalid_input("the graph has a cycle: " + n->describe() + " depends on its own output");
  }
  std::unordered_map<const Node*, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
  std::sort(nodes_.begin(), nodes_.end(), [&](const auto& a, const auto& b) { return pos[a.get()] < pos[b.get()]; });
  return Status::Ok();
}

int Graph::opset(const std::string& domain) const {
  auto it = opset_imports.find(domain == "ai.onnx" ? "" : domain);
  return it == opset_imports.end() ? 0 : it->second;
}

std::vector<Node*> Graph::consumers(const Value* v) const {
  std::vector<Node*> out;
  for (auto& n : nodes_)
    for (Value* in : n->inputs)
      if (in == v) {
        out.push_back(n.get());
        break;
      }
  return out;
}

std::string Graph::unique_name(const std::string& base) {
  std::string n;
  do {
    n = base + "_" + std::to_string(name_counter_++);
  } while (by_name_.count(n));
  return n;
}

}  // namespace kiln
