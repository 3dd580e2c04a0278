// CPU kernels of the activation ops against hand-computed values (closed forms evaluated with Python's math).
#include <limits>

#include "elementwise_harness.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

TEST(ActivationKernels, ReluLeakyReluThresholdedRelu) {
  expect_tensor(run1("Relu", {f32({3}, {-1.f, 0.f, 2.f})}), DType::kFloat32, {3}, {0, 0, 2});
  expect_tensor(run1("Relu", {Tensor::from_vector<int8_t>({2}, {-5, 6})}), DType::kInt8, {2}, {0, 6});
  expect_tensor(run1("LeakyRelu", {f32({2}, {-2.f, 3.f})}, {{"alpha", f_attr(0.1f)}}), DType::kFloat32, {2}, {-0.2, 3});
  expect_tensor(run1("LeakyRelu", {f32({1}, {-1.f})}), DType::kFloat32, {1}, {-0.01});
  expect_tensor(run1("ThresholdedRelu", {f32({3}, {0.5f, 1.f, 2.f})}), DType::kFloat32, {3}, {0, 0, 2});
}

TEST(ActivationKernels, PReluBroadcastsSlopeToX) {
  Tensor x = f32({2, 3}, {-1.f, -1.f, -1.f, 1.f, -2.f, 3.f});
  expect_tensor(run1("PRelu", {x, f32({3}, {0.1f, 0.2f, 0.3f})}), DType::kFloat32, {2, 3},
                {-0.1, -0.2, -0.3, 1, -0.4, 3});
  EXPECT_EQ(run_status("PRelu", {x, f32({2}, {0.1f, 0.2f})}).code(), StatusCode::kInvalidInput);
  // The slope may not grow X (unidirectional broadcast).
  EXPECT_EQ(run_status("PRelu", {f32({3}, {1.f, 2.f, 3.f}), f32({2, 3}, {1, 1, 1, 1, 1, 1})}).code(),
            StatusCode::kInvalidInput);
}

TEST(ActivationKernels, SigmoidFamilyAndTanh) {
  expect_tensor(run1("Sigmoid", {f32({2}, {0.f, 1.f})}), DType::kFloat32, {2}, {0.5, 0.7310585786300049});
  expect_tensor(run1("HardSigmoid", {f32({4}, {0.f, 5.f, -5.f, 1.f})}), DType::kFloat32, {4}, {0.5, 1, 0, 0.7});
  expect_tensor(run1("HardSwish", {f32({4}, {-4.f, 0.f, 1.f, 4.f})}), DType::kFloat32, {4}, {0, 0, 2.0 / 3, 4});
  expect_tensor(run1("Tanh", {f32({2}, {0.f, 1.f})}), DType::kFloat32, {2}, {0, 0.7615941559557649});
}

TEST(ActivationKernels, ClipAttributesBeforeOpset11) {
  Tensor x = f32({3}, {-2.f, 0.5f, 2.f});
  expect_tensor(run1("Clip", {x}, {{"min", f_attr(-1.f)}, {"max", f_attr(1.f)}}, 6), DType::kFloat32, {3},
                {-1, 0.5, 1});
  expect_tensor(run1("Clip", {x}, {{"max", f_attr(0.f)}}, 6), DType::kFloat32, {3}, {-2, 0, 0});
}

TEST(ActivationKernels, ClipOptionalInputsFromOpset11) {
  Tensor x = f32({3}, {-2.f, 0.5f, 2.f});
  expect_tensor(run1("Clip", {x, Tensor::scalar<float>(-1.f)}, {}, 13), DType::kFloat32, {3}, {-1, 0.5, 2});
  expect_tensor(run1("Clip", {x, Tensor(), Tensor::scalar<float>(0.f)}, {}, 13), DType::kFloat32, {3}, {-2, 0, 0});
  expect_tensor(run1("Clip", {x}, {}, 13), DType::kFloat32, {3}, {-2, 0.5, 2});
  Tensor xi = Tensor::from_vector<int8_t>({3}, {-5, 2, 9});
  expect_tensor(run1("Clip", {xi, Tensor(), Tensor::scalar<int8_t>(3)}, {}, 13), DType::kInt8, {3}, {-5, 2, 3});
  // min > max: every value becomes max.
  expect_tensor(run1("Clip", {x, Tensor::scalar<float>(1.f), Tensor::scalar<float>(0.f)}, {}, 13), DType::kFloat32, {3},
                {0, 0, 0});
  EXPECT_EQ(run_status("Clip", {x, f32({2}, {0.f, 1.f})}, {}, 13).code(), StatusCode::kInvalidInput);
}

TEST(ActivationKernels, EluSeluCelu) {
  expect_tensor(run1("Elu", {f32({2}, {-1.f, 2.f})}), DType::kFloat32, {2}, {-0.6321205588285577, 2}, 1e-5);
  expect_tensor(run1("Selu", {f32({2}, {-1.f, 2.f})}), DType::kFloat32, {2}, {-1.1113307412864784, 2.1014020442962646},
                1e-5);
  expect_tensor(run1("Celu", {f32({2}, {-2.f, 3.f})}, {{"alpha", f_attr(2.f)}}), DType::kFloat32, {2},
                {-1.2642411176571153, 3}, 1e-5);
}

TEST(ActivationKernels, SoftplusSoftsignMish) {
  expect_tensor(run1("Softplus", {f32({3}, {0.f, 100.f, -100.f})}), DType::kFloat32, {3}, {0.6931471805599453, 100, 0},
                1e-5);
  expect_tensor(run1("Softsign", {f32({2}, {1.f, -3.f})}), DType::kFloat32, {2}, {0.5, -0.75});
  expect_tensor(run1("Mish", {f32({2}, {1.f, -1.f})}, {}, 18), DType::kFloat32, {2},
                {0.8650983882673103, -0.30340146137410895}, 1e-5);
}

TEST(ActivationKernels, GeluExactAndTanh) {
  expect_tensor(run1("Gelu", {f32({2}, {1.f, -1.f})}, {}, 20), DType::kFloat32, {2},
                {0.8413447460685429, -0.15865525393145707}, 1e-5);
  expect_tensor(run1("Gelu", {f32({1}, {1.f})}, {{"approximate", s_attr("tanh")}}, 20), DType::kFloat32, {1},
                {0.8411919906082768}, 1e-5);
  EXPECT_EQ(run_status("Gelu", {f32({1}, {1.f})}, {{"approximate", s_attr("erf")}}, 20).code(),
            StatusCode::kInvalidInput);
  EXPECT_EQ(run_status("Gelu", {f32({1}, {1.f})}, {}, 17).code(), StatusCode::kUnsupported);  // Gelu is opset 20
}

TEST(ActivationKernels, ShrinkFloatAndInt) {
  expect_tensor(
      run1("Shrink", {f32({5}, {-2.f, -1.f, 0.f, 1.f, 2.f})}, {{"lambd", f_attr(1.f)}, {"bias", f_attr(1.f)}}),
      DType::kFloat32, {5}, {-1, 0, 0, 0, 1});
  expect_tensor(run1("Shrink", {Tensor::from_vector<int32_t>({3}, {-2, 0, 3})}), DType::kInt32, {3}, {-2, 0, 3});
}

TEST(ActivationKernels, HalfActivationStaysHalf) {
  Tensor h = convert_dtype(f32({3}, {-1.f, 0.f, 2.f}), DType::kFloat16).value();
  expect_tensor(run1("Relu", {h}), DType::kFloat16, {3}, {0, 0, 2});
  expect_tensor(run1("Clip", {h, convert_dtype(Tensor::scalar<float>(1.f), DType::kFloat16).value()}, {}, 13),
                DType::kFloat16, {3}, {1, 1, 2});
}

}  // namespace
}  // namespace kiln::testing
