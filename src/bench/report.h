// kiln report: reads kiln.bench/1 documents (kiln bench --json, kiln sweep cells, peers) and kiln.accuracy/1
// documents (kiln accuracy --json), flattens them into the rows the charts and the Markdown tables use, and
// assembles the self-contained HTML page.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::bench {

struct ReportOptions {
  std::string baseline;       // "torch-graph:fp16", "cuda:fp16", ...; empty: torch fp16 if present, else first
  size_t max_samples = 2000;  // latency samples per case kept in the page (evenly subsampled beyond)
  std::string title = "kiln benchmark report";
};

constexpr const char* kAccuracySchema = "kiln.accuracy/1";

// What a results folder holds, each list sorted by file name; every document gets "_file" (its file name).
struct Results {
  std::string dir;
  std::vector<nlohmann::json> bench;     // kiln.bench/1
  std::vector<nlohmann::json> accuracy;  // kiln.accuracy/1
  // One line per *.json that is skipped because it cannot be read: not valid JSON (e.g. truncated), or a
  // kiln.bench/1 / kiln.accuracy/1 document that lacks what the report needs. Other JSON files are ignored.
  std::vector<std::string> warnings;
};

// Every *.json under `dir` (not recursive) whose schema is kiln.bench/1 or kiln.accuracy/1. kInvalidInput when
// `dir` is not a folder or holds neither kind.
Expected<Results> read_results(const std::string& dir);

// Why a document with schema kiln.accuracy/1 cannot be shown ("" when it can): backends[] of objects with a
// name, top1, topk and a square confusion matrix.
std::string accuracy_document_problem(const nlohmann::json& doc);

// The page's data: rows (one per case), samples, GPU series, layers, engine memory, environment, baseline,
// accuracy (accuracy_data) and results_dir. A case's label is "backend precision" ("torch-graph fp16");
// acceleration = baseline median / median at the same batch and shape.
nlohmann::json report_data(const Results& results, const ReportOptions& o);
nlohmann::json report_data(const std::vector<nlohmann::json>& bench, const ReportOptions& o);

// One entry per kiln.accuracy/1 document: file, model, dataset, labels, output, samples, k (null when the
// document does not say), reference (the first backend), backends [{name, description, classes, top1, topk,
// macro_precision, macro_recall, macro_f1, micro_f1, macro_roc_auc, agreement}], bars [{backend, metric,
// value}] for the top-1/top-k chart, and confusion [{backend, cells [{true_class, predicted_class, count,
// share}]}] for the heatmaps: every backend when there are at most 3, else the first and the last; none
// (confusion_note says why) beyond kMaxHeatmapClasses classes.
constexpr int64_t kMaxHeatmapClasses = 64;
nlohmann::json accuracy_data(const std::vector<nlohmann::json>& docs);

// The Markdown summary: report_data's rows, then one accuracy table per accuracy document.
std::string markdown_summary(const nlohmann::json& data);
// The accuracy tables alone ("" without accuracy documents).
std::string markdown_accuracy(const nlohmann::json& data);

// Fills the template's @@TITLE@@, @@DATA@@, @@VEGA@@, @@VEGA_LITE@@, @@VEGA_EMBED@@, @@REPORT_JS@@, @@LICENSES@@.
// "</" inside inlined scripts and data is escaped so nothing ends a <script> element early.
std::string render_html(const std::string& tmpl, const nlohmann::json& data, const std::string& title,
                        const std::string& vega, const std::string& vega_lite, const std::string& vega_embed,
                        const std::string& report_js, const std::string& licenses);

// Standard base64 decoding (for the PNG data URLs the page exports); nullopt-like empty on bad input.
bool base64_decode(const std::string& in, std::string* out);

}  // namespace kiln::bench
