// One step of the Transformer decoder, every layer, in one native call: the
// fast path of `Decoder.forward_step` in transformer.py for decoding.
//
// A decoder step pushes a few rows (one per sentence or beam still decoding)
// through each layer: masked self-attention on the key/value cache,
// cross-attention to the encoder's memory, feed-forward, each in a residual
// block with layer norm. In Python that is about 100 torch calls per layer,
// and for so few rows the calls, not the arithmetic, cost most of what is not
// a matrix multiply (about half of a 10 ms step). Here the same calls run
// from C++, with the same kernels: the matrix multiplies on oneDNN's packed
// weights when Python hands those in (packed_linear.py), decode_attention.cpp
// for both attentions, layer_norm.cpp for the norms. Nothing is computed
// differently, so the results equal the Python path's to float rounding
// (tests/nn/test_decoder_step.py).
//
// Inference only: no autograd, no dropout (the module is in eval mode).
//
// Registered as torch.ops.mlnotebook.decoder_step.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <string_view>
#include <vector>

#include "kernels.h"

namespace {

// The parameters of one layer, in the order Python passes them (18 per layer).
enum Param {
  kSelfNormWeight, kSelfNormBias, kInProjWeight, kInProjBias, kSelfOutWeight, kSelfOutBias,
  kCrossNormWeight, kCrossNormBias, kQueryWeight, kQueryBias, kCrossOutWeight, kCrossOutBias,
  kFeedNormWeight, kFeedNormBias, kLinear1Weight, kLinear1Bias, kLinear2Weight, kLinear2Bias,
  kParamsPerLayer
};

using OptionalTensor = std::optional<at::Tensor>;

// y = x W^T + b, optionally followed by ReLU. W is either a plain [out, in]
// matrix (at::linear) or oneDNN's packed copy of one (its layout is mkldnn),
// which oneDNN multiplies with the ReLU fused in.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const OptionalTensor& bias,
                  bool relu) {
  if (weight.is_mkldnn()) {
    static auto packed = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const OptionalTensor&, std::string_view,
                                               c10::List<std::optional<c10::Scalar>>,
                                               std::optional<std::string_view>)>();
    return packed.call(x, weight, bias, relu ? "relu" : "none",
                       c10::List<std::optional<c10::Scalar>>(), std::nullopt);
  }
  at::Tensor y = at::linear(x, weight, bias);
  return relu ? y.relu_() : y;
}

struct Step {
  int64_t heads;
  int64_t length;  // positions already in the self-attention cache
  bool norm_first;
  bool relu;  // else GELU
  double eps;
};

const OptionalTensor& param(const std::vector<OptionalTensor>& params, int64_t layer, Param p) {
  return params[layer * kParamsPerLayer + p];
}

// Masked self-attention of the new position on the cache: writes its key and
// value at position `length`, attends over positions 0..length, then W^O.
// h: [rows, d]; key_buffer, value_buffer: [rows, heads, capacity, hd].
at::Tensor self_attention(const at::Tensor& h, const std::vector<OptionalTensor>& params,
                          int64_t layer, const at::Tensor& key_buffer,
                          const at::Tensor& value_buffer, const Step& step) {
  const int64_t rows = h.size(0), d = h.size(1), hd = d / step.heads;
  // [Q | K | V] = h [W^Q | W^K | W^V]^T + b
  const at::Tensor qkv = linear(h, *param(params, layer, kInProjWeight),
                                param(params, layer, kInProjBias), false);  // [rows, 3 d]
  const at::Tensor query = qkv.narrow(1, 0, d).view({rows, step.heads, 1, hd});
  key_buffer.select(2, step.length).copy_(qkv.narrow(1, d, d).view({rows, step.heads, hd}));
  value_buffer.select(2, step.length).copy_(qkv.narrow(1, 2 * d, d).view({rows, step.heads, hd}));
  // Every cached position is earlier than the new one: no causal mask needed.
  const at::Tensor heads = mlnotebook::decode_attention(
      query, key_buffer.narrow(2, 0, step.length + 1), value_buffer.narrow(2, 0, step.length + 1),
      std::nullopt);  // [rows, heads, 1, hd]
  // Concat(head_1..head_h) W^O: [rows, heads, 1, hd] is already [rows, d] in memory.
  return linear(heads.view({rows, d}), *param(params, layer, kSelfOutWeight),
                param(params, layer, kSelfOutBias), false);
}

// Cross-attention to the memory: rows = sources * group, and the `group` rows
// of one source (its beams) are `group` queries against that source's keys.
// cross_key, cross_value: [sources, heads, src_len, hd]; keep: [sources, 1, 1, src_len].
at::Tensor cross_attention(const at::Tensor& h, const std::vector<OptionalTensor>& params,
                           int64_t layer, const at::Tensor& cross_key,
                           const at::Tensor& cross_value, const OptionalTensor& keep,
                           const Step& step) {
  const int64_t rows = h.size(0), d = h.size(1), hd = d / step.heads;
  const int64_t sources = cross_key.size(0), group = rows / sources;
  const at::Tensor query = linear(h, *param(params, layer, kQueryWeight),
                                  param(params, layer, kQueryBias), false);  // [rows, d]
  const at::Tensor heads = mlnotebook::decode_attention(
      query.view({sources, group, step.heads, hd}).transpose(1, 2), cross_key, cross_value,
      keep);  // [sources, heads, group, hd]
  const at::Tensor merged = heads.transpose(1, 2).reshape({rows, d});
  return linear(merged, *param(params, layer, kCrossOutWeight),
                param(params, layer, kCrossOutBias), false);
}

// FFN(h) = W_2 act(W_1 h + b_1) + b_2
at::Tensor feed_forward(const at::Tensor& h, const std::vector<OptionalTensor>& params,
                        int64_t layer, const Step& step) {
  at::Tensor hidden = linear(h, *param(params, layer, kLinear1Weight),
                             param(params, layer, kLinear1Bias), step.relu);  // [rows, d_ff]
  if (!step.relu) {
    hidden = at::gelu(hidden);
  }
  return linear(hidden, *param(params, layer, kLinear2Weight), param(params, layer, kLinear2Bias),
                false);
}

// pre-norm: x + f(LN(x));  post-norm: LN(x + f(x))
template <typename Sublayer>
at::Tensor residual(const at::Tensor& x, const std::vector<OptionalTensor>& params, int64_t layer,
                    Param norm_weight, const Step& step, Sublayer sublayer) {
  const OptionalTensor& gamma = param(params, layer, norm_weight);
  const OptionalTensor& beta = params[layer * kParamsPerLayer + norm_weight + 1];
  if (step.norm_first) {
    return x + sublayer(mlnotebook::layer_norm_rows(x, gamma, beta, step.eps));
  }
  return mlnotebook::layer_norm_rows(x + sublayer(x), gamma, beta, step.eps);
}

// x [rows, d]: the new position's input to the first layer. params: 18 per
// layer (see Param); key/value buffers: per layer [rows, heads, capacity, hd]
// with room at position `length`, written in place; cross keys/values per layer
// [sources, heads, src_len, hd]; keep None or bool [sources, 1, 1, src_len].
// Returns the last layer's output [rows, d] (before any final norm).
at::Tensor decoder_step(const at::Tensor& x, const c10::List<OptionalTensor>& param_list,
                        const std::vector<at::Tensor>& key_buffers,
                        const std::vector<at::Tensor>& value_buffers,
                        const std::vector<at::Tensor>& cross_keys,
                        const std::vector<at::Tensor>& cross_values, const OptionalTensor& keep,
                        int64_t length, int64_t heads, bool norm_first, std::string_view activation,
                        double eps) {
  const std::vector<OptionalTensor> params(param_list.begin(), param_list.end());
  const int64_t layers = static_cast<int64_t>(key_buffers.size());
  TORCH_CHECK(x.dim() == 2 && x.device().is_cpu(), "decoder_step: x must be a CPU [rows, d]");
  TORCH_CHECK(static_cast<int64_t>(params.size()) == layers * kParamsPerLayer &&
                  value_buffers.size() == key_buffers.size() &&
                  cross_keys.size() == key_buffers.size() &&
                  cross_values.size() == key_buffers.size(),
              "decoder_step: expected 18 parameters and 4 cache tensors per layer");
  TORCH_CHECK(activation == "relu" || activation == "gelu",
              "decoder_step: activation must be relu or gelu");
  TORCH_CHECK(heads > 0 && x.size(1) % heads == 0, "decoder_step: d_model must divide into heads");
  for (int64_t i = 0; i < layers; ++i) {
    for (Param matrix : {kInProjWeight, kSelfOutWeight, kQueryWeight, kCrossOutWeight,
                         kLinear1Weight, kLinear2Weight}) {
      TORCH_CHECK(param(params, i, matrix).has_value(), "decoder_step: layer ", i,
                  " is missing weight matrix ", static_cast<int>(matrix));
    }
    TORCH_CHECK(key_buffers[i].dim() == 4 && key_buffers[i].size(0) == x.size(0) &&
                    key_buffers[i].size(2) > length && value_buffers[i].sizes() == key_buffers[i].sizes(),
                "decoder_step: layer ", i, "'s cache has no room at position ", length);
    TORCH_CHECK(cross_keys[i].size(0) > 0 && x.size(0) % cross_keys[i].size(0) == 0,
                "decoder_step: rows must be a positive multiple of the source sentences");
  }
  const Step step{heads, length, norm_first, activation == "relu", eps};
  at::Tensor out = x.contiguous();
  for (int64_t layer = 0; layer < layers; ++layer) {
    out = residual(out, params, layer, kSelfNormWeight, step, [&](const at::Tensor& h) {
      return self_attention(h, params, layer, key_buffers[layer], value_buffers[layer], step);
    });
    out = residual(out, params, layer, kCrossNormWeight, step, [&](const at::Tensor& h) {
      return cross_attention(h, params, layer, cross_keys[layer], cross_values[layer], keep, step);
    });
    out = residual(out, params, layer, kFeedNormWeight, step,
                   [&](const at::Tensor& h) { return feed_forward(h, params, layer, step); });
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mlnotebook, m) {
  m.def(
      "decoder_step(Tensor x, Tensor?[] params, Tensor[] key_buffers, Tensor[] value_buffers, "
      "Tensor[] cross_keys, Tensor[] cross_values, Tensor? keep, int length, int heads, "
      "bool norm_first, str activation, float eps) -> Tensor",
      &decoder_step);
}
