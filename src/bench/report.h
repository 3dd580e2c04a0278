// kiln report: reads kiln.bench/1 documents (kiln bench --json, kiln sweep cells, peers), flattens their cases
// into the rows the charts and the Markdown table use, and assembles the self-contained HTML page.
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

// Every *.json under `dir` (not recursive) whose schema is kiln.bench/1, sorted by file name; other JSON files
// are ignored. kInvalidInput when `dir` is not a folder or holds no results.
Expected<std::vector<nlohmann::json>> read_results(const std::string& dir);

// The page's data: rows (one per case), samples, GPU series, layers, engine memory, environment, baseline.
// A case's label is "backend precision" ("torch-graph fp16"); acceleration = baseline median / median at the
// same batch and shape.
nlohmann::json report_data(const std::vector<nlohmann::json>& docs, const ReportOptions& o);

// The Markdown summary table of report_data's rows.
std::string markdown_summary(const nlohmann::json& data);

// Fills the template's @@TITLE@@, @@DATA@@, @@VEGA@@, @@VEGA_LITE@@, @@VEGA_EMBED@@, @@REPORT_JS@@, @@LICENSES@@.
// "</" inside inlined scripts and data is escaped so nothing ends a <script> element early.
std::string render_html(const std::string& tmpl, const nlohmann::json& data, const std::string& title,
                        const std::string& vega, const std::string& vega_lite, const std::string& vega_embed,
                        const std::string& report_js, const std::string& licenses);

// Standard base64 decoding (for the PNG data URLs the page exports); nullopt-like empty on bad input.
bool base64_decode(const std::string& in, std::string* out);

}  // namespace kiln::bench
