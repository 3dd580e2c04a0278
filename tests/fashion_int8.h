// The trained Fashion-MNIST classifiers (models/fashion) as the INT8 tests use them: the 16 real test images
// kept beside each model, and the model calibrated by kiln on those images (minmax, symmetric int8 QDQ: what
// `kiln build --int8` makes). Shared by the unit tests (fold_qdq_test.cc) and the GPU tests.
#pragma once

#include <memory>
#include <string>

#include "core/npy.h"
#include "ir/graph.h"
#include "onnx/importer.h"
#include "quant/histogram.h"
#include "quant/quantize_model.h"

namespace kiln::testing_fashion {

// {"input": float32 [16, 3, 64, 64]} from <dir>/<name>_qdq_ref.npz.
inline Expected<TensorMap> reference_images(const std::string& dir, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(NamedTensors ref, read_npz(dir + name + "_qdq_ref.npz"));
  for (auto& [key, t] : ref)
    if (key == "input") return TensorMap{{"input", std::move(t)}};
  return invalid_input(dir + name + "_qdq_ref.npz has no 'input'");
}

// <dir>/<name>.onnx calibrated on `images`.
inline Expected<std::unique_ptr<Graph>> calibrated(const std::string& dir, const std::string& name,
                                                   const TensorMap& images) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, load_onnx(dir + name + ".onnx"));
  quant::QuantizeRequest r;
  KILN_ASSIGN_OR_RETURN(r.method, quant::parse_calib_method("minmax"));
  r.batches = {images};
  KILN_RETURN_IF_ERROR(quant::quantize_graph(*g, r).status());
  return g;
}

}  // namespace kiln::testing_fashion
