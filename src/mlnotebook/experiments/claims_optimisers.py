"""An optimiser claim from the notes that the race alone does not measure.

(Adagrad's default learning rate moved to `claims_adagrad_tuning`, measured as the
width of the range of rates that work.)

(b) `claim_adam_flat_minima`: "Adam behaves like a heavy ball with friction and so
    prefers flat minima." On a one-dimensional loss with one sharp and one flat well of
    equal depth, many starts spread evenly across both basins run with SGD,
    SGD+momentum and Adam at the same learning rates; we count the share of runs that
    end in the flat well. If the claim held, Adam's share would exceed plain SGD's.
"""

from __future__ import annotations

import math

import torch

from mlnotebook.experiments.race import make_optimiser

# ---- (b) Adam and flat minima ----------------------------------------------------------------

SHARP_CENTRE, SHARP_WIDTH = -1.0, 0.15
FLAT_CENTRE, FLAT_WIDTH = 1.0, 0.6
CONTENDERS = ("SGD", "SGD+momentum", "Adam")
FLAT_LRS = (0.001, 0.003, 0.01, 0.03, 0.1)
SETTLED = 0.99  # share of runs resting in a well for a learning rate to count


def two_wells(x: torch.Tensor) -> torch.Tensor:
    """A sharp well at -1 and a flat well at +1, equally deep, inside a gentle bowl."""
    # f(x) = -exp(-(x - c_s)^2 / (2 s_s^2)) - exp(-(x - c_f)^2 / (2 s_f^2)) + 0.05 x^2
    sharp = torch.exp(-((x - SHARP_CENTRE) ** 2) / (2 * SHARP_WIDTH**2))
    flat = torch.exp(-((x - FLAT_CENTRE) ** 2) / (2 * FLAT_WIDTH**2))
    return -sharp - flat + 0.05 * x**2


def _final_positions(optimiser: str, lr: float, starts: torch.Tensor, steps: int) -> torch.Tensor:
    points = starts.clone().requires_grad_(True)  # [n_starts]: one independent run each
    opt = make_optimiser(optimiser, [{"params": [points], "lr": lr}])
    for _ in range(steps):
        opt.zero_grad()
        # The runs do not interact: d(sum_i f(x_i)) / dx_j = f'(x_j).
        two_wells(points).sum().backward()
        opt.step()
    return points.detach()


def claim_adam_flat_minima(quick: bool = True) -> dict:
    """Share of runs ending in the flat well, per optimiser and learning rate."""
    steps = 1000 if quick else 5000
    starts = torch.linspace(-2.5, 2.5, 201 if quick else 1001, dtype=torch.float64)
    figures: dict = {"steps": steps, "starts": len(starts), "lrs": list(FLAT_LRS)}
    for optimiser in CONTENDERS:
        shares, settled = [], []
        for lr in FLAT_LRS:
            final = _final_positions(optimiser, lr, starts, steps)
            in_flat = (final - FLAT_CENTRE).abs() < FLAT_WIDTH
            in_sharp = (final - SHARP_CENTRE).abs() < SHARP_WIDTH
            shares.append(float(in_flat.double().mean()))
            settled.append(float((in_flat | in_sharp).double().mean()))
        figures[optimiser] = {
            "flat_share_per_lr": shares,
            "settled_share_per_lr": settled,
        }
    # Compare only where every optimiser's runs all came to rest in a well: a run still
    # rolling when the budget ends says nothing about which well it prefers.
    common = [
        i
        for i in range(len(FLAT_LRS))
        if all(figures[o]["settled_share_per_lr"][i] >= SETTLED for o in CONTENDERS)
    ]
    figures["compared_lrs"] = [FLAT_LRS[i] for i in common]
    for optimiser in CONTENDERS:
        shares = [figures[optimiser]["flat_share_per_lr"][i] for i in common]
        figures[optimiser]["flat_share"] = sum(shares) / len(shares) if shares else math.nan
    figures["adam_minus_sgd"] = figures["Adam"]["flat_share"] - figures["SGD"]["flat_share"]
    figures["momentum_minus_sgd"] = (
        figures["SGD+momentum"]["flat_share"] - figures["SGD"]["flat_share"]
    )
    return figures
