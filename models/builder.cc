// Builder: emits zoo layers into a Graph, generating seeded weights and counting parameters and MACs.
#include "models/builder.h"

#include <cmath>
#include <numeric>

namespace kiln::models {

namespace {

std::string dims_string(const Act& a) {
  std::string s = a.batched ? "[N" : "[";
  for (size_t i = 0; i < a.dims.size(); ++i) s += (i || a.batched ? "," : "") + std::to_string(a.dims[i]);
  return s + "]";
}

}  // namespace

double Rng::uniform() { return (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double r = std::sqrt(-2.0 * std::log(uniform()));
  const double theta = 2.0 * M_PI * uniform();
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

uint64_t hash_name(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t n = static_cast<int64_t>(std::floor(v + divisor / 2.0)) / divisor * divisor;
  n = std::max(divisor, n);
  if (n < 0.9 * v) n += divisor;
  return n;
}

Builder::Builder(const BuildOptions& options, Graph* graph) : opt_(options), g_(graph) {}

void Builder::fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
}

bool Builder::checks(bool ok, const std::string& message) {
  if (!ok) fail(invalid_input(message));
  return ok && status_.ok();
}

int64_t Builder::scaled(int64_t channels) const {
  if (opt_.width_mult == 1.0) return channels;
  return make_divisible(static_cast<double>(channels) * opt_.width_mult, 8);
}

int64_t Builder::pruned(const std::string& name, int64_t channels) {
  auto it = opt_.prune.find(name);
  if (it == opt_.prune.end()) return channels;
  used_prune_.insert(name);
  const double keep = std::llround(static_cast<double>(channels) * (1.0 - it->second));
  return std::max<int64_t>(1, static_cast<int64_t>(keep));
}

Status Builder::check_prune_used() {
  for (const auto& [name, fraction] : opt_.prune) {
    (void)fraction;
    if (!used_prune_.count(name))
      return usage_error("--prune: no prunable conv layer named '" + name +
                         "' in this model (use torchvision module names such as layer1.0.conv1 or "
                         "features.2.conv.0.0; `kiln zoo NAME --layers` lists them)");
  }
  return Status::Ok();
}

std::string Builder::node_name(const std::string& base) {
  std::string n = base;
  while (node_names_.count(n)) n = base + "_" + std::to_string(counter_++);
  node_names_.insert(n);
  return n;
}

Act Builder::emit(const std::string& op, const std::string& name, std::vector<Value*> inputs,
                  std::map<std::string, Attribute> attrs, std::vector<int64_t> dims, bool batched,
                  const std::string& out_name, DType dtype) {
  Act out;
  out.dims = std::move(dims);
  out.batched = batched;
  if (!g_ || !ok()) return out;
  const std::string nn = node_name(name);
  std::string vn = out_name.empty() ? nn : out_name;
  if (g_->find_value(vn)) vn = g_->unique_name(vn);
  std::vector<Dim> full;
  if (batched) full.push_back(opt_.batch);
  for (int64_t d : out.dims) full.push_back(d >= 0 ? Dim(d) : Dim());
  auto v = g_->add_value(vn, dtype, SymShape(full));
  if (!v.ok()) {
    fail(v.status());
    return out;
  }
  Node* n = g_->add_node(op, nn, std::move(inputs), {*v});
  n->attrs = std::move(attrs);
  out.value = *v;
  return out;
}

Value* Builder::filled(const std::string& name, const Shape& shape, double a, double b, bool normal) {
  if (!g_ || !ok()) return nullptr;
  auto t = Tensor::create(DType::kFloat32, shape);
  if (!t.ok()) {
    fail(t.status().with_context("weight '" + name + "': "));
    return nullptr;
  }
  Rng rng(opt_.seed ^ hash_name(name));
  float* p = t->data<float>();
  for (int64_t i = 0; i < t->numel(); ++i)
    p[i] = static_cast<float>(normal ? a + b * rng.normal() : a + (b - a) * rng.uniform());
  auto v = g_->add_initializer(name, std::move(t).value());
  if (!v.ok()) {
    fail(v.status());
    return nullptr;
  }
  return *v;
}

Value* Builder::weight(const std::string& name, const Shape& shape, double std) {
  return filled(name, shape, 0.0, std, true);
}

Value* Builder::int_constant(const std::vector<int64_t>& values) {
  if (!g_ || !ok()) return nullptr;
  std::string key = "i64";
  for (int64_t v : values) key += "," + std::to_string(v);
  if (constants_.count(key)) return constants_[key];
  Tensor t = Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
  Act c = emit("Constant", "const", {}, {{"value", Attribute::make_tensor(t)}}, {static_cast<int64_t>(values.size())},
               false, "", DType::kInt64);
  return constants_[key] = c.value;
}

Value* Builder::float_scalar(float v) {
  if (!g_ || !ok()) return nullptr;
  const std::string key = "f32:" + std::to_string(v);
  if (constants_.count(key)) return constants_[key];
  Act c = emit("Constant", "const", {}, {{"value", Attribute::make_tensor(Tensor::scalar<float>(v))}}, {}, false);
  return constants_[key] = c.value;
}

Act Builder::input(const std::string& name, int64_t channels) {
  Act x;
  x.dims = {channels, opt_.height, opt_.width};
  if (!g_ || !ok()) return x;
  auto v = g_->add_value(name, DType::kFloat32, SymShape({opt_.batch, channels, opt_.height, opt_.width}));
  if (!v.ok()) {
    fail(v.status());
    return x;
  }
  (*v)->is_graph_input = true;
  g_->inputs.push_back(*v);
  x.value = *v;
  return x;
}

void Builder::output(const Act& x) {
  if (!g_ || !ok() || !x.value) return;
  x.value->is_graph_output = true;
  g_->outputs.push_back(x.value);
}

Act Builder::conv(const Act& x, const std::string& name, const ConvSpec& spec) {
  if (!ok()) return x;
  if (!checks(x.dims.size() == 3, "conv '" + name + "' needs a feature map, got " + dims_string(x))) return x;
  const bool dw = spec.groups == kDepthwise;
  const int64_t cin = x.c();
  const int64_t groups = dw ? cin : spec.groups;
  int64_t cout = dw ? cin : spec.out_channels;
  if (dw && opt_.prune.count(name)) {
    fail(usage_error("--prune: '" + name +
                     "' is a depthwise conv whose channels follow its input; prune the "
                     "layer that feeds it instead"));
    return x;
  }
  if (!dw) {
    cout = pruned(name, cout);
    prunable_.push_back(name);
  }
  if (!checks(cin % groups == 0 && cout % groups == 0,
              "conv '" + name + "': channels " + std::to_string(cin) + "->" + std::to_string(cout) +
                  " do not divide into " + std::to_string(groups) + " groups (check --prune fractions)"))
    return x;
  const int64_t k = spec.kernel, s = spec.stride, p = spec.padding < 0 ? (k - 1) / 2 : spec.padding;
  const int64_t eh = x.h() + 2 * p - k, ew = x.w() + 2 * p - k;
  if (eh < 0 || ew < 0) {
    fail(usage_error("input " + std::to_string(opt_.height) + "x" + std::to_string(opt_.width) +
                     " is too small for this model: layer '" + name + "' gets a " + std::to_string(x.h()) + "x" +
                     std::to_string(x.w()) + " feature map; use a larger --height/--width"));
    return x;
  }
  const int64_t oh = eh / s + 1, ow = ew / s + 1;
  const int64_t fan_in = cin / groups * k * k;
  params_ += cout * fan_in + (spec.bias ? cout : 0);
  macs_ += cout * oh * ow * fan_in;
  const double gain = spec.gain > 0 ? spec.gain : std::sqrt(2.0);
  std::vector<Value*> ins = {x.value, weight(name + ".weight", {cout, cin / groups, k, k}, gain / std::sqrt(fan_in))};
  if (spec.bias) ins.push_back(filled(name + ".bias", {cout}, spec.bias_mean, 0.05, true));
  std::map<std::string, Attribute> attrs = {{"kernel_shape", Attribute::make_ints({k, k})},
                                            {"strides", Attribute::make_ints({s, s})},
                                            {"pads", Attribute::make_ints({p, p, p, p})},
                                            {"dilations", Attribute::make_ints({1, 1})},
                                            {"group", Attribute::make_int(groups)}};
  return emit("Conv", name, std::move(ins), std::move(attrs), {cout, oh, ow});
}

Act Builder::batchnorm(const Act& x, const std::string& name, float eps, float gamma_scale) {
  if (!ok()) return x;
  const int64_t c = x.c();
  params_ += 2 * c;
  buffers_ += 2 * c;
  // Running statistics far from (0, 1) so that folding BN into the conv is really exercised.
  // E[gamma^2 / var] is about 1: BN keeps the activations' scale on average.
  Value* gamma = filled(name + ".weight", {c}, 0.7 * gamma_scale, 1.4 * gamma_scale, false);
  Value* beta = filled(name + ".bias", {c}, 0.0, 0.1, true);
  Value* mean = filled(name + ".running_mean", {c}, 0.0, 0.1, true);
  Value* var = filled(name + ".running_var", {c}, 0.6, 1.6, false);
  return emit("BatchNormalization", name, {x.value, gamma, beta, mean, var}, {{"epsilon", Attribute::make_float(eps)}},
              x.dims);
}

Act Builder::linear(const Act& x, const std::string& name, int64_t out_features, const std::string& out_name) {
  if (!ok()) return x;
  if (!checks(x.dims.size() == 1, "linear '" + name + "' needs a flat input, got " + dims_string(x))) return x;
  const int64_t in = x.c();
  params_ += out_features * in + out_features;
  macs_ += out_features * in;
  Value* w = weight(name + ".weight", {out_features, in}, 1.0 / std::sqrt(static_cast<double>(in)));
  Value* b = filled(name + ".bias", {out_features}, 0.0, 0.05, true);
  return emit("Gemm", name, {x.value, w, b}, {{"transB", Attribute::make_int(1)}}, {out_features}, true, out_name);
}

Act Builder::conv_bn_act(const Act& x, const std::string& name, const ConvSpec& spec, Activation act,
                         float gamma_scale) {
  Act y = conv(x, name + ".0", spec);
  y = batchnorm(y, name + ".1", 1e-5f, gamma_scale);
  return activation(y, act);
}

Act Builder::activation(const Act& x, Activation act) {
  switch (act) {
    case Activation::kRelu:
      return relu(x);
    case Activation::kRelu6:
      return relu6(x);
    case Activation::kSilu:
      return silu(x);
    case Activation::kNone:
      break;
  }
  return x;
}

namespace {
std::string base_of(const Act& x, const char* suffix) {
  return (x.value ? x.value->name : std::string("v")) + "_" + suffix;
}
}  // namespace

Act Builder::relu(const Act& x) { return emit("Relu", base_of(x, "relu"), {x.value}, {}, x.dims, x.batched); }

Act Builder::relu6(const Act& x) {
  Value* lo = float_scalar(0.f);
  Value* hi = float_scalar(6.f);
  return emit("Clip", base_of(x, "relu6"), {x.value, lo, hi}, {}, x.dims, x.batched);
}

Act Builder::sigmoid(const Act& x) { return emit("Sigmoid", base_of(x, "sigmoid"), {x.value}, {}, x.dims, x.batched); }

Act Builder::silu(const Act& x) { return mul(x, sigmoid(x)); }

Act Builder::exp(const Act& x) { return emit("Exp", base_of(x, "exp"), {x.value}, {}, x.dims, x.batched); }

namespace {
// Right-aligned broadcast of per-sample dims (an unbatched constant lines up with the trailing dims).
bool broadcast_dims(const Act& a, const Act& b, std::vector<int64_t>* out) {
  const auto& x = a.dims.size() >= b.dims.size() ? a.dims : b.dims;
  const auto& y = a.dims.size() >= b.dims.size() ? b.dims : a.dims;
  *out = x;
  const size_t off = x.size() - y.size();
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t& d = (*out)[off + i];
    if (d == y[i] || y[i] == 1) continue;
    if (d != 1) return false;
    d = y[i];
  }
  return true;
}
}  // namespace

Act Builder::add(const Act& a, const Act& b, const std::string& out_name) {
  if (!ok()) return a;
  std::vector<int64_t> d;
  if (!broadcast_dims(a, b, &d)) {
    fail(usage_error("Add of " + dims_string(a) + " and " + dims_string(b) +
                     ": shapes differ (a --prune entry thinned one side of a residual connection; prune only "
                     "layers inside a block, e.g. layer1.0.conv1)"));
    return a;
  }
  return emit("Add", base_of(a, "add"), {a.value, b.value}, {}, d, a.batched || b.batched, out_name);
}

Act Builder::sub(const Act& a, const Act& b) {
  std::vector<int64_t> d;
  if (!ok() || !checks(broadcast_dims(a, b, &d), "Sub: shapes do not broadcast")) return a;
  return emit("Sub", base_of(a, "sub"), {a.value, b.value}, {}, d, a.batched || b.batched);
}

Act Builder::mul(const Act& a, const Act& b) {
  std::vector<int64_t> d;
  if (!ok() || !checks(broadcast_dims(a, b, &d),
                       "Mul of " + dims_string(a) + " and " + dims_string(b) + ": shapes do not broadcast"))
    return a;
  return emit("Mul", base_of(a, "mul"), {a.value, b.value}, {}, d, a.batched || b.batched);
}

Act Builder::max_pool(const Act& x, int64_t k, int64_t s, int64_t p) {
  if (!ok()) return x;
  const int64_t eh = x.h() + 2 * p - k, ew = x.w() + 2 * p - k;
  if (eh < 0 || ew < 0) {
    fail(usage_error("input is too small for this model: a MaxPool gets a " + std::to_string(x.h()) + "x" +
                     std::to_string(x.w()) + " feature map; use a larger --height/--width"));
    return x;
  }
  return emit("MaxPool", base_of(x, "maxpool"), {x.value},
              {{"kernel_shape", Attribute::make_ints({k, k})},
               {"strides", Attribute::make_ints({s, s})},
               {"pads", Attribute::make_ints({p, p, p, p})}},
              {x.c(), eh / s + 1, ew / s + 1});
}

Act Builder::avg_pool(const Act& x, int64_t kh, int64_t kw) {
  return emit("AveragePool", base_of(x, "avgpool"), {x.value},
              {{"kernel_shape", Attribute::make_ints({kh, kw})}, {"strides", Attribute::make_ints({kh, kw})}},
              {x.c(), x.h() / kh, x.w() / kw});
}

Act Builder::global_avg_pool(const Act& x) {
  return emit("GlobalAveragePool", base_of(x, "gap"), {x.value}, {}, {x.c(), 1, 1});
}

Act Builder::adaptive_avg_pool(const Act& x, int64_t out) {
  if (!ok()) return x;
  if (x.h() == out && x.w() == out) return x;
  if (x.h() % out == 0 && x.w() % out == 0) return avg_pool(x, x.h() / out, x.w() / out);
  if (x.h() == 1 && x.w() == 1)  // every output bin averages the single input pixel
    return emit("Expand", base_of(x, "expand"), {x.value, int_constant({1, 1, out, out})}, {}, {x.c(), out, out});
  fail(usage_error("the " + std::to_string(x.h()) + "x" + std::to_string(x.w()) +
                   " feature map cannot be pooled exactly to " + std::to_string(out) + "x" + std::to_string(out) +
                   " with ONNX pooling; use --height/--width giving 1, " + std::to_string(out) +
                   " or a multiple of it after the stride (e.g. 32 or 224)"));
  return x;
}

Act Builder::flatten(const Act& x) {
  const int64_t n = std::accumulate(x.dims.begin(), x.dims.end(), int64_t{1}, std::multiplies<int64_t>());
  return emit("Flatten", base_of(x, "flatten"), {x.value}, {{"axis", Attribute::make_int(1)}}, {n});
}

Act Builder::reshape(const Act& x, const std::vector<int64_t>& dims) {
  if (!ok()) return x;
  const int64_t total = std::accumulate(x.dims.begin(), x.dims.end(), int64_t{1}, std::multiplies<int64_t>());
  int64_t known = 1;
  for (int64_t d : dims) known *= d < 0 ? 1 : d;
  std::vector<int64_t> out = dims;
  for (int64_t& d : out)
    if (d < 0) d = known ? total / known : 0;
  std::vector<int64_t> shape = {0};  // 0 copies the (possibly symbolic) batch dim
  shape.insert(shape.end(), dims.begin(), dims.end());
  return emit("Reshape", base_of(x, "reshape"), {x.value, int_constant(shape)}, {}, out);
}

Act Builder::transpose(const Act& x, const std::vector<int64_t>& perm) {
  if (!ok()) return x;
  if (!checks(perm.size() == x.dims.size() + 1 && perm[0] == 0, "transpose: the batch dim must stay first")) return x;
  std::vector<int64_t> out;
  for (size_t i = 1; i < perm.size(); ++i) out.push_back(x.dims[static_cast<size_t>(perm[i] - 1)]);
  return emit("Transpose", base_of(x, "transpose"), {x.value}, {{"perm", Attribute::make_ints(perm)}}, out);
}

Act Builder::concat(const std::vector<Act>& xs, int64_t axis, const std::string& out_name) {
  if (!ok() || xs.empty()) return xs.empty() ? Act() : xs[0];
  std::vector<int64_t> out = xs[0].dims;
  std::vector<Value*> ins;
  out[static_cast<size_t>(axis - 1)] = 0;
  for (const Act& x : xs) {
    out[static_cast<size_t>(axis - 1)] += x.dims[static_cast<size_t>(axis - 1)];
    ins.push_back(x.value);
  }
  return emit("Concat", base_of(xs[0], "concat"), ins, {{"axis", Attribute::make_int(axis)}}, out, true, out_name);
}

Act Builder::slice(const Act& x, int64_t axis, int64_t start, int64_t end) {
  if (!ok()) return x;
  std::vector<int64_t> out = x.dims;
  out[static_cast<size_t>(axis - 1)] = end - start;
  return emit("Slice", base_of(x, "slice"),
              {x.value, int_constant({start}), int_constant({end}), int_constant({axis}), int_constant({1})}, {}, out);
}

Act Builder::softmax(const Act& x, int64_t axis, const std::string& out_name) {
  return emit("Softmax", base_of(x, "softmax"), {x.value}, {{"axis", Attribute::make_int(axis)}}, x.dims, true,
              out_name);
}

Act Builder::constant(const std::string& name, const Shape& shape, const std::vector<float>& values) {
  if (!g_ || !ok()) return Act{nullptr, shape, false};
  return emit("Constant", name, {}, {{"value", Attribute::make_tensor(Tensor::from_vector<float>(shape, values))}},
              shape, false);
}

Act Builder::nms(const Act& boxes, const Act& scores, int64_t max_per_class, float iou, float score_threshold,
                 const std::string& out_name) {
  if (!ok()) return boxes;
  Value* max_out = int_constant({max_per_class});
  Value* iou_v = nullptr;
  Value* score_v = nullptr;
  if (g_) {
    iou_v = constant("nms_iou_threshold", {1}, {iou}).value;
    score_v = constant("nms_score_threshold", {1}, {score_threshold}).value;
  }
  return emit("NonMaxSuppression", "nms", {boxes.value, scores.value, max_out, iou_v, score_v},
              {{"center_point_box", Attribute::make_int(0)}}, {-1, 3}, false, out_name, DType::kInt64);
}

}  // namespace kiln::models
