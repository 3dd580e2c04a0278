// --inputIOFormats / --outputIOFormats at the graph level: Cast nodes at the edges keep the graph type-correct,
// the CPU reference runs the result, and the outputs equal the model's within the half-precision rounding of
// its I/O. Bad requests are usage errors naming the flag.
#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"
#include "cpu/executor.h"
#include "engine/io_formats.h"
#include "models/zoo.h"
#include "ops/registry.h"

namespace kiln {
namespace {

std::unique_ptr<Graph> tiny() {
  models::ZooOptions o;
  o.batch = Dim(2);
  o.seed = 3;
  auto g = models::build_zoo_model("tiny_cnn", o);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_TRUE(infer_shapes(**g).ok());
  return std::move(*g);
}

TEST(IoFormats, Fp16InputAndOutputThroughCasts) {
  auto ref = tiny();
  auto g = tiny();
  const std::string in = g->inputs[0]->name, out = g->outputs[0]->name;
  ASSERT_TRUE(apply_io_formats(*g, {"fp16"}, {"fp16"}).ok());
  ASSERT_TRUE(infer_shapes(*g).ok());
  EXPECT_EQ(g->inputs[0]->name, in);
  EXPECT_EQ(g->inputs[0]->dtype, DType::kFloat16);
  EXPECT_EQ(g->outputs[0]->name, out);
  EXPECT_EQ(g->outputs[0]->dtype, DType::kFloat16);
  ASSERT_NE(g->outputs[0]->producer, nullptr);
  EXPECT_EQ(g->outputs[0]->producer->op_type, "Cast");
  const auto readers = g->consumers(g->inputs[0]);
  ASSERT_EQ(readers.size(), 1u);
  EXPECT_EQ(readers[0]->op_type, "Cast");

  // Inputs exactly representable in fp16, so only the output's rounding differs.
  Tensor x32 = random_tensor(DType::kFloat32, *ref->inputs[0]->shape.to_static(), 5).value();
  Tensor x16 = convert_dtype(x32, DType::kFloat16).value();
  x32 = convert_dtype(x16, DType::kFloat32).value();
  auto want = run_cpu(*ref, {{in, x32}});
  auto got = run_cpu(*g, {{in, x16}});
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Tensor& y = got->at(out);
  ASSERT_EQ(y.dtype(), DType::kFloat16);
  const auto w = want->at(out).to_float_vector(), v = y.to_float_vector();
  ASSERT_EQ(w.size(), v.size());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(v[i], w[i], 1e-3 * std::fabs(w[i]) + 1e-6) << i;
}

TEST(IoFormats, SameTypeIsANoOp) {
  auto g = tiny();
  const size_t nodes = g->nodes().size();
  ASSERT_TRUE(apply_io_formats(*g, {"fp32"}, {"float32"}).ok());
  EXPECT_EQ(g->nodes().size(), nodes);
  ASSERT_TRUE(apply_io_formats(*g, {}, {}).ok());
  EXPECT_EQ(g->nodes().size(), nodes);
}

TEST(IoFormats, BadRequestsNameTheFlag) {
  auto g = tiny();
  Status s = apply_io_formats(*g, {"fp16", "fp16"}, {});
  EXPECT_EQ(s.code(), StatusCode::kUsage);
  EXPECT_NE(s.message().find("--inputIOFormats gives 2 type(s) but the model has 1 input(s)"), std::string::npos)
      << s.message();
  s = apply_io_formats(*g, {}, {"int8"});
  EXPECT_EQ(s.code(), StatusCode::kUsage);
  EXPECT_NE(s.message().find("--outputIOFormats: 'int8'"), std::string::npos) << s.message();

  Graph ints;
  Value* x = ints.add_value("ids", DType::kInt64, SymShape({4})).value();
  x->is_graph_input = true;
  ints.inputs.push_back(x);
  s = apply_io_formats(ints, {"fp16"}, {});
  EXPECT_EQ(s.code(), StatusCode::kUsage);
  EXPECT_NE(s.message().find("input 'ids' is int64, not a float tensor"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln
