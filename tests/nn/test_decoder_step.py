"""The native decoder step (decoder_step.cpp) against the Python layers it replaces."""

from __future__ import annotations

import pytest
import torch

from mlnotebook import native
from mlnotebook.nn.packed_linear import packed_weights
from mlnotebook.nn.transformer import (
    CACHE_START,
    Decoder,
    LayerCache,
    LayerConfig,
    TransformerSeq2Seq,
    _layer_step_parameters,
)
from mlnotebook.translate.search import beam_search, greedy_search

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}
D_MODEL, HEADS, FF, LAYERS = 16, 4, 32, 2
PAD, BOS, EOS = 0, 1, 2


def _decoder(config: LayerConfig, dtype: torch.dtype, seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    decoder = Decoder(config, LAYERS, final_norm=config.norm_first).to(dtype)
    with torch.no_grad():  # biases and norms start trivial; perturb them so they count
        for parameter in decoder.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return decoder.eval()


def _caches(decoder: Decoder, sources: int, src_len: int, dtype, generator) -> list[LayerCache]:
    memory = torch.randn(sources, src_len, D_MODEL, generator=generator, dtype=dtype)
    return [layer.start_cache(memory) for layer in decoder.layers]


def _python_steps(decoder, x_steps, caches, keep, group):
    """The reference: every layer's Python `forward_step`, then the final norm."""
    return _run_steps(decoder, x_steps, caches, keep, group, native_path=False)


def _run_steps(decoder, x_steps, caches, keep, group, native_path):
    outputs = []
    caches = [_repeat_rows(cache, group) for cache in caches]
    for x in x_steps:  # x: [rows, 1, d]
        if native_path:
            out, caches, _ = decoder.forward_step_native(x, caches, keep)
        else:
            new_caches = []
            for layer, cache in zip(decoder.layers, caches, strict=True):
                x, cache, _ = layer.forward_step(x, cache, keep)
                new_caches.append(cache)
            out, caches = decoder._final(x), new_caches
        outputs.append(out)
    return torch.cat(outputs, dim=1), caches


def _repeat_rows(cache: LayerCache, group: int) -> LayerCache:
    """The self-attention cache of `group` rows per source (beams), still empty."""
    sources, heads, capacity, head_dim = cache.key_buffer.shape
    empty = cache.key_buffer.new_empty(sources * group, heads, capacity, head_dim)
    return LayerCache(empty, empty.clone(), 0, cache.cross_key, cache.cross_value)


CONFIGS = {
    "post-norm relu": LayerConfig(D_MODEL, HEADS, FF, 0.1, "relu", False),
    "pre-norm relu": LayerConfig(D_MODEL, HEADS, FF, 0.1, "relu", True),
    "pre-norm gelu": LayerConfig(D_MODEL, HEADS, FF, 0.1, "gelu", True),
    "post-norm no bias": LayerConfig(D_MODEL, HEADS, FF, 0.1, "relu", False, bias=False),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("group", [1, 3])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_native_steps_equal_the_python_layers(name, group, dtype) -> None:
    # Past the cache's first capacity, with a padded source and beams sharing a source.
    decoder = _decoder(CONFIGS[name], dtype)
    generator = torch.Generator().manual_seed(1)
    sources, src_len, steps = 2, 7, CACHE_START + 3
    caches = _caches(decoder, sources, src_len, dtype, generator)
    keep = torch.ones(sources, 1, 1, src_len, dtype=torch.bool)
    keep[1, ..., 4:] = False
    x_steps = torch.randn(steps, sources * group, 1, D_MODEL, generator=generator, dtype=dtype)
    with torch.no_grad():
        expected, expected_caches = _python_steps(decoder, x_steps, caches, keep, group)
        actual, actual_caches = _run_steps(decoder, x_steps, caches, keep, group, True)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)
    for mine, theirs in zip(actual_caches, expected_caches, strict=True):
        assert mine.length == theirs.length == steps
        torch.testing.assert_close(mine.self_key, theirs.self_key, atol=tol, rtol=tol)
        torch.testing.assert_close(mine.self_value, theirs.self_value, atol=tol, rtol=tol)


def test_packed_weights_give_the_same_steps() -> None:
    decoder = _decoder(CONFIGS["pre-norm relu"], torch.float32)
    generator = torch.Generator().manual_seed(2)
    caches = _caches(decoder, 3, 5, torch.float32, generator)
    x_steps = torch.randn(4, 3, 1, D_MODEL, generator=generator)
    with torch.no_grad():
        expected, _ = _python_steps(decoder, x_steps, caches, None, 1)
        with packed_weights():
            actual, _ = _run_steps(decoder, x_steps, caches, None, 1, True)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_two_continuations_of_one_cache_stay_apart() -> None:
    # Stepping twice from one state: the second step must not overwrite the first's
    # position in the shared buffers (make_room copies them).
    decoder = _decoder(CONFIGS["post-norm relu"], torch.float64)
    generator = torch.Generator().manual_seed(3)
    caches = _caches(decoder, 2, 4, torch.float64, generator)
    first, second = torch.randn(2, 2, 1, D_MODEL, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        _, after_first, _ = decoder.forward_step_native(first, caches, None)
        kept = [cache.self_key.clone() for cache in after_first]
        decoder.forward_step_native(second, caches, None)
    for cache, key in zip(after_first, kept, strict=True):
        torch.testing.assert_close(cache.self_key, key, atol=0, rtol=0)


def _seq2seq(norm_first: bool) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    model = TransformerSeq2Seq(
        20, 20, PAD, BOS, EOS, d_model=D_MODEL, num_heads=HEADS, num_encoder_layers=2,
        num_decoder_layers=LAYERS, d_ff=FF, dropout=0.1, norm_first=norm_first,
        share_embeddings=True, max_len=64,
    )  # fmt: skip
    return model.eval()


def _sources() -> torch.Tensor:
    generator = torch.Generator().manual_seed(4)
    src = torch.randint(3, 20, (5, 8), generator=generator)
    src[1, 5:] = PAD
    src[3, 2:] = PAD
    return src


def _count_native(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = Decoder.forward_step_native

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Decoder, "forward_step_native", counted)
    return calls


def _python_only(monkeypatch) -> None:
    monkeypatch.setattr(Decoder, "_native_step_fits", lambda self, x, caches: False)


@pytest.mark.parametrize("norm_first", [False, True])
def test_searches_find_the_same_translations_on_either_path(monkeypatch, norm_first) -> None:
    model, src = _seq2seq(norm_first), _sources()
    calls = _count_native(monkeypatch)
    native_greedy = greedy_search(model, src, 12, with_attention=False)
    native_beam = beam_search(model, src, 3, 12, 0.6, with_attention=False)
    assert calls, "the searches did not take the native path"
    _python_only(monkeypatch)
    python_greedy = greedy_search(model, src, 12, with_attention=False)
    python_beam = beam_search(model, src, 3, 12, 0.6, with_attention=False)
    for mine, theirs in zip(native_greedy + native_beam, python_greedy + python_beam, strict=True):
        assert mine.tokens == theirs.tokens
        assert mine.log_prob == pytest.approx(theirs.log_prob, abs=1e-4)


def test_the_python_layers_run_wherever_the_native_step_does_not_apply(monkeypatch) -> None:
    model, src = _seq2seq(True), _sources()
    calls = _count_native(monkeypatch)
    prev = torch.full((src.shape[0],), BOS)
    with torch.no_grad():
        state = model.encode(src, with_attention=True)
        model.decode_step(state, prev)  # the last layer's map is wanted
        model.train()
        model.decode_step(model.encode(src, with_attention=False), prev)  # dropout
        model.eval()
    model.decode_step(model.encode(src, with_attention=False), prev)  # autograd on
    assert calls == []
    with torch.no_grad():
        model.decode_step(model.encode(src, with_attention=False), prev)
    assert calls == [1]


def test_without_the_native_build_decoding_uses_the_python_layers(monkeypatch) -> None:
    model, src = _seq2seq(False), _sources()
    calls = _count_native(monkeypatch)
    monkeypatch.setattr(native, "extension_or_none", lambda: None)
    found = greedy_search(model, src, 6, with_attention=False)
    assert calls == [] and len(found) == src.shape[0]


def test_a_cache_without_room_is_refused_with_a_clear_error() -> None:
    decoder = _decoder(CONFIGS["pre-norm relu"], torch.float32)
    generator = torch.Generator().manual_seed(5)
    caches = _caches(decoder, 2, 4, torch.float32, generator)
    full = caches[0].key_buffer.shape[2]
    native.extension()  # registers torch.ops.mlnotebook
    x = torch.randn(2, D_MODEL, generator=generator)
    with torch.no_grad(), pytest.raises(RuntimeError, match="no room at position"):
        torch.ops.mlnotebook.decoder_step(
            x, [p for layer in decoder.layers for p in _layer_step_parameters(layer, x)],
            [c.key_buffer for c in caches], [c.value_buffer for c in caches],
            [c.cross_key for c in caches], [c.cross_value for c in caches],
            None, full, HEADS, True, "relu", 1e-5,
        )  # fmt: skip


def test_a_weight_written_inside_a_block_is_seen_by_the_next_step() -> None:
    # The step's parameter list is gathered once per packed_weights() block and
    # must be gathered again (and the weight re-packed) after an in-place write.
    decoder = _decoder(CONFIGS["pre-norm relu"], torch.float32)
    generator = torch.Generator().manual_seed(6)
    caches = _caches(decoder, 2, 5, torch.float32, generator)
    x = torch.randn(2, 1, D_MODEL, generator=generator)
    with torch.no_grad(), packed_weights():
        first, _, _ = decoder.forward_step_native(x, caches, None)
        again, _, _ = decoder.forward_step_native(x, caches, None)
        decoder.layers[1].feed_forward.linear2.weight.mul_(2.0)
        changed, _, _ = decoder.forward_step_native(x, caches, None)
    with torch.no_grad():
        expected, _ = _python_steps(decoder, x[None], caches, None, 1)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert not torch.allclose(changed, first)
    torch.testing.assert_close(changed, expected, atol=1e-5, rtol=1e-5)
