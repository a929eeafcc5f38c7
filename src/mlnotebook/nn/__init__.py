"""`torch.nn`-compatible modules, one concept per file.

Each module matches PyTorch's own (constructor, parameter and buffer names)
to float tolerance; the tests in tests/nn/ compare them.
"""
