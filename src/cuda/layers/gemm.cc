// GPU lowerings of Gemm, MatMul and kiln.FusedGemm through cuBLASLt. Row-major products run as the
// column-major product of transposed views (C^T = B^T A^T); a constant row-vector C becomes cuBLASLt's bias
// epilogue and ReLU its ReLU epilogue, a full [M,N] C goes through beta*C, anything else (other
// activations, other broadcasts of C) through gemm_epilogue.cu. Tactics are cuBLASLt algos, timed on the
// real shapes when tuning and stored whole in the tactic string.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/shape.h"
#include "cuda/kernels/gemm_epilogue.h"
#include "cuda/tactic.h"
#include "ops/fused.h"

namespace kiln::cuda {
namespace {

constexpr int kMaxCandidates = 8;
// What the memory planner's buffers are assumed to be aligned to (cudaMalloc gives 256; sub-allocations
// are expected to keep at least 16, which every tensor-core kernel needs).
constexpr uint32_t kAssumedAlignment = 16;

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kFloat16:
      return CUDA_R_16F;
    case DType::kBFloat16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

struct LtDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtDeleter>;
using MatrixLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtDeleter>;

// Largest power of two (<= cap) dividing `bytes`.
uint32_t alignment_of(int64_t bytes, uint32_t cap) {
  uint32_t a = cap;
  while (a > 1 && bytes % a != 0) a /= 2;
  return a;
}

enum class CMode { kNone, kBias, kMatrix, kKernel };

struct GemmAttrs {
  bool matmul = false;  // MatMul semantics: batched, 1-D operands, no attributes
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  FusedActivation act = FusedActivation::kNone;
  float act_alpha = 0.f, act_beta = 0.f;
};

// Problem geometry resolved by configure() from the current shapes.
struct Geometry {
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;                         // matrices per cuBLASLt call (strided batch)
  std::vector<int64_t> a_off, b_off, d_off;  // element offsets of each call (looped broadcast batches)
  uint32_t align_a = kAssumedAlignment, align_b = kAssumedAlignment, align_d = kAssumedAlignment;
  CMode c_mode = CMode::kNone;
  Shape out;
};

class GemmLayer : public Layer {
 public:
  GemmLayer(const LowerContext& ctx, GemmAttrs attrs)
      : name_(ctx.node.describe()), attrs_(attrs), dtype_(ctx.float_dtype()), precision_(ctx.precision) {}

  // Constant B uploaded once in the storage dtype.
  Status set_weight(const Tensor& w) { return upload(w, 1.f, weight_, weight_desc_); }
  // Constant C uploaded as beta * C, so every C mode then uses beta = 1.
  Status set_c(const Tensor& c) {
    has_c_ = true;
    return upload(c, attrs_.beta, c_const_, c_desc_);
  }
  void set_runtime_c() { has_c_ = true; }

  Status configure(ConfigureContext& ctx) override;
  size_t workspace_bytes() const override { return workspace_; }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string tactic() const override;
  Status set_tactic(const std::string& tactic) override;
  size_t weight_bytes() const override { return weight_.bytes() + c_const_.bytes(); }

 private:
  Status fail(StatusCode code, const std::string& m) const { return Status(code, name_ + ": " + m); }
  Status upload(const Tensor& host, float scale, DeviceBuffer& buf, TensorDesc& desc);
  Status resolve(const std::vector<TensorDesc>& in, Geometry& g) const;
  Status resolve_matmul(const TensorDesc& a, const TensorDesc& b, Geometry& g) const;
  Status make_descriptors(const Geometry& g);
  Status choose_algo(ConfigureContext& ctx);
  Status tune(ConfigureContext& ctx, const cublasLtMatmulHeuristicResult_t* cands, int count);
  Status check_algo(cublasLtHandle_t h, const cublasLtMatmulAlgo_t& algo, size_t max_ws, size_t* ws) const;
  // Runs the product (all batches) with `algo`; c: the [M,N] C in kMatrix mode.
  Status run(cublasLtHandle_t h, const cublasLtMatmulAlgo_t& algo, const void* a, const void* b, const void* c, void* d,
             void* ws, size_t ws_bytes, cudaStream_t stream) const;
  float matmul_beta() const { return c_const_.get() ? 1.f : attrs_.beta; }
  // cuBLASLt's ReLU is used only where its order with the C term is unambiguous (no C, or the bias).
  bool relu_in_epilogue() const {
    return attrs_.act == FusedActivation::kRelu && (geo_.c_mode == CMode::kNone || geo_.c_mode == CMode::kBias);
  }

  std::string name_;
  GemmAttrs attrs_;
  DType dtype_;
  Precision precision_;
  DeviceBuffer weight_, c_const_;
  TensorDesc weight_desc_, c_desc_;
  bool has_c_ = false;  // C takes part (present and beta != 0), constant or at run time

  Geometry geo_;
  MatmulDesc desc_;
  MatrixLayout lay_a_, lay_b_, lay_d_;  // cuBLASLt's A is our B, its B our A (transposed views)
  cublasLtMatmulAlgo_t algo_{};
  bool have_algo_ = false;
  cublasLtMatmulAlgo_t preferred_{};  // tuned or restored; tried first at each configure
  bool have_preferred_ = false;
  std::string note_;
  size_t workspace_ = 0;
};

Status GemmLayer::upload(const Tensor& host, float scale, DeviceBuffer& buf, TensorDesc& desc) {
  KILN_ASSIGN_OR_RETURN(Tensor f, convert_dtype(host, DType::kFloat32));
  if (scale != 1.f) {
    f = f.clone();  // convert_dtype may return the graph's own storage
    for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] *= scale;
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, convert_dtype(f, dtype_));
  KILN_ASSIGN_OR_RETURN(buf, DeviceBuffer::upload(t.raw(), t.nbytes(), name_.c_str()));
  desc.dtype = dtype_;
  desc.shape = host.shape();
  desc.layout = Layout::kRowMajor;
  return Status::Ok();
}

Status GemmLayer::resolve_matmul(const TensorDesc& a, const TensorDesc& b, Geometry& g) const {
  Shape as = a.shape, bs = b.shape;
  if (as.empty() || bs.empty()) return fail(StatusCode::kInvalidInput, "MatMul operands must have rank >= 1");
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  g.m = as[as.size() - 2];
  g.k = as.back();
  g.n = bs.back();
  if (bs[bs.size() - 2] != g.k)
    return fail(StatusCode::kInvalidInput, "inner dimensions differ: A " + a.describe() + " and B " + b.describe());
  const Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  auto batch = broadcast_shapes(ba, bb);
  if (!batch.ok()) return fail(StatusCode::kInvalidInput, "batch dims of A and B do not broadcast");
  g.out = *batch;
  if (a.shape.size() > 1) g.out.push_back(g.m);
  if (b.shape.size() > 1) g.out.push_back(g.n);
  const int64_t nb = numel(*batch), na = numel(ba), nbb = numel(bb);
  const int64_t es = static_cast<int64_t>(dtype_size(dtype_));
  if (nbb == 1) {  // one B for all: A's batches stack into one tall matrix
    g.m *= na;
  } else if (na == nb && nbb == nb) {  // no broadcasting: one strided-batched call
    g.batch = nb;
    g.align_a = alignment_of(g.m * g.k * es, kAssumedAlignment);
    g.align_b = alignment_of(g.k * g.n * es, kAssumedAlignment);
    g.align_d = alignment_of(g.m * g.n * es, kAssumedAlignment);
  } else {  // broadcast batches: one call per output matrix
    const Shape& out_batch = *batch;
    const size_t r = out_batch.size();
    for (int64_t i = 0; i < nb; ++i) {
      int64_t rem = i, oa = 0, ob = 0, sa = 1, sb = 1;
      for (size_t d = r; d-- > 0;) {
        const int64_t idx = rem % out_batch[d];
        rem /= out_batch[d];
        const size_t from_end = r - 1 - d;
        if (from_end < ba.size()) {
          const int64_t da = ba[ba.size() - 1 - from_end];
          oa += (da == 1 ? 0 : idx) * sa;
          sa *= da;
        }
        if (from_end < bb.size()) {
          const int64_t db = bb[bb.size() - 1 - from_end];
          ob += (db == 1 ? 0 : idx) * sb;
          sb *= db;
        }
      }
      g.a_off.push_back(oa * g.m * g.k);
      g.b_off.push_back(ob * g.k * g.n);
      g.d_off.push_back(i * g.m * g.n);
      g.align_a = std::min(g.align_a, alignment_of(g.a_off.back() * es, kAssumedAlignment));
      g.align_b = std::min(g.align_b, alignment_of(g.b_off.back() * es, kAssumedAlignment));
      g.align_d = std::min(g.align_d, alignment_of(g.d_off.back() * es, kAssumedAlignment));
    }
  }
  return Status::Ok();
}

Status GemmLayer::resolve(const std::vector<TensorDesc>& in, Geometry& g) const {
  const TensorDesc& a = in[0];
  const TensorDesc& b = weight_.get() ? weight_desc_ : in[1];
  if (attrs_.matmul) {
    KILN_RETURN_IF_ERROR(resolve_matmul(a, b, g));
  } else {
    if (a.shape.size() != 2 || b.shape.size() != 2)
      return fail(StatusCode::kInvalidInput, "A " + a.describe() + " and B " + b.describe() + " must be 2-D");
    g.m = a.shape[attrs_.trans_a ? 1 : 0];
    g.k = a.shape[attrs_.trans_a ? 0 : 1];
    g.n = b.shape[attrs_.trans_b ? 0 : 1];
    if (b.shape[attrs_.trans_b ? 1 : 0] != g.k)
      return fail(StatusCode::kInvalidInput, "inner dimensions differ: A " + a.describe() + " and B " + b.describe());
    g.out = {g.m, g.n};
  }
  if (!has_c_) return Status::Ok();
  const TensorDesc& c = c_const_.get() ? c_desc_ : in[2];
  const Shape mn{g.m, g.n};
  auto merged = broadcast_shapes(c.shape, mn);
  if (c.shape.size() > 2 || !merged.ok() || *merged != mn)
    return fail(StatusCode::kInvalidInput, "C " + c.describe() + " does not broadcast to the output [" +
                                               std::to_string(g.m) + "x" + std::to_string(g.n) + "]");
  const bool row_vector = numel(c.shape) == g.n && (c.shape.size() == 1 || (c.shape.size() == 2 && c.shape[0] == 1));
  if (row_vector && c_const_.get()) {
    g.c_mode = CMode::kBias;
  } else if (c.shape == mn) {
    g.c_mode = CMode::kMatrix;
  } else {
    g.c_mode = CMode::kKernel;
  }
  return Status::Ok();
}

Status GemmLayer::make_descriptors(const Geometry& g) {
  const bool fast = precision_ == Precision::kTF32 && dtype_ == DType::kFloat32;
  cublasLtMatmulDesc_t d = nullptr;
  KILN_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescCreate(&d, fast ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
  desc_.reset(d);
  const cublasOperation_t op_a = attrs_.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  const cublasOperation_t op_b = attrs_.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  const bool relu = relu_in_epilogue();
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (g.c_mode == CMode::kBias) {
    epi = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    const void* bias = c_const_.get();
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  } else if (relu) {
    epi = CUBLASLT_EPILOGUE_RELU;
  }
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));

  // Column-major views of row-major data: our B[K,N] is a [N,K] matrix with ld N (or [K,N], ld K, when
  // stored transposed), our A[M,K] a [K,M] matrix with ld K, the output [M,N] an [N,M] matrix with ld N.
  const cudaDataType_t t = cuda_type(dtype_);
  auto make = [&](MatrixLayout& out, int64_t rows, int64_t cols, int64_t stride) -> Status {
    cublasLtMatrixLayout_t l = nullptr;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&l, t, rows, cols, rows));
    out.reset(l);
    if (g.batch > 1) {
      const int32_t count = static_cast<int32_t>(g.batch);
      KILN_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      KILN_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
    }
    return Status::Ok();
  };
  KILN_RETURN_IF_ERROR(attrs_.trans_b ? make(lay_a_, g.k, g.n, g.k * g.n) : make(lay_a_, g.n, g.k, g.k * g.n));
  KILN_RETURN_IF_ERROR(attrs_.trans_a ? make(lay_b_, g.m, g.k, g.m * g.k) : make(lay_b_, g.k, g.m, g.m * g.k));
  return make(lay_d_, g.n, g.m, g.m * g.n);
}

Status GemmLayer::check_algo(cublasLtHandle_t h, const cublasLtMatmulAlgo_t& algo, size_t max_ws, size_t* ws) const {
  cublasLtMatmulHeuristicResult_t r{};
  KILN_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulAlgoCheck(h, desc_.get(), lay_a_.get(), lay_b_.get(), lay_d_.get(), lay_d_.get(), &algo, &r));
  if (r.workspaceSize > max_ws)
    return fail(StatusCode::kUnsupported, "algo needs " + std::to_string(r.workspaceSize) + " bytes of workspace");
  *ws = r.workspaceSize;
  return Status::Ok();
}

Status GemmLayer::run(cublasLtHandle_t h, const cublasLtMatmulAlgo_t& algo, const void* a, const void* b, const void* c,
                      void* d, void* ws, size_t ws_bytes, cudaStream_t stream) const {
  const float alpha = attrs_.alpha;
  const float beta = geo_.c_mode == CMode::kMatrix ? matmul_beta() : 0.f;
  const size_t es = dtype_size(dtype_);
  const size_t calls = geo_.d_off.empty() ? 1 : geo_.d_off.size();
  for (size_t i = 0; i < calls; ++i) {
    const size_t oa = geo_.a_off.empty() ? 0 : static_cast<size_t>(geo_.a_off[i]) * es;
    const size_t ob = geo_.b_off.empty() ? 0 : static_cast<size_t>(geo_.b_off[i]) * es;
    const size_t od = geo_.d_off.empty() ? 0 : static_cast<size_t>(geo_.d_off[i]) * es;
    char* dd = static_cast<char*>(d) + od;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(h, desc_.get(), &alpha, static_cast<const char*>(b) + ob, lay_a_.get(),
                                               static_cast<const char*>(a) + oa, lay_b_.get(), &beta,
                                               // C is not read with beta = 0 but must be valid
                                               geo_.c_mode == CMode::kMatrix ? c : dd, lay_d_.get(), dd, lay_d_.get(),
                                               &algo, ws, ws_bytes, stream));
  }
  return Status::Ok();
}

Status GemmLayer::choose_algo(ConfigureContext& ctx) {
  Preference pref;
  {
    cublasLtMatmulPreference_t p = nullptr;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&p));
    pref.reset(p);
  }
  const uint64_t max_ws = ctx.max_workspace_bytes;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                   &max_ws, sizeof(max_ws)));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, geo_.align_b},  // cuBLASLt's A is our B
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, geo_.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, geo_.align_d},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, geo_.align_d}};
  for (const auto& [attr, value] : aligns)
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref.get(), attr, &value, sizeof(value)));

  // A tuned or restored algo is kept while cuBLASLt accepts it for the current shapes.
  if (!ctx.tune && have_preferred_) {
    size_t ws = 0;
    if (check_algo(ctx.handles.cublaslt, preferred_, ctx.max_workspace_bytes, &ws).ok()) {
      algo_ = preferred_;
      workspace_ = ws;
      have_algo_ = true;
      return Status::Ok();
    }
    note_ = "restored algo rejected for these shapes; heuristic";
  }
  cublasLtMatmulHeuristicResult_t cands[kMaxCandidates] = {};
  int count = 0;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulAlgoGetHeuristic(ctx.handles.cublaslt, desc_.get(), lay_a_.get(),
                                                             lay_b_.get(), lay_d_.get(), lay_d_.get(), pref.get(),
                                                             ctx.tune ? kMaxCandidates : 1, cands, &count));
  if (count == 0)
    return fail(StatusCode::kUnsupported, "cuBLASLt has no algorithm for this product (M=" + std::to_string(geo_.m) +
                                              " N=" + std::to_string(geo_.n) + " K=" + std::to_string(geo_.k) + ")");
  const bool samples = !ctx.sample_outputs.empty() && ctx.sample_outputs[0].data && !ctx.sample_inputs.empty() &&
                       ctx.sample_inputs[0].data && (weight_.get() || ctx.sample_inputs[1].data) &&
                       (!has_c_ || c_const_.get() || ctx.sample_inputs[2].data);
  if (ctx.tune && samples) return tune(ctx, cands, count);
  algo_ = cands[0].algo;
  workspace_ = cands[0].workspaceSize;
  have_algo_ = true;
  return Status::Ok();
}

// Times each heuristic candidate on the sample buffers; a candidate whose output differs from the first
// working one by more than tactic_tolerance() is rejected, whatever its speed.
Status GemmLayer::tune(ConfigureContext& ctx, const cublasLtMatmulHeuristicResult_t* cands, int count) {
  const void* a = ctx.sample_inputs[0].data;
  const void* b = weight_.get() ? weight_.get() : ctx.sample_inputs[1].data;
  const void* c = c_const_.get() ? c_const_.get() : (has_c_ ? ctx.sample_inputs[2].data : nullptr);
  void* d = ctx.sample_outputs[0].data;
  const int64_t n_out = numel(geo_.out);
  const size_t out_bytes = static_cast<size_t>(n_out) * dtype_size(dtype_);
  KILN_ASSIGN_OR_RETURN(DeviceBuffer ref, DeviceBuffer::allocate(out_bytes ? out_bytes : 1, "GEMM tactic reference"));
  bool have_ref = false;
  float best_ms = 0.f;
  int best = -1;
  std::string errors;
  for (int i = 0; i < count; ++i) {
    if (cands[i].state != CUBLAS_STATUS_SUCCESS || cands[i].workspaceSize > ctx.max_workspace_bytes) continue;
    const cublasLtMatmulAlgo_t algo = cands[i].algo;
    auto launch = [&]() {
      return run(ctx.handles.cublaslt, algo, a, b, c, d, ctx.sample_workspace, ctx.max_workspace_bytes, ctx.stream);
    };
    Status st = launch();
    if (!st.ok()) {
      errors += " [" + st.message() + "]";
      continue;
    }
    if (!have_ref) {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ref.get(), d, out_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
      have_ref = true;
    } else {
      KILN_ASSIGN_OR_RETURN(double diff, max_relative_difference(d, ref.get(), n_out, dtype_, ctx.stream));
      if (!(diff <= tactic_tolerance(dtype_))) continue;
    }
    auto ms = time_candidate(ctx.stream, launch);
    if (!ms.ok()) continue;
    if (best < 0 || *ms < best_ms) best = i, best_ms = *ms;
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream));  // `ref` is freed on return
  if (best < 0) return fail(StatusCode::kRuntime, "no cuBLASLt candidate ran:" + errors);
  algo_ = preferred_ = cands[best].algo;
  workspace_ = cands[best].workspaceSize;
  have_algo_ = have_preferred_ = true;
  note_.clear();
  return Status::Ok();
}

Status GemmLayer::configure(ConfigureContext& ctx) {
  Geometry g;
  KILN_RETURN_IF_ERROR(resolve(ctx.inputs, g));
  geo_ = std::move(g);
  have_algo_ = false;
  workspace_ = 0;
  if (numel(geo_.out) == 0) return Status::Ok();  // nothing to compute
  if (geo_.k == 0) return fail(StatusCode::kUnsupported, "empty inner dimension (K = 0) is not supported on the GPU");
  KILN_RETURN_IF_ERROR(make_descriptors(geo_));
  return choose_algo(ctx);
}

Status GemmLayer::enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                          const std::vector<DeviceTensor>& outputs) {
  if (!have_algo_) return Status::Ok();  // empty output
  const void* a = inputs[0].data;
  const void* b = weight_.get() ? weight_.get() : inputs[1].data;
  const void* c = c_const_.get() ? c_const_.get() : (has_c_ ? inputs[2].data : nullptr);
  void* d = outputs[0].data;
  for (const void* p : {a, b, c, static_cast<const void*>(d)})
    if (p && reinterpret_cast<uintptr_t>(p) % kAssumedAlignment != 0)
      return fail(StatusCode::kRuntime,
                  "a GEMM operand is not " + std::to_string(kAssumedAlignment) + "-byte aligned (memory planner)");
  KILN_RETURN_IF_ERROR(run(rc.handles.cublaslt, algo_, a, b, c, d, rc.workspace, rc.workspace_bytes, rc.stream));
  const bool relu_done = relu_in_epilogue();
  const bool act_left = attrs_.act != FusedActivation::kNone && !relu_done;
  if (geo_.c_mode != CMode::kKernel && !act_left) return Status::Ok();
  GemmTail tail;
  tail.act = relu_done ? FusedActivation::kNone : attrs_.act;
  tail.act_alpha = attrs_.act_alpha;
  tail.act_beta = attrs_.act_beta;
  if (geo_.c_mode == CMode::kKernel) {
    tail.c = c;
    tail.c_desc = c_const_.get() ? c_desc_ : inputs[2].desc;
    tail.beta = matmul_beta();
  }
  DeviceTensor y = outputs[0];
  y.desc.shape = geo_.out;
  y.desc.layout = Layout::kRowMajor;
  return launch_gemm_tail(tail, y, rc.stream);
}

// "lt:algo=<id>,tile=<id>,stages=<id>,splitk=<n>,data=<8 x 16 hex digits, '.'-separated>": the first
// fields are for people, data= is the whole cublasLtMatmulAlgo_t that set_tactic() restores.
std::string GemmLayer::tactic() const {
  if (!have_algo_ && !have_preferred_) return "lt:none";
  const cublasLtMatmulAlgo_t& algo = have_algo_ ? algo_ : preferred_;
  int32_t id = 0, tile = 0, stages = 0, splitk = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &written);
  std::string s = "lt:algo=" + std::to_string(id) + ",tile=" + std::to_string(tile) +
                  ",stages=" + std::to_string(stages) + ",splitk=" + std::to_string(splitk) + ",data=";
  for (int i = 0; i < 8; ++i) {
    char word[20];
    std::snprintf(word, sizeof(word), "%s%016" PRIx64, i ? "." : "", static_cast<uint64_t>(algo.data[i]));
    s += word;
  }
  if (!note_.empty()) s += " (" + note_ + ")";
  return s;
}

Status GemmLayer::set_tactic(const std::string& tactic) {
  if (tactic.rfind("lt:", 0) != 0)
    return fail(StatusCode::kInvalidInput, "tactic '" + tactic + "' is not a cuBLASLt tactic (lt:...)");
  const size_t at = tactic.find("data=");
  if (at == std::string::npos) {  // "lt:none" (an empty product at build time): heuristics decide
    have_preferred_ = false;
    return Status::Ok();
  }
  cublasLtMatmulAlgo_t algo{};
  const char* p = tactic.c_str() + at + 5;
  for (int i = 0; i < 8; ++i) {
    char* end = nullptr;
    algo.data[i] = std::strtoull(p, &end, 16);
    if (end != p + 16 || (i < 7 && *end != '.'))
      return fail(StatusCode::kInvalidInput, "tactic '" + tactic + "' has a malformed data= field");
    p = end + 1;
  }
  preferred_ = algo;
  have_preferred_ = true;
  return Status::Ok();
}

bool supported_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

Expected<std::unique_ptr<Layer>> make_gemm(LowerContext& ctx, bool matmul, bool fused) {
  const Node& node = ctx.node;
  GemmAttrs attrs;
  attrs.matmul = matmul;
  if (!matmul) {
    KILN_ASSIGN_OR_RETURN(int64_t ta, node.attr_int("transA", 0));
    KILN_ASSIGN_OR_RETURN(int64_t tb, node.attr_int("transB", 0));
    KILN_ASSIGN_OR_RETURN(attrs.alpha, node.attr_float("alpha", 1.f));
    KILN_ASSIGN_OR_RETURN(attrs.beta, node.attr_float("beta", 1.f));
    attrs.trans_a = ta != 0;
    attrs.trans_b = tb != 0;
  }
  if (fused) {
    KILN_ASSIGN_OR_RETURN(std::string act, node.attr_string("activation", ""));
    if (!parse_fused_activation(act, attrs.act))
      return ctx.unsupported_here("activation '" + act + "' has no GPU lowering");
    KILN_ASSIGN_OR_RETURN(attrs.act_alpha, node.attr_float("activation_alpha", 0.f));
    KILN_ASSIGN_OR_RETURN(attrs.act_beta, node.attr_float("activation_beta", 0.f));
  }
  for (size_t i = 0; i < ctx.inputs.size() && i < 3; ++i) {
    const DType t = ctx.constant(i) ? ctx.constant(i)->dtype() : ctx.inputs[i].dtype;
    if (t != DType::kUndefined && !supported_float(t))
      return ctx.unsupported_here(std::string("input ") + std::to_string(i) + " of dtype " + dtype_name(t) +
                                  " (the GPU GEMM handles float32/float16/bfloat16)");
  }
  const DType dt = ctx.float_dtype();
  auto layer = std::make_unique<GemmLayer>(ctx, attrs);
  KILN_RETURN_IF_ERROR(ctx.require_input(0, dt, Layout::kRowMajor));
  if (const Tensor* w = ctx.constant(1)) {
    KILN_RETURN_IF_ERROR(layer->set_weight(*w));
    ctx.take_constant(1);
  } else {
    KILN_RETURN_IF_ERROR(ctx.require_input(1, dt, Layout::kRowMajor));
  }
  const bool has_c = !matmul && node.input(2) != nullptr;
  if (has_c && attrs.beta != 0.f) {  // beta = 0 ignores C, as the CPU reference does
    if (const Tensor* c = ctx.constant(2)) {
      KILN_RETURN_IF_ERROR(layer->set_c(*c));
      ctx.take_constant(2);
    } else {
      KILN_RETURN_IF_ERROR(ctx.require_input(2, dt, Layout::kRowMajor));
      layer->set_runtime_c();
    }
  }
  ctx.outputs[0].dtype = dt;
  ctx.outputs[0].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::move(layer));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(gemm,
                             CudaLoweringDef{"Gemm", "", [](LowerContext& c) { return make_gemm(c, false, false); }},
                             CudaLoweringDef{"MatMul", "", [](LowerContext& c) { return make_gemm(c, true, false); }},
                             CudaLoweringDef{"FusedGemm", kKilnDomain,
                                             [](LowerContext& c) { return make_gemm(c, false, true); }});

}  // namespace kiln::cuda
