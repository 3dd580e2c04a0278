// Model zoo: torchvision parameter counts and MACs, state_dict-ordered initializers, options and errors.
#include "models/zoo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>

namespace kiln::models {
namespace {

int64_t params_of(const std::string& name, ZooOptions o = {}) {
  auto s = zoo_model_stats(name, o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? s->params : -1;
}

// Sum of initializer elements that torchvision counts as parameters (running stats excluded).
int64_t graph_params(const Graph& g) {
  int64_t n = 0;
  for (const Value* v : g.initializers) {
    const std::string& s = v->name;
    if (s.size() > 13 && (s.rfind(".running_mean") == s.size() - 13 || s.rfind(".running_var") == s.size() - 12))
      continue;
    if (s.size() > 12 && s.rfind(".running_var") == s.size() - 12) continue;
    n += v->constant->numel();
  }
  return n;
}

// Structural check: nodes in topological order, every input defined, one producer per value, outputs produced.
bool well_formed(const Graph& g, std::string* why) {
  std::set<const Value*> defined(g.inputs.begin(), g.inputs.end());
  defined.insert(g.initializers.begin(), g.initializers.end());
  for (const auto& n : g.nodes()) {
    for (const Value* v : n->inputs)
      if (v && !defined.count(v)) return *why = n->name + " reads undefined " + v->name, false;
    for (const Value* v : n->outputs)
      if (!defined.insert(v).second || v->producer != n.get()) return *why = v->name + " produced twice", false;
  }
  for (const Value* v : g.outputs)
    if (!defined.count(v)) return *why = "output " + v->name + " not produced", false;
  return true;
}

std::unique_ptr<Graph> build(const std::string& name, ZooOptions o) {
  auto g = build_zoo_model(name, o);
  EXPECT_TRUE(g.ok()) << name << ": " << g.status().to_string();
  return g.ok() ? std::move(g).value() : nullptr;
}

// Figures from torchvision's model documentation (sum of p.numel() over model.parameters()).
TEST(ZooParams, MatchTorchvision) {
  EXPECT_EQ(params_of("resnet18"), 11689512);
  EXPECT_EQ(params_of("resnet34"), 21797672);
  EXPECT_EQ(params_of("resnet50"), 25557032);
  EXPECT_EQ(params_of("mobilenet_v2"), 3504872);
  EXPECT_EQ(params_of("vgg11_bn"), 132868840);
  EXPECT_EQ(params_of("efficientnet_b0"), 5288548);
}

// torchvision documents GFLOPS that are really multiply-accumulates of the convs and linears at 224x224.
TEST(ZooParams, MacsMatchTorchvision) {
  const std::pair<const char*, double> expected[] = {{"resnet18", 1.81e9}, {"resnet34", 3.66e9},
                                                     {"resnet50", 4.09e9}, {"mobilenet_v2", 0.30e9},
                                                     {"vgg11_bn", 7.61e9}, {"efficientnet_b0", 0.39e9}};
  for (const auto& [name, macs] : expected) {
    auto s = zoo_model_stats(name, {});
    ASSERT_TRUE(s.ok());
    EXPECT_NEAR(static_cast<double>(s->macs), macs, macs * 0.02) << name;
  }
}

TEST(ZooParams, TinyCnnByHand) {
  // stem 3->16, down1 16->32, block 32->32 twice, down2 32->64 (3x3 convs, no bias), BN gamma/beta, fc 64->10.
  const int64_t convs = 3 * 16 * 9 + 16 * 32 * 9 + 2 * 32 * 32 * 9 + 32 * 64 * 9;
  const int64_t bns = 2 * (16 + 32 + 32 + 32 + 64);
  EXPECT_EQ(params_of("tiny_cnn"), convs + bns + 64 * 10 + 10);
  auto g = build("tiny_cnn", {});
  ASSERT_TRUE(g);
  int64_t bytes = 0;
  for (const Value* v : g->initializers) bytes += static_cast<int64_t>(v->constant->nbytes());
  EXPECT_LT(bytes, 5 << 20);
}

TEST(ZooParams, BuiltInitializersAgreeWithCount) {
  ZooOptions o;
  o.height = o.width = 64;
  for (const char* name : {"resnet18", "mobilenet_v2", "efficientnet_b0", "tiny_cnn", "ssd_lite"}) {
    auto g = build(name, o);
    ASSERT_TRUE(g) << name;
    EXPECT_EQ(graph_params(*g), params_of(name, o)) << name;
  }
}

TEST(ZooOrder, ResNetInitializersFollowStateDict) {
  ZooOptions o;
  o.height = o.width = 32;
  auto g = build("resnet18", o);
  ASSERT_TRUE(g);
  // resnet18's state_dict has 122 keys, 20 of them num_batches_tracked.
  ASSERT_EQ(g->initializers.size(), 102u);
  const char* head[] = {"conv1.weight",       "bn1.weight",      "bn1.bias",
                        "bn1.running_mean",   "bn1.running_var", "layer1.0.conv1.weight",
                        "layer1.0.bn1.weight"};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(g->initializers[i]->name, head[i]);
  EXPECT_EQ(g->initializers[100]->name, "fc.weight");
  EXPECT_EQ(g->initializers[101]->name, "fc.bias");
  // layer2.0: conv1, bn1, conv2, bn2 then downsample.0 (conv) and downsample.1 (BN).
  size_t i = 0;
  while (i < g->initializers.size() && g->initializers[i]->name != "layer2.0.bn2.running_var") ++i;
  ASSERT_LT(i + 2, g->initializers.size());
  EXPECT_EQ(g->initializers[i + 1]->name, "layer2.0.downsample.0.weight");
  EXPECT_EQ(g->initializers[i + 2]->name, "layer2.0.downsample.1.weight");
  const Value* w = g->find_value("layer3.1.conv2.weight");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->constant->shape(), (Shape{256, 256, 3, 3}));
}

TEST(ZooOrder, MobileNetV2AndEfficientNetKeys) {
  ZooOptions o;
  o.height = o.width = 32;
  auto g = build("mobilenet_v2", o);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->initializers.size(), 262u);  // 52 convs + 52 BNs * 4 + classifier.1 weight and bias
  EXPECT_EQ(g->initializers[0]->name, "features.0.0.weight");
  EXPECT_EQ(g->initializers[5]->name, "features.1.conv.0.0.weight");  // t=1: depthwise first
  EXPECT_EQ(g->initializers[10]->name, "features.1.conv.1.weight");
  EXPECT_EQ(g->initializers[11]->name, "features.1.conv.2.weight");
  EXPECT_EQ(g->initializers[15]->name, "features.2.conv.0.0.weight");
  EXPECT_EQ(g->initializers[15]->constant->shape(), (Shape{96, 16, 1, 1}));
  EXPECT_EQ(g->find_value("features.2.conv.1.0.weight")->constant->shape(), (Shape{96, 1, 3, 3}));
  EXPECT_EQ(g->find_value("features.18.0.weight")->constant->shape(), (Shape{1280, 320, 1, 1}));
  EXPECT_EQ(g->initializers.back()->name, "classifier.1.bias");

  auto e = build("efficientnet_b0", o);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->find_value("features.1.0.block.1.fc1.weight")->constant->shape(), (Shape{8, 32, 1, 1}));
  EXPECT_EQ(e->find_value("features.2.0.block.2.fc2.bias")->constant->shape(), (Shape{96}));
  EXPECT_EQ(e->find_value("features.6.3.block.3.0.weight")->constant->shape(), (Shape{192, 1152, 1, 1}));
  EXPECT_EQ(e->find_value("features.8.0.weight")->constant->shape(), (Shape{1280, 320, 1, 1}));
}

TEST(ZooOrder, VggKeysSkipReluAndPoolIndices) {
  ZooOptions o;
  o.height = o.width = 32;  // 1x1 feature map: the 7x7 adaptive pool becomes an Expand
  o.width_mult = 0.25;
  auto g = build("vgg11_bn", o);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->initializers[0]->name, "features.0.weight");
  EXPECT_EQ(g->initializers[2]->name, "features.1.weight");
  EXPECT_EQ(g->initializers[6]->name, "features.4.weight");  // 0 conv, 1 bn, 2 relu, 3 pool
  EXPECT_TRUE(g->find_value("features.25.weight"));
  EXPECT_EQ(g->find_value("classifier.0.weight")->constant->shape(), (Shape{1024, 128 * 49}));
  EXPECT_TRUE(g->find_value("classifier.6.bias"));
}

TEST(ZooBuild, EveryModelStaticAndDynamicBatch) {
  for (const ZooModel& m : zoo_models()) {
    for (bool dynamic : {false, true}) {
      ZooOptions o;
      o.height = o.width = m.name == "vgg11_bn" ? 32 : 64;
      o.batch = dynamic ? Dim::sym("batch") : Dim(2);
      o.width_mult = m.name == "vgg11_bn" ? 0.25 : dynamic ? 0.5 : 1.0;  // fewer weights to generate
      auto g = build(m.name, o);
      ASSERT_TRUE(g) << m.name;
      std::string why;
      EXPECT_TRUE(well_formed(*g, &why)) << m.name << ": " << why;
      EXPECT_TRUE(verify_graph(*g).ok()) << m.name << ": " << verify_graph(*g).to_string();
      ASSERT_EQ(g->inputs.size(), 1u);
      EXPECT_EQ(g->inputs[0]->name, "input");
      EXPECT_EQ(g->inputs[0]->shape.dims[0], o.batch);
      EXPECT_EQ(g->opset(), 17);
      if (m.name == "ssd_lite") continue;
      ASSERT_EQ(g->outputs.size(), 1u);
      EXPECT_EQ(g->outputs[0]->name, "logits");
      EXPECT_EQ(g->outputs[0]->shape.to_string(), SymShape({o.batch, Dim(m.default_classes)}).to_string());
    }
  }
}

TEST(ZooBuild, SsdLiteOutputsAndNms) {
  ZooOptions o;
  o.nms = true;
  auto g = build("ssd_lite", o);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->outputs.size(), 3u);
  // 320x320: maps of 20x20, 10x10, 5x5 and 3x3 with 6 anchors each.
  const int64_t anchors = (400 + 100 + 25 + 9) * 6;
  EXPECT_EQ(g->outputs[0]->name, "scores");
  EXPECT_EQ(g->outputs[0]->shape.to_string(), SymShape::from({1, anchors, 21}).to_string());
  EXPECT_EQ(g->outputs[1]->name, "boxes");
  EXPECT_EQ(g->outputs[1]->shape.to_string(), SymShape::from({1, anchors, 4}).to_string());
  EXPECT_EQ(g->outputs[2]->name, "selected_indices");
  EXPECT_EQ(g->outputs[2]->dtype, DType::kInt64);
  EXPECT_EQ(g->outputs[2]->producer->op_type, "NonMaxSuppression");
}

TEST(ZooBuild, SeedsAreDeterministic) {
  auto a = build("tiny_cnn", {});
  auto b = build("tiny_cnn", {});
  ZooOptions o;
  o.seed = 7;
  auto c = build("tiny_cnn", o);
  ASSERT_TRUE(a && b && c);
  const Tensor& ta = *a->find_value("down1.0.weight")->constant;
  const Tensor& tb = *b->find_value("down1.0.weight")->constant;
  const Tensor& tc = *c->find_value("down1.0.weight")->constant;
  EXPECT_EQ(0, std::memcmp(ta.raw(), tb.raw(), ta.nbytes()));
  EXPECT_NE(0, std::memcmp(ta.raw(), tc.raw(), ta.nbytes()));
  // He scaling: std = sqrt(2 / fan_in), fan_in = 16 * 3 * 3.
  double sum2 = 0;
  for (int64_t i = 0; i < ta.numel(); ++i) sum2 += ta.data<float>()[i] * ta.data<float>()[i];
  EXPECT_NEAR(std::sqrt(sum2 / ta.numel()), std::sqrt(2.0 / 144), 0.01);
  // Running variance far from 1 and means nonzero, so BN folding has something to fold.
  const Tensor& var = *a->find_value("stem.1.running_var")->constant;
  for (int64_t i = 0; i < var.numel(); ++i) EXPECT_TRUE(var.data<float>()[i] >= 0.6f && var.data<float>()[i] <= 1.6f);
}

TEST(ZooRng, NormalHasUnitMoments) {
  Rng r(42);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
}

TEST(ZooRng, MakeDivisibleLikeTorchvision) {
  EXPECT_EQ(make_divisible(32 * 0.5), 16);
  EXPECT_EQ(make_divisible(24 * 0.35), 8);
  EXPECT_EQ(make_divisible(16 * 0.25), 8);  // never below the divisor
  EXPECT_EQ(make_divisible(27.2), 32);      // 24 would lose more than 10%
  EXPECT_EQ(make_divisible(96 * 0.75), 72);
  EXPECT_EQ(make_divisible(20.0), 24);  // halves round up
}

TEST(ZooPrune, ThinsOutputsAndConsumers) {
  ZooOptions o;
  o.prune = {{"layer1.0.conv1", 0.5}};
  // conv1 64->32 outputs (-64*32*9), bn1 (-2*32), conv2 takes 32 inputs (-64*32*9).
  EXPECT_EQ(params_of("resnet18", o), 11689512 - 2 * 64 * 32 * 9 - 64);
  o.height = o.width = 32;
  auto g = build("resnet18", o);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->find_value("layer1.0.conv2.weight")->constant->shape(), (Shape{64, 32, 3, 3}));
  // Expand conv of an inverted residual: the depthwise conv follows, the projection takes fewer inputs.
  ZooOptions m;
  m.height = m.width = 32;
  m.prune = {{"features.2.conv.0.0", 0.25}};
  auto mg = build("mobilenet_v2", m);
  ASSERT_TRUE(mg);
  EXPECT_EQ(mg->find_value("features.2.conv.1.0.weight")->constant->shape(), (Shape{72, 1, 3, 3}));
  EXPECT_EQ(mg->find_value("features.2.conv.2.weight")->constant->shape(), (Shape{24, 72, 1, 1}));
}

TEST(ZooPrune, RejectsResidualDepthwiseAndUnknownLayers) {
  ZooOptions o;
  o.prune = {{"layer1.0.conv2", 0.5}};
  auto s = zoo_model_stats("resnet18", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("residual"), std::string::npos) << s.status().message();
  o.prune = {{"layer9.conv1", 0.5}};
  s = zoo_model_stats("resnet18", o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUsage);
  EXPECT_NE(s.status().message().find("layer9.conv1"), std::string::npos);
  o.prune = {{"features.2.conv.1.0", 0.5}};
  s = zoo_model_stats("mobilenet_v2", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("depthwise"), std::string::npos);
}

TEST(ZooOptionsTest, WidthMultShrinksChannels) {
  ZooOptions o;
  o.width_mult = 0.5;
  EXPECT_LT(params_of("mobilenet_v2", o), 3504872 * 6 / 10);  // the 1280-channel head is not scaled
  o.height = o.width = 32;
  auto g = build("mobilenet_v2", o);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->find_value("features.0.0.weight")->constant->shape(), (Shape{16, 3, 3, 3}));
  EXPECT_EQ(g->find_value("features.18.0.weight")->constant->shape(), (Shape{1280, 160, 1, 1}));
  auto r = build("resnet18", o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->find_value("fc.weight")->constant->shape(), (Shape{1000, 256}));
}

TEST(ZooOptionsTest, BadOptionsAreUsageErrors) {
  auto expect_usage = [](const std::string& name, ZooOptions o, const std::string& needle) {
    auto s = zoo_model_stats(name, o);
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.status().code(), StatusCode::kUsage) << s.status().message();
    EXPECT_NE(s.status().message().find(needle), std::string::npos) << s.status().message();
  };
  ZooOptions o;
  expect_usage("resnet99", o, "unknown zoo model");
  o.opset = 12;
  expect_usage("resnet18", o, "--opset");
  o = {};
  o.width_mult = 1.5;
  expect_usage("resnet18", o, "--width-mult");
  o = {};
  o.height = 16;
  o.width = 16;  // VGG's fifth 2x2 pool would get a 1x1 map
  expect_usage("vgg11_bn", o, "too small");
  o = {};
  o.height = o.width = 64;  // 2x2 feature map cannot be pooled to 7x7 exactly
  expect_usage("vgg11_bn", o, "7x7");
  o = {};
  o.nms = true;
  expect_usage("resnet18", o, "--nms");
  o = {};
  o.classes = 1;
  expect_usage("ssd_lite", o, "--classes");
}

TEST(ZooOptionsTest, ParsePruneAndBatch) {
  auto p = parse_prune_spec("layer1.0.conv1=0.5,features.2.conv.0.0=0.25");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), 2u);
  EXPECT_DOUBLE_EQ(p->at("features.2.conv.0.0"), 0.25);
  for (const char* bad : {"", "layer1", "=0.5", "a=1.0", "a=-0.1", "a=x", "a=0.5,a=0.2", "a=0.5,"})
    EXPECT_FALSE(parse_prune_spec(bad).ok()) << bad;
  EXPECT_TRUE(parse_batch("dynamic")->is_symbol());
  EXPECT_EQ(parse_batch("8")->value, 8);
  for (const char* bad : {"0", "-1", "x", "", "9999999"}) EXPECT_FALSE(parse_batch(bad).ok()) << bad;
}

TEST(ZooOptionsTest, ListShowsEveryModelWithCounts) {
  auto text = zoo_list_text();
  ASSERT_TRUE(text.ok());
  for (const ZooModel& m : zoo_models()) EXPECT_NE(text->find(m.name), std::string::npos) << m.name;
  EXPECT_NE(text->find("25,557,032"), std::string::npos) << *text;
  EXPECT_NE(text->find("132,868,840"), std::string::npos) << *text;
}

}  // namespace
}  // namespace kiln::models
