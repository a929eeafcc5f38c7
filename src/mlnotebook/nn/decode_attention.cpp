// Attention for a few query positions at a time: the decoder's step, on the CPU.
//
// The same maths as attention_reference in scaled_dot_product.py,
//   out = softmax(q K^T / sqrt(d_k)) V,
// for queries [batch, heads, group, d_k] (group = 1 in greedy search, the beams
// of one sentence against its source in beam search) against keys and values
// [batch, heads, keys, d]. At this size torch's fused kernel spends most of its
// 90-880 us per call setting up tiles for long sequences; here each (batch,
// head) pair is one plain loop over its keys, and one at::parallel_for shares
// the pairs between torch's threads.
//
// Registered as torch.ops.mlnotebook.decode_attention (TORCH_LIBRARY), so it
// lives in the same extension as the optimiser kernels without sharing code;
// decoder_step.cpp calls it directly (kernels.h).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace {

// Multiply-adds per task: fewer than this many in a call run on one thread.
constexpr int64_t kGrainWork = 1 << 16;

template <typename scalar_t>
void attend_pair(const scalar_t* __restrict__ q, const scalar_t* __restrict__ k,
                 const scalar_t* __restrict__ v, const bool* __restrict__ keep,
                 scalar_t* __restrict__ out, int64_t group, int64_t keys, int64_t dim, int64_t kv_stride,
                 scalar_t scale, std::vector<scalar_t>& scores) {
  for (int64_t g = 0; g < group; ++g) {
    const scalar_t* qg = q + g * dim;
    scalar_t* og = out + g * dim;
    // s_j = q . k_j / sqrt(d_k), or -inf where key j is masked
    scalar_t row_max = -std::numeric_limits<scalar_t>::infinity();
    for (int64_t j = 0; j < keys; ++j) {
      if (keep != nullptr && !keep[j]) {
        scores[j] = -std::numeric_limits<scalar_t>::infinity();
        continue;
      }
      const scalar_t* kj = k + j * kv_stride;
      scalar_t dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < dim; ++d) {
        dot += qg[d] * kj[d];
      }
      scores[j] = dot * scale;
      row_max = std::max(row_max, scores[j]);
    }
    std::fill(og, og + dim, scalar_t(0));
    if (row_max == -std::numeric_limits<scalar_t>::infinity()) {
      continue;  // every key masked: the output is zero, as in the reference
    }
    // a_j = exp(s_j - m) / sum_i exp(s_i - m);  out = sum_j a_j v_j
    scalar_t total = 0;
    for (int64_t j = 0; j < keys; ++j) {
      scores[j] = std::exp(scores[j] - row_max);  // exp(-inf) = 0 for masked keys
      total += scores[j];
    }
    for (int64_t j = 0; j < keys; ++j) {
      const scalar_t weight = scores[j] / total;
      if (weight == scalar_t(0)) {
        continue;
      }
      const scalar_t* vj = v + j * kv_stride;
      for (int64_t d = 0; d < dim; ++d) {
        og[d] += weight * vj[d];
      }
    }
  }
}

}  // namespace

namespace mlnotebook {

// query [B, H, G, D]; key, value [B, H, T, D], any layout (read in place when
// both share one with unit stride along D, as the self-attention cache, a view
// of a larger buffer, does); keep:
// None or bool [B, 1, 1, T] (True = may attend). Returns [B, H, G, D].
at::Tensor decode_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const std::optional<at::Tensor>& keep) {
  TORCH_CHECK(query.dim() == 4 && key.dim() == 4 && value.dim() == 4,
              "decode_attention: query, key and value must be 4-d");
  TORCH_CHECK(query.device().is_cpu() && key.device().is_cpu() && value.device().is_cpu(),
              "decode_attention: CPU tensors only");
  TORCH_CHECK(query.scalar_type() == key.scalar_type() && key.scalar_type() == value.scalar_type(),
              "decode_attention: query, key and value must share a dtype");
  const int64_t batch = query.size(0), heads = query.size(1), group = query.size(2);
  const int64_t dim = query.size(3), keys = key.size(2);
  TORCH_CHECK(key.size(0) == batch && key.size(1) == heads && key.size(3) == dim &&
                  value.sizes() == key.sizes(),
              "decode_attention: key/value must be [batch, heads, keys, d] of the query's");
  const at::Tensor q = query.contiguous();
  // Keys and values are read in place when they share one layout with unit stride
  // along d (the caches do); otherwise both are copied to the contiguous layout.
  const bool in_place = key.stride(3) == 1 && value.strides() == key.strides();
  const at::Tensor k = in_place ? key : key.contiguous();
  const at::Tensor v = in_place ? value : value.contiguous();
  at::Tensor keep_rows;
  if (keep.has_value()) {
    TORCH_CHECK(keep->scalar_type() == at::kBool && keep->dim() == 4 && keep->size(0) == batch &&
                    keep->size(1) == 1 && keep->size(2) == 1 && keep->size(3) == keys,
                "decode_attention: keep must be bool [batch, 1, 1, keys]");
    keep_rows = keep->reshape({batch, keys}).contiguous();
  }
  at::Tensor out = at::empty({batch, heads, group, dim}, q.options());
  const int64_t pairs = batch * heads;
  const int64_t grain = std::max<int64_t>(1, kGrainWork / std::max<int64_t>(1, 2 * group * keys * dim));
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "decode_attention", [&] {
    const scalar_t scale = scalar_t(1) / std::sqrt(scalar_t(dim));
    const scalar_t* qp = q.data_ptr<scalar_t>();
    const scalar_t* kp = k.data_ptr<scalar_t>();
    const scalar_t* vp = v.data_ptr<scalar_t>();
    const bool* keep_p = keep_rows.defined() ? keep_rows.data_ptr<bool>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    const int64_t kb = k.stride(0), kh = k.stride(1), kt = k.stride(2);
    at::parallel_for(0, pairs, grain, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scores(keys);
      for (int64_t pair = begin; pair < end; ++pair) {
        const int64_t b = pair / heads, h = pair % heads;
        attend_pair<scalar_t>(qp + pair * group * dim, kp + b * kb + h * kh, vp + b * kb + h * kh,
                              keep_p == nullptr ? nullptr : keep_p + b * keys,
                              op + pair * group * dim, group, keys, dim, kt, scale, scores);
      }
    });
  });
  return out;
}

}  // namespace mlnotebook

TORCH_LIBRARY(mlnotebook, m) {
  m.def("decode_attention(Tensor query, Tensor key, Tensor value, Tensor? keep) -> Tensor",
        &mlnotebook::decode_attention);
}
