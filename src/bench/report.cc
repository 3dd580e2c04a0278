// kiln report's data side: results -> rows / samples / series for the charts, the Markdown table, the HTML.
#include "bench/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "bench/result.h"

namespace kiln::bench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string str(const json& v, const std::string& fallback = "") {
  return v.is_string() ? v.get<std::string>() : fallback;
}
}  // namespace

Expected<Results> read_results(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return invalid_input(dir + ": not a folder (give the folder kiln sweep wrote)");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Results r;
  r.dir = dir;
  for (const auto& f : files) {
    std::ifstream in(f);
    json doc = json::parse(in, nullptr, false);
    const std::string name = f.filename().string();
    if (doc.is_discarded()) {
      r.warnings.push_back(f.string() + ": not valid JSON (a truncated or half-written file?): skipped");
      continue;
    }
    const std::string schema = doc.is_object() ? str(doc.value("schema", json())) : "";
    if (schema == kBenchSchema) {
      if (!doc.contains("cases") || !json_at(doc, {"cases"}).is_array()) {
        r.warnings.push_back(f.string() + ": a kiln.bench/1 document without a cases array: skipped");
        continue;
      }
      doc["_file"] = name;
      r.bench.push_back(std::move(doc));
    } else if (schema == kAccuracySchema) {
      const std::string problem = accuracy_document_problem(doc);
      if (!problem.empty()) {
        r.warnings.push_back(f.string() + ": a kiln.accuracy/1 document " + problem + ": skipped");
        continue;
      }
      doc["_file"] = name;
      r.accuracy.push_back(std::move(doc));
    }
  }
  if (r.bench.empty() && r.accuracy.empty())
    return invalid_input(dir +
                         ": holds no kiln.bench/1 or kiln.accuracy/1 results (*.json from kiln sweep, kiln bench "
                         "--json or kiln accuracy --json)");
  return r;
}

namespace {

json number_or_null(const json& v) { return v.is_number() ? v : json(nullptr); }

// "torch-graph" for a torch case of mode "graph..." (kiln bench --peer writes backend "torch").
std::string display_backend(const json& c) {
  const std::string b = str(json_at(c, {"backend"}), "?");
  if (b != "torch") return b;
  const std::string mode = str(json_at(c, {"mode"}));
  return mode.empty() ? b : "torch-" + mode.substr(0, mode.find('+'));
}

std::string shape_label(const json& c) {
  const json shapes = c.value("input_shapes", json::object());
  if (!shapes.is_object() || shapes.empty()) return "";
  const json& d = shapes.begin().value();
  std::string s;
  for (size_t k = 1; k < d.size(); ++k) s += (k > 1 ? "x" : "") + d[k].dump();
  return s;
}

// Evenly spaced picks of at most `n` of `v`'s indices.
std::vector<size_t> picks(size_t size, size_t n) {
  std::vector<size_t> out;
  if (size <= n) {
    for (size_t i = 0; i < size; ++i) out.push_back(i);
  } else {
    for (size_t i = 0; i < n; ++i) out.push_back(i * size / n);
  }
  return out;
}

json row_of(const json& doc, const json& c) {
  const json& lat = json_at(c, {"latency_ms"});
  json r;
  r["backend"] = display_backend(c);
  r["precision"] = str(json_at(c, {"precision"}), "fp32");
  r["mode"] = str(json_at(c, {"mode"}));
  r["label"] = r["backend"].get<std::string>() + " " + r["precision"].get<std::string>();
  r["batch"] = c.value("batch", int64_t{0});
  r["shape"] = shape_label(c);
  const json& dyn = c.contains("dynamic") ? json_at(c, {"dynamic"}) : json();
  r["random"] = dyn.is_object() ? fmt::format("{}..{}", dyn.value("min", 0), dyn.value("max", 0)) : "";
  r["kind"] = str(json_at(doc, {"cell", "kind"}), dyn.is_object() ? "dyn-random" : "static");
  r["timing"] = str(json_at(c, {"timing"}), "wall");
  // kiln sweep --gpus: the GPU that ran the cell, so the rows can be split by device.
  const json& dev = json_at(doc, {"cell", "device"});
  r["device"] = dev.is_object()
                    ? fmt::format("gpu{} {} {}", dev.value("index", -1), dev.value("name", ""), dev.value("uuid", ""))
                    : "";
  for (const char* k : {"median", "mean", "min", "max", "std"}) r[k] = number_or_null(json_at(lat, {k}));
  r["p99"] = number_or_null(json_at(lat, {"percentiles", "p99"}));
  r["ci_low"] = number_or_null(json_at(lat, {"median_ci95", "low"}));
  r["ci_high"] = number_or_null(json_at(lat, {"median_ci95", "high"}));
  r["iterations"] = number_or_null(json_at(c, {"iterations"}));
  r["samples_per_s"] = number_or_null(json_at(c, {"throughput", "samples_per_s"}));
  r["inferences_per_s"] = number_or_null(json_at(c, {"throughput", "inferences_per_s"}));
  const json& mem = json_at(c, {"gpu", "summary", "memory_used_bytes", "max"});
  r["gpu_mem_max"] = number_or_null(mem);
  r["gpu_mem_max_mib"] = mem.is_number() ? json(mem.get<double>() / 1048576.0) : json(nullptr);
  r["gpu_util"] = number_or_null(json_at(c, {"gpu", "summary", "utilisation_gpu_percent", "mean"}));
  r["power_w"] = number_or_null(json_at(c, {"gpu", "summary", "power_w", "mean"}));
  r["cpu_util"] = number_or_null(json_at(c, {"process", "cpu_utilisation_percent"}));
  const json& rss = json_at(c, {"process", "peak_rss_bytes"});
  r["rss_mib"] = rss.is_number() ? json(rss.get<double>() / 1048576.0) : json(nullptr);
  r["file"] = str(doc["_file"]);
  r["speedup"] = nullptr;
  return r;
}

std::string pick_baseline(const json& rows, const std::string& wanted) {
  std::set<std::string> labels;
  for (const auto& r : rows) labels.insert(r["label"].get<std::string>());
  if (!wanted.empty()) {
    std::string w = wanted;
    std::replace(w.begin(), w.end(), ':', ' ');
    return labels.count(w) ? w : "";
  }
  for (const char* pref : {"torch-graph fp16", "torch-compile fp16", "torch-eager fp16", "torch fp16"})
    if (labels.count(pref)) return pref;
  return rows.empty() ? "" : rows[0]["label"].get<std::string>();
}

// From the first bench document; an accuracy-only folder has no environment block, only kiln's version.
json environment_rows(const std::vector<json>& docs, const std::vector<json>& accuracy) {
  json rows = json::array();
  const json& first = docs.empty() ? accuracy.front() : docs.front();
  const json& e = docs.empty() ? json_at(first, {"kiln"}) : json_at(first, {"environment"});
  auto add = [&](const std::string& k, const json& v) {
    if (v.is_null()) return;
    rows.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
  };
  add("host", json_at(e, {"host"}));
  add("os", json_at(e, {"os"}));
  if (!docs.empty())
    add("cpu", json(fmt::format("{} ({} cores)", str(json_at(e, {"cpu", "model"}), "?"),
                                json_at(e, {"cpu", "cores"}).dump())));
  const json& kiln = docs.empty() ? e : json_at(e, {"kiln"});
  add("kiln", json(fmt::format("{} ({})", str(json_at(kiln, {"version"}), "?"), str(json_at(kiln, {"git_sha"}), "?"))));
  std::set<std::string> gpus, versions;
  for (const auto& d : docs)
    for (const auto& c : json_at(d, {"cases"})) {
      const json& g = json_at(c, {"gpu"});
      if (g.is_object() && g.value("available", false))
        gpus.insert(
            fmt::format("{} (driver {})", str(json_at(g, {"name"}), "?"), str(json_at(g, {"driver_version"}), "?")));
      for (const json* env : {&json_at(d, {"environment"}), &json_at(c, {"peer_environment"})})
        if (env->is_object() && json_at(*env, {"backend_versions"}).is_object())
          for (const auto& [k, v] : json_at(*env, {"backend_versions"}).items())
            if (!v.is_null()) versions.insert(k + " " + (v.is_string() ? v.get<std::string>() : v.dump()));
    }
  std::string g;
  for (const auto& s : gpus) g += (g.empty() ? "" : "; ") + s;
  add("GPU", json(g.empty() ? (docs.empty() ? "no benchmark results" : "no GPU was found (no NVML)") : g));
  std::string v;
  for (const auto& s : versions) v += (v.empty() ? "" : ", ") + s;
  add("libraries", json(v.empty() ? "none (CPU-only results)" : v));
  add("date (UTC)", json_at(e, {"date_utc"}));
  add("command line", json_at(e, {"command_line"}));
  add("model", json_at(first, {"model"}));
  return rows;
}

}  // namespace

json report_data(const std::vector<json>& bench, const ReportOptions& o) {
  Results r;
  r.bench = bench;
  return report_data(r, o);
}

json report_data(const Results& results, const ReportOptions& o) {
  const std::vector<json>& docs = results.bench;
  json data{{"rows", json::array()},   {"samples", json::array()},       {"gpu_series", json::array()},
            {"layers", json::array()}, {"engine_memory", json::array()}, {"max_samples", o.max_samples},
            {"subsampled", false},     {"gpu_reason", nullptr}};
  std::vector<std::pair<const json*, const json*>> cases;
  for (const auto& d : docs)
    for (const auto& c : json_at(d, {"cases"})) cases.emplace_back(&d, &c);
  // Rows grouped by backend and precision, fixed batches first, then the dynamic study, by batch.
  auto rank = [](const json& doc, const json& c) {
    const std::string kind =
        str(json_at(doc, {"cell", "kind"}),
            c.contains("dynamic") && json_at(c, {"dynamic"}).is_object() ? "dyn-random" : "static");
    const std::vector<std::string> order = {"static", "dyn-min", "dyn-opt", "dyn-max", "dyn-random"};
    return std::make_tuple(display_backend(c) + " " + str(json_at(c, {"precision"}), "fp32"),
                           std::find(order.begin(), order.end(), kind) - order.begin(), c.value("batch", int64_t{0}));
  };
  std::stable_sort(cases.begin(), cases.end(),
                   [&](const auto& a, const auto& b) { return rank(*a.first, *a.second) < rank(*b.first, *b.second); });
  std::set<std::string> shapes;
  for (const auto& [d, c] : cases) {
    data["rows"].push_back(row_of(*d, *c));
    shapes.insert(shape_label(*c));
  }
  for (size_t i = 0; i < cases.size(); ++i) {  // a readable unique case name
    json& r = data["rows"][i];
    std::string name =
        r["label"].get<std::string>() + " · " +
        (r["batch"].get<int64_t>() > 0 ? "b" + r["batch"].dump() : "random " + r["random"].get<std::string>());
    if (shapes.size() > 1) name += " · " + r["shape"].get<std::string>();
    const std::string kind = r["kind"].get<std::string>();
    if (kind != "static" && kind != "dyn-random") name += " (" + kind + ")";
    r["case"] = name;
  }
  const std::string base = pick_baseline(data["rows"], o.baseline);
  data["baseline"] = base.empty() ? json(nullptr) : json(base);
  for (auto& r : data["rows"]) {
    if (base.empty() || r["batch"].get<int64_t>() <= 0 || !r["median"].is_number()) continue;
    for (const auto& b : data["rows"])
      if (b["label"] == base && b["batch"] == r["batch"] && b["shape"] == r["shape"] && b["kind"] == r["kind"] &&
          b["median"].is_number() && r["median"].get<double>() > 0) {
        r["speedup"] = b["median"].get<double>() / r["median"].get<double>();
        break;
      }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = *cases[i].second;
    const json& row = data["rows"][i];
    const json& s = c.contains("latency_samples_ms") ? json_at(c, {"latency_samples_ms"}) : json();
    if (s.is_array()) {
      if (s.size() > o.max_samples) data["subsampled"] = true;
      for (size_t k : picks(s.size(), o.max_samples))
        data["samples"].push_back({{"case", row["case"]}, {"label", row["label"]}, {"ms", s[k]}});
    }
    const json& g = json_at(c, {"gpu"});
    if (g.is_object() && g.value("available", false) && json_at(g, {"samples"}).is_array()) {
      const double t0 = json_at(g, {"timed_start_ms"}).is_number() ? json_at(g, {"timed_start_ms"}).get<double>() : 0.0;
      for (size_t k : picks(json_at(g, {"samples"}).size(), 600)) {
        const json& p = json_at(g, {"samples"})[k];
        data["gpu_series"].push_back({{"case", row["case"]},
                                      {"t_s", (p.value("t_ms", 0.0) - t0) / 1000.0},
                                      {"util", number_or_null(json_at(p, {"utilisation_gpu_percent"}))},
                                      {"power_w", number_or_null(json_at(p, {"power_w"}))},
                                      {"sm_clock", number_or_null(json_at(p, {"sm_clock_mhz"}))}});
      }
    } else if (g.is_object() && data["gpu_reason"].is_null() && json_at(g, {"reason"}).is_string()) {
      data["gpu_reason"] = json_at(g, {"reason"});
    }
    const json& m = c.contains("device_memory") ? json_at(c, {"device_memory"}) : json();
    if (m.is_object())
      for (const auto& [k, v] : m.items())
        if (v.is_number())
          data["engine_memory"].push_back({{"case", row["case"]}, {"part", k}, {"mib", v.get<double>() / 1048576.0}});
    const json& layers = c.contains("layers") ? json_at(c, {"layers"}) : json();
    if (layers.is_array()) {
      std::vector<json> l(layers.begin(), layers.end());
      std::sort(l.begin(), l.end(),
                [](const json& a, const json& b) { return a.value("ms", 0.0) > b.value("ms", 0.0); });
      if (l.size() > 25) l.resize(25);
      for (const auto& x : l)
        data["layers"].push_back({{"case", row["case"]},
                                  {"name", x.value("name", "")},
                                  {"op", x.value("op", "")},
                                  {"ms", x.value("ms", 0.0)}});
    }
  }
  data["accuracy"] = accuracy_data(results.accuracy);
  data["results_dir"] = results.dir.empty() ? json(nullptr) : json(results.dir);
  if (docs.empty() && results.accuracy.empty()) {
    data["environment"] = json::array();
    data["subtitle"] = "no results";
    return data;
  }
  data["environment"] = environment_rows(docs, results.accuracy);
  const json& first = docs.empty() ? results.accuracy.front() : docs.front();
  data["subtitle"] = fmt::format(
      "{} cases from {} result files{} · model {}", cases.size(), docs.size(),
      results.accuracy.empty()
          ? std::string()
          : fmt::format(" · {} accuracy document{}", results.accuracy.size(), results.accuracy.size() == 1 ? "" : "s"),
      str(json_at(first, {"model"}), "?"));
  const std::string date = str(json_at(first, {"environment", "date_utc"}));
  if (!date.empty()) data["subtitle"] = data["subtitle"].get<std::string>() + " · " + date;
  return data;
}

std::string markdown_summary(const json& data) {
  auto f = [](const json& v, const char* spec = "{:.4g}") {
    return v.is_number() ? fmt::format(fmt::runtime(spec), v.get<double>()) : std::string("–");
  };
  if (data["rows"].empty()) return "No benchmark results (kiln.bench/1) in this folder.\n" + markdown_accuracy(data);
  std::string md = fmt::format("Baseline for speed-up: {}\n\n",
                               data["baseline"].is_string() ? data["baseline"].get<std::string>() : "none");
  // Cells of a `kiln sweep --gpus` run name the GPU that ran them: then a GPU column splits the rows by device.
  bool by_gpu = false;
  for (const auto& r : data["rows"]) by_gpu = by_gpu || !r.value("device", "").empty();
  md +=
      std::string("| backend | precision | batch | shape | median ms | 95% CI ms | p99 ms | samples/s | speed-up | ") +
      "GPU mem MiB | CPU % | peak RSS MiB |" + (by_gpu ? " GPU |\n" : "\n");
  md += std::string("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|") + (by_gpu ? "---|\n" : "\n");
  for (const auto& r : data["rows"]) {
    const int64_t b = r["batch"].get<int64_t>();
    const std::string kind = r["kind"].get<std::string>();
    const std::string batch = b > 0 ? std::to_string(b) + (kind != "static" ? " (" + kind + ")" : "")
                                    : "random " + r["random"].get<std::string>();
    md +=
        fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r["backend"].get<std::string>(),
                    r["precision"].get<std::string>(), batch, r["shape"].get<std::string>(), f(r["median"]),
                    r["ci_low"].is_number() ? f(r["ci_low"]) + "–" + f(r["ci_high"]) : "–", f(r["p99"]),
                    f(r["samples_per_s"]), r["speedup"].is_number() ? f(r["speedup"], "{:.2f}×") : "–",
                    f(r["gpu_mem_max_mib"], "{:.0f}"), f(r["cpu_util"], "{:.0f}"), f(r["rss_mib"], "{:.0f}"));
    if (by_gpu) md.insert(md.size() - 1, " " + r.value("device", "") + " |");
  }
  return md + markdown_accuracy(data);
}

namespace {
// Only "</script" ends a script element early (any case); "<\/script" means the same inside JS strings and regexes.
std::string escape_script(std::string s) {
  for (size_t p = 0; (p = s.find("</", p)) != std::string::npos; p += 3) {
    std::string next = s.substr(p + 2, 6);
    for (char& ch : next) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (next == "script") s.replace(p, 2, "<\\/");
  }
  return s;
}
// JSON inside <script type="application/json">: every '<' as \u003c keeps the parser in script data.
std::string escape_json(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) out += ch == '<' ? std::string("\\u003c") : std::string(1, ch);
  return out;
}
}  // namespace

std::string render_html(const std::string& tmpl, const json& data, const std::string& title, const std::string& vega,
                        const std::string& vega_lite, const std::string& vega_embed, const std::string& report_js,
                        const std::string& licenses) {
  std::string safe_title;
  for (char ch : title)
    safe_title += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  std::string lic = licenses;
  for (size_t p = 0; (p = lic.find("--", p)) != std::string::npos;) lic.replace(p, 2, "- -");  // no "-->" inside
  const std::map<std::string, std::string> values = {{"TITLE", safe_title},
                                                     {"DATA", escape_json(data.dump())},
                                                     {"VEGA", escape_script(vega)},
                                                     {"VEGA_LITE", escape_script(vega_lite)},
                                                     {"VEGA_EMBED", escape_script(vega_embed)},
                                                     {"REPORT_JS", escape_script(report_js)},
                                                     {"LICENSES", lic}};
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t a = tmpl.find("@@", pos);
    const size_t b = a == std::string::npos ? a : tmpl.find("@@", a + 2);
    if (b == std::string::npos) break;
    auto it = values.find(tmpl.substr(a + 2, b - a - 2));
    if (it == values.end()) {  // not a placeholder: keep the text
      out += tmpl.substr(pos, a + 2 - pos);
      pos = a + 2;
      continue;
    }
    out += tmpl.substr(pos, a - pos) + it->second;
    pos = b + 2;
  }
  return out + tmpl.substr(pos);
}

bool base64_decode(const std::string& in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    const int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace kiln::bench
