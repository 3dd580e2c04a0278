// kiln report's accuracy side: kiln.accuracy/1 documents (kiln accuracy --json) -> the accuracy tables, the
// top-1/top-k chart data and the confusion-matrix heatmap cells, and the Markdown accuracy tables.
#include <fmt/format.h>

#include "bench/report.h"
#include "bench/result.h"

namespace kiln::bench {

using nlohmann::json;

namespace {

json number_or_null(const json& v) { return v.is_number() ? v : json(nullptr); }

std::string str(const json& v, const std::string& fallback = "") {
  return v.is_string() ? v.get<std::string>() : fallback;
}

// k of the top-k accuracy, when the document records it (at the top or per backend); else null.
json top_k(const json& doc) {
  if (json_at(doc, {"k"}).is_number_integer()) return json_at(doc, {"k"});
  const json& b = json_at(doc, {"backends"});
  if (b.is_array() && !b.empty() && json_at(b[0], {"k"}).is_number_integer()) return json_at(b[0], {"k"});
  return nullptr;
}

std::string topk_label(const json& k) { return k.is_number() ? "top-" + k.dump() : "top-k"; }

json backend_row(const json& b) {
  const json& conf = json_at(b, {"confusion"});
  return {{"name", str(json_at(b, {"name"}), "?")},
          {"description", str(json_at(b, {"description"}))},
          {"classes", json_at(b, {"classes"}).is_number() ? json_at(b, {"classes"}) : json(conf.size())},
          {"top1", number_or_null(json_at(b, {"top1"}))},
          {"topk", number_or_null(json_at(b, {"topk"}))},
          {"macro_precision", number_or_null(json_at(b, {"macro", "precision"}))},
          {"macro_recall", number_or_null(json_at(b, {"macro", "recall"}))},
          {"macro_f1", number_or_null(json_at(b, {"macro", "f1"}))},
          {"micro_f1", number_or_null(json_at(b, {"micro", "f1"}))},
          {"macro_roc_auc", number_or_null(json_at(b, {"macro", "roc_auc"}))},
          {"agreement", number_or_null(json_at(b, {"agreement_with_reference"}))}};
}

// Every cell of a [true][predicted] matrix, with the share of its row (the recall of the true class).
json heatmap_cells(const json& conf) {
  json cells = json::array();
  for (size_t t = 0; t < conf.size(); ++t) {
    double row = 0;
    for (const auto& v : conf[t]) row += v.get<double>();
    for (size_t p = 0; p < conf[t].size(); ++p) {
      const double count = conf[t][p].get<double>();
      cells.push_back({{"true_class", t},
                       {"predicted_class", p},
                       {"count", conf[t][p]},
                       {"share", row > 0 ? json(count / row) : json(nullptr)}});
    }
  }
  return cells;
}

}  // namespace

std::string accuracy_document_problem(const json& doc) {
  const json& backends = json_at(doc, {"backends"});
  if (!backends.is_array()) return "without a backends array";
  if (backends.empty()) return "with no backends";
  for (size_t i = 0; i < backends.size(); ++i) {
    const json& b = backends[i];
    const std::string which = fmt::format("whose backend {} ({})", i, str(json_at(b, {"name"}), "unnamed"));
    if (!b.is_object() || !json_at(b, {"name"}).is_string()) return fmt::format("whose backend {} has no name", i);
    for (const char* k : {"top1", "topk"})
      if (!json_at(b, {k}).is_number()) return which + " has no number " + k;
    const json& conf = json_at(b, {"confusion"});
    if (!conf.is_array() || conf.empty()) return which + " has no confusion matrix";
    for (const auto& row : conf) {
      if (!row.is_array() || row.size() != conf.size()) return which + " has a confusion matrix that is not square";
      for (const auto& v : row)
        if (!v.is_number()) return which + " has a confusion matrix entry that is not a number";
    }
  }
  return "";
}

json accuracy_data(const std::vector<json>& docs) {
  json out = json::array();
  for (const json& doc : docs) {
    const json& backends = json_at(doc, {"backends"});
    const json k = top_k(doc);
    json a = {{"file", str(json_at(doc, {"_file"}))},
              {"model", str(json_at(doc, {"model"}), "?")},
              {"dataset", str(json_at(doc, {"dataset"}), "?")},
              {"labels", str(json_at(doc, {"labels"}), "?")},
              {"output", str(json_at(doc, {"output"}), "?")},
              {"samples", number_or_null(json_at(doc, {"samples"}))},
              {"k", k},
              {"topk_label", topk_label(k)},
              {"reference", str(json_at(backends[0], {"name"}), "?")},
              {"classes", json_at(backends[0], {"confusion"}).size()},
              {"backends", json::array()},
              {"bars", json::array()},
              {"confusion", json::array()},
              {"confusion_note", nullptr}};
    for (const json& b : backends) {
      json row = backend_row(b);
      a["bars"].push_back({{"backend", row["name"]}, {"metric", "top-1"}, {"value", row["top1"]}});
      a["bars"].push_back({{"backend", row["name"]}, {"metric", a["topk_label"]}, {"value", row["topk"]}});
      a["backends"].push_back(std::move(row));
    }
    // Heatmaps: every backend when there are few, else the reference and the last (usually the most optimized).
    std::vector<size_t> shown;
    for (size_t i = 0; i < backends.size(); ++i)
      if (backends.size() <= 3 || i == 0 || i + 1 == backends.size()) shown.push_back(i);
    const int64_t classes = a["classes"].get<int64_t>();
    if (classes > kMaxHeatmapClasses) {
      a["confusion_note"] = fmt::format(
          "{} classes: too many for a readable heatmap (at most {}); the matrices are "
          "in {} (backends[].confusion)",
          classes, kMaxHeatmapClasses, a["file"].get<std::string>());
    } else {
      for (size_t i : shown)
        a["confusion"].push_back(
            {{"backend", a["backends"][i]["name"]}, {"cells", heatmap_cells(json_at(backends[i], {"confusion"}))}});
      if (shown.size() < backends.size())
        a["confusion_note"] =
            fmt::format("{} backends: the heatmaps show the first ({}) and the last ({})", backends.size(),
                        a["backends"][0]["name"].get<std::string>(), a["backends"].back()["name"].get<std::string>());
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::string markdown_accuracy(const json& data) {
  const json& acc = json_at(data, {"accuracy"});
  if (!acc.is_array()) return "";
  auto pct = [](const json& v) { return v.is_number() ? fmt::format("{:.2f}%", 100 * v.get<double>()) : "–"; };
  auto num = [](const json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : "–"; };
  std::string md;
  for (const json& a : acc) {
    md += fmt::format("\nAccuracy of {} on {} ({} samples; agreement: top-1 equal to {}'s; {}):\n\n",
                      a["model"].get<std::string>(), a["dataset"].get<std::string>(),
                      a["samples"].is_number() ? a["samples"].dump() : "?", a["reference"].get<std::string>(),
                      a["file"].get<std::string>());
    md += fmt::format(
        "| backend | top-1 | {} | macro P | macro R | macro F1 | micro F1 | macro ROC-AUC | agreement |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        a["topk_label"].get<std::string>());
    for (const json& b : a["backends"])
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", b["name"].get<std::string>(),
                        pct(b["top1"]), pct(b["topk"]), num(b["macro_precision"]), num(b["macro_recall"]),
                        num(b["macro_f1"]), num(b["micro_f1"]), num(b["macro_roc_auc"]), pct(b["agreement"]));
  }
  return md;
}

}  // namespace kiln::bench
