// Splitting at data-dependent sizes and the staged run (ir/split.h): the head/tail cut of a hand-built graph,
// then staged runs on the CPU reference against the whole graph run at once (hand-built graphs, the trained
// Fashion detector with its 10 NonZero and NonMaxSuppression, zoo ssd_lite with NMS as its output).
#include "ir/split.h"

#include <gtest/gtest.h>

#include <set>

#include "cpu/executor.h"
#include "models/zoo.h"
#include "onnx/importer.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

std::set<std::string> ops_of(const Graph& g) {
  std::set<std::string> s;
  for (const auto& n : g.nodes()) s.insert(n->name);
  return s;
}
std::vector<std::string> names(const std::vector<Value*>& vs) {
  std::vector<std::string> s;
  for (const Value* v : vs) s.push_back(v->name);
  return s;
}

// x[6] -> Greater(x, 0) -> NonZero -> Squeeze -> Gather(x, .) -> ReduceSum = the sum of x's positive
// entries; Relu(x) beside it, and `chain` more NonZero/Cast rounds after the first (each needs a stage).
std::unique_ptr<Graph> positive_sum(int chain = 0) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({6})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* zero = g->add_initializer("zero", Tensor::scalar<float>(0.f)).value();
  Value* axes = g->add_initializer("axes", Tensor::from_vector<int64_t>({1}, {0})).value();
  auto val = [&](const std::string& n) { return g->add_value(n).value(); };
  Value *pos = val("pos"), *nz = val("nz"), *idx = val("idx"), *sel = val("sel"), *sum = val("sum"), *r = val("r");
  g->add_node("Greater", "greater", {x, zero}, {pos});
  g->add_node("NonZero", "nonzero", {pos}, {nz});
  g->add_node("Squeeze", "squeeze", {nz, axes}, {idx});
  g->add_node("Gather", "gather", {x, idx}, {sel});
  Value* last = sel;
  for (int i = 0; i < chain; ++i) {  // sel -> NonZero(sel) -> Squeeze -> Cast to float: sizes unknown again
    Value *n2 = val("nz" + std::to_string(i)), *i2 = val("idx" + std::to_string(i)), *f2 = val("f" + std::to_string(i));
    g->add_node("NonZero", "nonzero" + std::to_string(i), {last}, {n2});
    g->add_node("Squeeze", "squeeze" + std::to_string(i), {n2, axes}, {i2});
    g->add_node("Cast", "cast" + std::to_string(i), {i2}, {f2})->attrs["to"] = Attribute::make_int(1);
    last = f2;
  }
  g->add_node("ReduceSum", "sum", {last}, {sum})->attrs["keepdims"] = Attribute::make_int(0);
  g->add_node("Relu", "relu", {x}, {r});
  for (Value* o : {sum, r}) {
    o->is_graph_output = true;
    g->outputs.push_back(o);
  }
  return g;
}

const Tensor kX = Tensor::from_vector<float>({6}, {-1.f, 2.f, 0.f, 3.f, -4.f, 5.f});

Status infer_only(Graph& g) { return infer_shapes(g); }
Expected<TensorMap> on_cpu(const Graph& g, const TensorMap& feeds) { return run_cpu(g, feeds); }

TEST(SplitAtUnknownShapes, HeadEndsAtTheDataDependentSize) {
  auto g = positive_sum();
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto split = split_at_unknown_shapes(*g);
  ASSERT_TRUE(split.ok()) << split.status().to_string();
  EXPECT_EQ(ops_of(*split->head), (std::set<std::string>{"greater", "nonzero", "relu"}));
  ASSERT_NE(split->tail, nullptr);
  EXPECT_EQ(ops_of(*split->tail), (std::set<std::string>{"squeeze", "gather", "sum"}));
  // The head returns the graph output it makes and what the tail reads; the tail reads x (a graph input)
  // and the NonZero result, and makes the other graph output.
  EXPECT_EQ(names(split->head->outputs), (std::vector<std::string>{"r", "nz"}));
  EXPECT_EQ(names(split->tail->inputs), (std::vector<std::string>{"nz", "x"}));
  EXPECT_EQ(names(split->tail->outputs), (std::vector<std::string>{"sum"}));
  EXPECT_NE(split->tail->find_value("axes"), nullptr) << "constants the tail reads are copied into it";
}

TEST(SplitAtUnknownShapes, StaticGraphIsOneStageAndSymbolicInputsAreRefused) {
  auto g = positive_sum();
  g->remove_nodes({});
  auto whole = copy_graph(*g);
  ASSERT_TRUE(whole.ok());
  Value* x = (*whole)->inputs[0];
  x->shape = SymShape({Dim::sym("n")});
  ASSERT_TRUE(infer_shapes(**whole).ok());
  auto refused = split_at_unknown_shapes(**whole);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("input 'x'"), std::string::npos) << refused.status().to_string();

  Graph relu;
  relu.opset_imports[""] = 13;
  Value* in = relu.add_value("in", DType::kFloat32, SymShape::from({2, 3})).value();
  in->is_graph_input = true;
  relu.inputs.push_back(in);
  Value* out = relu.add_value("out").value();
  out->is_graph_output = true;
  relu.outputs.push_back(out);
  relu.add_node("Relu", "relu", {in}, {out});
  ASSERT_TRUE(infer_shapes(relu).ok());
  auto one = split_at_unknown_shapes(relu);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->tail, nullptr);
  EXPECT_EQ(one->head->nodes().size(), 1u);
}

TEST(RunInStages, HandBuiltGraphsEqualTheWholeRun) {
  for (int chain : {0, 1, 2}) {
    auto g = positive_sum(chain);
    ASSERT_TRUE(infer_shapes(*g).ok());
    auto whole = run_cpu(*g, {{"x", kX}});
    ASSERT_TRUE(whole.ok()) << whole.status().to_string();
    StagedRunReport report;
    auto staged = run_in_stages(*g, {{"x", kX}}, infer_only, on_cpu, &report);
    ASSERT_TRUE(staged.ok()) << staged.status().to_string();
    EXPECT_EQ(report.stages, 2 + chain) << "one more stage per NonZero whose input size was unknown";
    for (const char* name : {"sum", "r"}) {
      ASSERT_TRUE(staged->count(name)) << name;
      const Tensor& a = staged->at(name);
      const Tensor& b = whole->at(name);
      ASSERT_EQ(a.shape(), b.shape()) << name;
      for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.data<float>()[i], b.data<float>()[i]) << name << " " << i;
    }
    // By hand: 2 + 3 + 5 = 10; one chain round: the positions 0,1,2 of [2,3,5] sum to 3; two: the non-zero
    // positions of [0,1,2] are 1,2, sum 3.
    const float expect[] = {10.f, 3.f, 3.f};
    EXPECT_EQ(staged->at("sum").data<float>()[0], expect[chain]);
  }
  auto g = positive_sum(2);
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto capped = run_in_stages(*g, {{"x", kX}}, infer_only, on_cpu, nullptr, 2);
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(capped.status().message().find("after 2 stages"), std::string::npos) << capped.status().to_string();
}

// max |a - b| over matching outputs, with shapes and integer outputs equal.
void expect_same_outputs(const TensorMap& a, const TensorMap& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, x] : a) {
    const Tensor& y = b.at(name);
    ASSERT_EQ(x.shape(), y.shape()) << name;
    ASSERT_EQ(x.dtype(), y.dtype()) << name;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (x.dtype() == DType::kFloat32) {
        EXPECT_NEAR(x.data<float>()[i], y.data<float>()[i], tol) << name << " " << i;
      } else if (x.dtype() == DType::kInt64) {
        EXPECT_EQ(x.data<int64_t>()[i], y.data<int64_t>()[i]) << name << " " << i;
      }
    }
  }
}

Status optimize(Graph& g) { return optimize_graph(g).status(); }

TEST(RunInStages, TrainedFashionDetectorEqualsTheWholeRun) {
  const std::string path = std::string(KILN_TEST_DATA_DIR) + "/../../models/fashion_detect/fashion_detect.onnx";
  auto g = load_onnx(path);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  // A seeded grey canvas with noise and two bright rectangles: the detector keeps some boxes.
  auto img = Tensor::create(DType::kFloat32, {3, 128, 128}).value();
  uint64_t s = 7;
  for (int64_t i = 0; i < img.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t y = (i / 128) % 128, x = i % 128;
    const bool item = (y > 20 && y < 60 && x > 30 && x < 70) || (y > 80 && y < 120 && x > 70 && x < 100);
    img.data<float>()[i] = (item ? 220.f : 110.f) + static_cast<float>((s >> 33) % 25);
  }
  const TensorMap feeds{{"images", img}};
  auto whole_graph = copy_graph(**g);
  ASSERT_TRUE(whole_graph.ok());
  ASSERT_TRUE(optimize(**whole_graph).ok());
  auto whole = run_cpu(**whole_graph, feeds);
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  ASSERT_GT(whole->at("scores").numel(), 0) << "the test image should give detections";
  StagedRunReport report;
  auto staged = run_in_stages(**g, feeds, optimize, on_cpu, &report);
  ASSERT_TRUE(staged.ok()) << staged.status().to_string();
  EXPECT_GE(report.stages, 2);
  expect_same_outputs(*staged, *whole, 1e-4);
  for (const std::string& line : report.stage_ops) std::cout << "  stage: " << line << "\n";
}

TEST(RunInStages, ZooSsdLiteWithNmsIsOneStage) {
  models::ZooOptions o;
  o.nms = true;
  auto g = models::build_zoo_model("ssd_lite", o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_TRUE(infer_shapes(**g).ok());
  const Value* in = (*g)->inputs[0];
  auto shape = in->shape.to_static();
  ASSERT_TRUE(shape.has_value());
  auto x = Tensor::create(DType::kFloat32, *shape).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.f - 1.f;
  const TensorMap feeds{{in->name, x}};
  auto whole = run_cpu(**g, feeds);
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  StagedRunReport report;
  auto staged = run_in_stages(**g, feeds, infer_only, on_cpu, &report);
  ASSERT_TRUE(staged.ok()) << staged.status().to_string();
  EXPECT_EQ(report.stages, 1) << "NonMaxSuppression's rows are a graph output: nothing reads them";
  expect_same_outputs(*staged, *whole, 0);
}

}  // namespace
}  // namespace kiln
