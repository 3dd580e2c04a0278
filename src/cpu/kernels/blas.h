// Cache-blocked dense matrix multiply shared by the Conv, ConvTranspose, Gemm and MatMul CPU kernels,
// plus the small thread-splitting helper they use.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::cpu {

// A strided matrix view: element (i, j) lives at data[i * row_stride + j * col_stride]. A transposed
// operand is the same buffer with the two strides swapped, so no copy is needed to transpose.
template <typename T>
struct MatrixView {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
};

// C[M,N] = A[M,K] * B[K,N] (or C += A*B when `accumulate`). C is row-major with leading dimension ldc.
// Accumulates in T (float for float32, double for float64). Splits the work over up to
// hardware_concurrency threads when it is large enough to pay for them.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc, bool accumulate);

// Calls body(begin, end) on disjoint chunks of [0, n) from up to hardware_concurrency threads; runs inline
// when n is small or `work_per_item * n` is below the point where threads pay off.
void parallel_for(int64_t n, double work_per_item, const std::function<void(int64_t, int64_t)>& body);

}  // namespace kiln::cpu
