// CPU reference kernels: registered per op family from src/cpu/kernels/<family>.cc, looked up by op name.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// What a kernel gets: the node (attributes, opset), its inputs (nullptr for omitted optionals) and
// one slot per node output to fill (kernels allocate outputs themselves: shapes can depend on data).
struct KernelContext {
  const Node& node;
  std::vector<const Tensor*> inputs;
  std::vector<Tensor> outputs;

  const Tensor* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  bool wants_output(size_t i) const { return node.output(i) != nullptr; }
  Status invalid(const std::string& m) const { return node.error(StatusCode::kInvalidInput, m); }
  Status unsupported_here(const std::string& m) const { return node.error(StatusCode::kUnsupported, m); }
};

using CpuKernel = std::function<Status(KernelContext&)>;

struct CpuKernelDef {
  std::string op_type;
  std::string domain;  // "" = ai.onnx
  CpuKernel run;
};

class CpuKernelRegistry {
 public:
  static CpuKernelRegistry& instance();
  void add(CpuKernelDef def);
  const CpuKernelDef* find(const std::string& op_type, const std::string& domain = "") const;

 private:
  std::vector<CpuKernelDef> defs_;
};

struct CpuKernelRegistrar {
  explicit CpuKernelRegistrar(std::vector<CpuKernelDef> defs) {
    for (auto& d : defs) CpuKernelRegistry::instance().add(std::move(d));
  }
};

}  // namespace kiln

#define KILN_REGISTER_CPU_KERNELS(family, ...) \
  static ::kiln::CpuKernelRegistrar kiln_cpu_registrar_##family(std::vector<::kiln::CpuKernelDef>{__VA_ARGS__})
