// NVML absent (a library name that cannot load): not an error, every GPU field null, the reason given;
// throttle warnings from hand-made samples; the environment block and command-line quoting.
#include "bench/nvml.h"

#include <gtest/gtest.h>

#include <regex>

#include "bench/env.h"
#include "kiln/version.h"

namespace kiln::bench {
namespace {

TEST(BenchNvmlTest, AbsentLibraryGivesNullFields) {
  const Nvml nvml("libkiln-no-such-nvml.so.1");
  EXPECT_FALSE(nvml.available());
  EXPECT_NE(nvml.why().find("libkiln-no-such-nvml.so.1"), std::string::npos) << nvml.why();
  GpuSampler sampler(nvml);
  sampler.start();
  sampler.stop();
  EXPECT_TRUE(sampler.samples().empty());
  const nlohmann::json g = gpu_json(nvml, sampler.samples());
  EXPECT_EQ(g["available"], false);
  EXPECT_TRUE(g["reason"].is_string());
  for (const char* k : {"name", "driver_version", "memory_total_bytes", "sample_period_ms"})
    EXPECT_TRUE(g[k].is_null()) << k;
  for (const auto& [series, stats] : g["summary"].items()) {
    EXPECT_TRUE(stats["mean"].is_null()) << series;
    EXPECT_TRUE(stats["max"].is_null()) << series;
  }
  EXPECT_TRUE(g["samples"].is_array());
  EXPECT_TRUE(g["samples"].empty());
  EXPECT_TRUE(nvml.sample(0).power_w == std::nullopt);
}

TEST(BenchNvmlTest, ThrottleWarning) {
  std::vector<GpuSample> s(4);
  EXPECT_EQ(throttle_warning(s), "");  // no reasons reported at all
  s[0].throttle_reasons = 0x1;         // GPU idle: not throttling
  s[1].throttle_reasons = 0x0;
  EXPECT_EQ(throttle_warning(s), "");
  s[2].throttle_reasons = 0x40;  // HW thermal slowdown
  s[3].throttle_reasons = 0x4;   // SW power cap
  const std::string w = throttle_warning(s);
  EXPECT_NE(w.find("2 of 4"), std::string::npos) << w;
  EXPECT_NE(w.find("thermal"), std::string::npos) << w;
  EXPECT_NE(w.find("power cap"), std::string::npos) << w;
}

TEST(BenchNvmlTest, SummaryOfSamples) {
  Nvml nvml("libkiln-no-such-nvml.so.1");
  std::vector<GpuSample> s(2);
  s[0].power_w = 100;
  s[1].power_w = 300;
  s[1].temperature_c = 70;
  const auto g = gpu_json(nvml, s);
  EXPECT_DOUBLE_EQ(g["summary"]["power_w"]["mean"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(g["summary"]["power_w"]["max"].get<double>(), 300);
  EXPECT_DOUBLE_EQ(g["summary"]["temperature_c"]["mean"].get<double>(), 70);  // only samples that report it
  EXPECT_TRUE(g["samples"][0]["temperature_c"].is_null());
}

TEST(BenchEnvTest, ShellJoinQuotes) {
  EXPECT_EQ(shell_join({"kiln", "bench", "m.onnx", "--shapes", "input:1x3x8x8"}),
            "kiln bench m.onnx --shapes input:1x3x8x8");
  EXPECT_EQ(shell_join({"a b", "it's", ""}), "'a b' 'it'\\''s' ''");
}

TEST(BenchEnvTest, EnvironmentBlock) {
  const auto e = environment_json("kiln bench x.onnx");
  EXPECT_EQ(e["kiln"]["version"], KILN_VERSION);
  EXPECT_EQ(e["kiln"]["git_sha"], KILN_GIT_SHA);
  EXPECT_EQ(e["command_line"], "kiln bench x.onnx");
  EXPECT_GE(e["cpu"]["cores"].get<int>(), 1);
  EXPECT_TRUE(std::regex_match(e["date_utc"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  EXPECT_TRUE(e["backend_versions"]["cuda"].is_null());
  EXPECT_NE(process_command_line().find("kiln_unit_tests"), std::string::npos);
}

}  // namespace
}  // namespace kiln::bench
