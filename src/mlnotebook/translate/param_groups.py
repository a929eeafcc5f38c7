"""Which parameters Muon takes: a model's hidden weight matrices, and nothing else.

Muon orthogonalises each parameter's update as one matrix, which suits the
weight matrix of a hidden layer: a linear map from one hidden space to
another, every column of which moves with every input. It does not suit

* **embedding tables** (`nn.Embedding`): a row per token, each updated only
  when its token occurs; the table is a lookup, not a map between spaces;
* **the output projection** over the vocabulary: the same rows, once more
  (often literally: tied to the target embedding);
* **vectors** (biases, layer-norm gains) and anything not 2-D, which Muon
  refuses; and matrices with a side of 1, such as Bahdanau's scoring vector
  v ([1, A]), which are vectors in a matrix's shape: orthogonalising one only
  normalises its gradient.

The rule: a parameter goes to Muon when it is 2-D with both sides > 1 and is
neither the weight of an `nn.Embedding` nor of the model's output projection. The output projection
is the layer the model names: `output_projection` (an `nn.Linear`, as
`TransformerSeq2Seq` has) or `output_layer.projection` (the recurrent
families' `OutputLayer`). A model that names neither is refused with a message
saying what to add, rather than guessed at: a wrong guess would silently hand
the vocabulary matrix to Muon. Tied weights are one tensor and land once.

In the families of nn/: the Transformer's attention projections
(`in_proj_weight`, which stacks W^Q, W^K, W^V, and `out_proj.weight`) and
feed-forward matrices go to Muon; the recurrent models' LSTM matrices
(`weight_ih_*`, `weight_hh_*`, gates stacked), attention projections, Luong's
W_c, Bahdanau's W_o and the tied output layer's bottleneck go to Muon.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mlnotebook.translate.muon_with_fallback import MuonWithFallback


def output_projection(model: nn.Module) -> nn.Linear:
    """The layer that maps the model's last hidden state to vocabulary logits."""
    declared = getattr(model, "output_projection", None)
    if isinstance(declared, nn.Linear):
        return declared
    projection = getattr(getattr(model, "output_layer", None), "projection", None)
    if isinstance(projection, nn.Linear):
        return projection
    raise ValueError(
        f"{type(model).__name__}: cannot tell which layer maps to the vocabulary; for "
        "optim.name: muon give the model an `output_projection` attribute (that nn.Linear)"
    )


def vocabulary_parameters(model: nn.Module) -> list[Tensor]:
    """Embedding tables and the output projection's weight, each tensor once."""
    found: dict[int, Tensor] = {}
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            found.setdefault(id(module.weight), module.weight)
    weight = output_projection(model).weight
    found.setdefault(id(weight), weight)
    return list(found.values())


def is_hidden_matrix(param: Tensor, vocabulary_ids: set[int]) -> bool:
    return param.ndim == 2 and min(param.shape) > 1 and id(param) not in vocabulary_ids


def muon_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """Two param groups for `MuonWithFallback`: the hidden weight matrices
    (use_muon True) and every other parameter (use_muon False), in the model's
    order; a group with no parameters is left out."""
    vocabulary_ids = {id(param) for param in vocabulary_parameters(model)}
    hidden: list[Tensor] = []
    rest: list[Tensor] = []
    # model.parameters() yields a tied tensor once, at its first name
    for param in model.parameters():
        (hidden if is_hidden_matrix(param, vocabulary_ids) else rest).append(param)
    groups = [{"params": hidden, "use_muon": True}, {"params": rest, "use_muon": False}]
    return [group for group in groups if group["params"]]


def optimizer_params(
    optim_cls: type[torch.optim.Optimizer], model: nn.Module
) -> list[Tensor] | list[dict[str, Any]]:
    """What the trainer hands `optim_cls`: the tagged groups for `MuonWithFallback`,
    the model's parameters for any other optimiser."""
    if issubclass(optim_cls, MuonWithFallback):
        return muon_param_groups(model)
    return list(model.parameters())
