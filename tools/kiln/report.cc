// `kiln report results/ -o report.html`: one self-contained HTML page (Vega-Lite inlined) from kiln.bench/1
// results and kiln.accuracy/1 documents, a Markdown summary next to it and on the terminal, and optionally a PNG
// per chart (headless Chromium).
#include "bench/report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench/peer.h"
#include "bench/result.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::string results;
  std::string out = "report.html";
  std::string png_dir;
  std::string assets;
  bench::ReportOptions options;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The report/ folder with template.html and node_modules: --assets, $KILN_REPORT_DIR, <binary>/../../report, ./report.
Expected<fs::path> find_assets(const std::string& given) {
  std::vector<fs::path> candidates;
  if (!given.empty()) candidates.emplace_back(given);
  if (const char* env = std::getenv("KILN_REPORT_DIR")) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path().parent_path() / "report");
  candidates.emplace_back("report");
  for (const auto& c : candidates)
    if (fs::exists(c / "template.html", ec)) {
      if (!fs::exists(c / "node_modules/vega/build/vega.min.js", ec))
        return unsupported("the report's JavaScript (vega, vega-lite, vega-embed from npm) is not installed in " +
                           (c / "node_modules").string() + ": run `npm ci --prefix " + c.string() + "`");
      return c;
    }
  return unsupported(
      "cannot find the report front-end (report/template.html): run kiln from its build tree or "
      "checkout, or pass --assets DIR / set KILN_REPORT_DIR");
}

std::string licenses(const fs::path& nm) {
  std::string out;
  for (const char* pkg : {"vega", "vega-lite", "vega-embed"}) {
    const std::string meta = slurp(nm / pkg / "package.json");
    auto j = nlohmann::json::parse(meta, nullptr, false);
    out += fmt::format("{} {} ({})\n", pkg, j.is_object() ? j.value("version", "?") : "?",
                       j.is_object() ? j.value("license", "?") : "?");
    const fs::path lic = nm / pkg / "LICENSE";
    out += fs::exists(lic) ? slurp(lic) + "\n"
                           : "Copyright (c) the Vega project, University of Washington Interactive "
                             "Data Lab. BSD 3-Clause License.\n\n";
  }
  return out;
}

std::string find_chromium() {
  if (const char* env = std::getenv("KILN_CHROMIUM")) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin");
    for (std::string dir; std::getline(ss, dir, ':');)
      if (access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return "";
}

// Opens the page with #png in headless Chromium (no network), reads the PNG data URLs it puts in the DOM.
Status export_pngs(const std::string& html, const std::string& dir) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) return unsupported("--png needs Chromium (apt-get install chromium, or set KILN_CHROMIUM)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string dom = dir + "/.dom.html";
  const std::string profile = dir + "/.chromium-profile";  // own profile: no HOME needed, nothing left behind
  const std::string url = "file://" + fs::absolute(html).string() + "#png";
  const std::string cmd = fmt::format(
      "'{}' --headless --no-sandbox --disable-gpu --proxy-server=127.0.0.1:9 --virtual-time-budget=20000 "
      "--user-data-dir='{}' --dump-dom '{}' > '{}' 2>/dev/null",
      chromium, profile, url, dom);
  if (std::system(cmd.c_str()) != 0) return runtime_error("headless Chromium failed: " + cmd);
  const std::string text = slurp(dom);
  fs::remove(dom, ec);
  fs::remove_all(profile, ec);
  int written = 0;
  const std::string tag = "<textarea class=\"png-export\" data-name=\"";
  for (size_t p = 0; (p = text.find(tag, p)) != std::string::npos;) {
    const size_t name_end = text.find('"', p + tag.size());
    const std::string name = text.substr(p + tag.size(), name_end - p - tag.size());
    const size_t b64 = text.find("base64,", name_end);
    const size_t end = text.find("</textarea>", name_end);
    if (b64 == std::string::npos || end == std::string::npos || b64 > end) break;
    std::string png;
    if (!bench::base64_decode(text.substr(b64 + 7, end - b64 - 7), &png))
      return runtime_error("chart " + name + ": the exported PNG is not valid base64");
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(dir + "/" + sanitize_file_name(name) + ".png", png));
    ++written;
    p = end;
  }
  if (written == 0) return runtime_error("headless Chromium rendered no chart PNG (open the report to see errors)");
  std::cout << fmt::format("report: {} chart PNGs written to {}/\n", written, dir);
  return Status::Ok();
}

Status run(const ReportArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto results, bench::read_results(a.results));
  for (const auto& w : results.warnings) std::cerr << "kiln report: warning: " << w << "\n";
  KILN_ASSIGN_OR_RETURN(fs::path assets, find_assets(a.assets));
  const nlohmann::json data = bench::report_data(results, a.options);
  if (!a.options.baseline.empty() && data["rows"].empty())
    return usage_error("--baseline '" + a.options.baseline + "': " + a.results + " holds no benchmark results");
  if (!a.options.baseline.empty() && data["baseline"].is_null())
    return usage_error("--baseline '" + a.options.baseline + "' matches no case (labels are BACKEND:PRECISION, e.g. " +
                       data["rows"][0]["label"].get<std::string>() + " as " +
                       data["rows"][0]["backend"].get<std::string>() + ":" +
                       data["rows"][0]["precision"].get<std::string>() + ")");
  const fs::path nm = assets / "node_modules";
  const std::string html =
      bench::render_html(slurp(assets / "template.html"), data, a.options.title, slurp(nm / "vega/build/vega.min.js"),
                         slurp(nm / "vega-lite/build/vega-lite.min.js"),
                         slurp(nm / "vega-embed/build/vega-embed.min.js"), slurp(assets / "report.js"), licenses(nm));
  std::error_code ec;
  if (fs::path(a.out).has_parent_path()) fs::create_directories(fs::path(a.out).parent_path(), ec);
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.out, html));
  const std::string md = bench::markdown_summary(data);
  const std::string md_path = fs::path(a.out).replace_extension(".md").string();
  KILN_RETURN_IF_ERROR(bench::write_file_atomic(md_path, "# " + a.options.title + "\n\n" + md));
  std::cout << md << "\n";
  bool gpu = false;
  for (const auto& r : data["rows"]) gpu = gpu || r["gpu_mem_max"].is_number();
  if (!gpu && !data["rows"].empty())
    std::cout << "report: no GPU was found in these results: the GPU sections say so\n";
  if (data["accuracy"].empty())
    std::cout << "report: no kiln accuracy results in " << a.results << ": the Accuracy section says how to add them\n";
  if (!a.png_dir.empty()) KILN_RETURN_IF_ERROR(export_pngs(a.out, a.png_dir));
  std::cout << "report: " << a.out << " (summary: " << md_path << ")\n";
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(report,
                Subcommand{"report",
                           "Write one self-contained HTML report (charts, tables) from benchmark and accuracy results",
                           [](CLI::App& app) -> std::function<int()> {
                             auto a = std::make_shared<ReportArgs>();
                             app.add_option("RESULTS", a->results,
                                            "Folder of kiln.bench/1 JSON files (kiln sweep -o) and kiln.accuracy/1 "
                                            "ones (kiln accuracy --json)")
                                 ->required();
                             app.add_option("-o,--output", a->out, "The HTML file; the Markdown table goes next to it")
                                 ->capture_default_str();
                             app.add_option("--baseline", a->options.baseline,
                                            "Acceleration baseline BACKEND:PRECISION (default torch fp16 if present, "
                                            "else the first case's)");
                             app.add_option("--png", a->png_dir,
                                            "Also export every chart as PNG into this folder "
                                            "(headless Chromium)");
                             app.add_option("--title", a->options.title, "Page title")->capture_default_str();
                             app.add_option("--max-samples", a->options.max_samples,
                                            "Latency samples per case kept in the page (evenly subsampled)")
                                 ->capture_default_str();
                             app.add_option("--assets", a->assets, "The report/ folder (template, node_modules)");
                             app.footer(
                                 "Examples:\n"
                                 "  kiln report results/ -o report.html\n"
                                 "  kiln report results/ -o report.html --baseline cuda:fp32 --png charts/\n"
                                 "  kiln accuracy m.onnx --dataset val.npz --labels val.txt --backends cpu,ort "
                                 "--json results/accuracy.json && kiln report results/\n");
                             return [a] {
                               Status s = run(*a);
                               return s.ok() ? 0 : fail("report", s);
                             };
                           }});

}  // namespace kiln::cli
