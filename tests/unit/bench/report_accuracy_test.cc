// kiln report's accuracy side: which files read_results takes or skips (with a warning), the accuracy tables'
// data, the heatmap cells and the Markdown accuracy table, from hand-made kiln.accuracy/1 documents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bench/report.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

json backend(const std::string& name, double top1, double topk, json confusion) {
  return {{"name", name},
          {"description", name + " backend"},
          {"classes", confusion.size()},
          {"top1", top1},
          {"topk", topk},
          {"macro", {{"precision", 0.5}, {"recall", 0.25}, {"f1", 1.0 / 3.0}, {"roc_auc", nullptr}}},
          {"micro", {{"precision", top1}, {"recall", top1}, {"f1", top1}}},
          {"agreement_with_reference", 0.75},
          {"confusion", confusion}};
}

json accuracy_doc(std::vector<json> backends) {
  return {{"schema", "kiln.accuracy/1"}, {"model", "m.onnx"}, {"dataset", "d.npz"},   {"labels", "l.txt"},
          {"output", "logits"},          {"samples", 4},      {"backends", backends}, {"_file", "accuracy.json"}};
}

const json kConf = {{2, 0}, {1, 1}};

TEST(ReportAccuracy, ReadResultsTakesAccuracyDocumentsAndWarnsAboutBrokenOnes) {
  const std::string dir = ::testing::TempDir() + "kiln_report_acc_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  json good = accuracy_doc({backend("cpu", 0.75, 1.0, kConf)});
  good.erase("_file");
  json square = good;
  square["backends"][0]["confusion"] = {{1, 2}};
  std::ofstream(dir + "/acc.json") << good.dump();
  std::ofstream(dir + "/b_not_square.json") << square.dump();
  std::ofstream(dir + "/c_truncated.json") << good.dump().substr(0, 40);
  std::ofstream(dir + "/d_other.json") << R"({"schema": "kiln.compare/1", "backends": []})";
  std::ofstream(dir + "/e_no_schema.json") << "[1, 2]";
  std::ofstream(dir + "/notes.txt") << "not json";
  auto r = read_results(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();  // an accuracy-only folder is a report too
  EXPECT_TRUE(r->bench.empty());
  ASSERT_EQ(r->accuracy.size(), 1u);
  EXPECT_EQ(r->accuracy[0]["_file"], "acc.json");
  ASSERT_EQ(r->warnings.size(), 2u);
  EXPECT_NE(r->warnings[0].find("b_not_square.json: a kiln.accuracy/1 document whose backend 0 (cpu) has a "
                                "confusion matrix that is not square: skipped"),
            std::string::npos)
      << r->warnings[0];
  EXPECT_NE(r->warnings[1].find("c_truncated.json: not valid JSON"), std::string::npos) << r->warnings[1];
  const json d = report_data(*r, {});
  EXPECT_TRUE(d["rows"].empty());
  EXPECT_EQ(d["results_dir"], dir);
  ASSERT_EQ(d["accuracy"].size(), 1u);
  EXPECT_NE(markdown_summary(d).find("No benchmark results (kiln.bench/1) in this folder.\n\nAccuracy of m.onnx"),
            std::string::npos)
      << markdown_summary(d);
  std::filesystem::remove(dir + "/acc.json");
  EXPECT_EQ(read_results(dir).status().code(), StatusCode::kInvalidInput);  // only broken or other files
  std::filesystem::remove_all(dir);
}

TEST(ReportAccuracy, TablesBarsAndHeatmapsOfTheFirstAndLastBackend) {
  const json doc = accuracy_doc({backend("cpu", 0.75, 1.0, kConf), backend("ort", 0.75, 1.0, kConf),
                                 backend("cuda:fp32", 0.5, 1.0, kConf), backend("cuda:fp16", 0.5, 0.75, kConf)});
  EXPECT_EQ(accuracy_document_problem(doc), "");
  const json a = accuracy_data({doc})[0];
  EXPECT_EQ(a["reference"], "cpu");
  EXPECT_EQ(a["classes"], 2);
  EXPECT_EQ(a["topk_label"], "top-k");  // the document does not record k
  ASSERT_EQ(a["backends"].size(), 4u);
  EXPECT_DOUBLE_EQ(a["backends"][3]["topk"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(a["backends"][3]["macro_f1"].get<double>(), 1.0 / 3.0);
  EXPECT_TRUE(a["backends"][3]["macro_roc_auc"].is_null());
  ASSERT_EQ(a["bars"].size(), 8u);
  EXPECT_EQ(a["bars"][7], json({{"backend", "cuda:fp16"}, {"metric", "top-k"}, {"value", 0.75}}));
  ASSERT_EQ(a["confusion"].size(), 2u);  // 4 backends: the first and the last
  EXPECT_EQ(a["confusion"][1]["backend"], "cuda:fp16");
  const json& cells = a["confusion"][0]["cells"];
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[2], json({{"true_class", 1}, {"predicted_class", 0}, {"count", 1}, {"share", 0.5}}));
  EXPECT_NE(a["confusion_note"].get<std::string>().find("the first (cpu) and the last (cuda:fp16)"), std::string::npos);
  json with_k = doc;
  with_k["k"] = 3;
  EXPECT_EQ(accuracy_data({with_k})[0]["topk_label"], "top-3");
  const std::string md = markdown_accuracy({{"accuracy", accuracy_data({doc})}});
  EXPECT_NE(
      md.find("| backend | top-1 | top-k | macro P | macro R | macro F1 | micro F1 | macro ROC-AUC | agreement |"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("| cuda:fp16 | 50.00% | 75.00% | 0.5000 | 0.2500 | 0.3333 | 0.5000 | – | 75.00% |"),
            std::string::npos)
      << md;
}

TEST(ReportAccuracy, NoHeatmapBeyondTheClassLimit) {
  json conf = json::array();
  for (int64_t t = 0; t <= kMaxHeatmapClasses; ++t) conf.push_back(json(std::vector<int>(kMaxHeatmapClasses + 1, 0)));
  const json a = accuracy_data({accuracy_doc({backend("cpu", 0.0, 0.0, conf)})})[0];
  EXPECT_TRUE(a["confusion"].empty());
  EXPECT_NE(a["confusion_note"].get<std::string>().find("65 classes: too many"), std::string::npos);
  EXPECT_EQ(accuracy_document_problem(json{{"backends", json::array()}}), "with no backends");
}

}  // namespace
}  // namespace kiln::bench
