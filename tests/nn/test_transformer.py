"""Transformer against torch.nn.Transformer, and the seq2seq model's decoding paths."""

import pytest
import torch
from torch import nn

from mlnotebook.nn.transformer import (
    CACHE_START,
    Transformer,
    TransformerSeq2Seq,
    _rename_torch_state,
)

# torch's own warnings about its mask types and nested-tensor fast path are not ours
pytestmark = [
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask"),
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated"),
]

D_MODEL, HEADS, FF = 16, 4, 32
PAD, BOS, EOS = 0, 1, 2


# --- Transformer vs torch.nn.Transformer ---------------------------------------------------


def _torch_pair(norm_first: bool, batch_first: bool, activation: str = "relu", seed: int = 0):
    torch.manual_seed(seed)
    theirs = nn.Transformer(
        D_MODEL, HEADS, 2, 2, FF, dropout=0.1, activation=activation,
        batch_first=batch_first, norm_first=norm_first,
    )  # fmt: skip
    with torch.no_grad():  # torch initialises biases and norms trivially; perturb them
        for parameter in theirs.parameters():
            if parameter.dim() == 1:
                parameter.add_(0.1 * torch.randn_like(parameter))
    theirs.eval()
    ours = Transformer.from_torch(theirs).eval()
    return theirs, ours


def _inputs(batch_first: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randn(3, 7, D_MODEL, generator=generator)
    tgt = torch.randn(3, 5, D_MODEL, generator=generator)
    src_lengths, tgt_lengths = torch.tensor([7, 4, 2]), torch.tensor([5, 5, 3])
    masks = {
        "src_key_padding_mask": torch.arange(7)[None, :] >= src_lengths[:, None],
        "tgt_key_padding_mask": torch.arange(5)[None, :] >= tgt_lengths[:, None],
        "tgt_mask": nn.Transformer.generate_square_subsequent_mask(5),  # float 0 / -inf
    }
    masks["memory_key_padding_mask"] = masks["src_key_padding_mask"]
    if not batch_first:
        src, tgt = src.transpose(0, 1), tgt.transpose(0, 1)
    return src, tgt, masks


@pytest.mark.parametrize(
    ("norm_first", "batch_first", "activation"),
    [(False, True, "relu"), (True, True, "relu"), (False, False, "gelu"), (True, False, "relu")],
)
def test_outputs_and_gradients_match_torch(norm_first, batch_first, activation):
    theirs, ours = _torch_pair(norm_first, batch_first, activation)
    src, tgt, masks = _inputs(batch_first)
    their_inputs = [t.clone().requires_grad_(True) for t in (src, tgt)]
    our_inputs = [t.clone().requires_grad_(True) for t in (src, tgt)]
    expected = theirs(*their_inputs, **masks)
    out = ours(*our_inputs, **masks)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)

    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    expected.backward(grad_out)
    out.backward(grad_out)
    for theirs_in, ours_in in zip(their_inputs, our_inputs, strict=True):
        torch.testing.assert_close(ours_in.grad, theirs_in.grad, atol=1e-5, rtol=1e-5)
    their_grads = _rename_torch_state({n: p.grad for n, p in theirs.named_parameters()})
    our_grads = {n: p.grad for n, p in ours.named_parameters()}
    assert our_grads.keys() == their_grads.keys()
    for name, grad in our_grads.items():
        torch.testing.assert_close(grad, their_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_boolean_causal_mask_and_no_grad_fast_path_match_torch():
    theirs, ours = _torch_pair(norm_first=False, batch_first=True)
    src, tgt, masks = _inputs(batch_first=True, seed=1)
    masks["tgt_mask"] = masks["tgt_mask"] == float("-inf")  # bool, True = blocked
    with torch.no_grad():  # torch takes its fused inference path here
        expected, out = theirs(src, tgt, **masks), ours(src, tgt, **masks)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_state_dict_holds_both_final_norms_like_torch():
    theirs, ours = _torch_pair(norm_first=False, batch_first=True)
    assert "encoder.norm.weight" in ours.state_dict()
    assert "decoder.norm.weight" in ours.state_dict()
    assert len(ours.state_dict()) == len(theirs.state_dict())


def test_float_mask_with_other_values_is_refused():
    _, ours = _torch_pair(norm_first=False, batch_first=True)
    src, tgt, _ = _inputs(batch_first=True)
    with pytest.raises(ValueError, match="tgt_mask may only hold 0 and -inf"):
        ours(src, tgt, tgt_mask=torch.full((5, 5), 0.5))


def test_dropout_is_active_in_training_mode():
    _, ours = _torch_pair(norm_first=True, batch_first=True)
    src, tgt, _ = _inputs(batch_first=True)
    ours.train()
    torch.manual_seed(0)
    first = ours(src, tgt)
    second = ours(src, tgt)
    assert not torch.allclose(first, second)


# --- TransformerSeq2Seq ---------------------------------------------------------------------


def _seq2seq(norm_first: bool = False, share: bool = True, seed: int = 0) -> TransformerSeq2Seq:
    torch.manual_seed(seed)
    model = TransformerSeq2Seq(
        20, 20, PAD, BOS, EOS, d_model=D_MODEL, num_heads=HEADS, num_encoder_layers=2,
        num_decoder_layers=2, d_ff=FF, dropout=0.1, norm_first=norm_first,
        share_embeddings=share, max_len=32,
    )  # fmt: skip
    return model.eval()


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 20, (3, 6), generator=generator)
    src[1, 4:] = PAD
    src[2, 2:] = PAD
    tgt_in = torch.randint(3, 20, (3, 5), generator=generator)
    tgt_in[:, 0] = BOS
    return src, tgt_in


def _decode_all(model, src, tgt_in, use_cache=True, record_attention=False):
    state = model.encode(src, record_attention=record_attention)
    log_probs, attentions, maps = [], [], []
    for step in range(tgt_in.shape[1]):
        step_log_probs, state, attention = model.decode_step(state, tgt_in[:, step], use_cache)
        log_probs.append(step_log_probs)
        attentions.append(attention)
        maps.append(state.attention_maps)
    return torch.stack(log_probs, 1), torch.stack(attentions, 1), maps, state


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_and_uncached_decoding_equal_teacher_forcing(norm_first):
    model = _seq2seq(norm_first)
    src, tgt_in = _batch()
    with torch.no_grad():
        expected = torch.log_softmax(model(src, tgt_in), dim=-1)
        cached, _, _, _ = _decode_all(model, src, tgt_in, use_cache=True)
        uncached, _, _, _ = _decode_all(model, src, tgt_in, use_cache=False)
    torch.testing.assert_close(cached, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(uncached, expected, atol=1e-5, rtol=1e-5)


def test_decoding_without_attention_returns_none_and_the_same_log_probs():
    # with_attention=False lets the last layer use the fused kernel (no weights).
    model = _seq2seq(norm_first=False)
    src, tgt_in = _batch()
    with torch.no_grad():
        expected, _, _, _ = _decode_all(model, src, tgt_in)
        state = model.encode(src, with_attention=False)
        for step in range(tgt_in.shape[1]):
            log_probs, state, attention = model.decode_step(state, tgt_in[:, step])
            assert attention is None
            torch.testing.assert_close(log_probs, expected[:, step], atol=1e-5, rtol=1e-5)
        recorded = model.encode(src, with_attention=False, record_attention=True)
        _, _, attention = model.decode_step(recorded, tgt_in[:, 0])
    assert attention is not None  # recording the maps implies returning them


def test_cache_grows_past_its_first_capacity_and_still_equals_teacher_forcing():
    model = _seq2seq(norm_first=True)
    src, _ = _batch()
    generator = torch.Generator().manual_seed(5)
    tgt_in = torch.randint(3, 20, (3, CACHE_START + 8), generator=generator)  # grows once
    tgt_in[:, 0] = BOS
    with torch.no_grad():
        expected = torch.log_softmax(model(src, tgt_in), dim=-1)
        cached, _, _, state = _decode_all(model, src, tgt_in)
    torch.testing.assert_close(cached, expected, atol=1e-5, rtol=1e-5)
    assert state.caches[0].self_key.shape[2] == tgt_in.shape[1]


def test_two_continuations_of_one_state_do_not_share_cache_positions():
    # Stepping twice from the same state writes the same cache position twice;
    # the second write must not change what the first continuation sees.
    model = _seq2seq()
    src, tgt_in = _batch()
    first, second = tgt_in[:, 3], torch.full((3,), 7)
    with torch.no_grad():
        _, _, _, state = _decode_all(model, src, tgt_in[:, :3])
        _, after_first, _ = model.decode_step(state, first)
        _, after_second, _ = model.decode_step(state, second)  # branches from `state`
        log_probs, _, _ = model.decode_step(after_first, tgt_in[:, 4])
        _, _, _, direct = _decode_all(model, src, tgt_in[:, :4])
        expected, _, _ = model.decode_step(direct, tgt_in[:, 4])
        assert not torch.equal(after_second.caches[0].self_key, after_first.caches[0].self_key)
    torch.testing.assert_close(log_probs, expected, atol=1e-6, rtol=1e-6)


def test_source_padding_does_not_change_a_sentence():
    model = _seq2seq()
    src, tgt_in = _batch()
    alone = src[2:3, :2]  # the short sentence without its padding
    with torch.no_grad():
        in_batch = model(src, tgt_in)[2]
        by_itself = model(alone, tgt_in[2:3])[0]
    torch.testing.assert_close(in_batch, by_itself, atol=1e-5, rtol=1e-5)


def test_attention_maps_per_layer_and_head():
    model = _seq2seq()
    src, tgt_in = _batch()
    with torch.no_grad():
        _, attention, maps, _ = _decode_all(model, src, tgt_in, record_attention=True)
        _, forward_maps = model(src, tgt_in, return_attention=True)
    last_step = maps[-1]
    assert len(last_step) == 2 and last_step[0].shape == (3, HEADS, 6)
    # rows are distributions over the real source tokens only
    torch.testing.assert_close(last_step[1].sum(-1), torch.ones(3, HEADS))
    assert bool((last_step[1][2, :, 2:] == 0).all())
    # the returned map is the last layer's heads averaged, same as teacher forcing
    torch.testing.assert_close(attention[:, -1], last_step[1].mean(1))
    torch.testing.assert_close(forward_maps[1].mean(1), attention, atol=1e-5, rtol=1e-5)
    assert forward_maps[0].shape == (3, HEADS, 5, 6)


def test_reorder_state_selects_rows_of_every_cache():
    model = _seq2seq()
    src, tgt_in = _batch()
    index = torch.tensor([2, 2, 0])
    with torch.no_grad():
        _, _, _, state = _decode_all(model, src, tgt_in[:, :3])
        reordered = model.reorder_state(state, index)
        next_tokens = tgt_in[index, 3]
        log_probs, _, _ = model.decode_step(reordered, next_tokens)
        _, _, _, direct_state = _decode_all(model, src[index], tgt_in[index, :3])
        expected, _, _ = model.decode_step(direct_state, next_tokens)
    torch.testing.assert_close(log_probs, expected, atol=1e-5, rtol=1e-5)


def test_reordering_at_every_step_past_the_cache_capacity_equals_teacher_forcing():
    # Beam search reorders the rows after every step; the copy keeps the cache's
    # capacity (room for the next position, without growing at every step) and
    # must still grow when full.
    model = _seq2seq(norm_first=True)
    src, _ = _batch()
    generator = torch.Generator().manual_seed(6)
    tgt_in = torch.randint(3, 20, (3, CACHE_START + 8), generator=generator)
    tgt_in[:, 0] = BOS
    index = torch.tensor([2, 0, 1])  # the rows change places at every step
    with torch.no_grad():
        expected = torch.log_softmax(model(src, tgt_in), dim=-1)  # [3, steps, V]
        state, rows = model.encode(src), torch.arange(3)  # rows: the sentence of each row
        for step in range(tgt_in.shape[1]):
            log_probs, state, _ = model.decode_step(state, tgt_in[rows, step])
            torch.testing.assert_close(log_probs, expected[rows, step], atol=1e-5, rtol=1e-5)
            state, rows = model.reorder_state(state, index), rows[index]
            cache = state.caches[0]
            assert cache.length < cache.key_buffer.shape[2]  # room for the next step
            expected_capacity = CACHE_START if step + 1 < CACHE_START else 2 * CACHE_START
            assert cache.key_buffer.shape[2] == expected_capacity
    assert state.caches[0].self_key.shape[2] == tgt_in.shape[1]


def test_shared_embeddings_are_one_parameter():
    model = _seq2seq(share=True)
    assert model.src_embedding.weight is model.tgt_embedding.weight
    assert model.output_projection.weight is model.tgt_embedding.weight
    separate = _seq2seq(share=False)
    assert separate.src_embedding.weight is not separate.tgt_embedding.weight
    with pytest.raises(ValueError, match="src_vocab_size=20 and tgt_vocab_size=21"):
        TransformerSeq2Seq(20, 21, share_embeddings=True, d_model=8, num_heads=2)


def test_tiny_model_learns_to_reverse_sequences():
    torch.manual_seed(0)
    vocab, length = 13, 6
    model = TransformerSeq2Seq(
        vocab, vocab, PAD, BOS, EOS, d_model=32, num_heads=4, num_encoder_layers=1,
        num_decoder_layers=1, d_ff=64, dropout=0.0, norm_first=True, share_embeddings=True,
        max_len=16,
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        src = torch.randint(3, vocab, (64, length))
        target = torch.cat([src.flip(1), torch.full((64, 1), EOS)], dim=1)
        tgt_in = torch.cat([torch.full((64, 1), BOS), target[:, :-1]], dim=1)
        logits = model(src, tgt_in)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    src = torch.randint(3, vocab, (100, length), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # greedy decoding through the cache
        state, tokens = model.encode(src), torch.full((100,), BOS)
        decoded = []
        for _ in range(length):
            log_probs, state, _ = model.decode_step(state, tokens)
            tokens = log_probs.argmax(-1)
            decoded.append(tokens)
    accuracy = (torch.stack(decoded, 1) == src.flip(1)).float().mean().item()
    assert accuracy > 0.95, f"token accuracy {accuracy:.2f} after 300 steps"


def test_loss_on_real_tokens_equals_masked_cross_entropy_and_its_gradients():
    model = _seq2seq(share=False)
    src, tgt_in = _batch()
    tgt_out = torch.cat([tgt_in[:, 1:], torch.full((3, 1), EOS)], dim=1)
    tgt_in[2, 3:], tgt_out[2, 2], tgt_out[2, 3:] = PAD, EOS, PAD  # a short target
    tgt_out[1, 4] = PAD  # a real input position whose target is ignored anyway
    expected = nn.functional.cross_entropy(
        model(src, tgt_in).reshape(-1, 20), tgt_out.reshape(-1), ignore_index=PAD,
        label_smoothing=0.1,
    )  # fmt: skip
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))
    loss = model.loss(src, tgt_in, tgt_out, label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, atol=1e-6, rtol=1e-5)


def test_packed_decoder_output_equals_padded_output_at_real_tokens():
    model = _seq2seq(norm_first=True)
    src, tgt_in = _batch(seed=3)
    tgt_in[0, 2:] = PAD
    with torch.no_grad():
        dense, _ = model.decode_all(src, tgt_in)
        packed, targets = model.decode_packed(src, tgt_in, tgt_in)
    real = tgt_in != PAD
    torch.testing.assert_close(packed, dense[real], atol=1e-5, rtol=1e-5)
    assert torch.equal(targets, tgt_in[real])


def test_compiled_loss_equals_eager_loss_and_gradients():
    src, tgt_in = _batch(seed=4)
    tgt_out = torch.cat([tgt_in[:, 1:], torch.full((3, 1), EOS)], dim=1)
    results = []
    for compile_loss in (False, True):
        model = _seq2seq()
        model.compile_loss = compile_loss
        loss = model.loss(src, tgt_in, tgt_out, label_smoothing=0.1)
        results.append((loss, torch.autograd.grad(loss, list(model.parameters()))))
    (eager, eager_grads), (compiled, compiled_grads) = results
    torch.testing.assert_close(compiled, eager)
    for grad, want in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(grad, want, atol=1e-6, rtol=1e-5)


def test_src_and_memory_attention_masks_match_torch():
    theirs, ours = _torch_pair(norm_first=True, batch_first=True, seed=2)
    src, tgt, masks = _inputs(batch_first=True, seed=2)
    positions = torch.arange(7)
    masks["src_mask"] = (positions[:, None] - positions[None, :]).abs() > 2  # a band
    masks["memory_mask"] = torch.arange(5)[:, None] < positions[None, :] - 3
    expected, out = theirs(src, tgt, **masks), ours(src, tgt, **masks)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_encode_runs_the_real_tokens_only_and_equals_the_padded_encoder():
    # encode() packs the source (see Packing); the memory must equal the padded
    # encoder's at every real token and be zero at the padding.
    model = _seq2seq(norm_first=True)
    src, _ = _batch()
    with torch.no_grad():
        padded, keep = model._encode_memory(src)
        state = model.encode(src)
    real = src != PAD
    torch.testing.assert_close(state.memory[real], padded[real], atol=1e-5, rtol=1e-5)
    assert bool((state.memory[~real] == 0).all())
    assert torch.equal(state.memory_keep_mask, keep)
