"""Small plotting helpers for the claims experiments: figures come back as SVG text.

An experiment returns its figure inside its dict of results (`{"svg": {name: text}}`), so
the notebook's site can write it beside the page without the experiment knowing where
the site lives, and the result stays plain JSON-serialisable data.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_axes(width: float = 6.4, height: float = 3.8) -> tuple[Figure, Axes]:
    return plt.subplots(figsize=(width, height))


def svg_text(fig: Figure) -> str:
    """Render and close `fig`; fixed metadata and hash salt keep the SVG reproducible."""
    matplotlib.rcParams["svg.hashsalt"] = "mlnotebook"
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()
