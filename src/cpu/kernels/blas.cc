// Cache-blocked GEMM (packed A/B panels + a small register-blocked micro-kernel) and parallel_for.
#include "cpu/kernels/blas.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace kiln::cpu {
namespace {

// Micro-tile of C kept in registers; 4x8 floats fits the 16 SSE registers with room for A and B.
constexpr int64_t kMR = 4;
constexpr int64_t kNR = 8;
// Block sizes: a KC x NR panel of B stays in L1, an MC x KC block of A in L2.
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 96;
constexpr int64_t kNC = 2048;
// Below this many multiply-adds a thread costs more than it saves.
constexpr double kMinWorkPerThread = 2.0e5;

int thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Packs rows [0, mc) x cols [0, kc) of A into MR-row panels, k-major inside a panel, zero padded.
template <typename T>
void pack_a(const MatrixView<T>& a, int64_t mc, int64_t kc, T* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    const int64_t rows = std::min(kMR, mc - i0);
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < kMR; ++r) out[r] = r < rows ? a.data[(i0 + r) * a.row_stride + k * a.col_stride] : T(0);
      out += kMR;
    }
  }
}

// Packs rows [0, kc) x cols [0, nc) of B into NR-column panels, k-major inside a panel, zero padded.
template <typename T>
void pack_b(const MatrixView<T>& b, int64_t kc, int64_t nc, T* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += kNR) {
    const int64_t cols = std::min(kNR, nc - j0);
    for (int64_t k = 0; k < kc; ++k) {
      const T* row = b.data + k * b.row_stride + j0 * b.col_stride;
      if (cols == kNR && b.col_stride == 1) {
        for (int64_t c = 0; c < kNR; ++c) out[c] = row[c];
      } else {
        for (int64_t c = 0; c < kNR; ++c) out[c] = c < cols ? row[c * b.col_stride] : T(0);
      }
      out += kNR;
    }
  }
}

// acc[MR][NR] = sum_k a[k][:] outer b[k][:]; fixed trip counts so the compiler vectorizes the j loop.
template <typename T>
void micro_kernel(int64_t kc, const T* a, const T* b, T* acc) {
  T c[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int64_t r = 0; r < kMR; ++r) {
      const T av = a[r];
      for (int64_t j = 0; j < kNR; ++j) c[r][j] += av * b[j];
    }
    a += kMR;
    b += kNR;
  }
  for (int64_t r = 0; r < kMR; ++r)
    for (int64_t j = 0; j < kNR; ++j) acc[r * kNR + j] = c[r][j];
}

template <typename T>
void gemm_serial(int64_t M, int64_t N, int64_t K, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc,
                 bool accumulate) {
  if (K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    return;
  }
  std::vector<T> a_pack(static_cast<size_t>(kMC * kKC));
  std::vector<T> b_pack(static_cast<size_t>(((std::min(kNC, N) + kNR - 1) / kNR) * kNR * kKC));
  T tile[kMR * kNR];
  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = std::min(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const bool add = accumulate || pc > 0;
      pack_b(MatrixView<T>{B.data + pc * B.row_stride + jc * B.col_stride, B.row_stride, B.col_stride}, kc, nc,
             b_pack.data());
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = std::min(kMC, M - ic);
        pack_a(MatrixView<T>{A.data + ic * A.row_stride + pc * A.col_stride, A.row_stride, A.col_stride}, mc, kc,
               a_pack.data());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t cols = std::min(kNR, nc - jr);
          const T* bp = b_pack.data() + (jr / kNR) * kNR * kc;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t rows = std::min(kMR, mc - ir);
            micro_kernel(kc, a_pack.data() + (ir / kMR) * kMR * kc, bp, tile);
            for (int64_t r = 0; r < rows; ++r) {
              T* crow = C + (ic + ir + r) * ldc + jc + jr;
              const T* trow = tile + r * kNR;
              if (add) {
                for (int64_t j = 0; j < cols; ++j) crow[j] += trow[j];
              } else {
                for (int64_t j = 0; j < cols; ++j) crow[j] = trow[j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

void parallel_for(int64_t n, double work_per_item, const std::function<void(int64_t, int64_t)>& body) {
  const double total = work_per_item * static_cast<double>(n);
  int64_t threads = std::min<int64_t>(thread_count(), n);
  threads = std::min<int64_t>(threads, static_cast<int64_t>(total / kMinWorkPerThread) + 1);
  if (threads <= 1) {
    if (n > 0) body(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back(body, b, e);
  }
  body(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc, bool accumulate) {
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  // Split the larger of M and N into tile-aligned slices, one per thread; each slice is an independent GEMM.
  const bool split_n = N >= M;
  const int64_t tile = split_n ? kNR : kMR;
  const int64_t tiles = ((split_n ? N : M) + tile - 1) / tile;
  const double work_per_tile = tiles > 0 ? work / static_cast<double>(tiles) : 0.0;
  parallel_for(tiles, work_per_tile, [&](int64_t t0, int64_t t1) {
    const int64_t lo = t0 * tile;
    const int64_t hi = std::min(split_n ? N : M, t1 * tile);
    if (split_n) {
      MatrixView<T> b{B.data + lo * B.col_stride, B.row_stride, B.col_stride};
      gemm_serial(M, hi - lo, K, A, b, C + lo, ldc, accumulate);
    } else {
      MatrixView<T> a{A.data + lo * A.row_stride, A.row_stride, A.col_stride};
      gemm_serial(hi - lo, N, K, a, B, C + lo * ldc, ldc, accumulate);
    }
  });
}

template void gemm<float>(int64_t, int64_t, int64_t, MatrixView<float>, MatrixView<float>, float*, int64_t, bool);
template void gemm<double>(int64_t, int64_t, int64_t, MatrixView<double>, MatrixView<double>, double*, int64_t, bool);

}  // namespace kiln::cpu
