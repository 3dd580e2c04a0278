// The ONNX backend test cases of the elementwise ops (node/, pytorch-*/, simple/), run on the CPU reference
// and compared with the shipped outputs (float: rtol 1e-3, atol 1e-5; integers and bool exact).
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include "cpu/executor.h"
#include "onnx/importer.h"

namespace kiln {
namespace {

const std::string kData = "/usr/share/libonnx-testdata/data/";

const char* const kCases[] = {
    "node/test_abs",
    "node/test_acos",
    "node/test_acos_example",
    "node/test_acosh",
    "node/test_acosh_example",
    "node/test_add",
    "node/test_add_bcast",
    "node/test_add_uint8",
    "node/test_and2d",
    "node/test_and3d",
    "node/test_and4d",
    "node/test_and_bcast3v1d",
    "node/test_and_bcast3v2d",
    "node/test_and_bcast4v2d",
    "node/test_and_bcast4v3d",
    "node/test_and_bcast4v4d",
    "node/test_asin",
    "node/test_asin_example",
    "node/test_asinh",
    "node/test_asinh_example",
    "node/test_atan",
    "node/test_atan_example",
    "node/test_atanh",
    "node/test_atanh_example",
    "node/test_bitshift_left_uint16",
    "node/test_bitshift_left_uint32",
    "node/test_bitshift_left_uint64",
    "node/test_bitshift_left_uint8",
    "node/test_bitshift_right_uint16",
    "node/test_bitshift_right_uint32",
    "node/test_bitshift_right_uint64",
    "node/test_bitshift_right_uint8",
    "node/test_cast_BFLOAT16_to_FLOAT",
    "node/test_cast_DOUBLE_to_FLOAT",
    "node/test_cast_DOUBLE_to_FLOAT16",
    "node/test_cast_FLOAT16_to_DOUBLE",
    "node/test_cast_FLOAT16_to_FLOAT",
    "node/test_cast_FLOAT_to_BFLOAT16",
    "node/test_cast_FLOAT_to_DOUBLE",
    "node/test_cast_FLOAT_to_FLOAT16",
    "node/test_cast_FLOAT_to_STRING",
    "node/test_cast_STRING_to_FLOAT",
    "node/test_castlike_BFLOAT16_to_FLOAT",
    "node/test_castlike_DOUBLE_to_FLOAT",
    "node/test_castlike_DOUBLE_to_FLOAT16",
    "node/test_castlike_FLOAT16_to_DOUBLE",
    "node/test_castlike_FLOAT16_to_FLOAT",
    "node/test_castlike_FLOAT_to_BFLOAT16",
    "node/test_castlike_FLOAT_to_DOUBLE",
    "node/test_castlike_FLOAT_to_FLOAT16",
    "node/test_castlike_FLOAT_to_STRING",
    "node/test_castlike_STRING_to_FLOAT",
    "node/test_ceil",
    "node/test_ceil_example",
    "node/test_celu",
    "node/test_clip",
    "node/test_clip_default_inbounds",
    "node/test_clip_default_int8_inbounds",
    "node/test_clip_default_int8_max",
    "node/test_clip_default_int8_min",
    "node/test_clip_default_max",
    "node/test_clip_default_min",
    "node/test_clip_example",
    "node/test_clip_inbounds",
    "node/test_clip_outbounds",
    "node/test_clip_splitbounds",
    "node/test_cos",
    "node/test_cos_example",
    "node/test_cosh",
    "node/test_cosh_example",
    "node/test_div",
    "node/test_div_bcast",
    "node/test_div_example",
    "node/test_div_uint8",
    "node/test_dropout_default",
    "node/test_dropout_default_mask",
    "node/test_dropout_default_mask_ratio",
    "node/test_dropout_default_old",
    "node/test_dropout_default_ratio",
    "node/test_dropout_random_old",
    "node/test_elu",
    "node/test_elu_default",
    "node/test_elu_example",
    "node/test_equal",
    "node/test_equal_bcast",
    "node/test_erf",
    "node/test_exp",
    "node/test_exp_example",
    "node/test_floor",
    "node/test_floor_example",
    "node/test_greater",
    "node/test_greater_bcast",
    "node/test_greater_equal",
    "node/test_greater_equal_bcast",
    "node/test_hardsigmoid",
    "node/test_hardsigmoid_default",
    "node/test_hardsigmoid_example",
    "node/test_hardswish",
    "node/test_identity",
    "node/test_identity_opt",
    "node/test_identity_sequence",
    "node/test_isinf",
    "node/test_isinf_negative",
    "node/test_isinf_positive",
    "node/test_isnan",
    "node/test_leakyrelu",
    "node/test_leakyrelu_default",
    "node/test_leakyrelu_example",
    "node/test_less",
    "node/test_less_bcast",
    "node/test_less_equal",
    "node/test_less_equal_bcast",
    "node/test_log",
    "node/test_log_example",
    "node/test_max_example",
    "node/test_max_float16",
    "node/test_max_float32",
    "node/test_max_float64",
    "node/test_max_int16",
    "node/test_max_int32",
    "node/test_max_int64",
    "node/test_max_int8",
    "node/test_max_one_input",
    "node/test_max_two_inputs",
    "node/test_max_uint16",
    "node/test_max_uint32",
    "node/test_max_uint64",
    "node/test_max_uint8",
    "node/test_mean_example",
    "node/test_mean_one_input",
    "node/test_mean_two_inputs",
    "node/test_min_example",
    "node/test_min_float16",
    "node/test_min_float32",
    "node/test_min_float64",
    "node/test_min_int16",
    "node/test_min_int32",
    "node/test_min_int64",
    "node/test_min_int8",
    "node/test_min_one_input",
    "node/test_min_two_inputs",
    "node/test_min_uint16",
    "node/test_min_uint32",
    "node/test_min_uint64",
    "node/test_min_uint8",
    "node/test_mod_broadcast",
    "node/test_mod_int64_fmod",
    "node/test_mod_mixed_sign_float16",
    "node/test_mod_mixed_sign_float32",
    "node/test_mod_mixed_sign_float64",
    "node/test_mod_mixed_sign_int16",
    "node/test_mod_mixed_sign_int32",
    "node/test_mod_mixed_sign_int64",
    "node/test_mod_mixed_sign_int8",
    "node/test_mod_uint16",
    "node/test_mod_uint32",
    "node/test_mod_uint64",
    "node/test_mod_uint8",
    "node/test_mul",
    "node/test_mul_bcast",
    "node/test_mul_example",
    "node/test_mul_uint8",
    "node/test_neg",
    "node/test_neg_example",
    "node/test_not_2d",
    "node/test_not_3d",
    "node/test_not_4d",
    "node/test_or2d",
    "node/test_or3d",
    "node/test_or4d",
    "node/test_or_bcast3v1d",
    "node/test_or_bcast3v2d",
    "node/test_or_bcast4v2d",
    "node/test_or_bcast4v3d",
    "node/test_or_bcast4v4d",
    "node/test_pow",
    "node/test_pow_bcast_array",
    "node/test_pow_bcast_scalar",
    "node/test_pow_example",
    "node/test_pow_types_float",
    "node/test_pow_types_float32_int32",
    "node/test_pow_types_float32_int64",
    "node/test_pow_types_float32_uint32",
    "node/test_pow_types_float32_uint64",
    "node/test_pow_types_int",
    "node/test_pow_types_int32_float32",
    "node/test_pow_types_int32_int32",
    "node/test_pow_types_int64_float32",
    "node/test_pow_types_int64_int64",
    "node/test_prelu_broadcast",
    "node/test_prelu_example",
    "node/test_reciprocal",
    "node/test_reciprocal_example",
    "node/test_relu",
    "node/test_round",
    "node/test_selu",
    "node/test_selu_default",
    "node/test_selu_example",
    "node/test_shrink_hard",
    "node/test_shrink_soft",
    "node/test_sigmoid",
    "node/test_sigmoid_example",
    "node/test_sign",
    "node/test_sin",
    "node/test_sin_example",
    "node/test_sinh",
    "node/test_sinh_example",
    "node/test_softplus",
    "node/test_softplus_example",
    "node/test_softsign",
    "node/test_softsign_example",
    "node/test_sqrt",
    "node/test_sqrt_example",
    "node/test_sub",
    "node/test_sub_bcast",
    "node/test_sub_example",
    "node/test_sub_uint8",
    "node/test_sum_example",
    "node/test_sum_one_input",
    "node/test_sum_two_inputs",
    "node/test_tan",
    "node/test_tan_example",
    "node/test_tanh",
    "node/test_tanh_example",
    "node/test_thresholdedrelu",
    "node/test_thresholdedrelu_default",
    "node/test_thresholdedrelu_example",
    "node/test_where_example",
    "node/test_where_long_example",
    "node/test_xor2d",
    "node/test_xor3d",
    "node/test_xor4d",
    "node/test_xor_bcast3v1d",
    "node/test_xor_bcast3v2d",
    "node/test_xor_bcast4v2d",
    "node/test_xor_bcast4v3d",
    "node/test_xor_bcast4v4d",
    "pytorch-converted/test_ELU",
    "pytorch-converted/test_LeakyReLU",
    "pytorch-converted/test_LeakyReLU_with_negval",
    "pytorch-converted/test_PReLU_1d",
    "pytorch-converted/test_PReLU_1d_multiparam",
    "pytorch-converted/test_PReLU_2d",
    "pytorch-converted/test_PReLU_2d_multiparam",
    "pytorch-converted/test_PReLU_3d",
    "pytorch-converted/test_PReLU_3d_multiparam",
    "pytorch-converted/test_PoissonNLLLLoss_no_reduce",
    "pytorch-converted/test_ReLU",
    "pytorch-converted/test_SELU",
    "pytorch-converted/test_Sigmoid",
    "pytorch-converted/test_Softplus",
    "pytorch-converted/test_Softsign",
    "pytorch-converted/test_Tanh",
    "pytorch-operator/test_operator_add_broadcast",
    "pytorch-operator/test_operator_add_size1_broadcast",
    "pytorch-operator/test_operator_add_size1_right_broadcast",
    "pytorch-operator/test_operator_add_size1_singleton_broadcast",
    "pytorch-operator/test_operator_addconstant",
    "pytorch-operator/test_operator_basic",
    "pytorch-operator/test_operator_clip",
    "pytorch-operator/test_operator_exp",
    "pytorch-operator/test_operator_max",
    "pytorch-operator/test_operator_min",
    "pytorch-operator/test_operator_non_float_params",
    "pytorch-operator/test_operator_params",
    "pytorch-operator/test_operator_pow",
    "pytorch-operator/test_operator_selu",
    "pytorch-operator/test_operator_sqrt",
    "pytorch-operator/test_operator_symbolic_override_nested",
    "simple/test_shrink",
    "simple/test_sign_model",
    "simple/test_single_relu_model",
};

// Cases whose expected data kiln deliberately does not reproduce, with the reason.
const std::map<std::string, std::string> kKnownDifferent = {
    {"node/test_cast_FLOAT_to_BFLOAT16",
     "expected data truncates float32 to bfloat16; kiln rounds to nearest even (current ONNX, PyTorch)"},
    {"node/test_castlike_FLOAT_to_BFLOAT16",
     "test data bug: input 'like' is declared [3,4] but input_1.pb holds shape [1] (and the expected output "
     "truncates to bfloat16 where kiln rounds to nearest even)"},
    {"node/test_castlike_BFLOAT16_to_FLOAT",
     "test data bug: input 'like' is declared [3,4] but input_1.pb holds shape [1]"},
};

// Old test data stores float16/bfloat16 tensors as uint16: reinterpret the bits as `want`.
Tensor as_dtype(const Tensor& t, DType want) {
  if (t.dtype() == DType::kUint16 && (want == DType::kFloat16 || want == DType::kBFloat16))
    return Tensor::from_bytes(want, t.shape(), t.raw(), t.nbytes()).value();
  return t;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const bool exact = !dtype_is_float(want.dtype());
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    const double g = got.get_as_double(i), w = want.get_as_double(i);
    bool ok;
    if (exact) {
      ok = got.get_as_int64(i) == want.get_as_int64(i);
    } else if (std::isnan(w) || std::isinf(w)) {
      ok = std::isnan(w) ? std::isnan(g) : g == w;
    } else {
      ok = std::fabs(g - w) <= 1e-5 + 1e-3 * std::fabs(w);
    }
    if (!ok) {
      ADD_FAILURE() << what << " element " << i << ": got " << g << ", expected " << w;
      ++reported;
    }
  }
}

class ElementwiseOnnxCase : public ::testing::TestWithParam<const char*> {};

TEST_P(ElementwiseOnnxCase, MatchesExpectedOutputs) {
  const std::string name = GetParam();
  const std::string dir = kData + name;
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "ONNX test data not installed: " << dir;
  auto known = kKnownDifferent.find(name);
  if (known != kKnownDifferent.end()) GTEST_SKIP() << known->second;
  auto graph = load_onnx(dir + "/model.onnx");
  if (!graph.ok() && graph.status().code() == StatusCode::kUnsupported) GTEST_SKIP() << graph.status().message();
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  const Graph& g = **graph;
  const std::string set = dir + "/test_data_set_0/";
  TensorMap feeds;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    auto t = load_tensor_pb(set + "input_" + std::to_string(i) + ".pb");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    feeds[g.inputs[i]->name] = as_dtype(*t, g.inputs[i]->dtype);
  }
  auto out = run_cpu(g, feeds);
  if (!out.ok() && out.status().code() == StatusCode::kUnsupported) GTEST_SKIP() << out.status().message();
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    auto want = load_tensor_pb(set + "output_" + std::to_string(i) + ".pb");
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    const Tensor& got = out->at(g.outputs[i]->name);
    expect_close(got, as_dtype(*want, got.dtype()), name + " output " + std::to_string(i));
  }
}

std::string case_label(const ::testing::TestParamInfo<const char*>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Onnx, ElementwiseOnnxCase, ::testing::ValuesIn(kCases), case_label);

}  // namespace
}  // namespace kiln
