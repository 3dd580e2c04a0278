// ConvTranspose with constant weights rewritten as ops every backend already runs fast (the GPU engine has no
// ConvTranspose lowering of its own):
//
// - kernel == stride, no padding, no dilation, one group, a square 2-D window (U-Net / FPN upsampling,
//   "k2 s2"): each input pixel writes its own k x k patch, so the op is a 1x1 Conv to Cout*k*k channels
//   (bias repeated per patch) followed by DepthToSpace(k, CRD). Exactly the MACs of the op itself.
// - anything else (1-D to 3-D, groups, dilations, pads, output_padding, output_shape, auto_pad): the
//   adjoint form. The input gets stride-1 zeros between its elements (Reshape to [N, C, d, 1, ...], Pad the
//   unit dims to s, Reshape back: d*s elements, the last s-1 zeros), is padded or cropped so that a stride-1
//   Conv with the weights flipped in space and swapped in/out per group lands exactly on the cropped output
//   ([pads_begin, pads_begin + out) of the full transposed result). Zeros cost MACs (s^d more than the op),
//   correctness first; cuDNN's backward-data path is the faster lowering still to come.
//
// Each spatial dim d (input extent `in`, effective kernel e, stride s, output `out`, begin pad pb):
//   before = e - 1 - pb, after = out + pb - in * s   (negative: that many elements are cropped).
#include <algorithm>

#include "ops/window.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

class Builder : public passes::NodeBuilder {
 public:
  using NodeBuilder::NodeBuilder;

  // Zero padding, pads as ONNX orders them ([begin..., end...]); inputs from opset 11, an attribute before.
  Expected<Value*> pad(Value* x, const std::vector<int64_t>& pads, const Shape& out) {
    KILN_ASSIGN_OR_RETURN(Value * y, value("padded", x->dtype, out));
    if (opset_ >= 11) {
      KILN_ASSIGN_OR_RETURN(Value * p, ints("pads", pads));
      node("Pad", {x, p}, y);
    } else {
      node("Pad", {x}, y)->attrs["pads"] = Attribute::make_ints(pads);
    }
    return y;
  }
  // Slice on the given axes; inputs from opset 10, attributes before.
  Expected<Value*> slice(Value* x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                         const std::vector<int64_t>& axes, const Shape& out) {
    KILN_ASSIGN_OR_RETURN(Value * y, value("cropped", x->dtype, out));
    if (opset_ >= 10) {
      KILN_ASSIGN_OR_RETURN(Value * s, ints("starts", starts));
      KILN_ASSIGN_OR_RETURN(Value * e, ints("ends", ends));
      KILN_ASSIGN_OR_RETURN(Value * a, ints("axes", axes));
      node("Slice", {x, s, e, a}, y);
    } else {
      Node* m = node("Slice", {x}, y);
      m->attrs["starts"] = Attribute::make_ints(starts);
      m->attrs["ends"] = Attribute::make_ints(ends);
      m->attrs["axes"] = Attribute::make_ints(axes);
    }
    return y;
  }
};

int64_t product(const Shape& s, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

Expected<bool> decompose(Graph& g, Node& n) {
  Value *x = n.input(0), *w = n.input(1), *b = n.input(2), *y = n.output(0);
  if (!x || !w || !y || !w->constant || (b && !b->constant)) return false;
  auto sx = x->shape.to_static(), sy = y->shape.to_static();
  if (!sx || !sy || sx->size() < 3 || sx->size() > 5 || x->dtype != w->dtype) return false;
  if (x->dtype != DType::kFloat32 && x->dtype != DType::kFloat16 && x->dtype != DType::kBFloat16 &&
      x->dtype != DType::kFloat64)
    return false;
  const size_t ns = sx->size() - 2;
  const Tensor& W = *w->constant;
  if (static_cast<size_t>(W.rank()) != sx->size()) return false;
  auto group = n.attr_int("group", 1);
  if (!group.ok() || *group < 1) return false;
  const int64_t G = *group, N = (*sx)[0], Ci = (*sx)[1], Cog = W.dim(1), Co = Cog * G, Cig = Ci / G;
  if (W.dim(0) != Ci || Ci % G != 0 || (*sy)[1] != Co) return false;
  std::vector<int64_t> kernel;
  for (size_t d = 0; d < ns; ++d) kernel.push_back(W.dim(static_cast<int>(d + 2)));
  auto attrs = read_window_attrs(n, ns, kernel, false);
  if (!attrs.ok()) return false;  // the shape rule reports it
  WindowAttrs wa = *attrs;
  std::vector<int64_t> out;
  for (size_t d = 0; d < ns; ++d) {
    auto o = transpose_output_size(n, wa, d, (*sx)[d + 2]);
    if (!o.ok() || *o != (*sy)[d + 2]) return false;
    out.push_back(*o);
  }
  const std::vector<double> wv = passes::to_doubles(W);
  const int64_t kvol = product(W.shape(), 2);
  Builder bld(g, n);

  bool patch = ns == 2 && G == 1 && wa.kernel[0] == wa.kernel[1] && wa.strides[0] == wa.kernel[0] &&
               wa.strides[1] == wa.kernel[1];
  for (size_t d = 0; d < ns && patch; ++d)
    patch = wa.dilations[d] == 1 && wa.pads[d] == 0 && wa.pads[d + ns] == 0 && out[d] == (*sx)[d + 2] * wa.strides[d];
  if (patch) {
    const int64_t k = wa.kernel[0];
    // W1[co*k*k + p][ci] = W[ci][co][p]; bias repeated over the patch.
    std::vector<double> w1(static_cast<size_t>(Co * kvol * Ci));
    for (int64_t ci = 0; ci < Ci; ++ci)
      for (int64_t co = 0; co < Co; ++co)
        for (int64_t p = 0; p < kvol; ++p)
          w1[static_cast<size_t>((co * kvol + p) * Ci + ci)] = wv[static_cast<size_t>((ci * Co + co) * kvol + p)];
    KILN_ASSIGN_OR_RETURN(Tensor w1t, passes::from_doubles(W.dtype(), {Co * kvol, Ci, 1, 1}, w1));
    KILN_ASSIGN_OR_RETURN(Value * w1v, passes::add_constant(g, n.name + "/patch_weight", std::move(w1t)));
    std::vector<Value*> conv_in = {x, w1v};
    if (b) {
      const std::vector<double> bv = passes::to_doubles(*b->constant);
      std::vector<double> b1(static_cast<size_t>(Co * kvol));
      for (int64_t co = 0; co < Co; ++co)
        for (int64_t p = 0; p < kvol; ++p) b1[static_cast<size_t>(co * kvol + p)] = bv[static_cast<size_t>(co)];
      KILN_ASSIGN_OR_RETURN(Tensor b1t, passes::from_doubles(b->constant->dtype(), {Co * kvol}, b1));
      KILN_ASSIGN_OR_RETURN(Value * b1v, passes::add_constant(g, n.name + "/patch_bias", std::move(b1t)));
      conv_in.push_back(b1v);
    }
    KILN_ASSIGN_OR_RETURN(Value * patches, bld.value("patches", x->dtype, {N, Co * kvol, (*sx)[2], (*sx)[3]}));
    Node* conv = bld.node("Conv", conv_in, patches);
    conv->attrs["kernel_shape"] = Attribute::make_ints({1, 1});
    Node* d2s = bld.node("DepthToSpace", {patches}, y);
    d2s->attrs["blocksize"] = Attribute::make_int(k);
    d2s->attrs["mode"] = Attribute::make_string("CRD");
    return true;
  }

  // The adjoint form. 1. stride zeros.
  Value* cur = x;
  Shape cur_shape = *sx;
  bool strided = false;
  for (size_t d = 0; d < ns; ++d) strided = strided || wa.strides[d] > 1;
  if (strided) {
    Shape split = {N, Ci}, padded = {N, Ci}, merged = {N, Ci};
    std::vector<int64_t> pads(2 * (2 + 2 * ns), 0);
    const size_t r = 2 + 2 * ns;
    for (size_t d = 0; d < ns; ++d) {
      const int64_t in = (*sx)[d + 2], s = wa.strides[d];
      split.push_back(in);
      split.push_back(1);
      padded.push_back(in);
      padded.push_back(s);
      merged.push_back(in * s);
      pads[r + 2 + 2 * d + 1] = s - 1;  // end pad of the unit dim after dim d
    }
    KILN_ASSIGN_OR_RETURN(cur, bld.reshape(cur, split));
    KILN_ASSIGN_OR_RETURN(cur, bld.pad(cur, pads, padded));
    KILN_ASSIGN_OR_RETURN(cur, bld.reshape(cur, merged));
    cur_shape = merged;
  }
  // 2. pad or crop each spatial dim.
  std::vector<int64_t> before(ns), after(ns);
  bool crop = false, grow = false;
  for (size_t d = 0; d < ns; ++d) {
    const int64_t e = wa.effective_kernel(d), pb = wa.pads[d];
    before[d] = e - 1 - pb;
    after[d] = out[d] + pb - (*sx)[d + 2] * wa.strides[d];
    crop = crop || before[d] < 0 || after[d] < 0;
    grow = grow || before[d] > 0 || after[d] > 0;
  }
  if (crop) {
    std::vector<int64_t> starts, ends, axes;
    Shape cropped = cur_shape;
    for (size_t d = 0; d < ns; ++d) {
      const int64_t len = cur_shape[d + 2];
      const int64_t s0 = std::max<int64_t>(0, -before[d]), e0 = len - std::max<int64_t>(0, -after[d]);
      if (e0 <= s0) return false;
      starts.push_back(s0);
      ends.push_back(e0);
      axes.push_back(static_cast<int64_t>(d + 2));
      cropped[d + 2] = e0 - s0;
    }
    KILN_ASSIGN_OR_RETURN(cur, bld.slice(cur, starts, ends, axes, cropped));
    cur_shape = cropped;
  }
  if (grow) {
    std::vector<int64_t> pads(2 * cur_shape.size(), 0);
    Shape grown = cur_shape;
    for (size_t d = 0; d < ns; ++d) {
      const int64_t lo = std::max<int64_t>(0, before[d]), hi = std::max<int64_t>(0, after[d]);
      pads[d + 2] = lo;
      pads[cur_shape.size() + d + 2] = hi;
      grown[d + 2] += lo + hi;
    }
    KILN_ASSIGN_OR_RETURN(cur, bld.pad(cur, pads, grown));
    cur_shape = grown;
  }
  // 3. the weights: W'[g*Cog + co][ci][flipped p] = W[g*Cig + ci][co][p].
  std::vector<double> wf(wv.size());
  std::vector<int64_t> kdims(kernel.begin(), kernel.end());
  for (int64_t gi = 0; gi < G; ++gi)
    for (int64_t ci = 0; ci < Cig; ++ci)
      for (int64_t co = 0; co < Cog; ++co)
        for (int64_t p = 0; p < kvol; ++p) {
          int64_t rest = p, flipped = 0, stride = 1;
          for (size_t d = ns; d-- > 0;) {
            const int64_t i = rest % kdims[d];
            rest /= kdims[d];
            flipped += (kdims[d] - 1 - i) * stride;
            stride *= kdims[d];
          }
          const int64_t src = (((gi * Cig + ci) * Cog + co) * kvol) + p;
          const int64_t dst = (((gi * Cog + co) * Cig + ci) * kvol) + flipped;
          wf[static_cast<size_t>(dst)] = wv[static_cast<size_t>(src)];
        }
  Shape wshape = {Co, Cig};
  wshape.insert(wshape.end(), kdims.begin(), kdims.end());
  KILN_ASSIGN_OR_RETURN(Tensor wt, passes::from_doubles(W.dtype(), wshape, wf));
  KILN_ASSIGN_OR_RETURN(Value * wfv, passes::add_constant(g, n.name + "/adjoint_weight", std::move(wt)));
  std::vector<Value*> conv_in = {cur, wfv};
  if (b) conv_in.push_back(b);
  Node* conv = bld.node("Conv", conv_in, y);
  conv->attrs["kernel_shape"] = Attribute::make_ints(kdims);
  conv->attrs["dilations"] = Attribute::make_ints(wa.dilations);
  conv->attrs["group"] = Attribute::make_int(G);
  return true;
}

}  // namespace

Expected<int> decompose_conv_transpose(Graph& graph) {
  return passes::rewrite_nodes(graph, [](const Node& n) -> passes::NodeRewrite {
    return n.op_type == "ConvTranspose" ? passes::NodeRewrite(decompose) : nullptr;
  });
}

}  // namespace kiln
