// kiln report's data side (rows, baseline, acceleration, Markdown, HTML assembly, base64) and the peers'
// spec parsing / command line / ingestion (kiln's statistics recomputed from a peer's raw samples).
#include "bench/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bench/peer.h"
#include "bench/result.h"
#include "bench/stats.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

json make_case(const std::string& backend, const std::string& precision, const std::string& mode, int64_t batch,
               double median) {
  return {{"backend", backend},
          {"precision", precision},
          {"mode", mode},
          {"batch", batch},
          {"input_shapes", {{"input", {batch, 3, 8, 8}}}},
          {"latency_ms", {{"median", median}, {"mean", median}, {"percentiles", {{"p99", median * 1.5}}}}},
          {"throughput", {{"samples_per_s", 1000.0 * static_cast<double>(batch) / median}}},
          {"latency_samples_ms", {median, median, median}},
          {"gpu", {{"available", false}, {"reason", "NVML not found: test"}}},
          {"process", {{"cpu_utilisation_percent", 100.0}, {"peak_rss_bytes", 1048576 * 10}}}};
}

json make_doc(std::vector<json> cases) {
  return {{"schema", "kiln.bench/1"},
          {"model", "m.onnx"},
          {"environment", {{"host", "h"}, {"date_utc", "2026-11-23T00:00:00Z"}}},
          {"cases", cases},
          {"_file", "x.json"}};
}

TEST(ReportData, AccelerationIsBaselineMedianOverMedianAtTheSameBatch) {
  const std::vector<json> docs = {
      make_doc({make_case("cuda", "fp16", "static", 1, 0.5), make_case("cuda", "fp16", "static", 8, 2.0)}),
      make_doc({make_case("torch", "fp16", "graph", 1, 1.0), make_case("torch", "fp16", "graph", 8, 3.0)}),
      make_doc({make_case("cpu", "fp32", "reference", 4, 9.0)})};
  const json d = report_data(docs, {});
  EXPECT_EQ(d["baseline"], "torch-graph fp16");  // default: PyTorch fp16 (kiln bench --peer writes backend torch)
  ASSERT_EQ(d["rows"].size(), 5u);
  // Rows sorted by backend + precision: cpu b4, cuda b1, cuda b8, torch-graph b1, torch-graph b8.
  EXPECT_TRUE(d["rows"][0]["speedup"].is_null());                      // no baseline at batch 4
  EXPECT_DOUBLE_EQ(d["rows"][1]["speedup"].get<double>(), 2.0);        // 1.0 / 0.5
  EXPECT_DOUBLE_EQ(d["rows"][2]["speedup"].get<double>(), 3.0 / 2.0);  // 3.0 / 2.0
  EXPECT_DOUBLE_EQ(d["rows"][3]["speedup"].get<double>(), 1.0);
  EXPECT_EQ(d["rows"][1]["case"], "cuda fp16 · b1");
  EXPECT_EQ(d["rows"][0]["shape"], "3x8x8");
  EXPECT_DOUBLE_EQ(d["rows"][0]["rss_mib"].get<double>(), 10.0);
  EXPECT_EQ(d["samples"].size(), 15u);
  EXPECT_EQ(d["gpu_reason"], "NVML not found: test");
  EXPECT_TRUE(d["gpu_series"].empty());
  const json chosen = report_data(docs, {"cuda:fp16"});
  EXPECT_EQ(chosen["baseline"], "cuda fp16");
  EXPECT_DOUBLE_EQ(chosen["rows"][3]["speedup"].get<double>(), 0.5);  // torch b1 against cuda b1
  EXPECT_TRUE(report_data(docs, {"ort:fp32"})["baseline"].is_null());
  const std::string md = markdown_summary(d);
  EXPECT_NE(md.find("Baseline for speed-up: torch-graph fp16"), std::string::npos) << md;
  EXPECT_NE(md.find("| cuda | fp16 | 1 | 3x8x8 | 0.5 | – | 0.75 | 2000 | 2.00× |"), std::string::npos) << md;
}

TEST(ReportData, SubsamplesLongCasesEvenly) {
  json c = make_case("cpu", "fp32", "reference", 1, 1.0);
  c["latency_samples_ms"] = json::array();
  for (int i = 0; i < 100; ++i) c["latency_samples_ms"].push_back(i);
  ReportOptions o;
  o.max_samples = 10;
  const json d = report_data(std::vector<json>{make_doc({c})}, o);
  ASSERT_EQ(d["samples"].size(), 10u);
  EXPECT_EQ(d["samples"][3]["ms"], 30);
  EXPECT_TRUE(d["subsampled"].get<bool>());
}

TEST(ReportHtml, FillsPlaceholdersAndKeepsScriptsClosed) {
  const std::string tmpl =
      "<title>@@TITLE@@</title><script>@@DATA@@</script><script>@@VEGA@@</script>@@KEEP@@"
      "<!--@@LICENSES@@-->";
  const json data = {{"s", "</script><b>"}};
  const std::string html = render_html(tmpl, data, "a<b", "var x = '</SCRIPT>', r = /</g;", "", "", "", "x --> y");
  EXPECT_EQ(html,
            "<title>a&lt;b</title><script>{\"s\":\"\\u003c/script>\\u003cb>\"}</script>"
            "<script>var x = '<\\/SCRIPT>', r = /</g;</script>@@KEEP@@<!--x - -> y-->");
  EXPECT_EQ(json::parse(std::string("{\"s\":\"\\u003c/script>\"}"))["s"], "</script>");  // the same JSON value
}

TEST(ReportHtml, Base64) {
  std::string out;
  ASSERT_TRUE(base64_decode("aGVsbG8gd29ybGQ=", &out));
  EXPECT_EQ(out, "hello world");
  ASSERT_TRUE(base64_decode("iVBORw0KGgo=", &out));
  EXPECT_EQ(out, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_FALSE(base64_decode("a*b", &out));
}

TEST(Peer, SpecsAndCommand) {
  auto s = parse_peer_spec("torch-graph:fp16");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->mode(), "graph");
  EXPECT_EQ(s->script(), "torch_runner.py");
  EXPECT_EQ(parse_peer_spec("torch-eager:fp32:channels_last")->label(), "torch-eager:fp32:channels_last");
  EXPECT_EQ(parse_peer_spec("ort")->precision, "fp32");
  EXPECT_EQ(parse_peer_spec("torch-graph:int8").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_peer_spec("ort:fp32:channels_last").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_peer_spec("tensorrt").status().code(), StatusCode::kUsage);
  PeerRequest r;
  r.model = "m.onnx";
  r.batches = {1, 8};
  r.shape = "3x224x224";
  r.percentiles = {50, 99};
  r.runner.iterations = 20;
  const auto argv = peer_command("/p", *s, r, "out.json");
  std::string joined;
  for (const auto& a : argv) joined += a + " ";
  EXPECT_EQ(joined.rfind("python3 /p/torch_runner.py m.onnx --mode graph --precision fp16 --batches 1,8 "
                         "--shape 3x224x224 ",
                         0),
            0u)
      << joined;
  EXPECT_NE(joined.find("--iterations 20 "), std::string::npos) << joined;
  EXPECT_NE(joined.find("--json out.json --percentile 50,99"), std::string::npos) << joined;
}

TEST(Peer, IngestRecomputesStatisticsFromSamples) {
  json doc = {
      {"schema", "kiln.bench/1"},
      {"cases", {{{"latency_samples_ms", {4.0, 1.0, 3.0, 2.0}}, {"avg_runs", 2}, {"latency_ms", {{"median", 99.0}}}}}}};
  ASSERT_TRUE(ingest_peer_document(doc, {50, 75}, "t").ok());
  const json& l = doc["cases"][0]["latency_ms"];
  EXPECT_DOUBLE_EQ(l["median"].get<double>(), 2.5);                                     // not the peer's 99
  EXPECT_DOUBLE_EQ(l["percentiles"]["p75"].get<double>(), 3.25);                        // 3 + 0.25 x (4 - 3)
  EXPECT_DOUBLE_EQ(doc["cases"][0]["latency_ms_averaged"]["mean"].get<double>(), 2.5);  // means 2.5, 2.5
  json bad = {{"schema", "kiln.bench/1"}, {"cases", {{{"latency_ms", {}}}}}};
  EXPECT_EQ(ingest_peer_document(bad, {}, "t").code(), StatusCode::kInvalidInput);
  json other = {{"schema", "other/1"}};
  EXPECT_EQ(ingest_peer_document(other, {}, "t").code(), StatusCode::kInvalidInput);
}

// run_peer end to end with a stand-in runner (KILN_PEERS_DIR): arguments arrive, its JSON is ingested.
TEST(Peer, RunsTheRunnerThroughPython) {
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const std::string dir = ::testing::TempDir() + "kiln_peer_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/torch_runner.py") << R"(import json, sys
a = sys.argv
out = a[a.index("--json") + 1]
b = int(a[a.index("--batches") + 1])
json.dump({"schema": "kiln.bench/1", "environment": {}, "cases": [
    {"backend": "torch", "mode": a[a.index("--mode") + 1], "batch": b, "latency_samples_ms": [1.0, 2.0, 6.0]}]},
    open(out, "w"))
)";
  std::ofstream(dir + "/ort_runner.py") << "import sys\nprint('ort_runner: error: no onnxruntime', file=sys.stderr)\n"
                                           "sys.exit(3)\n";
  setenv("KILN_PEERS_DIR", dir.c_str(), 1);
  PeerRequest r;
  r.model = "m.onnx";
  r.batches = {4};
  r.percentiles = {90};
  auto doc = run_peer(*parse_peer_spec("torch-compile:fp16"), r, dir);
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  const json& c = (*doc)["cases"][0];
  EXPECT_EQ(c["mode"], "compile");
  EXPECT_EQ(c["batch"], 4);
  EXPECT_EQ(c["peer"], "torch-compile:fp16");
  EXPECT_DOUBLE_EQ(c["latency_ms"]["median"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(c["latency_ms"]["percentiles"]["p90"].get<double>(), 5.2);  // 2 + 0.8 x 4
  auto ort = run_peer(*parse_peer_spec("ort"), r, dir);
  ASSERT_FALSE(ort.ok());
  EXPECT_EQ(ort.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(ort.status().message().find("no onnxruntime"), std::string::npos) << ort.status().message();
  unsetenv("KILN_PEERS_DIR");
  std::filesystem::remove_all(dir);
}

// peers/bench_common.py re-implements kiln's statistics for the runners' own documents: same numbers.
TEST(Peer, PythonStatisticsEqualKilns) {
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const std::string peers = std::string(KILN_TEST_DATA_DIR) + "/../../peers";
  const std::string out = ::testing::TempDir() + "kiln_pystats_" + std::to_string(getpid()) + ".json";
  const std::vector<double> s = {5, 1, 4, 2, 3, 10, 7, 6, 9, 8, 11, 0.5, 4.5, 30};
  const std::string cmd = "cd '" + peers + "' && python3 -c 'import bench_common as b, json; print(json.dumps(" +
                          "b.stats_json([5, 1, 4, 2, 3, 10, 7, 6, 9, 8, 11, 0.5, 4.5, 30], [90, 99.5])))' > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  const json py = json::parse(in);
  std::remove(out.c_str());
  auto st = compute_stats(s, {90, 99.5});
  ASSERT_TRUE(st.ok());
  const json k = stats_json(*st);
  for (const char* f : {"count", "min", "max", "mean", "median", "std"})
    EXPECT_NEAR(py[f].get<double>(), k[f].get<double>(), 1e-12) << f;
  for (const char* p : {"p90", "p99.5"})
    EXPECT_NEAR(py["percentiles"][p].get<double>(), k["percentiles"][p].get<double>(), 1e-12) << p;
  for (const char* f : {"low", "high", "lower_rank", "upper_rank", "coverage"})
    EXPECT_NEAR(py["median_ci95"][f].get<double>(), k["median_ci95"][f].get<double>(), 1e-12) << f;
  for (const char* f : {"q1", "q3", "fence_low", "fence_high", "low", "high"})
    EXPECT_NEAR(py["outliers"][f].get<double>(), k["outliers"][f].get<double>(), 1e-12) << f;
  EXPECT_EQ(k["outliers"]["high"], 1);  // 30 is past the upper fence, by hand: q1 = 3.25, q3 = 8.75, fence 17
}

}  // namespace
}  // namespace kiln::bench
