// The native kernels of mlnotebook.nn that call one another (each is defined,
// and registered under torch.ops.mlnotebook, in the file named beside it).
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace mlnotebook {

// decode_attention.cpp: softmax(q K^T / sqrt(d_k)) V for a few queries.
// query [B, H, G, D]; key, value [B, H, T, D]; keep None or bool [B, 1, 1, T].
at::Tensor decode_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const std::optional<at::Tensor>& keep);

// layer_norm.cpp: layer norm of each row of x [rows, H] (no autograd).
at::Tensor layer_norm_rows(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                           const std::optional<at::Tensor>& bias, double eps);

}  // namespace mlnotebook
