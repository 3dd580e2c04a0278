// INT8 convolution through cuDNN's graph API (BackendConvPlan with `int8`): int8 NHWC X and W, int32
// accumulation, a per-channel float scale, float bias, residual and ReLU, then a float, half or int8
// (requantized) Y, against an integer reference computed here on the host. Also a speed probe (disabled by
// default: --gtest_also_run_disabled_tests) that times ResNet-50's conv shapes in int8 and fp16 through the
// same API and prints both; nothing asserts on time.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/random.h"
#include "cuda/cuda_check.h"
#include "cuda/layers/conv_backend.h"

namespace kiln {
namespace {

using cuda::BackendConvPlan;
using cuda::BackendConvProblem;
using cuda::DeviceBuffer;

struct Handle {
  cudnnHandle_t h = nullptr;
  Handle() { (void)cudnnCreate(&h); }
  ~Handle() {
    if (h) (void)cudnnDestroy(h);
  }
};

BackendConvProblem problem(int64_t n, int64_t c, int64_t hw, int64_t k, int64_t r, int64_t stride) {
  BackendConvProblem p;
  const int64_t pad = r / 2, out = (hw + 2 * pad - r) / stride + 1;
  p.x = {n, c, hw, hw, true};
  p.y = {n, k, out, out, true};
  p.in_c_per_group = c;
  p.kernel[0] = p.kernel[1] = r;
  p.strides[0] = p.strides[1] = stride;
  p.pad_begin[0] = p.pad_begin[1] = p.pad_end[0] = p.pad_end[1] = pad;
  p.fuse = true;
  return p;
}

std::vector<int8_t> random_int8(size_t n, uint64_t seed, int lo, int hi) {
  Rng rng(seed);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(rng.uniform_int(lo, hi));
  return v;
}

// y[n,oh,ow,k] before the output conversion: acc * scale[k] + bias[k] + z, then ReLU.
std::vector<float> host_reference(const BackendConvProblem& p, const std::vector<int8_t>& x,
                                  const std::vector<int8_t>& w, const std::vector<float>& scale,
                                  const std::vector<float>& bias, const std::vector<float>& z) {
  const int64_t C = p.x.c, H = p.x.h, W = p.x.w, K = p.y.c, OH = p.y.h, OW = p.y.w, R = p.kernel[0];
  std::vector<float> y(static_cast<size_t>(p.y.numel()));
  for (int64_t n = 0; n < p.x.n; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t k = 0; k < K; ++k) {
          int32_t acc = 0;
          for (int64_t r = 0; r < R; ++r)
            for (int64_t s = 0; s < R; ++s) {
              const int64_t ih = oh * p.strides[0] - p.pad_begin[0] + r, iw = ow * p.strides[1] - p.pad_begin[1] + s;
              if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;
              const int8_t* xp = &x[static_cast<size_t>(((n * H + ih) * W + iw) * C)];
              const int8_t* wp = &w[static_cast<size_t>(((k * R + r) * R + s) * C)];
              for (int64_t c = 0; c < C; ++c) acc += int32_t(xp[c]) * int32_t(wp[c]);
            }
          const size_t i = static_cast<size_t>(((n * OH + oh) * OW + ow) * K + k);
          float v = static_cast<float>(acc) * scale[static_cast<size_t>(k)];
          if (p.has_bias) v += bias[static_cast<size_t>(k)];
          if (p.has_residual) v += z[i];
          y[i] = std::max(v, 0.f);
        }
  return y;
}

// The first variant (float or int32 conv output) that cuDNN plans; empty when neither does.
std::vector<std::shared_ptr<BackendConvPlan>> int8_plans(cudnnHandle_t h, BackendConvProblem& p, int max_plans,
                                                         std::string* which) {
  for (bool int32_virtual : {false, true}) {
    p.int32_virtual = int32_virtual;
    auto plans = BackendConvPlan::candidates(h, p, size_t(256) << 20, max_plans, 0, 2);
    if (plans.ok() && !plans->empty()) {
      *which = int32_virtual ? "int32 conv output" : "float conv output";
      return std::move(*plans);
    }
    if (!plans.ok()) *which += plans.status().to_string() + "; ";
  }
  return {};
}

TEST(GpuInt8Conv, MatchesTheHostIntegerReference) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) GTEST_SKIP() << "no GPU";
  Handle h;
  ASSERT_NE(h.h, nullptr);
  for (DType out : {DType::kFloat32, DType::kFloat16, DType::kInt8}) {
    for (bool residual : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(out)) + (residual ? " +residual" : ""));
      BackendConvProblem p = problem(2, 32, 9, 64, 3, 1);
      p.int8 = true;
      p.out_dtype = out;
      p.z_dtype = out == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
      p.has_bias = true;
      p.has_residual = residual;
      p.act = FusedActivation::kRelu;
      p.requant = out == DType::kInt8;
      const auto x = random_int8(static_cast<size_t>(p.x.numel()), 1, -60, 60);
      const auto w = random_int8(static_cast<size_t>(p.y.c * 9 * p.x.c), 2, -60, 60);
      std::vector<float> scale(static_cast<size_t>(p.y.c)), bias(scale.size()), z;
      Rng rng(3);
      for (size_t k = 0; k < scale.size(); ++k) {
        scale[k] = 1e-4f * (1.f + rng.uniform_float());
        bias[k] = rng.uniform_float() - 0.5f;
      }
      if (residual)
        for (int64_t i = 0; i < p.y.numel(); ++i) z.push_back(rng.uniform_float() - 0.5f);
      const std::vector<float> ref = host_reference(p, x, w, scale, bias, z);
      const float out_scale = 1.f / 0.02f;  // y_scale 0.02: the int8 outputs span about [0, 127]

      std::string which;
      auto plans = int8_plans(h.h, p, 4, &which);
      ASSERT_FALSE(plans.empty()) << "cuDNN plans no int8 conv graph: " << which;
      std::printf("[int8 conv] %s: %zu plans (%s), first %s\n", dtype_name(out), plans.size(), which.c_str(),
                  cuda::format_engine_choice(plans[0]->choice()).c_str());
      const size_t ybytes = static_cast<size_t>(p.y.numel()) * (out == DType::kFloat32   ? 4
                                                                : out == DType::kFloat16 ? 2
                                                                                         : 1);
      std::vector<__half> zh;
      for (float v : z) zh.push_back(__float2half(v));
      auto dx = DeviceBuffer::upload(x.data(), x.size(), "x");
      auto dw = DeviceBuffer::upload(w.data(), w.size(), "w");
      auto ds = DeviceBuffer::upload(scale.data(), scale.size() * 4, "scale");
      auto db = DeviceBuffer::upload(bias.data(), bias.size() * 4, "bias");
      auto dr = DeviceBuffer::upload(&out_scale, 4, "out scale");
      auto dz = residual ? (p.z_dtype == DType::kFloat16 ? DeviceBuffer::upload(zh.data(), zh.size() * 2, "z")
                                                         : DeviceBuffer::upload(z.data(), z.size() * 4, "z"))
                         : DeviceBuffer::allocate(16, "z");
      auto dy = DeviceBuffer::allocate(ybytes, "y");
      ASSERT_TRUE(dx.ok() && dw.ok() && ds.ok() && db.ok() && dr.ok() && dz.ok() && dy.ok());
      for (const auto& plan : plans) {
        SCOPED_TRACE(cuda::format_engine_choice(plan->choice()));
        auto ws = DeviceBuffer::allocate(std::max<size_t>(plan->workspace(), 16), "ws");
        ASSERT_TRUE(ws.ok());
        ASSERT_EQ(cudaMemset(dy->get(), 0x7f, ybytes), cudaSuccess);
        Status st =
            plan->execute(h.h, dx->get(), dw->get(), db->get(), dz->get(), dy->get(), ws->get(), ds->get(), dr->get());
        ASSERT_TRUE(st.ok()) << st.to_string();
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<float> got(ref.size());
        if (out == DType::kFloat32) {
          ASSERT_EQ(cudaMemcpy(got.data(), dy->get(), ybytes, cudaMemcpyDeviceToHost), cudaSuccess);
        } else if (out == DType::kFloat16) {
          std::vector<__half> g(ref.size());
          ASSERT_EQ(cudaMemcpy(g.data(), dy->get(), ybytes, cudaMemcpyDeviceToHost), cudaSuccess);
          for (size_t i = 0; i < g.size(); ++i) got[i] = __half2float(g[i]);
        } else {
          std::vector<int8_t> g(ref.size());
          ASSERT_EQ(cudaMemcpy(g.data(), dy->get(), ybytes, cudaMemcpyDeviceToHost), cudaSuccess);
          for (size_t i = 0; i < g.size(); ++i) got[i] = g[i];
        }
        int64_t bad = 0, exact = 0;
        double worst = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          float want = ref[i];
          double tol = 1e-4 + 1e-5 * std::fabs(want);
          if (out == DType::kFloat16) tol = 2e-3 + 1e-3 * std::fabs(want);  // z and y rounded to half
          if (out == DType::kInt8) {
            want = static_cast<float>(std::min(127.0, std::max(-128.0, std::nearbyint(double(want) * out_scale))));
            tol = 1.0;  // one step: cuDNN may fold the two multiplies differently
          }
          const double e = std::fabs(double(got[i]) - double(want));
          worst = std::max(worst, e);
          exact += e == 0 ? 1 : 0;
          bad += e > tol ? 1 : 0;
        }
        EXPECT_EQ(bad, 0) << "of " << ref.size() << ", max |diff| " << worst;
        if (out == DType::kInt8) {
          EXPECT_GE(exact, static_cast<int64_t>(ref.size() * 0.99)) << "exact " << exact;
        }
      }
    }
  }
}

// Best time over the plans (20 runs after 3 warm-up runs each), ms per run.
double best_ms(cudnnHandle_t h, const std::vector<std::shared_ptr<BackendConvPlan>>& plans, const void* x,
               const void* w, const void* b, void* y, const void* s, const void* r, std::string* engine) {
  double best = 1e30;
  cudaEvent_t e0, e1;
  (void)cudaEventCreate(&e0);
  (void)cudaEventCreate(&e1);
  for (const auto& plan : plans) {
    auto ws = DeviceBuffer::allocate(std::max<size_t>(plan->workspace(), 16), "ws");
    if (!ws.ok()) continue;
    bool ok = true;
    for (int i = 0; i < 3 && ok; ++i) ok = plan->execute(h, x, w, b, nullptr, y, ws->get(), s, r).ok();
    if (!ok) continue;
    (void)cudaEventRecord(e0);
    for (int i = 0; i < 20; ++i) (void)plan->execute(h, x, w, b, nullptr, y, ws->get(), s, r);
    (void)cudaEventRecord(e1);
    (void)cudaEventSynchronize(e1);
    float ms = 0;
    (void)cudaEventElapsedTime(&ms, e0, e1);
    if (ms / 20 < best) {
      best = ms / 20;
      *engine = cuda::format_engine_choice(plan->choice());
    }
  }
  (void)cudaEventDestroy(e0);
  (void)cudaEventDestroy(e1);
  return best;
}

TEST(GpuInt8Conv, DISABLED_SpeedProbeResNet50Shapes) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) GTEST_SKIP() << "no GPU";
  Handle h;
  struct Shape4 {
    int64_t c, hw, k, r, stride;
  };
  const Shape4 shapes[] = {{64, 56, 64, 1, 1},    {64, 56, 64, 3, 1},   {64, 56, 256, 1, 1},  {256, 56, 64, 1, 1},
                           {128, 28, 128, 3, 1},  {512, 28, 128, 1, 1}, {256, 14, 256, 3, 1}, {1024, 14, 256, 1, 1},
                           {256, 14, 1024, 1, 1}, {512, 7, 512, 3, 1},  {2048, 7, 512, 1, 1}, {512, 7, 2048, 1, 1}};
  const int64_t n = 128;
  double t16 = 0, t8 = 0;
  for (const Shape4& s : shapes) {
    BackendConvProblem p = problem(n, s.c, s.hw, s.k, s.r, s.stride);
    p.has_bias = true;
    p.act = FusedActivation::kRelu;
    p.dtype = DType::kFloat16;
    auto f16 = BackendConvPlan::candidates(h.h, p, size_t(256) << 20, 8, 0, 2);
    BackendConvProblem q = p;
    q.int8 = true;
    q.out_dtype = DType::kInt8;
    q.requant = true;
    std::string which;
    auto i8 = int8_plans(h.h, q, 8, &which);
    auto x = DeviceBuffer::allocate(static_cast<size_t>(p.x.numel()) * 2, "x");
    auto w = DeviceBuffer::allocate(static_cast<size_t>(s.k * s.r * s.r * s.c) * 2, "w");
    auto y = DeviceBuffer::allocate(static_cast<size_t>(p.y.numel()) * 2, "y");
    auto b = DeviceBuffer::allocate(static_cast<size_t>(s.k) * 4, "b");
    ASSERT_TRUE(x.ok() && w.ok() && y.ok() && b.ok());
    ASSERT_EQ(cudaMemset(x->get(), 0, x->bytes()), cudaSuccess);
    ASSERT_EQ(cudaMemset(w->get(), 0, w->bytes()), cudaSuccess);
    ASSERT_EQ(cudaMemset(b->get(), 0, b->bytes()), cudaSuccess);
    std::string e16 = "-", e8 = "-";
    const double ms16 =
        f16.ok() ? best_ms(h.h, *f16, x->get(), w->get(), b->get(), y->get(), nullptr, nullptr, &e16) : 0;
    const double ms8 =
        i8.empty() ? 0 : best_ms(h.h, i8, x->get(), w->get(), b->get(), y->get(), b->get(), b->get(), &e8);
    const double ops = 2.0 * double(p.y.numel()) * double(s.c * s.r * s.r);
    std::printf(
        "[int8 probe] n%lld c%lld %lldx%lld k%lld r%lld: fp16 %.4f ms (%.0f TFLOPS, %s)  int8 %.4f ms (%.0f TOPS, %s)  "
        "ratio %.2f\n",
        (long long)n, (long long)s.c, (long long)s.hw, (long long)s.hw, (long long)s.k, (long long)s.r, ms16,
        ops / ms16 / 1e9, e16.c_str(), ms8, ms8 > 0 ? ops / ms8 / 1e9 : 0.0, e8.c_str(), ms8 > 0 ? ms16 / ms8 : 0.0);
    t16 += ms16;
    t8 += ms8;
  }
  std::printf("[int8 probe] total fp16 %.3f ms, int8 %.3f ms, ratio %.2f\n", t16, t8, t8 > 0 ? t16 / t8 : 0.0);
}

}  // namespace
}  // namespace kiln
