"""Our LSTM against torch.nn.LSTM: outputs, final states and every gradient."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mlnotebook.nn.lstm import LSTM, lstm_cell, reverse_padded

INPUT, HIDDEN, STEPS, BATCH = 5, 7, 6, 3
ATOL = 1e-5


def _pair(num_layers: int, bidirectional: bool, batch_first: bool, fast: bool = True):
    """A torch LSTM and ours holding the same weights (loaded torch -> ours)."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(
        INPUT, HIDDEN, num_layers, batch_first=batch_first, bidirectional=bidirectional
    )
    ours = LSTM(INPUT, HIDDEN, num_layers, batch_first=batch_first, bidirectional=bidirectional)
    ours.fast = fast
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _inputs(num_layers: int, bidirectional: bool, batch_first: bool, with_state: bool):
    generator = torch.Generator().manual_seed(1)
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, generator=generator)
    if not with_state:
        return x, None
    directions = 2 if bidirectional else 1
    state_shape = (num_layers * directions, BATCH, HIDDEN)
    h0 = torch.randn(state_shape, generator=generator)
    c0 = torch.randn(state_shape, generator=generator)
    return x, (h0, c0)


def _run_with_grads(module, x, state, **kwargs):
    """Forward, a loss touching output and both final states, backward; return all tensors."""
    x = x.clone().requires_grad_(True)
    state = None if state is None else tuple(s.clone().requires_grad_(True) for s in state)
    output, (h_n, c_n) = module(x, state, **kwargs)
    weights = torch.linspace(-1, 1, output.numel()).view_as(output)
    loss = (output * weights).sum() + h_n.pow(2).sum() + c_n.sin().sum()
    module.zero_grad()
    loss.backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    grads["input"] = x.grad
    if state is not None:
        grads["h0"], grads["c0"] = state[0].grad, state[1].grad
    return output, h_n, c_n, grads


def _assert_same(ours_result, reference_result):
    for mine, theirs in zip(ours_result[:3], reference_result[:3], strict=True):
        torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=0)
    assert ours_result[3].keys() == reference_result[3].keys()
    for name, grad in ours_result[3].items():
        torch.testing.assert_close(grad, reference_result[3][name], atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_first", "batch_first"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
def test_matches_torch_lstm(fast, num_layers, bidirectional, batch_first, with_state):
    reference, ours = _pair(num_layers, bidirectional, batch_first, fast)
    x, state = _inputs(num_layers, bidirectional, batch_first, with_state)
    _assert_same(_run_with_grads(ours, x, state), _run_with_grads(reference, x, state))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_lengths_match_packed_sequence(fast, bidirectional):
    """Padding via `lengths` gives what torch gives on a PackedSequence, gradients included."""
    reference, ours = _pair(2, bidirectional, batch_first=True, fast=fast)
    x, state = _inputs(2, bidirectional, batch_first=True, with_state=True)
    lengths = torch.tensor([STEPS, 2, 4])

    class Packed(torch.nn.Module):
        def __init__(self, lstm):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, state):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            output, final = self.lstm(packed, state)
            output, _ = pad_packed_sequence(output, batch_first=True, total_length=STEPS)
            return output, final

    ours_result = _run_with_grads(ours, x, state, lengths=lengths)
    reference_result = _run_with_grads(Packed(reference), x, state)
    reference_result[3].update(
        {name.removeprefix("lstm."): g for name, g in reference_result[3].items()}
    )
    for name in list(reference_result[3]):
        if name.startswith("lstm."):
            del reference_result[3][name]
    _assert_same(ours_result, reference_result)
    # padded outputs are exactly zero
    assert ours_result[0][1, 2:].abs().max() == 0


def test_padding_content_does_not_leak():
    """A row's outputs and final states ignore whatever sits in its padding."""
    _, ours = _pair(2, bidirectional=True, batch_first=True)
    x, _ = _inputs(2, True, batch_first=True, with_state=False)
    lengths = torch.tensor([STEPS, 2, 4])
    output, (h_n, c_n) = ours(x, lengths=lengths)
    noisy = x.clone()
    noisy[1, 2:] = 100.0
    noisy[2, 4:] = -3.0
    output2, (h_n2, c_n2) = ours(noisy, lengths=lengths)
    torch.testing.assert_close(output, output2, atol=0, rtol=0)
    torch.testing.assert_close(h_n, h_n2, atol=0, rtol=0)
    torch.testing.assert_close(c_n, c_n2, atol=0, rtol=0)
    # and row 1 alone, unpadded, gets the same encoding as inside the padded batch
    alone, (h_alone, _) = ours(x[1:2, :2])
    torch.testing.assert_close(alone[0], output[1, :2], atol=ATOL, rtol=0)
    torch.testing.assert_close(h_alone[:, 0], h_n[:, 1], atol=ATOL, rtol=0)


def test_fast_path_equals_reference_path_with_padding_and_dropout_off():
    torch.manual_seed(3)
    fast = LSTM(INPUT, HIDDEN, 3, bidirectional=True)
    slow = LSTM(INPUT, HIDDEN, 3, bidirectional=True, fast=False)
    slow.load_state_dict(fast.state_dict())
    x, state = _inputs(3, True, batch_first=False, with_state=True)
    lengths = [1, STEPS, 3]
    _assert_same(
        _run_with_grads(fast, x, state, lengths=lengths),
        _run_with_grads(slow, x, state, lengths=lengths),
    )


def test_state_dict_loads_into_torch_lstm():
    torch.manual_seed(4)
    ours = LSTM(INPUT, HIDDEN, 2, bidirectional=True, bias=False)
    reference = torch.nn.LSTM(INPUT, HIDDEN, 2, bidirectional=True, bias=False)
    assert list(ours.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], atol=ATOL, rtol=0)


def test_initialisation_range_matches_torch():
    torch.manual_seed(5)
    ours = LSTM(INPUT, 16, 2)
    bound = 16**-0.5
    for name, parameter in ours.named_parameters():
        assert parameter.abs().max() <= bound, name
        assert parameter.abs().max() > 0.8 * bound, name  # spread over the range, not zeros


def test_unbatched_input():
    reference, ours = _pair(1, bidirectional=True, batch_first=True)
    x = torch.randn(STEPS, INPUT)
    output, (h_n, c_n) = ours(x)
    expected, (h_ref, c_ref) = reference(x)
    assert output.shape == (STEPS, 2 * HIDDEN)
    torch.testing.assert_close(output, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(h_n, h_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(c_n, c_ref, atol=ATOL, rtol=0)


def test_cell_against_hand_computation():
    """One step with scalar sizes, computed by hand from the four gate equations."""
    w_ih = torch.tensor([[0.5], [-1.0], [2.0], [0.25]])  # i, f, g, o rows
    w_hh = torch.tensor([[1.0], [0.5], [-0.5], [2.0]])
    x, h, c = torch.tensor([[2.0]]), torch.tensor([[0.5]]), torch.tensor([[-1.0]])
    h_next, c_next = lstm_cell(x, h, c, w_ih, w_hh, None, None)
    sig = torch.sigmoid
    i, f = sig(torch.tensor(1.0 + 0.5)), sig(torch.tensor(-2.0 + 0.25))
    g, o = torch.tanh(torch.tensor(4.0 - 0.25)), sig(torch.tensor(0.5 + 1.0))
    expected_c = f * -1.0 + i * g
    torch.testing.assert_close(c_next.squeeze(), expected_c)
    torch.testing.assert_close(h_next.squeeze(), o * torch.tanh(expected_c))


def test_reverse_padded_is_an_involution():
    x = torch.arange(12.0).view(4, 3)  # [T=4, B=3]
    lengths = torch.tensor([4, 2, 0])
    flipped = reverse_padded(x, lengths)
    assert flipped[:, 0].tolist() == [9.0, 6.0, 3.0, 0.0]
    assert flipped[:, 1].tolist() == [4.0, 1.0, 7.0, 10.0]
    assert flipped[:, 2].tolist() == x[:, 2].tolist()
    torch.testing.assert_close(reverse_padded(flipped, lengths), x)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(6)
    lstm = LSTM(INPUT, HIDDEN, 2, dropout=0.5)
    x = torch.randn(STEPS, BATCH, INPUT)
    lstm.eval()
    assert torch.equal(lstm(x)[0], lstm(x)[0])
    lstm.train()
    assert not torch.equal(lstm(x)[0], lstm(x)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"proj_size": 3}, "proj_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.5}, "dropout"),
        ({"hidden_size": 0}, "hidden_size"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs, message):
    arguments = {"input_size": INPUT, "hidden_size": HIDDEN, **kwargs}
    with pytest.raises(ValueError, match=message):
        LSTM(**arguments)


def test_forward_errors():
    lstm = LSTM(INPUT, HIDDEN)
    x = torch.randn(STEPS, BATCH, INPUT)
    with pytest.raises(ValueError, match="lengths must lie"):
        lstm(x, lengths=[STEPS + 1, 1, 1])
    with pytest.raises(ValueError, match="3 lengths"):
        lstm(x, lengths=[1, 1])
    with pytest.raises(ValueError, match="h0 of shape"):
        lstm(x, (torch.zeros(2, BATCH, HIDDEN), torch.zeros(1, BATCH, HIDDEN)))
    with pytest.raises(ValueError, match="feature size"):
        lstm(torch.randn(STEPS, BATCH, INPUT + 1))
