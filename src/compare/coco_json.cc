// Reading COCO annotation and results files into the detection metrics' structures, strictly: a file that
// scores wrongly because an id or box was silently skipped is worse than one that is refused.
#include "compare/coco_json.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kiln {
namespace {

using json = nlohmann::json;

Expected<json> parse_json(const std::string& text, const std::string& name) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return invalid_input(name + ": not valid JSON (" + e.what() + ")");
  }
}

Expected<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_input(path + ": cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A required integer member; `what` names the entry ("annotations[3]").
Expected<int64_t> get_id(const json& o, const char* key, const std::string& what) {
  auto it = o.find(key);
  if (it == o.end()) return invalid_input(what + " has no '" + key + "'");
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float() && it->get<double>() == static_cast<double>(static_cast<int64_t>(it->get<double>())))
    return static_cast<int64_t>(it->get<double>());
  return invalid_input(what + ": '" + key + "' is " + it->dump() + ", not an integer id");
}

Expected<CocoBox> get_bbox(const json& o, const std::string& what) {
  auto it = o.find("bbox");
  if (it == o.end()) return invalid_input(what + " has no 'bbox'");
  if (!it->is_array() || it->size() != 4 ||
      !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_number(); }))
    return invalid_input(what + ": 'bbox' is " + it->dump() + ", not 4 numbers [x, y, width, height]");
  CocoBox b{(*it)[0].get<double>(), (*it)[1].get<double>(), (*it)[2].get<double>(), (*it)[3].get<double>()};
  if (b.w < 0 || b.h < 0)
    return invalid_input(what + ": 'bbox' " + it->dump() + " has a negative " + (b.w < 0 ? "width" : "height"));
  return b;
}

Expected<double> get_number(const json& o, const char* key, const std::string& what, double fallback, bool required) {
  auto it = o.find(key);
  if (it == o.end()) {
    if (required) return invalid_input(what + " has no '" + key + "'");
    return fallback;
  }
  if (!it->is_number() && !it->is_boolean())
    return invalid_input(what + ": '" + key + "' is " + it->dump() + ", not a number");
  return it->is_boolean() ? (it->get<bool>() ? 1.0 : 0.0) : it->get<double>();
}

Expected<const json*> get_array(const json& doc, const char* key, const std::string& name) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_array())
    return invalid_input(name + ": no '" + key + "' array (is it a COCO annotation file?)");
  return &*it;
}

}  // namespace

std::vector<int64_t> CocoDataset::image_ids() const {
  std::vector<int64_t> ids;
  for (const CocoImage& i : images) ids.push_back(i.id);
  return ids;
}

std::vector<int64_t> CocoDataset::category_ids() const {
  std::vector<int64_t> ids;
  for (const CocoCategory& c : categories) ids.push_back(c.id);
  return ids;
}

std::string CocoDataset::category_name(int64_t id) const {
  for (const CocoCategory& c : categories)
    if (c.id == id) return c.name;
  return "";
}

Expected<CocoDataset> parse_coco_annotations(const std::string& text, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(json doc, parse_json(text, name));
  if (!doc.is_object())
    return invalid_input(name + ": a COCO annotation file is an object with images, annotations and categories");
  CocoDataset d;
  std::set<int64_t> image_ids, category_ids;
  KILN_ASSIGN_OR_RETURN(const json* images, get_array(doc, "images", name));
  for (size_t n = 0; n < images->size(); ++n) {
    const json& o = (*images)[n];
    const std::string what = name + ": images[" + std::to_string(n) + "]";
    if (!o.is_object()) return invalid_input(what + " is not an object");
    CocoImage im;
    KILN_ASSIGN_OR_RETURN(im.id, get_id(o, "id", what));
    if (!image_ids.insert(im.id).second) return invalid_input(what + " repeats image id " + std::to_string(im.id));
    if (o.contains("file_name") && o["file_name"].is_string()) im.file_name = o["file_name"].get<std::string>();
    if (o.contains("width") && o["width"].is_number_integer()) im.width = o["width"].get<int64_t>();
    if (o.contains("height") && o["height"].is_number_integer()) im.height = o["height"].get<int64_t>();
    d.images.push_back(im);
  }
  KILN_ASSIGN_OR_RETURN(const json* categories, get_array(doc, "categories", name));
  for (size_t n = 0; n < categories->size(); ++n) {
    const json& o = (*categories)[n];
    const std::string what = name + ": categories[" + std::to_string(n) + "]";
    if (!o.is_object()) return invalid_input(what + " is not an object");
    CocoCategory c;
    KILN_ASSIGN_OR_RETURN(c.id, get_id(o, "id", what));
    if (!category_ids.insert(c.id).second) return invalid_input(what + " repeats category id " + std::to_string(c.id));
    if (o.contains("name") && o["name"].is_string()) c.name = o["name"].get<std::string>();
    d.categories.push_back(c);
  }
  KILN_ASSIGN_OR_RETURN(const json* annotations, get_array(doc, "annotations", name));
  for (size_t n = 0; n < annotations->size(); ++n) {
    const json& o = (*annotations)[n];
    const std::string what = name + ": annotations[" + std::to_string(n) + "]";
    if (!o.is_object()) return invalid_input(what + " is not an object");
    CocoGroundTruth g;
    KILN_ASSIGN_OR_RETURN(g.image_id, get_id(o, "image_id", what));
    KILN_ASSIGN_OR_RETURN(g.category_id, get_id(o, "category_id", what));
    KILN_ASSIGN_OR_RETURN(g.bbox, get_bbox(o, what));
    KILN_ASSIGN_OR_RETURN(g.area, get_number(o, "area", what, g.bbox.w * g.bbox.h, false));
    KILN_ASSIGN_OR_RETURN(double crowd, get_number(o, "iscrowd", what, 0, false));
    g.iscrowd = crowd != 0;
    if (!image_ids.count(g.image_id))
      return invalid_input(what + " names image_id " + std::to_string(g.image_id) + ", which 'images' does not list");
    if (!category_ids.count(g.category_id))
      return invalid_input(what + " names category_id " + std::to_string(g.category_id) +
                           ", which 'categories' does not list");
    d.annotations.push_back(g);
  }
  return d;
}

Expected<std::vector<CocoDetection>> parse_coco_results(const std::string& text, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(json doc, parse_json(text, name));
  if (!doc.is_array())
    return invalid_input(name + ": a COCO results file is an array of {image_id, category_id, bbox, score}");
  std::vector<CocoDetection> out;
  for (size_t n = 0; n < doc.size(); ++n) {
    const json& o = doc[n];
    const std::string what = name + ": entry " + std::to_string(n);
    if (!o.is_object()) return invalid_input(what + " is not an object");
    CocoDetection d;
    KILN_ASSIGN_OR_RETURN(d.image_id, get_id(o, "image_id", what));
    KILN_ASSIGN_OR_RETURN(d.category_id, get_id(o, "category_id", what));
    KILN_ASSIGN_OR_RETURN(d.bbox, get_bbox(o, what));
    KILN_ASSIGN_OR_RETURN(d.score, get_number(o, "score", what, 0, true));
    out.push_back(d);
  }
  return out;
}

Expected<CocoDataset> read_coco_annotations(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, read_text(path));
  return parse_coco_annotations(text, path);
}

Expected<std::vector<CocoDetection>> read_coco_results(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, read_text(path));
  return parse_coco_results(text, path);
}

std::vector<CocoGroundTruth> detections_as_ground_truth(const std::vector<CocoDetection>& detections,
                                                        double min_score) {
  std::vector<CocoGroundTruth> out;
  for (const CocoDetection& d : detections)
    if (d.score >= min_score) {
      CocoGroundTruth g;
      g.image_id = d.image_id;
      g.category_id = d.category_id;
      g.bbox = d.bbox;
      g.area = d.bbox.w * d.bbox.h;
      out.push_back(g);
    }
  return out;
}

std::string coco_results_text(const std::vector<CocoDetection>& detections) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  for (const CocoDetection& d : detections)
    doc.push_back({{"image_id", d.image_id},
                   {"category_id", d.category_id},
                   {"bbox", {d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h}},
                   {"score", d.score}});
  return doc.dump(1) + "\n";
}

}  // namespace kiln
