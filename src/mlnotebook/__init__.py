"""mlnotebook: a living machine-learning notebook."""

__version__ = "0.1.0"
