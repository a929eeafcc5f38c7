"""`torch.nn`-compatible modules, one concept per file.

Each module matches PyTorch's own (constructor, parameter and buffer names)
to float tolerance; the tests in tests/nn/ compare them.
"""

from mlnotebook.nn.attention import BahdanauAttention as BahdanauAttention
from mlnotebook.nn.attention import LuongAttention as LuongAttention
from mlnotebook.nn.batch_norm import BatchNorm1d as BatchNorm1d
from mlnotebook.nn.batch_norm import BatchNorm2d as BatchNorm2d
from mlnotebook.nn.layer_norm import LayerNorm as LayerNorm
from mlnotebook.nn.lstm import LSTM as LSTM
from mlnotebook.nn.multi_head_attention import MultiHeadAttention as MultiHeadAttention
from mlnotebook.nn.positional_encoding import PositionalEncoding as PositionalEncoding
from mlnotebook.nn.rnn_seq2seq import BahdanauSeq2Seq as BahdanauSeq2Seq
from mlnotebook.nn.rnn_seq2seq import LuongSeq2Seq as LuongSeq2Seq
from mlnotebook.nn.rnn_seq2seq import RNNDecoderState as RNNDecoderState
from mlnotebook.nn.rnn_seq2seq import Seq2Seq as Seq2Seq
from mlnotebook.nn.transformer import Transformer as Transformer
from mlnotebook.nn.transformer import TransformerSeq2Seq as TransformerSeq2Seq
from mlnotebook.nn.transformer import TransformerState as TransformerState
