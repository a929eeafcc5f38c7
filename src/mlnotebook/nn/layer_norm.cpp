// Layer norm of the rows of a matrix, forward only: the inference path of
// layer_norm.py, on the CPU.
//
// The same maths as `_normalise_rows` there, one row at a time:
//   mu = (1/H) sum_k x_k,  sigma^2 = (1/H) sum_k (x_k - mu)^2,
//   y_k = gamma_k (x_k - mu) / sqrt(sigma^2 + eps) + beta_k.
// In Python these are seven torch operations per call, each a pass over the
// rows and, for a decoder step's few rows, mostly call overhead (about 100 us of
// a 10 ms step per layer norm, ten per step). Here it is one pass per row, the
// rows shared between torch's threads.
//
// Registered as torch.ops.mlnotebook.layer_norm_rows.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <ATen/Parallel.h>

#include <cmath>

#include "kernels.h"

namespace {

// Rows per task: a row is a few hundred values, so small batches run on one thread.
constexpr int64_t kGrainRows = 64;

template <typename scalar_t>
void normalise_row(const scalar_t* __restrict__ x, const scalar_t* __restrict__ gamma,
                   const scalar_t* __restrict__ beta, scalar_t* __restrict__ y, int64_t size,
                   scalar_t eps) {
  // mu = (1/H) sum_k x_k
  scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < size; ++k) {
    sum += x[k];
  }
  const scalar_t mean = sum / scalar_t(size);
  // sigma^2 = (1/H) sum_k (x_k - mu)^2   (two passes: no cancellation)
  scalar_t squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t k = 0; k < size; ++k) {
    const scalar_t centred = x[k] - mean;
    squares += centred * centred;
  }
  // 1 / sqrt(sigma^2 + eps)
  const scalar_t inv_std = scalar_t(1) / std::sqrt(squares / scalar_t(size) + eps);
  // y_k = gamma_k x_hat_k + beta_k, x_hat_k = (x_k - mu) / sqrt(sigma^2 + eps)
#pragma omp simd
  for (int64_t k = 0; k < size; ++k) {
    const scalar_t x_hat = (x[k] - mean) * inv_std;
    y[k] = (gamma != nullptr ? gamma[k] * x_hat : x_hat) + (beta != nullptr ? beta[k] : 0);
  }
}

}  // namespace

namespace mlnotebook {

// x [rows, H]; weight and bias None or [H]. Returns y [rows, H], contiguous.
at::Tensor layer_norm_rows(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                           const std::optional<at::Tensor>& bias, double eps) {
  TORCH_CHECK(x.dim() == 2 && x.device().is_cpu(), "layer_norm_rows: x must be a CPU [rows, H]");
  const int64_t rows = x.size(0), size = x.size(1);
  for (const auto* param : {&weight, &bias}) {
    TORCH_CHECK(!param->has_value() || ((*param)->numel() == size &&
                                        (*param)->scalar_type() == x.scalar_type()),
                "layer_norm_rows: weight and bias must be [H] of x's dtype");
  }
  const at::Tensor input = x.contiguous();
  const at::Tensor gamma = weight.has_value() ? weight->contiguous() : at::Tensor();
  const at::Tensor beta = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "layer_norm_rows", [&] {
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t* gp = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    const scalar_t* bp = beta.defined() ? beta.data_ptr<scalar_t>() : nullptr;
    scalar_t* yp = out.data_ptr<scalar_t>();
    at::parallel_for(0, rows, kGrainRows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        normalise_row<scalar_t>(xp + r * size, gp, bp, yp + r * size, size, scalar_t(eps));
      }
    });
  });
  return out;
}

}  // namespace mlnotebook

TORCH_LIBRARY_FRAGMENT(mlnotebook, m) {
  m.def("layer_norm_rows(Tensor x, Tensor? weight, Tensor? bias, float eps) -> Tensor",
        &mlnotebook::layer_norm_rows);
}
