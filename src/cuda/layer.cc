// Precision/layout names, TensorDesc geometry, LowerContext plumbing and the CUDA lowering registry.
#include "cuda/layer.h"

#include <fmt/format.h>

namespace kiln::cuda {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFP32: return "fp32";
    case Precision::kTF32: return "tf32";
    case Precision::kFP16: return "fp16";
    case Precision::kBF16: return "bf16";
  }
  return "?";
}

bool parse_precision(const std::string& s, Precision* out) {
  static const std::pair<const char*, Precision> kNames[] = {
      {"fp32", Precision::kFP32}, {"tf32", Precision::kTF32}, {"fp16", Precision::kFP16}, {"bf16", Precision::kBF16}};
  for (const auto& [n, p] : kNames)
    if (s == n) {
      *out = p;
      return true;
    }
  return false;
}

DType activation_dtype(Precision p) {
  if (p == Precision::kFP16) return DType::kFloat16;
  if (p == Precision::kBF16) return DType::kBFloat16;
  return DType::kFloat32;
}

const char* layout_name(Layout l) { return l == Layout::kNHWC ? "nhwc" : "row-major"; }

int64_t TensorDesc::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<int64_t> TensorDesc::strides() const {
  const size_t r = shape.size();
  std::vector<int64_t> s(r, 1);
  if (layout == Layout::kNHWC && r == 4) {
    const int64_t C = shape[1], H = shape[2], W = shape[3];
    s[0] = H * W * C;
    s[1] = 1;
    s[2] = W * C;
    s[3] = C;
    return s;
  }
  for (size_t i = r; i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

bool TensorDesc::same_bytes_as_row_major() const {
  if (layout == Layout::kRowMajor || shape.size() != 4) return true;
  return shape[1] == 1 || shape[2] * shape[3] == 1;
}

std::string TensorDesc::describe() const {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "x" : "") + std::to_string(shape[i]);
  return fmt::format("{}[{}]{}", dtype_name(dtype), dims, layout == Layout::kNHWC ? " nhwc" : "");
}

const Tensor* LowerContext::constant(size_t i) const { return i < constants_.size() ? constants_[i] : nullptr; }

const Tensor* LowerContext::take_constant(size_t i) {
  const Tensor* t = constant(i);
  if (t) {
    if (taken_.size() <= i) taken_.resize(i + 1, false);
    taken_[i] = true;
  }
  return t;
}

bool LowerContext::constant_taken(size_t i) const { return i < taken_.size() && taken_[i]; }

Status LowerContext::require_input(size_t i, DType dtype, Layout layout) {
  if (i >= inputs.size() || inputs[i].dtype == DType::kUndefined)
    return node.error(StatusCode::kInvalidInput, fmt::format("input {} is absent", i));
  if (layout == Layout::kNHWC && inputs[i].shape.size() != 4)
    return node.error(StatusCode::kUnsupported, fmt::format("input {} is rank {}; NHWC needs rank 4", i, inputs[i].shape.size()));
  if (inputs[i].dtype == dtype && inputs[i].layout == layout) return Status::Ok();
  if (!convert_) return node.error(StatusCode::kRuntime, "internal: no converter installed");
  return convert_(i, dtype, layout);
}

CudaLoweringRegistry& CudaLoweringRegistry::instance() {
  static CudaLoweringRegistry r;
  return r;
}

void CudaLoweringRegistry::add(CudaLoweringDef def) { defs_.push_back(std::move(def)); }

const CudaLoweringDef* CudaLoweringRegistry::find(const std::string& op_type, const std::string& domain) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& def : defs_)
    if (def.op_type == op_type && def.domain == d) return &def;
  return nullptr;
}

std::vector<const CudaLoweringDef*> CudaLoweringRegistry::all() const {
  std::vector<const CudaLoweringDef*> v;
  for (const auto& d : defs_) v.push_back(&d);
  return v;
}

}  // namespace kiln::cuda
