"""`torch.nn`-compatible modules, one concept per file.

Each module matches PyTorch's own (constructor, parameter and buffer names)
to float tolerance; the tests in tests/nn/ compare them.
"""

from mlnotebook.nn.batch_norm import BatchNorm1d as BatchNorm1d
from mlnotebook.nn.batch_norm import BatchNorm2d as BatchNorm2d
from mlnotebook.nn.layer_norm import LayerNorm as LayerNorm
