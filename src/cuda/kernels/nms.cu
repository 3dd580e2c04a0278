// CUDA lowering of NonMaxSuppression (constant max_output_boxes_per_class, iou_threshold, score_threshold): the
// same kept set as the CPU reference (src/cpu/kernels/detection.cc), bit for bit. Each (batch, class) line of
// scores is sorted by CUB's stable segmented radix sort (descending; equal scores keep the lower box first),
// then one block per line walks its candidates in that order, keeping a box unless its IoU with a kept one
// exceeds the threshold (IoU in double with rounded intrinsics, as the CPU computes it), and a last kernel packs
// the kept (batch, class, box) rows in batch, class, score order. The output has a data-dependent row count: the
// engine allocates batch x classes x min(max_out, boxes) rows and the layer writes the real count beside them.
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/segmented_sort.cuh"
#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

struct NmsGeometry {
  int64_t batches = 0, boxes = 0, classes = 0, max_keep = 0;  // max_keep = min(max_out, boxes)
  bool center = false;
  double iou = 0, score_min = 0;
  bool filter = false;
  __host__ __device__ int64_t lines() const { return batches * classes; }
  __host__ __device__ int64_t items() const { return lines() * boxes; }
};

struct DBox {
  double y1, x1, y2, x2;
};

// std::min / std::max exactly (the first argument unless the second is strictly smaller / larger).
template <typename T> __device__ T lesser(T a, T b) { return b < a ? b : a; }
template <typename T> __device__ T greater(T a, T b) { return a < b ? b : a; }

// As the CPU reference's read_box: corners sorted per axis, or [x_center, y_center, width, height].
__device__ DBox read_box(const float* b, bool center) {
  if (center) {
    const double xc = b[0], yc = b[1], w = b[2], h = b[3];
    return DBox{__dsub_rn(yc, h / 2), __dsub_rn(xc, w / 2), __dadd_rn(yc, h / 2), __dadd_rn(xc, w / 2)};
  }
  return DBox{lesser(b[0], b[2]), lesser(b[1], b[3]), greater(b[0], b[2]), greater(b[1], b[3])};
}

// The CPU reference's overlaps_too_much, operation for operation (no contraction into fused multiply-adds).
__device__ bool overlaps_too_much(const DBox& a, const DBox& b, double threshold) {
  const double area_a = __dmul_rn(__dsub_rn(a.y2, a.y1), __dsub_rn(a.x2, a.x1));
  const double area_b = __dmul_rn(__dsub_rn(b.y2, b.y1), __dsub_rn(b.x2, b.x1));
  if (area_a <= 0 || area_b <= 0) return false;
  const double ih = __dsub_rn(lesser(a.y2, b.y2), greater(a.y1, b.y1));
  const double iw = __dsub_rn(lesser(a.x2, b.x2), greater(a.x1, b.x1));
  if (ih <= 0 || iw <= 0) return false;
  const double inter = __dmul_rn(ih, iw);
  return __ddiv_rn(inter, __dsub_rn(__dadd_rn(area_a, area_b), inter)) > threshold;
}

// keys[line * boxes + i] = scores[b, c, i] (+0.0f: -0 sorts with +0, as equal scores do on the CPU).
__global__ void nms_pack(const float* scores, float* keys, int* positions, int* offsets, NmsGeometry g) {
  const int64_t n = g.items(), step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n; t += step) {
    const int64_t line = t / g.boxes, i = t % g.boxes;
    keys[t] = scores[t] + 0.0f;
    positions[t] = static_cast<int>(i);
    if (i == 0) offsets[line] = static_cast<int>(t);
    if (t == n - 1) offsets[g.lines()] = static_cast<int>(n);
  }
}

// One block per (batch, class) line: greedy selection over the sorted candidates into kept[line * max_keep ..].
__global__ void nms_select(const float* boxes, const float* sorted_scores, const int* sorted_pos, int* kept,
                           int* kept_count, NmsGeometry g) {
  const int64_t line = blockIdx.x, b = line / g.classes;
  const float* s = sorted_scores + line * g.boxes;
  const int* pos = sorted_pos + line * g.boxes;
  int* mine = kept + line * g.max_keep;
  __shared__ int count;
  __shared__ int suppressed;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  for (int64_t r = 0; r < g.boxes && count < g.max_keep; ++r) {
    // Sorted descending: the first score at or under the threshold ends the line (NaN scores never pass it).
    if (g.filter && !(static_cast<double>(s[r]) > g.score_min)) break;
    const int i = pos[r];
    const DBox cand = read_box(boxes + (b * g.boxes + i) * 4, g.center);
    if (threadIdx.x == 0) suppressed = 0;
    __syncthreads();
    int hit = 0;
    for (int k = threadIdx.x; k < count && !hit; k += blockDim.x)
      hit = overlaps_too_much(cand, read_box(boxes + (b * g.boxes + mine[k]) * 4, g.center), g.iou);
    if (hit) atomicOr(&suppressed, 1);
    __syncthreads();
    if (threadIdx.x == 0 && !suppressed) mine[count++] = i;
    __syncthreads();
  }
  if (threadIdx.x == 0) kept_count[line] = count;
}

// Rows (b, c, box) of every line's kept boxes, lines in (batch, class) order; rows[-] = the total count.
__global__ void nms_write(const int* kept, const int* kept_count, int64_t* first_row, int64_t* out, int64_t* total,
                          NmsGeometry g) {
  if (threadIdx.x == 0) {
    int64_t at = 0;
    for (int64_t l = 0; l < g.lines(); ++l) {
      first_row[l] = at;
      at += kept_count[l];
    }
    *total = at;
  }
  __syncthreads();
  const int64_t n = g.lines() * g.max_keep;
  for (int64_t t = threadIdx.x; t < n; t += blockDim.x) {
    const int64_t line = t / g.max_keep, j = t % g.max_keep;
    if (j >= kept_count[line]) continue;
    int64_t* row = out + (first_row[line] + j) * 3;
    row[0] = line / g.classes;
    row[1] = line % g.classes;
    row[2] = kept[line * g.max_keep + j];
  }
}

// The caller's part of the sort workspace: kept boxes per line, their counts, each line's first output row.
struct NmsParts {
  size_t kept_count = 0, first_row = 0, total = 0;
  explicit NmsParts(const NmsGeometry& g)
      : kept_count(align256(static_cast<size_t>(g.lines() * g.max_keep) * 4)),
        first_row(kept_count + align256(static_cast<size_t>(g.lines()) * 4)),
        total(first_row + static_cast<size_t>(g.lines()) * 8) {}
};

class NmsLayer : public Layer {
 public:
  NmsLayer(const Node& node, NmsGeometry g) : node_(detached_node(node)), g_(g) {}

  Status configure(ConfigureContext& ctx) override {
    const Shape& b = ctx.inputs[0].shape;
    const Shape& s = ctx.inputs[1].shape;
    if (b.size() != 3 || b[2] != 4 || s.size() != 3 || s[0] != b[0] || s[2] != b[1])
      return node_.error(StatusCode::kInvalidInput, "boxes must be [batch, N, 4] and scores [batch, classes, N], got " +
                                                        ctx.inputs[0].describe() + " and " + ctx.inputs[1].describe());
    NmsGeometry g = g_;
    g.batches = b[0];
    g.boxes = b[1];
    g.classes = s[1];
    g.max_keep = std::min(g_.max_keep, g.boxes);
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], Shape{g.lines() * g.max_keep, 3}, "selected_indices"));
    g_ = g;
    return ws_.plan(node_, true, g.items(), g.lines(), NmsParts(g).total, ctx.max_workspace_bytes, ctx.stream);
  }

  size_t workspace_bytes() const override { return ws_.total; }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (out.size() < 2) return node_.error(StatusCode::kRuntime, "internal: the row count output is missing");
    int64_t* total = out[1].as<int64_t>();
    const NmsGeometry g = g_;
    if (g.items() == 0 || g.max_keep == 0) {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(total, 0, sizeof(int64_t), rc.stream));
      return Status::Ok();
    }
    void* w = rc.workspace;
    KILN_RETURN_IF_ERROR(ws_.check(node_, w, rc.workspace_bytes));
    const NmsParts parts(g);
    int* kept = reinterpret_cast<int*>(ws_.extra_at(w));
    int* kept_count = reinterpret_cast<int*>(ws_.extra_at(w) + parts.kept_count);
    int64_t* first_row = reinterpret_cast<int64_t*>(ws_.extra_at(w) + parts.first_row);
    nms_pack<<<blocks_for(g.items()), 256, 0, rc.stream>>>(in[1].as<const float>(), ws_.keys_in_at(w),
                                                           ws_.pos_in_at(w), ws_.offsets_at(w), g);
    KILN_RETURN_IF_ERROR(check_launch("nms pack"));
    KILN_RETURN_IF_ERROR(ws_.sort(node_, w, rc.stream));
    nms_select<<<static_cast<unsigned>(g.lines()), 128, 0, rc.stream>>>(in[0].as<const float>(), ws_.keys_out_at(w),
                                                                        ws_.pos_out_at(w), kept, kept_count, g);
    KILN_RETURN_IF_ERROR(check_launch("nms select"));
    nms_write<<<1, 1024, 0, rc.stream>>>(kept, kept_count, first_row, out[0].as<int64_t>(), total, g);
    return check_launch("nms write");
  }

  std::string tactic() const override { return "kernel:greedy-nms"; }

 private:
  Node node_;
  NmsGeometry g_;
  SortWorkspace ws_;
};

// A constant scalar input (an initializer, a folded value or --inputValues), or `def` when the input is absent.
Expected<double> constant_scalar(LowerContext& ctx, size_t i, const char* what, double def) {
  if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::kUndefined) return def;
  const Tensor* t = ctx.take_constant(i);
  if (!t)
    return ctx.unsupported_here(std::string(what) + " computed at run time (the GPU lowering needs a constant; "
                                "--inputValues fixes it)");
  if (t->numel() == 0) return def;
  if (t->numel() != 1) return ctx.invalid(std::string(what) + " must hold one value, got " + t->describe());
  return t->get_as_double(0);
}

Expected<std::unique_ptr<Layer>> make_nms(LowerContext& ctx) {
  if (ctx.inputs.size() < 2 || ctx.outputs.empty()) return ctx.invalid("needs boxes and scores");
  NmsGeometry g;
  KILN_ASSIGN_OR_RETURN(int64_t center, ctx.node.attr_int("center_point_box", 0));
  g.center = center != 0;
  KILN_ASSIGN_OR_RETURN(double max_out, constant_scalar(ctx, 2, "max_output_boxes_per_class", 0));
  g.max_keep = std::max<int64_t>(0, static_cast<int64_t>(max_out));
  KILN_ASSIGN_OR_RETURN(g.iou, constant_scalar(ctx, 3, "iou_threshold", 0));
  if (g.iou < 0 || g.iou > 1) return ctx.invalid("iou_threshold must be in [0, 1], got " + std::to_string(g.iou));
  g.filter = ctx.inputs.size() > 4 && ctx.inputs[4].dtype != DType::kUndefined && ctx.constant(4) &&
             ctx.constant(4)->numel() > 0;
  KILN_ASSIGN_OR_RETURN(g.score_min, constant_scalar(ctx, 4, "score_threshold", 0));
  // Boxes and scores in float32 whatever the engine's precision: the kept set is decided on the same values as
  // the CPU reference's (an fp16 engine rounds them before they get here, as its layers compute them).
  KILN_RETURN_IF_ERROR(ctx.require_input(0, DType::kFloat32, Layout::kRowMajor));
  KILN_RETURN_IF_ERROR(ctx.require_input(1, DType::kFloat32, Layout::kRowMajor));
  const Shape& b = ctx.inputs[0].shape;
  const Shape& s = ctx.inputs[1].shape;
  if (b.size() != 3 || s.size() != 3)
    return ctx.invalid("boxes must be [batch, N, 4] and scores [batch, classes, N], got " + ctx.inputs[0].describe() +
                       " and " + ctx.inputs[1].describe());
  ctx.outputs[0].dtype = DType::kInt64;
  ctx.outputs[0].layout = Layout::kRowMajor;
  ctx.set_output_bound(0, Shape{b[0] * s[1] * std::min(g.max_keep, b[1]), 3});
  return std::unique_ptr<Layer>(std::make_unique<NmsLayer>(ctx.node, g));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(nms, CudaLoweringDef{"NonMaxSuppression", "", make_nms});

}  // namespace kiln::cuda
