// Helpers for the pooling / data-movement / resize GPU tests: a one-node graph (optionally fed through a
// Transpose that makes its input NHWC on the GPU) checked against the CPU reference.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln::gputest {

inline Attribute Ints(std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); }
inline Attribute Int(int64_t v) { return Attribute::make_int(v); }
inline Attribute Str(std::string v) { return Attribute::make_string(std::move(v)); }
inline Attribute Float(float v) { return Attribute::make_float(v); }

inline Tensor int64s(const Shape& s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(s, v); }
inline Tensor floats(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }

// A graph with one op under test. Data inputs are graph inputs (never folded); `constant` adds initializers.
struct OneNode {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  TensorMap feeds;
  int opset;
  int count = 0;

  explicit OneNode(int opset_) : opset(opset_) { g->opset_imports[""] = opset_; }

  Value* input(const Tensor& t) {
    const std::string name = "x" + std::to_string(count++);
    Value* v = g->add_value(name, t.dtype(), SymShape::from(t.shape())).value();
    v->is_graph_input = true;
    g->inputs.push_back(v);
    feeds[name] = t;
    return v;
  }
  // A 4-D input [N,C,H,W] fed as [N,H,W,C] through Transpose(0,3,1,2): on the GPU the op then sees an
  // NHWC tensor (the Transpose is a view), on the CPU the same logical values.
  Value* nhwc_input(const Tensor& nchw_values) {
    const Shape s = nchw_values.shape();
    auto t = Tensor::create(nchw_values.dtype(), {s[0], s[2], s[3], s[1]}).value();
    const float* src = nchw_values.data<float>();
    float* dst = t.data<float>();
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w)
            dst[((n * s[2] + h) * s[3] + w) * s[1] + c] = src[((n * s[1] + c) * s[2] + h) * s[3] + w];
    Value* in = input(t);
    Value* out = g->add_value("nhwc" + std::to_string(count++)).value();
    Node* tr = g->add_node("Transpose", "to_nchw" + std::to_string(count), {in}, {out});
    tr->opset = opset;
    tr->attrs["perm"] = Ints({0, 3, 1, 2});
    return out;
  }
  Value* constant(const Tensor& t) { return g->add_initializer("c" + std::to_string(count++), t).value(); }
  Node* node(const std::string& op, std::vector<Value*> ins, std::map<std::string, Attribute> attrs = {},
             int n_out = 1) {
    std::vector<Value*> outs;
    for (int i = 0; i < n_out; ++i) {
      Value* o = g->add_value("y" + std::to_string(i)).value();
      o->is_graph_output = true;
      g->outputs.push_back(o);
      outs.push_back(o);
    }
    Node* n = g->add_node(op, "op", std::move(ins), std::move(outs));
    n->opset = opset;
    n->attrs = std::move(attrs);
    return n;
  }
  std::string check(const std::string& precision) {
    const bool half = precision != "fp32";
    return check_against_cpu(std::move(g), feeds, precision, half ? kFp16Atol : kFp32Atol,
                             half ? kFp16Rtol : kFp32Rtol);
  }
};

inline const std::vector<std::string>& precisions() {
  static const std::vector<std::string> p{"fp32", "fp16"};
  return p;
}

}  // namespace kiln::gputest
