// kiln accuracy --task detection end to end: the summary lines and JSON for small COCO files whose metrics are
// worked out by hand, scoring against a reference backend's detections, a stand-in detector model run on
// the CPU backends, and the bad-input exit codes.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "core/npy.h"

namespace kiln::clitest {
namespace {

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Image 1: shirt A [0,0,10,10] and bag B [50,50,10,10]; image 2: nothing; image 3: a crowd bag region.
const char* kAnnotations = R"({
  "images": [{"id": 1, "file_name": "1.png"}, {"id": 2}, {"id": 3}],
  "categories": [{"id": 1, "name": "shirt"}, {"id": 2, "name": "bag"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
    {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "area": 100, "iscrowd": 0},
    {"id": 3, "image_id": 3, "category_id": 2, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 1}
  ]})";

// shirt: the exact box .9 -> AP 1, AR 1.
// bag: a detection inside the crowd region of image 3 (.95, ignored), a bag on A's box (.8, FP: IoU 0 with
// B), the exact B (.7, TP): rc [0 0 1], pr [0 0 .5] -> envelope .5 -> AP .5, AR 1.
// AP = (1 + .5) / 2 = .75 at every IoU threshold -> AP50 = AP75 = .75; all boxes are small (area 100) ->
// APs .75, APm = APl = -1 (no gt counted there); AR@1: shirt 1; bag keeps one detection per image: the FP
// on image 1 (B missed) -> 0 -> AR@1 .5; AR@10 = AR@100 = 1.
const char* kDetections = R"([
  {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
  {"image_id": 3, "category_id": 2, "bbox": [10, 10, 20, 20], "score": 0.95},
  {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.8},
  {"image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "score": 0.7}
])";

class DetectionCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir();
    write(dir_ + "/ann.json", kAnnotations);
    write(dir_ + "/dets.json", kDetections);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(DetectionCli, SummaryAndJson) {
  const CliResult r = kiln("accuracy --task detection --annotations " + dir_ + "/ann.json --detections " + dir_ +
                           "/dets.json --json " + dir_ + "/acc.json");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* line : {" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.750\n",
                           " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.750\n",
                           " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.750\n",
                           " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.750\n",
                           " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n",
                           " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.500\n",
                           " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 1.000\n",
                           " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"})
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing: " << line << "in:\n" << r.out;
  const auto doc = nlohmann::json::parse(slurp(dir_ + "/acc.json"));
  EXPECT_EQ(doc["schema"], "kiln.accuracy/1");
  EXPECT_EQ(doc["task"], "detection");
  const auto& d = doc["detection"];
  EXPECT_EQ(d["images"], 3);
  EXPECT_EQ(d["ground_truths"], 2);  // the crowd region is not one
  EXPECT_EQ(d["detections"], 4);
  EXPECT_NEAR(d["stats"]["AP"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(d["stats"]["AR1"].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(d["stats"]["APl"].get<double>(), -1);
  EXPECT_EQ(d["stats"].size(), 12u);
  ASSERT_EQ(d["per_category"].size(), 2u);
  EXPECT_EQ(d["per_category"][1]["name"], "bag");
  EXPECT_NEAR(d["per_category"][0]["ap"].get<double>(), 1, 1e-9);
  EXPECT_NEAR(d["per_category"][1]["ap"].get<double>(), 0.5, 1e-9);
}

TEST_F(DetectionCli, AgainstReferenceDetections) {
  // Reference: A [0,0,10,10] .9 and B [50,50,10,10] .2. The scored file has B at .95 and A at .5.
  // Threshold .3: only A is ground truth; sorted B (FP), A (TP) -> rc [0 1], pr [0 .5] -> AP .5.
  // Threshold .1: both are; B TP, A TP -> AP 1.
  write(dir_ + "/ref.json", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
                                {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.2}])");
  write(dir_ + "/test.json", R"([{"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.95},
                                 {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}])");
  const std::string base =
      "accuracy --task detection --reference-detections " + dir_ + "/ref.json --detections " + dir_ + "/test.json";
  const CliResult r = kiln(base + " --json " + dir_ + "/a.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(slurp(dir_ + "/a.json"));
  EXPECT_EQ(doc["reference_score_threshold"], 0.3);
  EXPECT_EQ(doc["detection"]["ground_truths"], 1);
  const CliResult low = kiln(base + " --reference-score-threshold 0.1");
  ASSERT_EQ(low.code, 0) << low.err;
  EXPECT_NE(low.out.find("IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"), std::string::npos) << low.out;
  // With annotations the images come from there: a reference detection on another image is refused.
  const CliResult other = kiln(base + " --annotations " + dir_ + "/ann.json");
  EXPECT_EQ(other.code, 0) << other.err;
  write(dir_ + "/ref9.json", R"([{"image_id": 9, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}])");
  expect_error_line(kiln("accuracy --task detection --annotations " + dir_ + "/ann.json --reference-detections " +
                         dir_ + "/ref9.json --detections " + dir_ + "/dets.json"),
                    2, "kiln accuracy: error:", {"ref9.json: entry 0 names image_id 9", "ann.json"});
}

// A stand-in detector: boxes/scores/labels = Identity of three inputs, so the .npz decides each image's
// detections (two per image). Input shapes [1,2,4], [1,2], [1,2]; the .npz rows are images 1, 2, 3.
void write_identity_detector(const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("identity_detector");
  const struct {
    const char *in, *out;
    int type;
    std::vector<int64_t> dims;
  } ios[] = {{"b", "boxes", onnx::TensorProto::FLOAT, {1, 2, 4}},
             {"s", "scores", onnx::TensorProto::FLOAT, {1, 2}},
             {"l", "labels", onnx::TensorProto::INT64, {1, 2}}};
  for (const auto& io : ios) {
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->set_name(std::string("id_") + io.in);
    n->add_input(io.in);
    n->add_output(io.out);
    auto declare = [&](onnx::ValueInfoProto* v, const char* name) {
      v->set_name(name);
      auto* tt = v->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(io.type);
      for (int64_t d : io.dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    };
    declare(g->add_input(), io.in);
    declare(g->add_output(), io.out);
  }
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
}

TEST_F(DetectionCli, DetectorModelOnTwoBackends) {
  write_identity_detector(dir_ + "/det.onnx");
  // x1,y1,x2,y2 per image (labels = category ids):
  //   image 1: shirt [0,0,10,10] .9 (TP on A); bag [50,50,60,60] .7 (TP on B, = [50,50,10,10] as x,y,w,h)
  //   image 2 (no gt): shirt [0,0,10,10] .95 (FP); bag [20,20,30,30] .1 (FP)
  //   image 3 (crowd bag region): bag [10,10,30,30] .95 (ignored); shirt [200,200,210,210] .5 (FP)
  // shirt: .95 FP, .9 TP, .5 FP -> rc [0 1 1], pr [0 .5 1/3] -> envelope [.5 .5 1/3] -> AP .5.
  // bag: .95 ignored, .7 TP, .1 FP -> rc [0 1 1], pr [0 1 .5] -> envelope [1 1 .5] -> AP ~1.
  // AP = .75. Read as x,y,w,h instead, the bag box [50,50,60,60] would miss B (IoU 100/3600).
  const std::vector<float> boxes = {0,  0,  10, 10, 50, 50, 60, 60, 0,   0,   10,  10,
                                    20, 20, 30, 30, 10, 10, 30, 30, 200, 200, 210, 210};
  const std::vector<float> scores = {0.9f, 0.7f, 0.95f, 0.1f, 0.95f, 0.5f};
  const std::vector<int64_t> labels = {1, 2, 1, 2, 2, 1};
  ASSERT_TRUE(write_npz(dir_ + "/images.npz", {{"b", Tensor::from_vector<float>({3, 2, 4}, boxes)},
                                               {"s", Tensor::from_vector<float>({3, 2}, scores)},
                                               {"l", Tensor::from_vector<int64_t>({3, 2}, labels)}})
                  .ok());
  const CliResult r =
      kiln("accuracy " + dir_ + "/det.onnx --task detection --annotations " + dir_ + "/ann.json --dataset " + dir_ +
           "/images.npz --backends cpu,cpu:opt --json " + dir_ + "/m.json --save-detections " + dir_ + "/dets");
  ASSERT_EQ(r.code, 0) << r.err;
  // --save-detections: each backend's detections as a COCO results file, which scores the same when read back
  // through --detections (x1,y1,x2,y2 turned into x,y,w,h: the bag [50,50,60,60] is [50,50,10,10]).
  for (const char* b : {"cpu", "cpu_opt"}) {
    const std::string path = dir_ + "/dets/" + b + ".json";
    const auto saved = nlohmann::json::parse(slurp(path));
    ASSERT_EQ(saved.size(), 6u) << path;
    EXPECT_EQ(saved[1]["bbox"], nlohmann::json({50, 50, 10, 10})) << saved.dump();
    EXPECT_EQ(saved[1]["category_id"], 2);
    EXPECT_EQ(saved[1]["image_id"], 1);
    const CliResult back = kiln("accuracy --task detection --annotations " + dir_ + "/ann.json --detections " + path);
    ASSERT_EQ(back.code, 0) << back.err;
    EXPECT_NE(back.out.find("IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.750"), std::string::npos) << back.out;
  }
  EXPECT_EQ(kiln("accuracy --task detection --annotations " + dir_ + "/ann.json --detections " + dir_ +
                 "/dets/cpu.json --save-detections " + dir_ + "/x")
                .code,
            1);
  EXPECT_NE(r.out.find("IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.750"), std::string::npos) << r.out;
  // cpu:opt against cpu's detections scoring >= .3 (all but the .1 bag): identical boxes -> every one a TP,
  // the .1 bag a FP after them -> AP ~1.
  EXPECT_NE(r.out.find("fidelity of cpu:opt to cpu"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(slurp(dir_ + "/m.json"));
  ASSERT_EQ(doc["backends"].size(), 2u);
  EXPECT_NEAR(doc["backends"][0]["detection"]["stats"]["AP"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(doc["backends"][0]["detection"]["per_category"][0]["ap"].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(doc["backends"][0]["detection"]["detections"], 6);
  EXPECT_FALSE(doc["backends"][0].contains("fidelity"));
  EXPECT_NEAR(doc["backends"][1]["fidelity"]["stats"]["AP"].get<double>(), 1, 1e-9);
  EXPECT_EQ(doc["backends"][1]["fidelity"]["ground_truths"], 5);
  // Two images in the .npz for three in the annotation file.
  ASSERT_TRUE(write_npz(dir_ + "/two.npz", {{"b", Tensor::from_vector<float>({2, 2, 4}, std::vector<float>(16, 1))},
                                            {"s", Tensor::from_vector<float>({2, 2}, std::vector<float>(4, 1))},
                                            {"l", Tensor::from_vector<int64_t>({2, 2}, {1, 1, 1, 1})}})
                  .ok());
  expect_error_line(kiln("accuracy " + dir_ + "/det.onnx --task detection --annotations " + dir_ +
                         "/ann.json --dataset " + dir_ + "/two.npz"),
                    2, "kiln accuracy: error:", {"two.npz", "expected 3 images"});
}

// kiln info --passes says where a detector's sizes start to depend on its data (the CUDA backends run it in
// stages from there); a classifier has no such line.
TEST_F(DetectionCli, InfoNamesWhereSizesFollowTheData) {
  const std::string model = std::string(KILN_SOURCE_DIR) + "/models/fashion_detect/fashion_detect.onnx";
  const auto text = kiln("info " + model + " --passes");
  ASSERT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("sizes       known only at run time from node '/NonZero' (NonZero) on"), std::string::npos)
      << text.out;
  const auto json = kiln("info " + model + " --passes --json");
  ASSERT_EQ(json.code, 0) << json.out;
  EXPECT_EQ(nlohmann::json::parse(json.out)["passes"]["data_dependent_from"], "node '/NonZero' (NonZero)");
  ASSERT_EQ(kiln("zoo tiny_cnn -o " + dir_ + "/tiny.onnx").code, 0);
  const auto cnn = kiln("info " + dir_ + "/tiny.onnx --passes --json");
  ASSERT_EQ(cnn.code, 0) << cnn.out;
  EXPECT_TRUE(nlohmann::json::parse(cnn.out)["passes"]["data_dependent_from"].is_null());
}

TEST_F(DetectionCli, BadInput) {
  const std::string ann = " --annotations " + dir_ + "/ann.json";
  const std::string det = " --detections " + dir_ + "/dets.json";
  const std::string cmd = "accuracy --task detection";
  const std::string err = "kiln accuracy: error:";
  expect_error_line(kiln(cmd + " --annotations " + dir_ + "/none.json" + det), 2, err, {"none.json", "cannot open"});
  write(dir_ + "/corrupt.json", "{\"images\": [1,");
  expect_error_line(kiln(cmd + " --annotations " + dir_ + "/corrupt.json" + det), 2, err,
                    {"corrupt.json", "not valid JSON"});
  write(dir_ + "/unknown.json", R"([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])");
  expect_error_line(kiln(cmd + ann + " --detections " + dir_ + "/unknown.json"), 2, err,
                    {"unknown.json: detection 0 names image_id 99"});
  write(dir_ + "/negative.json", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1},
                                     {"image_id": 1, "category_id": 1, "bbox": [0, 0, -4, 1], "score": 1}])");
  expect_error_line(kiln(cmd + ann + " --detections " + dir_ + "/negative.json"), 2, err,
                    {"negative.json: entry 1", "negative width"});
  expect_error_line(kiln(cmd + ann), 1, err, {"--detections"});
  expect_error_line(kiln(cmd + det), 1, err, {"--annotations", "--reference-detections"});
  expect_error_line(kiln("accuracy model.onnx --task detection" + ann + det), 1, err, {"MODEL makes the detections"});
  expect_error_line(kiln("accuracy model.onnx --task detection" + ann), 1, err, {"--dataset IMAGES.npz"});
  expect_error_line(kiln("accuracy" + ann + det), 1, err, {"need --task detection"});
  expect_error_line(kiln("accuracy --dataset x.npz"), 1, err, {"MODEL is required"});
}

}  // namespace
}  // namespace kiln::clitest
