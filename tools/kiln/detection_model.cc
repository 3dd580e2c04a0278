// A detector on each backend, one image per run (detection outputs are per image, and torchvision's exports
// take one): feeds cut from the .npz, outputs decoded from x1,y1,x2,y2 pixels into COCO [x, y, w, h].
#include "tools/kiln/detection_model.h"

#include <cmath>
#include <map>
#include <sstream>

#include "compare/backends.h"
#include "compare/metrics.h"
#include "core/npy.h"
#include "onnx/importer.h"
#include "tools/kiln/backend_list.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {
namespace {

// Every image's feeds. `images` rows are expected in each member.
Expected<std::vector<TensorMap>> image_feeds(const DetectorArgs& a, const Graph& g, size_t images) {
  KILN_ASSIGN_OR_RETURN(NamedTensors data, read_npz(a.dataset));
  std::map<std::string, Tensor> by_input;
  for (auto& [name, t] : data) by_input[g.inputs.size() == 1 && data.size() == 1 ? g.inputs[0]->name : name] = t;
  std::vector<TensorMap> sets(images);
  for (const Value* in : g.inputs) {
    auto it = by_input.find(in->name);
    if (it == by_input.end()) return invalid_input(a.dataset + " has no member for input '" + in->name + "'");
    Tensor t = it->second;
    if (t.rank() < 1 || static_cast<size_t>(t.dim(0)) != images)
      return invalid_input(a.dataset + " member for input '" + in->name + "' is " + t.describe() + "; expected " +
                           std::to_string(images) + " images along dim 0 (one per image of the annotation file)");
    const int64_t rank = static_cast<int64_t>(in->shape.dims.size());
    if (in->shape.rank_known && rank != t.rank() && rank != t.rank() - 1)
      return invalid_input(a.dataset + " member for input '" + in->name + "' is " + t.describe() +
                           "; the input is rank " + std::to_string(rank));
    const bool drop_batch = in->shape.rank_known && rank == t.rank() - 1;
    if (t.dtype() != in->dtype) {
      if (in->dtype != DType::kFloat32)
        return invalid_input(a.dataset + " member for input '" + in->name + "' is " + t.describe() +
                             ", the input wants another dtype");
      const std::vector<double> v = tensor_to_doubles(t);
      t = Tensor::from_vector<float>(t.shape(), std::vector<float>(v.begin(), v.end()));
    }
    Shape row_shape = t.shape();
    if (drop_batch)
      row_shape.erase(row_shape.begin());
    else
      row_shape[0] = 1;
    const size_t row = t.nbytes() / images;
    for (size_t i = 0; i < images; ++i) {
      KILN_ASSIGN_OR_RETURN(
          Tensor r, Tensor::from_bytes(t.dtype(), row_shape, static_cast<const uint8_t*>(t.raw()) + row * i, row));
      sets[i][in->name] = std::move(r);
    }
  }
  return sets;
}

// One image's outputs: boxes [N, 4] (or [1, N, 4]) x1, y1, x2, y2; scores and labels [N] (or [1, N]).
Status decode(const TensorMap& out, const DetectorArgs& a, int64_t image_id, std::vector<CocoDetection>& dets) {
  const Tensor* t[3] = {nullptr, nullptr, nullptr};
  const std::string* names[3] = {&a.boxes, &a.scores, &a.labels};
  for (int k = 0; k < 3; ++k) {
    auto it = out.find(*names[k]);
    if (it == out.end())
      return invalid_input("the model has no output '" + *names[k] +
                           "' (name the outputs with --boxes, --scores "
                           "and --labels)");
    t[k] = &it->second;
  }
  const std::vector<double> boxes = tensor_to_doubles(*t[0]), scores = tensor_to_doubles(*t[1]),
                            labels = tensor_to_doubles(*t[2]);
  const size_t n = scores.size();
  const bool box_shape = t[0]->rank() >= 1 && t[0]->dim(t[0]->rank() - 1) == 4;
  if (!box_shape || boxes.size() != 4 * n || labels.size() != n)
    return invalid_input("image " + std::to_string(image_id) + ": outputs " + t[0]->describe() + ", " +
                         t[1]->describe() + ", " + t[2]->describe() +
                         " are not boxes [N, 4], scores [N], labels [N] of one N");
  for (size_t j = 0; j < n; ++j) {
    CocoDetection d;
    d.image_id = image_id;
    d.category_id = std::llround(labels[j]);
    d.bbox = {boxes[4 * j], boxes[4 * j + 1], boxes[4 * j + 2] - boxes[4 * j], boxes[4 * j + 3] - boxes[4 * j + 1]};
    d.score = scores[j];
    if (!(d.bbox.w >= 0 && d.bbox.h >= 0 && std::isfinite(d.score)))
      return invalid_input("image " + std::to_string(image_id) + ", detection " + std::to_string(j) +
                           ": box is not x1, y1, x2, y2 with x2 >= x1 and y2 >= y1, or its score is not finite");
    dets.push_back(d);
  }
  return Status::Ok();
}

}  // namespace

Expected<std::vector<DetectorRun>> run_detector(const DetectorArgs& a, const std::vector<int64_t>& image_ids) {
  KILN_ASSIGN_OR_RETURN(std::vector<BackendSpec> specs, parse_backend_list(a.backends));
  KILN_ASSIGN_OR_RETURN(GraphLoader loader, shape_override_loader(a.shapes));
  KILN_ASSIGN_OR_RETURN(auto graph, loader(a.model));
  KILN_ASSIGN_OR_RETURN(auto sets, image_feeds(a, *graph, image_ids.size()));
  std::vector<DetectorRun> runs;
  for (const BackendSpec& spec : specs) {
    KILN_ASSIGN_OR_RETURN(auto runner, make_backend(spec, a.model, loader));
    auto outs = runner->run(sets);
    if (!outs.ok()) return outs.status().with_context("backend " + spec.name + ": ");
    DetectorRun r{spec.name, runner->description(), {}};
    for (size_t i = 0; i < outs->size(); ++i) {
      const Status s = decode((*outs)[i], a, image_ids[i], r.detections);
      if (!s.ok()) return s.with_context("backend " + spec.name + ": ");
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace kiln::cli
