"""Sinusoidal positional encoding against values computed by hand."""

import math

import pytest
import torch

from mlnotebook.nn.positional_encoding import PositionalEncoding, sinusoidal_table


def test_table_matches_the_paper_formula_entry_by_entry():
    d_model = 4
    table = sinusoidal_table(5, d_model)
    # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d));
    # with d = 4 the two frequencies are 1 and 1/100.
    for pos in range(5):
        expected = [math.sin(pos), math.cos(pos), math.sin(pos / 100), math.cos(pos / 100)]
        torch.testing.assert_close(table[pos], torch.tensor(expected))


def test_position_zero_alternates_zero_and_one():
    table = sinusoidal_table(3, 8)
    assert torch.equal(table[0], torch.tensor([0.0, 1.0] * 4))


def test_large_position_and_last_frequency():
    d_model, pos = 512, 1000
    table = sinusoidal_table(pos + 1, d_model)
    i = d_model // 2 - 1
    angle = pos / 10000 ** (2 * i / d_model)
    assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_module_adds_rows_from_the_offset():
    module = PositionalEncoding(6, max_len=10)
    x = torch.randn(2, 3, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(module(x, offset=4), x + sinusoidal_table(10, 6)[4:7])


def test_odd_width_and_overlong_input_are_refused():
    with pytest.raises(ValueError, match="even"):
        sinusoidal_table(4, 5)
    with pytest.raises(ValueError, match="max_len=4"):
        PositionalEncoding(6, max_len=4)(torch.zeros(1, 3, 6), offset=2)


def test_table_is_not_saved_in_the_state_dict():
    assert "table" not in PositionalEncoding(4, max_len=8).state_dict()
