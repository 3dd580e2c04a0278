// GPU test helpers: build a small graph, run it on the CUDA engine and on the CPU reference, compare.
// Tests are gtest cases in tests/gpu/<family>_test.cc; the whole binary exits 77 (skipped) without a GPU.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "core/random.h"
#include "cpu/executor.h"
#include "engine/builder.h"
#include "ir/graph.h"
#include "ops/registry.h"

namespace kiln::gputest {

// Largest |gpu - cpu| relative to max(|cpu|) over all elements, and the element count that exceeds
// atol + rtol * |cpu|.
struct Diff {
  double max_abs = 0, max_ref = 0;
  int64_t bad = 0, n = 0;
};
inline Diff diff(const Tensor& got, const Tensor& want, double atol, double rtol) {
  Diff d;
  auto g = got.to_float_vector(), w = want.to_float_vector();
  d.n = static_cast<int64_t>(w.size());
  if (g.size() != w.size()) {
    d.bad = d.n ? d.n : 1;
    return d;
  }
  for (size_t i = 0; i < w.size(); ++i) {
    const double e = std::fabs(double(g[i]) - double(w[i]));
    d.max_abs = std::max(d.max_abs, e);
    d.max_ref = std::max(d.max_ref, std::fabs(double(w[i])));
    if (!(e <= atol + rtol * std::fabs(double(w[i])))) ++d.bad;
  }
  return d;
}

// Runs `graph` on the CPU reference and on a CUDA engine of `precision`, then checks every graph output
// with atol/rtol; the graph is shape-inferred first. Returns a failure message or "" when it agrees.
inline std::string check_against_cpu(std::unique_ptr<Graph> graph, const TensorMap& feeds, const std::string& precision,
                                     double atol, double rtol) {
  Status st = infer_shapes(*graph);
  if (!st.ok()) return "infer: " + st.to_string();
  auto want = run_cpu(*graph, feeds);
  if (!want.ok()) return "cpu: " + want.status().to_string();
  BuildOptions opt;
  opt.precision = precision;
  auto engine = build_engine(std::move(graph), opt);
  if (!engine.ok()) return "build: " + engine.status().to_string();
  auto got = run_engine(*engine, feeds);
  if (!got.ok()) return "run: " + got.status().to_string();
  std::string msg;
  for (auto& [name, w] : *want) {
    auto it = got->find(name);
    if (it == got->end()) {
      msg += "missing output " + name + "; ";
      continue;
    }
    if (it->second.shape() != w.shape()) {
      msg += name + ": shape " + it->second.describe() + " vs " + w.describe() + "; ";
      continue;
    }
    Diff d = diff(it->second, w, atol, rtol);
    if (d.bad)
      msg += name + ": " + std::to_string(d.bad) + "/" + std::to_string(d.n) + " elements off, max |diff| " +
             std::to_string(d.max_abs) + " (max |ref| " + std::to_string(d.max_ref) + "); ";
  }
  return msg;
}

// Seeded uniform float32 tensor in [lo, hi).
inline Tensor random_floats(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  auto t = Tensor::create(DType::kFloat32, shape).value();
  Rng rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rng.uniform_float();
  return t;
}

// Tolerances used across the GPU tests (docs/PERFORMANCE.md and the FP32 rule: rtol 1e-4).
constexpr double kFp32Rtol = 1e-4, kFp32Atol = 1e-5;
constexpr double kFp16Rtol = 1e-2, kFp16Atol = 2e-3;

}  // namespace kiln::gputest
