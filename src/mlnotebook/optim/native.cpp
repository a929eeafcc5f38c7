// The fast path on CPU: one native call updates every tensor of a group.
//
// Each optimiser's per-element update below is the same maths as its recipe
// (the Python function in sgd.py, adam.py, ...), written once more as a loop
// body. `for_each_piece` runs that body over all the group's tensors at once:
// it numbers every element of every parameter 0..total-1, splits that range
// between torch's threads with one `at::parallel_for`, and hands each thread
// the contiguous pieces of its share. So a step costs one fork/join however
// many tensors the model has, and each element is read and written once (the
// loop bodies are plain arithmetic on restrict pointers; the compiler
// vectorises them).
//
// Layout of `columns`: columns[role][row]. Role 0 holds the parameters, role 1
// their gradients, the rest the state tensors in the order the recipe takes
// them; row r of every role belongs to the same parameter. Every tensor is
// contiguous, on the CPU, of one floating dtype, and a row's tensors have equal
// sizes: `take_out_odd_rows` hands any other row back to Python, which runs the
// recipe on it.
// Coefficients arrive as doubles under the recipe's own keyword names and are
// rounded once to the tensors' dtype, as torch does with a Python scalar.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using Columns = std::vector<std::vector<at::Tensor>>;

// Elements per task: a group smaller than this runs on one thread.
constexpr int64_t kGrain = 32768;
// param, grad and at most three state tensors (Adam with AMSGrad, centred
// RMSprop with momentum).
constexpr size_t kMaxWidth = 5;

// Checks the columns' shape, and moves rows that native code cannot update
// (a tensor not contiguous, or of another dtype or size than the row's
// parameter) out of `columns`; returns their indices, in order.
std::vector<int64_t> take_out_odd_rows(Columns& columns, size_t min_width, size_t max_width) {
  TORCH_CHECK(columns.size() >= min_width && columns.size() <= max_width, "expected ", min_width,
              " to ", max_width, " tensors per row, got ", columns.size());
  const size_t rows = columns[0].size();
  for (const auto& column : columns) {
    TORCH_CHECK(column.size() == rows, "every role needs one tensor per parameter");
  }
  std::vector<int64_t> odd;
  if (rows == 0) {
    return odd;
  }
  const at::ScalarType dtype = columns[0][0].scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "native kernels take float32/float64");
  size_t kept = 0;
  for (size_t r = 0; r < rows; ++r) {
    bool fits = true;
    for (const auto& column : columns) {
      const at::Tensor& t = column[r];
      fits = fits && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == dtype &&
             t.numel() == columns[0][r].numel();
    }
    if (!fits) {
      odd.push_back(static_cast<int64_t>(r));
      continue;
    }
    for (auto& column : columns) {
      column[kept] = column[r];
    }
    ++kept;
  }
  for (auto& column : columns) {
    column.resize(kept);
  }
  return odd;
}

// Calls update(pointers, n) on every contiguous piece of the joint element
// range; pointers[c] points at the piece's first element in role c.
template <typename T, typename Update>
void for_each_piece(const Columns& columns, const Update& update) {
  const size_t width = columns.size();
  const size_t rows = columns[0].size();
  std::vector<T*> pointers(rows * width);  // row-major: [row][role]
  std::vector<int64_t> offsets(rows + 1, 0);  // offsets[r] = joint index of row r's element 0
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < width; ++c) {
      pointers[r * width + c] = columns[c][r].data_ptr<T>();
    }
    offsets[r + 1] = offsets[r] + columns[0][r].numel();
  }
  at::parallel_for(0, offsets[rows], kGrain, [&](int64_t begin, int64_t end) {
    // the row holding element `begin`: the last r with offsets[r] <= begin
    size_t r = std::upper_bound(offsets.begin(), offsets.end(), begin) - offsets.begin() - 1;
    T* piece[kMaxWidth];
    while (begin < end) {
      const int64_t stop = std::min(end, offsets[r + 1]);
      for (size_t c = 0; c < width; ++c) {
        piece[c] = pointers[r * width + c] + (begin - offsets[r]);
      }
      update(piece, stop - begin);
      begin = stop;
      ++r;
    }
  });
}

// -- the updates (see each recipe for the derivation) ------------------------
// Each update is a struct of coefficients; calling it runs the loop over one
// piece. Two things keep every loop vectorised (without them SGD with
// momentum, RMSprop and Adam ran 3x slower than torch's fused kernels):
// * flags are template arguments (`loop<true, false>`), so no loop branches;
// * a loop reads a local copy `c` of the coefficients: a store through a T*
//   may alias a T member of the struct, which would force a reload per element.

template <typename T>
struct SgdStep {
  T lr, weight_decay, momentum, buffer_decay, grad_weight, sign;
  bool nesterov, has_buffer;

  template <bool kBuffer, bool kNesterov>
  void loop(T* const* x, int64_t n) const {
    const SgdStep c = *this;
    T* __restrict__ param = x[0];
    const T* __restrict__ grad = x[1];
    T* __restrict__ buffer = kBuffer ? x[2] : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      // g <- sign * g + lambda * theta
      T g = c.sign * grad[i] + c.weight_decay * param[i];
      if (kBuffer) {
        // b_t <- mu * b_{t-1} + (1 - dampening) * g_t
        const T b = buffer[i] * c.buffer_decay + c.grad_weight * g;
        buffer[i] = b;
        // Nesterov: g + mu * b_t; classical momentum: b_t
        g = kNesterov ? g + c.momentum * b : b;
      }
      // theta <- theta - lr * g
      param[i] = param[i] - c.lr * g;
    }
  }

  void operator()(T* const* x, int64_t n) const {
    if (!has_buffer) {
      loop<false, false>(x, n);
    } else if (nesterov) {
      loop<true, true>(x, n);
    } else {
      loop<true, false>(x, n);
    }
  }
};

template <typename T>
struct AdagradStep {
  T clr, weight_decay, eps, sign;

  void operator()(T* const* x, int64_t n) const {
    const AdagradStep c = *this;
    T* __restrict__ param = x[0];
    const T* __restrict__ grad = x[1];
    T* __restrict__ state_sum = x[2];
    for (int64_t i = 0; i < n; ++i) {
      const T g = c.sign * grad[i] + c.weight_decay * param[i];
      // G_t <- G_{t-1} + g_t^2
      const T sum = state_sum[i] + g * g;
      state_sum[i] = sum;
      // theta <- theta - lr_t * g_t / (sqrt(G_t) + eps)
      param[i] = param[i] - c.clr * (g / (std::sqrt(sum) + c.eps));
    }
  }
};

template <typename T>
struct AdadeltaStep {
  T lr, rho, one_minus_rho, eps, weight_decay, sign;

  void operator()(T* const* x, int64_t n) const {
    const AdadeltaStep c = *this;
    T* __restrict__ param = x[0];
    const T* __restrict__ grad = x[1];
    T* __restrict__ square_avg = x[2];
    T* __restrict__ acc_delta = x[3];
    for (int64_t i = 0; i < n; ++i) {
      const T g = c.sign * grad[i] + c.weight_decay * param[i];
      // E[g^2]_t <- rho * E[g^2]_{t-1} + (1 - rho) * g_t^2
      const T sq = square_avg[i] * c.rho + c.one_minus_rho * (g * g);
      square_avg[i] = sq;
      // dx_t = RMS[dx]_{t-1} / RMS[g]_t * g_t
      const T delta = std::sqrt(acc_delta[i] + c.eps) / std::sqrt(sq + c.eps) * g;
      // E[dx^2]_t <- rho * E[dx^2]_{t-1} + (1 - rho) * dx_t^2
      acc_delta[i] = acc_delta[i] * c.rho + c.one_minus_rho * (delta * delta);
      // theta <- theta - lr * dx_t
      param[i] = param[i] - c.lr * delta;
    }
  }
};

template <typename T>
struct RmspropStep {
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum, sign;
  bool use_momentum, centered;

  template <bool kMomentum, bool kCentered>
  void loop(T* const* x, int64_t n) const {
    const RmspropStep c = *this;
    T* __restrict__ param = x[0];
    const T* __restrict__ grad = x[1];
    T* __restrict__ square_avg = x[2];
    // then (momentum_buffer)?, (grad_avg)? in that order
    T* __restrict__ buffer = kMomentum ? x[3] : nullptr;
    T* __restrict__ grad_avg = kCentered ? x[kMomentum ? 4 : 3] : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      const T g = c.sign * grad[i] + c.weight_decay * param[i];
      // v_t <- alpha * v_{t-1} + (1 - alpha) * g_t^2
      const T v = square_avg[i] * c.alpha + c.one_minus_alpha * (g * g);
      square_avg[i] = v;
      T rms;
      if (kCentered) {
        // m_t <- alpha * m_{t-1} + (1 - alpha) * g_t;  sqrt(v_t - m_t^2)
        const T m = grad_avg[i] + c.one_minus_alpha * (g - grad_avg[i]);
        grad_avg[i] = m;
        rms = std::sqrt(v - m * m) + c.eps;
      } else {
        rms = std::sqrt(v) + c.eps;
      }
      if (kMomentum) {
        // b_t <- mu * b_{t-1} + g_t / rms;  theta <- theta - lr * b_t
        const T b = buffer[i] * c.momentum + g / rms;
        buffer[i] = b;
        param[i] = param[i] - c.lr * b;
      } else {
        // theta <- theta - lr * g_t / rms
        param[i] = param[i] - c.lr * (g / rms);
      }
    }
  }

  void operator()(T* const* x, int64_t n) const {
    if (use_momentum) {
      centered ? loop<true, true>(x, n) : loop<true, false>(x, n);
    } else {
      centered ? loop<false, true>(x, n) : loop<false, false>(x, n);
    }
  }
};

template <typename T>
struct AdamStep {
  T one_minus_beta1, beta2, one_minus_beta2, eps, l2_weight_decay, decay_factor, step_size,
      bias_correction2_sqrt, sign;
  bool amsgrad;

  template <bool kAmsgrad>
  void loop(T* const* x, int64_t n) const {
    const AdamStep c = *this;
    T* __restrict__ param = x[0];
    const T* __restrict__ grad = x[1];
    T* __restrict__ exp_avg = x[2];
    T* __restrict__ exp_avg_sq = x[3];
    T* __restrict__ max_exp_avg_sq = kAmsgrad ? x[4] : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      // AdamW: theta <- theta * (1 - lr * lambda) (1 for Adam's L2 form)
      const T theta = param[i] * c.decay_factor;
      // g <- sign * g + lambda_L2 * theta
      const T g = c.sign * grad[i] + c.l2_weight_decay * theta;
      // m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t
      const T m = exp_avg[i] + c.one_minus_beta1 * (g - exp_avg[i]);
      exp_avg[i] = m;
      // v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
      const T v = exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * (g * g);
      exp_avg_sq[i] = v;
      T second_moment = v;
      if (kAmsgrad) {
        // AMSGrad: v^max_t <- max(v^max_{t-1}, v_t) (NaN wins, as torch.maximum)
        const T old = max_exp_avg_sq[i];
        second_moment = (v > old || v != v) ? v : old;
        max_exp_avg_sq[i] = second_moment;
      }
      // theta <- theta - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)
      const T denom = std::sqrt(second_moment) / c.bias_correction2_sqrt + c.eps;
      param[i] = theta - c.step_size * (m / denom);
    }
  }

  void operator()(T* const* x, int64_t n) const {
    amsgrad ? loop<true>(x, n) : loop<false>(x, n);
  }
};

// -- the calls Python makes ---------------------------------------------------
// Each updates every row it can and returns the indices of the rows it left.

// The part every call shares: set the odd rows aside, then run the update made
// by `make_update(T())` in the columns' dtype T over the rest.
template <typename MakeUpdate>
std::vector<int64_t> update_rows(Columns& columns, size_t min_width, size_t max_width,
                                 const MakeUpdate& make_update) {
  const std::vector<int64_t> odd = take_out_odd_rows(columns, min_width, max_width);
  if (!columns[0].empty()) {
    AT_DISPATCH_FLOATING_TYPES(columns[0][0].scalar_type(), "optimiser update", [&] {
      for_each_piece<scalar_t>(columns, make_update(scalar_t()));
    });
  }
  return odd;
}

std::vector<int64_t> sgd_update(Columns columns, double lr, double weight_decay, double momentum,
                                double buffer_decay, double grad_weight, bool nesterov,
                                double sign) {
  const bool has_buffer = columns.size() == 3;
  return update_rows(columns, 2, 3, [&](auto zero) {
    using T = decltype(zero);
    return SgdStep<T>{T(lr),   T(weight_decay), T(momentum), T(buffer_decay), T(grad_weight),
                      T(sign), nesterov,        has_buffer};
  });
}

std::vector<int64_t> adagrad_update(Columns columns, double clr, double weight_decay, double eps,
                                    double sign) {
  return update_rows(columns, 3, 3, [&](auto zero) {
    using T = decltype(zero);
    return AdagradStep<T>{T(clr), T(weight_decay), T(eps), T(sign)};
  });
}

std::vector<int64_t> adadelta_update(Columns columns, double lr, double rho, double one_minus_rho,
                                     double eps, double weight_decay, double sign) {
  return update_rows(columns, 4, 4, [&](auto zero) {
    using T = decltype(zero);
    return AdadeltaStep<T>{T(lr), T(rho), T(one_minus_rho), T(eps), T(weight_decay), T(sign)};
  });
}

std::vector<int64_t> rmsprop_update(Columns columns, double lr, double alpha,
                                    double one_minus_alpha, double eps, double weight_decay,
                                    double momentum, bool use_momentum, bool centered,
                                    double sign) {
  const size_t width = 3 + size_t(use_momentum) + size_t(centered);
  return update_rows(columns, width, width, [&](auto zero) {
    using T = decltype(zero);
    return RmspropStep<T>{T(lr),       T(alpha), T(one_minus_alpha), T(eps), T(weight_decay),
                          T(momentum), T(sign),  use_momentum,       centered};
  });
}

std::vector<int64_t> adam_update(Columns columns, double one_minus_beta1, double beta2,
                                 double one_minus_beta2, double eps, double l2_weight_decay,
                                 double decay_factor, double step_size,
                                 double bias_correction2_sqrt, double sign) {
  const bool amsgrad = columns.size() == 5;
  return update_rows(columns, 4, 5, [&](auto zero) {
    using T = decltype(zero);
    return AdamStep<T>{T(one_minus_beta1), T(beta2),        T(one_minus_beta2),
                       T(eps),             T(l2_weight_decay), T(decay_factor),
                       T(step_size),       T(bias_correction2_sqrt), T(sign),
                       amsgrad};
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace pybind11::literals;
  namespace py = pybind11;
  m.def("sgd_update", &sgd_update, "columns"_a, py::kw_only(), "lr"_a, "weight_decay"_a,
        "momentum"_a, "buffer_decay"_a, "grad_weight"_a, "nesterov"_a, "sign"_a);
  m.def("adagrad_update", &adagrad_update, "columns"_a, py::kw_only(), "clr"_a,
        "weight_decay"_a, "eps"_a, "sign"_a);
  m.def("adadelta_update", &adadelta_update, "columns"_a, py::kw_only(), "lr"_a, "rho"_a,
        "one_minus_rho"_a, "eps"_a, "weight_decay"_a, "sign"_a);
  m.def("rmsprop_update", &rmsprop_update, "columns"_a, py::kw_only(), "lr"_a, "alpha"_a,
        "one_minus_alpha"_a, "eps"_a, "weight_decay"_a, "momentum"_a, "use_momentum"_a,
        "centered"_a, "sign"_a);
  m.def("adam_update", &adam_update, "columns"_a, py::kw_only(), "one_minus_beta1"_a, "beta2"_a,
        "one_minus_beta2"_a, "eps"_a, "l2_weight_decay"_a, "decay_factor"_a, "step_size"_a,
        "bias_correction2_sqrt"_a, "sign"_a);
}
