// CPU reference If: runs the chosen branch on the CPU reference with the node's captured inputs as feeds.
#include "cpu/executor.h"
#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

Status if_kernel(KernelContext& ctx) {
  const Tensor* cond = ctx.input(0);
  if (!cond || cond->numel() != 1)
    return ctx.invalid("the condition must hold one value, got " + (cond ? cond->describe() : std::string("none")));
  const char* key = cond->get_as_double(0) != 0 ? "then_branch" : "else_branch";
  const Attribute* a = ctx.node.attr(key);
  if (!a || !a->g) return ctx.unsupported_here(std::string("attribute '") + key + "' has no subgraph kiln imported");
  const Graph& branch = *a->g;
  if (branch.inputs.size() + 1 != ctx.inputs.size() || branch.outputs.size() != ctx.outputs.size())
    return ctx.invalid(std::string(key) + " does not match the node's inputs/outputs");
  TensorMap feeds;
  for (size_t j = 0; j < branch.inputs.size(); ++j) {
    if (!ctx.input(j + 1)) return ctx.invalid("captured input '" + branch.inputs[j]->name + "' is missing");
    feeds[branch.inputs[j]->name] = *ctx.input(j + 1);
  }
  auto out = run_cpu(branch, feeds);
  if (!out.ok()) return ctx.node.error(out.status().code(), std::string(key) + ": " + out.status().message());
  for (size_t i = 0; i < branch.outputs.size(); ++i) ctx.outputs[i] = (*out)[branch.outputs[i]->name];
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(control, CpuKernelDef{"If", "", if_kernel});

}  // namespace kiln::cpu
