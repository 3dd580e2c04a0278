// Program: shape re-inference for new input shapes, the liveness-based memory plan, layer configuration
// (with tactic tuning on real activations at build time) and the enqueue loop that sessions capture.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cuda/program.h"
#include "ops/registry.h"

namespace kiln::cuda {

void Program::restore_symbolic_shapes() {
  for (auto& sv : saved_values) {
    sv.value->shape = sv.shape;
    sv.value->dims_value = sv.dims_value;
    sv.value->constant.reset();
  }
}

Status Program::set_shapes(const ShapeMap& inputs) {
  restore_symbolic_shapes();
  for (const auto& [name, dims] : inputs) {
    bool found = false;
    for (const Value* v : graph->inputs) found |= v->name == name;
    if (!found) {
      std::string names;
      for (const Value* v : graph->inputs) names += (names.empty() ? "" : ", ") + v->name;
      return invalid_input(fmt::format("the model has no input named '{}' (its inputs: {})", name, names));
    }
  }
  for (Value* v : graph->inputs) {
    auto it = inputs.find(v->name);
    if (it == inputs.end()) {
      if (!v->shape.is_static())
        return invalid_input(fmt::format("input '{}' has dynamic dims {}: give its shape (e.g. --shapes={}:1x3x224x224)",
                                         v->name, v->shape.to_string(), v->name));
      continue;
    }
    if (!v->shape.accepts(it->second))
      return invalid_input(fmt::format("input '{}' is declared {}, so it cannot take shape {}", v->name,
                                       v->shape.to_string(), shape_to_string(it->second)));
    v->shape = SymShape::from(it->second);
  }
  KILN_RETURN_IF_ERROR(infer_shapes(*graph));
  for (Slot& s : slots) {
    if (s.constant || s.rows_count >= 0 || s.rows_of >= 0) continue;  // bounded rows: sized once at lowering
    const Value* v = graph->find_value(s.value);
    if (!v) return runtime_error("internal: slot of unknown value " + s.value);
    auto st = v->shape.to_static();
    if (!st)
      return invalid_input(fmt::format("the shape of '{}' is {} at these input shapes; the GPU engine needs it known",
                                       v->name, v->shape.to_string()));
    s.desc.shape = *st;
  }
  return Status::Ok();
}

ShapeMap Program::current_input_shapes() const {
  ShapeMap m;
  for (int s : input_slots) m[slots[s].value] = slots[s].desc.shape;
  return m;
}

void Program::record_plan_bytes() {
  for (Slot& s : slots)
    if (!s.constant) s.plan_bytes = std::max(s.plan_bytes, s.desc.bytes());
}

void Program::plan_memory() {
  constexpr size_t kAlign = 256;
  auto root = [&](int s) {
    while (slots[s].alias_of >= 0) s = slots[s].alias_of;
    return s;
  };
  const int end = static_cast<int>(layers.size());
  for (Slot& s : slots) s.first_use = s.last_use = -2;
  auto touch = [&](int s, int at) {
    Slot& r = slots[root(s)];
    if (r.first_use == -2) r.first_use = r.last_use = at;
    r.first_use = std::min(r.first_use, at);
    r.last_use = std::max(r.last_use, at);
  };
  for (int li = 0; li < end; ++li) {
    for (int s : layers[li].inputs)
      if (s >= 0) touch(s, li);
    for (int s : layers[li].outputs)
      if (s >= 0) touch(s, li);
  }
  for (int s : input_slots) touch(s, -1);
  for (int s : output_slots) {
    touch(s, end);
    if (slots[s].rows_count >= 0) touch(slots[s].rows_count, end);  // sessions read the count after the run
  }
  // Views keep their root alive and make it big enough.
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].alias_of >= 0) {
      Slot& r = slots[root(static_cast<int>(i))];
      r.plan_bytes = std::max(r.plan_bytes, slots[i].plan_bytes);
    }
  std::vector<int> order;
  for (size_t i = 0; i < slots.size(); ++i)
    if (!slots[i].constant && slots[i].alias_of < 0 && slots[i].first_use != -2) order.push_back(static_cast<int>(i));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return slots[a].plan_bytes > slots[b].plan_bytes; });
  std::vector<int> placed;
  arena_bytes = 0;
  for (int id : order) {
    Slot& s = slots[id];
    const size_t size = (std::max<size_t>(s.plan_bytes, 1) + kAlign - 1) / kAlign * kAlign;
    // Intervals of live, already placed buffers, sorted by offset; take the lowest gap that fits.
    std::vector<std::pair<size_t, size_t>> busy;
    for (int p : placed) {
      const Slot& o = slots[p];
      if (o.last_use < s.first_use || s.last_use < o.first_use) continue;
      const size_t osize = (std::max<size_t>(o.plan_bytes, 1) + kAlign - 1) / kAlign * kAlign;
      busy.emplace_back(static_cast<size_t>(o.arena_offset), static_cast<size_t>(o.arena_offset) + osize);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    s.arena_offset = static_cast<int64_t>(offset);
    arena_bytes = std::max(arena_bytes, offset + size);
    placed.push_back(id);
  }
  for (Slot& s : slots)
    if (s.alias_of >= 0) s.arena_offset = slots[root(static_cast<int>(&s - slots.data()))].arena_offset;
}

void* Program::slot_data(int slot, void* arena) const {
  int s = slot;
  while (slots[s].alias_of >= 0) s = slots[s].alias_of;
  if (slots[s].constant) return slots[s].constant_data.get();
  if (slots[s].arena_offset < 0) return nullptr;
  return static_cast<uint8_t*>(arena) + slots[s].arena_offset;
}

DeviceTensor Program::slot_tensor(int slot, void* arena) const {
  if (slot < 0) return DeviceTensor{};
  return DeviceTensor{slots[slot].desc, slot_data(slot, arena)};
}

Status Program::configure(cudaStream_t stream, bool tune, size_t max_workspace, void* arena, void* workspace,
                          const std::function<void(const std::string&)>& progress) {
  workspace_bytes = 0;
  if (handles.cudnn) KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(handles.cudnn, stream));
  for (size_t li = 0; li < layers.size(); ++li) {
    LayerEntry& e = layers[li];
    e.empty = !e.outputs.empty();
    for (int s : e.outputs) e.empty = e.empty && s >= 0 && slots[s].desc.numel() == 0;
    if (e.empty) continue;  // zero-sized outputs: no descriptors, no tactic, no launch
    ConfigureContext ctx;
    for (int s : e.inputs) ctx.inputs.push_back(s >= 0 ? slots[s].desc : TensorDesc{});
    for (int s : e.outputs) ctx.outputs.push_back(s >= 0 ? slots[s].desc : TensorDesc{});
    ctx.handles = handles;
    ctx.stream = stream;
    ctx.max_workspace_bytes = max_workspace;
    ctx.tune = tune && !e.tactic_fixed;
    ctx.optimization_level = optimization_level;
    if (tune) {
      for (int s : e.inputs) ctx.sample_inputs.push_back(slot_tensor(s, arena));
      for (int s : e.outputs) ctx.sample_outputs.push_back(slot_tensor(s, arena));
      ctx.sample_workspace = workspace;
      ctx.tactic_log = tactic_log;
    }
    if (tune && progress && (e.op.find("Conv") != std::string::npos || e.op.find("Gemm") != std::string::npos ||
                             e.op == "MatMul"))
      progress(fmt::format("tuning layer {}/{}: {} ({})", li + 1, layers.size(), e.key, e.op));
    const auto t0 = std::chrono::steady_clock::now();
    KILN_RETURN_IF_ERROR(e.layer->configure(ctx).with_context("layer '" + e.key + "' (" + e.op + "): "));
    if (ctx.tune && tactic_log) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (ms >= 1) tactic_log(fmt::format("  {} ({}): configured in {:.0f} ms", e.key, e.op, ms));
    }
    const size_t ws = e.layer->workspace_bytes();
    if (ws > max_workspace)
      return runtime_error(fmt::format("layer '{}' needs {:.1f} MiB of workspace, over the {:.1f} MiB limit "
                                       "(raise --memPoolSize=workspace:N)",
                                       e.key, ws / 1048576.0, max_workspace / 1048576.0));
    workspace_bytes = std::max(workspace_bytes, ws);
    if (tune) {  // run it so the next layer tunes on real activations
      RunContext rc{stream, handles, workspace, max_workspace};
      std::vector<DeviceTensor> in = ctx.sample_inputs, out = ctx.sample_outputs;
      KILN_RETURN_IF_ERROR(e.layer->enqueue(rc, in, out).with_context("layer '" + e.key + "': "));
      KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    }
  }
  return Status::Ok();
}

Status Program::enqueue(cudaStream_t stream, void* arena, void* workspace,
                        std::vector<std::pair<std::string, float>>* profile) const {
  if (handles.cudnn) KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(handles.cudnn, stream));
  RunContext rc{stream, handles, workspace, workspace_bytes};
  cudaEvent_t start = nullptr, stop = nullptr;
  if (profile) {
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  }
  Status st;
  for (const LayerEntry& e : layers) {
    if (e.empty) continue;
    std::vector<DeviceTensor> in, out;
    for (int s : e.inputs) in.push_back(slot_tensor(s, arena));
    for (int s : e.outputs) out.push_back(slot_tensor(s, arena));
    if (profile) cudaEventRecord(start, stream);
    st = e.layer->enqueue(rc, in, out).with_context("layer '" + e.key + "' (" + e.op + "): ");
    if (!st.ok()) break;
    if (profile) {
      cudaEventRecord(stop, stream);
      st = cuda_status(cudaEventSynchronize(stop), "profiling a layer");
      if (!st.ok()) break;
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      profile->emplace_back(e.key, ms);
    }
  }
  if (profile) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  return st;
}

}  // namespace kiln::cuda
