"""The Muon split on every model family: hidden matrices to Muon, the rest to the fallback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlnotebook.translate.model_registry import build_model
from mlnotebook.translate.muon_with_fallback import MuonWithFallback
from mlnotebook.translate.param_groups import (
    muon_param_groups,
    optimizer_params,
    output_projection,
)
from tests.translate.toy_run import TINY_MODELS, VOCAB

# (family, extra constructor arguments): every way a family ties its vocabulary matrices.
VARIANTS = [
    ("transformer", {}),  # output tied to the target embedding (the default)
    ("transformer", {"tie_output": False}),
    ("transformer", {"share_embeddings": True}),  # one matrix for all three
    ("seq2seq", {}),
    ("seq2seq", {"tie_output": True}),
    ("luong", {}),
    ("luong", {"tie_output": True, "embedding_dim": 8}),  # with a bottleneck H -> E
    ("bahdanau", {}),
    ("bahdanau", {"share_embeddings": True, "tie_output": True}),
]
IDS = [f"{family}-{','.join(extra) or 'default'}" for family, extra in VARIANTS]
VOCABULARY_NAMES = ("output_projection.weight", "output_layer.projection.weight")


def _model(family: str, extra: dict) -> nn.Module:
    params = dict(TINY_MODELS[family])
    torch.manual_seed(0)
    return build_model(params.pop("family"), {**params, **extra}, VOCAB)


def _expected_hidden_names(model: nn.Module) -> set[str]:
    """The rule restated by parameter names rather than module types."""
    return {
        name
        for name, param in model.named_parameters()  # a tied tensor once, at its first name
        if param.ndim == 2
        and min(param.shape) > 1
        and not name.endswith("embedding.weight")
        and name not in VOCABULARY_NAMES
    }


@pytest.mark.parametrize(("family", "extra"), VARIANTS, ids=IDS)
def test_every_parameter_lands_in_exactly_one_group(family, extra):
    model = _model(family, extra)
    groups = muon_param_groups(model)
    placed = [id(p) for group in groups for p in group["params"]]
    assert len(placed) == len(set(placed)), "a parameter in two places"
    assert set(placed) == {id(p) for p in model.parameters()}
    assert [group["use_muon"] for group in groups] == [True, False]


@pytest.mark.parametrize(("family", "extra"), VARIANTS, ids=IDS)
def test_hidden_matrices_go_to_muon_and_vocabulary_matrices_do_not(family, extra):
    model = _model(family, extra)
    names = {id(p): name for name, p in model.named_parameters()}
    hidden, rest = muon_param_groups(model)
    assert {names[id(p)] for p in hidden["params"]} == _expected_hidden_names(model)
    rest_ids = {id(p) for p in rest["params"]}
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            assert id(module.weight) in rest_ids
    assert id(output_projection(model).weight) in rest_ids
    assert all(p.ndim == 2 for p in hidden["params"])
    # biases and norms are all in the rest; and something of each kind exists
    assert any(p.ndim == 1 for p in rest["params"]) and hidden["params"]


def test_tied_vocabulary_matrix_is_counted_once():
    model = _model("transformer", {"share_embeddings": True})
    shared = model.tgt_embedding.weight
    assert model.src_embedding.weight is shared and model.output_projection.weight is shared
    rest = muon_param_groups(model)[1]["params"]
    assert sum(p is shared for p in rest) == 1


def test_known_matrices_of_each_family():
    transformer = _model("transformer", {"tie_output": False})
    hidden = {id(p) for p in muon_param_groups(transformer)[0]["params"]}
    attention = transformer.encoder.layers[0].self_attn
    assert id(attention.in_proj_weight) in hidden and id(attention.out_proj.weight) in hidden
    assert id(transformer.output_projection.weight) not in hidden
    bahdanau = _model("bahdanau", {})
    hidden = {id(p) for p in muon_param_groups(bahdanau)[0]["params"]}
    assert id(bahdanau.pre_output.weight) in hidden
    assert id(bahdanau.encoder.weight_hh_l0) in hidden
    assert id(bahdanau.attention.v.weight) not in hidden  # [1, A]: a vector


class _Declared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.hidden = nn.Linear(4, 4)
        self.output_projection = nn.Linear(4, 10)


def test_a_model_declares_its_output_layer_or_is_refused():
    declared = _Declared()
    hidden = muon_param_groups(declared)[0]["params"]
    assert hidden == [declared.hidden.weight]
    undeclared = _model("toy", {})  # its output layer is called `output`
    with pytest.raises(ValueError, match="output_projection"):
        muon_param_groups(undeclared)


def test_other_optimisers_get_the_parameters_unsplit():
    model = _model("luong", {})
    assert optimizer_params(torch.optim.AdamW, model) == list(model.parameters())
    groups = optimizer_params(MuonWithFallback, model)
    assert [g["use_muon"] for g in groups] == [True, False]
