// gtest main for the GPU tests: exits 77 (ctest: skipped) with a visible message when there is no GPU.
#include <cstdio>

#include <gtest/gtest.h>

#include "kiln/engine.h"

int main(int argc, char** argv) {
  std::string why;
  if (!kiln::cuda_available(&why)) {
    std::printf("SKIP: no usable CUDA GPU (%s); GPU tests run on the GPU machine\n", why.c_str());
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
