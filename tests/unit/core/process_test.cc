// run_process: exit codes, signals, captured / teed / inherited output, and a program that cannot start.
#include "core/process.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(Process, CapturesStdoutAndStderrAndTheExitCode) {
  auto p = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}, true, StderrMode::kCapture);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->code, 3);
  EXPECT_EQ(p->out, "out\n");
  EXPECT_EQ(p->err, "err\n");
}

TEST(Process, TeeKeepsTheTailOfALongStderr) {
  // 20000 lines of 6 bytes: more than the kept tail, and more than a pipe buffer holds.
  auto p = run_process({"sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line$i >&2; i=$((i+1)); done; echo last >&2"},
                       false, StderrMode::kTee);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->code, 0);
  EXPECT_TRUE(p->out.empty());
  ASSERT_GE(p->err.size(), 5u);
  EXPECT_EQ(p->err.substr(p->err.size() - 5), "last\n");
  EXPECT_LE(p->err.size(), 2 * 8192u);
  EXPECT_EQ(p->err.find("line0\n"), std::string::npos);  // the head was dropped
}

TEST(Process, InheritKeepsNothingAndSignalsAreNegative) {
  auto p = run_process({"sh", "-c", "echo to-the-test-log >&2; kill -9 $$"}, false, StderrMode::kInherit);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->code, -9);
  EXPECT_TRUE(p->err.empty());
}

TEST(Process, MissingProgramIsUnsupportedAndNamed) {
  auto p = run_process({"kiln-no-such-program-xyz", "--version"}, true, StderrMode::kCapture);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("kiln-no-such-program-xyz"), std::string::npos) << p.status().to_string();
  EXPECT_EQ(run_process({}, false, StderrMode::kInherit).status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln
