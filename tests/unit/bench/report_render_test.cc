// kiln sweep -> kiln report -> headless Chromium with the network off (a dead proxy): every chart renders
// (the page's data-rendered marker equals data-charts), no console errors, nothing external is referenced,
// the no-GPU notice is there, PNG export works, and a screenshot is saved. Without an accuracy document the
// Accuracy section says how to make one; with the real `kiln accuracy --json` beside the sweep's results its
// table holds the document's numbers and its charts render. Skips without chromium or the report's npm
// packages (make report-deps) or kiln_cli.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string chromium() {
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (access(c, X_OK) == 0) return c;
  return "";
}

std::string attr(const std::string& dom, const std::string& name) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex("<body[^>]*\\s" + name + "=\"([0-9]+)\""))) return m[1];
  return "";
}

std::string chart_rendered(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex("<div[^>]*id=\"chart-" + id + "\"[^>]*data-rendered=\"([0-9])\"")))
    return m[1];
  return "";
}

std::string format(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

// The accuracy table's cells for one backend hold the JSON's numbers (data-value) and show them rounded.
void expect_accuracy_row(const std::string& dom, const nlohmann::json& b) {
  const std::vector<std::pair<const char*, nlohmann::json>> metrics = {{"top1", b["top1"]},
                                                                       {"topk", b["topk"]},
                                                                       {"macro_precision", b["macro"]["precision"]},
                                                                       {"macro_recall", b["macro"]["recall"]},
                                                                       {"macro_f1", b["macro"]["f1"]},
                                                                       {"micro_f1", b["micro"]["f1"]},
                                                                       {"macro_roc_auc", b["macro"]["roc_auc"]},
                                                                       {"agreement", b["agreement_with_reference"]}};
  const std::string name = b["name"].get<std::string>();
  const size_t row = dom.find("<tr data-backend=\"" + name + "\">");
  ASSERT_NE(row, std::string::npos) << name;
  const std::string tr = dom.substr(row, dom.find("</tr>", row) - row);
  for (const auto& [metric, v] : metrics) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        tr, m, std::regex(std::string("<td data-metric=\"") + metric + "\" data-value=\"([^\"]*)\">([^<]*)</td>")))
        << metric << " in " << tr;
    ASSERT_TRUE(v.is_number()) << metric;
    EXPECT_DOUBLE_EQ(std::stod(m[1]), v.get<double>()) << metric;
    const bool share =
        std::string(metric) == "top1" || std::string(metric) == "topk" || std::string(metric) == "agreement";
    EXPECT_EQ(m[2], share ? format("%.2f%%", 100 * v.get<double>()) : format("%.4f", v.get<double>())) << metric;
  }
}

TEST(ReportRender, HeadlessChromiumOfflineRendersEveryChart) {
  const fs::path cli = KILN_CLI_PATH;
  if (!fs::exists(cli)) GTEST_SKIP() << "kiln_cli is not built";
  const fs::path assets = cli.parent_path().parent_path().parent_path() / "report/node_modules/vega/build/vega.min.js";
  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "no chromium (apt-get install chromium)";
  if (!fs::exists(assets)) GTEST_SKIP() << "report JavaScript not installed (make report-deps)";
  const std::string dir = ::testing::TempDir() + "kiln_report_" + std::to_string(getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/tiny.yaml")
      << "name: tiny_cnn\ninputs:\n  - name: input\n    dtype_str: float32\n    shapes:\n"
         "      dims_names: [batch_size, channels, height, width]\n      example: [16, 16, 3]\n"
         "      runtime: [-1, 3, 16, 16]\n      optimization:\n        min: [1, 3, 16, 16]\n"
         "        opt: [2, 3, 16, 16]\n        max: [3, 3, 16, 16]\noutputs:\n  - name: logits\n"
         "    shape:\n      runtime: [-1, 10]\n      dims_names: [batch_size, logits]\n"
         "sweep:\n  model: zoo:tiny_cnn\n  backends: [cpu]\n  batches: [1, 2]\n  iterations: 8\n"
         "  warmup_ms: 0\n  duration_s: 0\n  dynamic:\n    iterations: 8\n";
  const std::string kiln = cli.string();
  ASSERT_EQ(sh(kiln + " sweep " + dir + "/tiny.yaml -o " + dir + "/results > " + dir + "/sweep.log 2>&1"), 0)
      << slurp(dir + "/sweep.log");
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' "
      "--virtual-time-budget=15000 --enable-logging=stderr --v=0 --user-data-dir=" +
      dir + "/chromium-profile ";
  auto dump_dom = [&](const std::string& html) {
    const std::string url = "'file://" + fs::absolute(html).string() + "'";
    EXPECT_EQ(sh(browser + flags + "--dump-dom " + url + " > " + dir + "/dom.html 2> " + dir + "/chromium.log"), 0)
        << slurp(dir + "/chromium.log");
    return slurp(dir + "/dom.html");
  };

  // No accuracy document yet: the section says so and how to make one, and the charts still all render.
  ASSERT_EQ(sh(kiln + " report " + dir + "/results -o " + dir + "/plain.html > " + dir + "/plain.log 2>&1"), 0)
      << slurp(dir + "/plain.log");
  EXPECT_NE(slurp(dir + "/plain.log").find("report: no kiln accuracy results in"), std::string::npos);
  const std::string plain = dump_dom(dir + "/plain.html");
  EXPECT_NE(plain.find("<div class=\"empty\">no kiln accuracy results in " + dir +
                       "/results; run kiln accuracy MODEL --dataset"),
            std::string::npos);
  EXPECT_EQ(attr(plain, "data-rendered"), attr(plain, "data-charts"));
  EXPECT_EQ(attr(plain, "data-errors"), "0") << slurp(dir + "/chromium.log");

  // The real kiln accuracy on the labelled test set, beside the sweep's results.
  const std::string data = std::string(KILN_TEST_DATA_DIR) + "/accuracy";
  ASSERT_EQ(sh(kiln + " accuracy " + data + "/model.onnx --dataset " + data + "/data.npz --labels " + data +
               "/labels.txt --backends cpu --topk 3 --json " + dir + "/results/accuracy.json > " + dir +
               "/accuracy.log 2>&1"),
            0)
      << slurp(dir + "/accuracy.log");
  const nlohmann::json acc = nlohmann::json::parse(slurp(dir + "/results/accuracy.json"));
  ASSERT_EQ(acc["backends"].size(), 1u);
  const nlohmann::json& cpu = acc["backends"][0];
  ASSERT_EQ(sh(kiln + " report " + dir + "/results -o " + dir + "/report.html --png " + dir + "/png > " + dir +
               "/report.log 2>&1"),
            0)
      << slurp(dir + "/report.log");
  const std::string log = slurp(dir + "/report.log");
  EXPECT_NE(log.find("| cpu | fp32 | 2 | 3x16x16 |"), std::string::npos) << log;  // the terminal table
  EXPECT_NE(slurp(dir + "/report.md").find("| backend | precision |"), std::string::npos);
  const std::string acc_row = "| cpu | " + format("%.2f%%", 100 * cpu["top1"].get<double>()) + " | " +
                              format("%.2f%%", 100 * cpu["topk"].get<double>()) + " | " +
                              format("%.4f", cpu["macro"]["precision"].get<double>()) + " | " +
                              format("%.4f", cpu["macro"]["recall"].get<double>()) + " | " +
                              format("%.4f", cpu["macro"]["f1"].get<double>()) + " | " +
                              format("%.4f", cpu["micro"]["f1"].get<double>()) + " | " +
                              format("%.4f", cpu["macro"]["roc_auc"].get<double>()) + " | 100.00% |";
  EXPECT_NE(log.find(acc_row), std::string::npos) << acc_row << "\n" << log;  // the accuracy table, terminal
  EXPECT_NE(slurp(dir + "/report.md").find(acc_row), std::string::npos);
  EXPECT_EQ(log.find("no kiln accuracy results"), std::string::npos);
  // Self-contained: outside the inlined scripts' bodies, no element loads a script, stylesheet or image.
  std::string html = slurp(dir + "/report.html");
  for (size_t a; (a = html.find("<script")) != std::string::npos;) {
    const size_t b = html.find("</script>", a);
    ASSERT_NE(b, std::string::npos);
    html.erase(a, b + 9 - a);
  }
  EXPECT_FALSE(std::regex_search(html, std::regex("<(script|link|img|iframe)[^>]+(src|href)=", std::regex::icase)));
  EXPECT_EQ(slurp(dir + "/report.html").find("<script src"), std::string::npos);
  const std::string url = "'file://" + fs::absolute(dir + "/report.html").string() + "'";
  const std::string dom = dump_dom(dir + "/report.html");
  const std::string charts = attr(dom, "data-charts"), rendered = attr(dom, "data-rendered");
  ASSERT_FALSE(charts.empty()) << dom.substr(0, 2000);
  // latency, throughput, median, dynamic, cpu latency/util, RAM at least, and the two accuracy charts
  EXPECT_GE(std::stoi(charts), 9);
  EXPECT_EQ(std::stoi(charts), std::stoi(attr(plain, "data-charts")) + 2);
  EXPECT_EQ(chart_rendered(dom, "accuracy_0"), "1");
  EXPECT_EQ(chart_rendered(dom, "confusion_0_0"), "1");
  EXPECT_EQ(dom.find("<div class=\"empty\">no kiln accuracy results"), std::string::npos);
  EXPECT_NE(dom.find("<table class=\"accuracy\" data-file=\"accuracy.json\">"), std::string::npos);
  expect_accuracy_row(dom, cpu);
  EXPECT_EQ(rendered, charts) << slurp(dir + "/chromium.log");
  EXPECT_EQ(attr(dom, "data-errors"), "0") << slurp(dir + "/chromium.log");
  EXPECT_EQ(slurp(dir + "/chromium.log").find("Uncaught"), std::string::npos) << slurp(dir + "/chromium.log");
  EXPECT_NE(dom.find("no GPU was found"), std::string::npos);
  EXPECT_NE(dom.find("<svg"), std::string::npos);  // vega drew something
  for (const char* png : {"latency", "throughput", "cpu_util", "accuracy_0", "confusion_0_0"}) {
    const std::string p = slurp(dir + "/png/" + png + ".png");
    EXPECT_GT(p.size(), 1000u) << png;
    EXPECT_EQ(p.substr(0, 4), "\x89PNG") << png;
  }
  const std::string shot = ::testing::TempDir() + "kiln_report_screenshot.png";
  ASSERT_EQ(sh(browser + flags + "--window-size=1280,4000 --screenshot=" + shot + " " + url + " 2>/dev/null"), 0);
  EXPECT_EQ(slurp(shot).substr(0, 4), "\x89PNG");
  std::cout << "screenshot: " << shot << "\n";
  fs::remove_all(dir);
}

}  // namespace
