// Zoo models through shape inference and the CPU reference: finite, non-constant outputs for every model
// (static and dynamic batch), tiny_cnn checked against a hand-written forward pass, ssd_lite's boxes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "models/zoo.h"
#include "ops/registry.h"

namespace kiln::models {
namespace {

bool have_ops() {
  for (const char* op : {"Conv", "BatchNormalization", "Gemm", "GlobalAveragePool", "Clip", "NonMaxSuppression"})
    if (!OpRegistry::instance().find(op)) return false;
  return true;
}

#define REQUIRE_OPS() \
  if (!have_ops()) GTEST_SKIP() << "the op families are not registered in this build yet"

Tensor seeded_input(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::create(DType::kFloat32, shape).value();
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.normal());
  return t;
}

std::unique_ptr<Graph> build_inferred(const std::string& name, const ZooOptions& o) {
  auto g = build_zoo_model(name, o);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  if (!g.ok()) return nullptr;
  Status s = infer_shapes(**g);
  EXPECT_TRUE(s.ok()) << name << ": " << s.to_string();
  return s.ok() ? std::move(g).value() : nullptr;
}

// Every row (sample) of a [N, K] output: finite, spread across classes, and rows differ between samples.
void expect_healthy_logits(const std::string& name, const Tensor& t) {
  ASSERT_EQ(t.rank(), 2) << name;
  const int64_t n = t.dim(0), k = t.dim(1);
  const float* p = t.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    double mean = 0, var = 0, mag = 0;
    for (int64_t j = 0; j < k; ++j) {
      ASSERT_TRUE(std::isfinite(p[r * k + j])) << name << " row " << r;
      mean += p[r * k + j] / k;
    }
    for (int64_t j = 0; j < k; ++j) {
      var += (p[r * k + j] - mean) * (p[r * k + j] - mean) / k;
      mag = std::max(mag, static_cast<double>(std::fabs(p[r * k + j])));
    }
    EXPECT_GT(std::sqrt(var), 1e-2) << name << ": logits nearly constant across classes";
    EXPECT_LT(mag, 1e4) << name << ": activations blew up";
  }
  if (n > 1) {  // the input must matter, not just the biases: rows differ by a fair share of their spread
    double diff = 0, spread = 0;
    for (int64_t j = 0; j < k; ++j) {
      diff = std::max(diff, static_cast<double>(std::fabs(p[j] - p[k + j])));
      spread = std::max(spread, static_cast<double>(std::fabs(p[j] - p[0])));
    }
    EXPECT_GT(diff, 0.05 * spread) << name << ": different inputs gave nearly the same logits";
  }
}

TEST(ZooRun, EveryClassifierStaticAndDynamicBatch) {
  REQUIRE_OPS();
  for (const ZooModel& m : zoo_models()) {
    if (m.name == "ssd_lite" || m.name == "resnet50") continue;  // resnet50 and ssd_lite: own tests
    for (bool dynamic : {false, true}) {
      ZooOptions o;
      o.height = o.width = m.name == "vgg11_bn" ? 32 : 64;
      o.width_mult = m.name == "vgg11_bn" ? 0.25 : 1.0;
      o.batch = dynamic ? Dim::sym("batch") : Dim(2);
      o.classes = 10;
      auto g = build_inferred(m.name, o);
      ASSERT_TRUE(g) << m.name;
      EXPECT_EQ(g->outputs[0]->shape.dims[0], o.batch) << m.name << ": batch dim lost in inference";
      const int64_t batch = dynamic ? 3 : 2;
      auto out = run_cpu(*g, {{"input", seeded_input({batch, 3, o.height, o.width}, 11)}});
      ASSERT_TRUE(out.ok()) << m.name << ": " << out.status().to_string();
      ASSERT_EQ(out->at("logits").shape(), (Shape{batch, 10})) << m.name;
      expect_healthy_logits(m.name + (dynamic ? " dynamic" : " static"), out->at("logits"));
    }
  }
}

TEST(ZooRun, ResNet50At224) {
  REQUIRE_OPS();
  auto g = build_inferred("resnet50", {});
  ASSERT_TRUE(g);
  auto out = run_cpu(*g, {{"input", seeded_input({1, 3, 224, 224}, 5)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->at("logits").shape(), (Shape{1, 1000}));
  expect_healthy_logits("resnet50", out->at("logits"));
}

TEST(ZooRun, PrunedAndThinnedModelsRun) {
  REQUIRE_OPS();
  ZooOptions o;
  o.height = o.width = 64;
  o.width_mult = 0.35;
  o.prune = {{"features.3.conv.0.0", 0.5}, {"features.18.0", 0.25}};
  o.batch = Dim(2);
  auto g = build_inferred("mobilenet_v2", o);
  ASSERT_TRUE(g);
  auto out = run_cpu(*g, {{"input", seeded_input({2, 3, 64, 64}, 3)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  expect_healthy_logits("mobilenet_v2 thinned", out->at("logits"));
}

// ---- tiny_cnn against a forward pass written out by hand --------------------------------------------

struct Fmap {
  int64_t c, h, w;
  std::vector<double> v;
  double& at(int64_t ci, int64_t y, int64_t x) { return v[(ci * h + y) * w + x]; }
};

const float* weights(const Graph& g, const std::string& name) { return g.find_value(name)->constant->data<float>(); }

Fmap conv3x3(const Graph& g, Fmap& in, const std::string& name, int64_t cout, int64_t stride) {
  const float* wt = weights(g, name + ".weight");
  Fmap out{cout, (in.h - 1) / stride + 1, (in.w - 1) / stride + 1, {}};
  out.v.assign(static_cast<size_t>(out.c * out.h * out.w), 0.0);
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t y = 0; y < out.h; ++y)
      for (int64_t x = 0; x < out.w; ++x) {
        double s = 0;
        for (int64_t i = 0; i < in.c; ++i)
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t iy = y * stride + ky - 1, ix = x * stride + kx - 1;
              if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
                s += wt[((o * in.c + i) * 3 + ky) * 3 + kx] * in.at(i, iy, ix);
            }
        out.at(o, y, x) = s;
      }
  return out;
}

void bn(const Graph& g, Fmap& f, const std::string& name, bool relu) {
  const float *gamma = weights(g, name + ".weight"), *beta = weights(g, name + ".bias");
  const float *mean = weights(g, name + ".running_mean"), *var = weights(g, name + ".running_var");
  for (int64_t c = 0; c < f.c; ++c)
    for (int64_t i = 0; i < f.h * f.w; ++i) {
      double& x = f.v[static_cast<size_t>(c * f.h * f.w + i)];
      x = gamma[c] * (x - mean[c]) / std::sqrt(var[c] + 1e-5) + beta[c];
      if (relu) x = std::max(0.0, x);
    }
}

Fmap conv_bn(const Graph& g, Fmap& in, const std::string& name, int64_t cout, int64_t stride, bool relu) {
  Fmap f = conv3x3(g, in, name + ".0", cout, stride);
  bn(g, f, name + ".1", relu);
  return f;
}

TEST(ZooRun, TinyCnnMatchesHandWrittenForward) {
  REQUIRE_OPS();
  ZooOptions o;
  o.height = o.width = 16;
  o.seed = 9;
  auto g = build_inferred("tiny_cnn", o);
  ASSERT_TRUE(g);
  Tensor x = seeded_input({1, 3, 16, 16}, 21);
  auto out = run_cpu(*g, {{"input", x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();

  Fmap f{3, 16, 16, std::vector<double>(x.data<float>(), x.data<float>() + x.numel())};
  f = conv_bn(*g, f, "stem", 16, 1, true);
  f = conv_bn(*g, f, "down1", 32, 2, true);
  Fmap y = conv_bn(*g, f, "block.0", 32, 1, true);
  y = conv_bn(*g, y, "block.1", 32, 1, false);
  for (size_t i = 0; i < f.v.size(); ++i) f.v[i] = std::max(0.0, f.v[i] + y.v[i]);
  f = conv_bn(*g, f, "down2", 64, 2, true);
  const float *fw = weights(*g, "fc.weight"), *fb = weights(*g, "fc.bias");
  const Tensor& logits = out->at("logits");
  ASSERT_EQ(logits.shape(), (Shape{1, 10}));
  for (int64_t k = 0; k < 10; ++k) {
    double s = fb[k];
    for (int64_t c = 0; c < 64; ++c) {
      double mean = 0;
      for (int64_t i = 0; i < f.h * f.w; ++i) mean += f.v[static_cast<size_t>(c * f.h * f.w + i)];
      s += fw[k * 64 + c] * mean / static_cast<double>(f.h * f.w);
    }
    EXPECT_NEAR(logits.data<float>()[k], s, 1e-4 * (1 + std::fabs(s))) << "class " << k;
  }
}

TEST(ZooRun, SsdLiteBoxesAndNms) {
  REQUIRE_OPS();
  ZooOptions o;
  o.height = o.width = 128;
  o.nms = true;
  o.batch = Dim::sym("batch");
  auto g = build_inferred("ssd_lite", o);
  ASSERT_TRUE(g);
  auto out = run_cpu(*g, {{"input", seeded_input({2, 3, 128, 128}, 4)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const int64_t anchors = (8 * 8 + 4 * 4 + 2 * 2 + 1) * 6;
  const Tensor& scores = out->at("scores");
  const Tensor& boxes = out->at("boxes");
  ASSERT_EQ(scores.shape(), (Shape{2, anchors, 21}));
  ASSERT_EQ(boxes.shape(), (Shape{2, anchors, 4}));
  for (int64_t i = 0; i < 2 * anchors; ++i) {
    double sum = 0;
    for (int64_t k = 0; k < 21; ++k) sum += scores.data<float>()[i * 21 + k];
    ASSERT_NEAR(sum, 1.0, 1e-4) << "softmax row " << i;
    const float* b = boxes.data<float>() + i * 4;
    ASSERT_TRUE(std::isfinite(b[0]) && std::isfinite(b[3])) << i;
    EXPECT_LT(b[0], b[2]) << i;
    EXPECT_LT(b[1], b[3]) << i;
  }
  const Tensor& sel = out->at("selected_indices");
  ASSERT_EQ(sel.rank(), 2);
  ASSERT_EQ(sel.dim(1), 3);
  EXPECT_GT(sel.dim(0), 0);
  for (int64_t r = 0; r < sel.dim(0); ++r) {
    const int64_t* s = sel.data<int64_t>() + r * 3;
    EXPECT_TRUE(s[0] >= 0 && s[0] < 2 && s[1] >= 0 && s[1] < 21 && s[2] >= 0 && s[2] < anchors) << r;
    EXPECT_GE(scores.data<float>()[(s[0] * anchors + s[2]) * 21 + s[1]], 0.05f) << r;
  }
}

}  // namespace
}  // namespace kiln::models
