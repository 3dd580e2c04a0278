// GPU GridSample against the CPU reference (the same arithmetic, src/ops/grid_sample_math.h): every mode,
// padding mode and align_corners, with grid points inside and outside [-1, 1], in fp32 and fp16 engines.
#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

TEST(GpuGridSample, ModesPaddingsAndCorners) {
  uint64_t seed = 1;
  for (const char* mode : {"bilinear", "nearest", "bicubic"})
    for (const char* padding : {"zeros", "border", "reflection"})
      for (int64_t align : {0, 1}) {
        SCOPED_TRACE(std::string(mode) + " " + padding + " align_corners " + std::to_string(align));
        NodeCase c;
        c.op = "GridSample";
        c.opset = 16;
        c.attrs = {{"mode", attr_s(mode)}, {"padding_mode", attr_s(padding)}, {"align_corners", attr_i(align)}};
        c.inputs = {random_floats({2, 3, 5, 7}, seed), random_floats({2, 4, 6, 2}, seed + 1, -1.3f, 1.3f)};
        seed += 2;
        EXPECT_EQ(run_case(c, "fp32", kFp32Atol, kFp32Rtol), "") << "fp32";
        // fp16 rounds the grid too: a nearest tap may move to the neighbour pixel, so fp16 is checked on the
        // interpolating modes only.
        if (std::string(mode) != "nearest") {
          EXPECT_EQ(run_case(c, "fp16", 2e-2, 2e-2), "") << "fp16";
        }
      }
}

}  // namespace
}  // namespace kiln::gputest
