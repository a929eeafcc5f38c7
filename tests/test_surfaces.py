"""The 2-D test surfaces: autograd gradients against hand-derived ones, minima, shapes."""

from __future__ import annotations

import pytest
import torch

from mlnotebook.errors import UserError
from mlnotebook.surfaces import (
    RAVINE_A,
    RAVINE_B,
    SURFACES,
    get_surface,
)


def _hand_gradient(name: str, p: torch.Tensor) -> torch.Tensor:
    """Gradients derived on paper, one formula per surface."""
    x, y = p[..., 0], p[..., 1]
    if name == "ravine":
        gx, gy = x / RAVINE_A, RAVINE_B * y
    elif name == "rosenbrock":
        gx = -2 * (1 - x) - 400 * x * (y - x**2)
        gy = 200 * (y - x**2)
    elif name == "beale":
        t1 = 1.5 - x + x * y
        t2 = 2.25 - x + x * y**2
        t3 = 2.625 - x + x * y**3
        gx = 2 * t1 * (y - 1) + 2 * t2 * (y**2 - 1) + 2 * t3 * (y**3 - 1)
        gy = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y**2
    elif name == "saddle":
        gx, gy = 2 * x, -2 * y + y**3
    else:
        raise AssertionError(name)
    return torch.stack([gx, gy], dim=-1)


@pytest.mark.parametrize("name", list(SURFACES))
def test_autograd_gradient_matches_hand_derivation(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    surface = SURFACES[name]
    x_min, x_max, y_min, y_max = surface.bounds
    low = torch.tensor([x_min, y_min], dtype=torch.float64)
    high = torch.tensor([x_max, y_max], dtype=torch.float64)
    points = low + (high - low) * torch.rand(64, 2, generator=gen, dtype=torch.float64)
    points.requires_grad_(True)
    surface(points).sum().backward()
    torch.testing.assert_close(points.grad, _hand_gradient(name, points.detach()))


@pytest.mark.parametrize("name", list(SURFACES))
def test_minima_are_stationary_and_lowest(name: str) -> None:
    surface = SURFACES[name]
    for minimiser in surface.minima:
        p = torch.tensor(minimiser, dtype=torch.float64, requires_grad=True)
        loss = surface(p)
        loss.backward()
        assert loss.item() == pytest.approx(surface.min_value, abs=1e-12)
        assert p.grad.abs().max().item() < 1e-12
        assert bool(surface.reached(loss.detach()))
    # No grid point over the plotting window beats the stated minimum.
    x_min, x_max, y_min, y_max = surface.bounds
    xs = torch.linspace(x_min, x_max, 201, dtype=torch.float64)
    ys = torch.linspace(y_min, y_max, 201, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # [201, 201, 2]
    assert surface(grid).min().item() >= surface.min_value - 1e-12


@pytest.mark.parametrize("name", list(SURFACES))
def test_start_is_far_from_the_minimum(name: str) -> None:
    surface = SURFACES[name]
    assert not bool(surface.reached(surface(surface.start_point())))


def test_ravine_steep_axis_is_y() -> None:
    surface = SURFACES["ravine"]
    hessian = torch.autograd.functional.hessian(surface, torch.zeros(2, dtype=torch.float64))
    curvature = torch.diagonal(hessian)
    assert surface.steep_axis == 1
    assert curvature[1] / curvature[0] == pytest.approx(RAVINE_A * RAVINE_B)
    torch.testing.assert_close(hessian, torch.diag(curvature))


def test_saddle_origin_is_a_saddle_point() -> None:
    surface = SURFACES["saddle"]
    origin = torch.zeros(2, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(surface, origin)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert eigenvalues[0] < 0 < eigenvalues[1]
    # The saddle's loss is not within tolerance of the wells: sitting there is not "escaped".
    assert not bool(surface.reached(surface(origin)))


def test_surfaces_accept_batches() -> None:
    points = torch.zeros(3, 5, 2)
    for surface in SURFACES.values():
        assert surface(points).shape == (3, 5)


def test_unknown_surface_names_the_choices() -> None:
    with pytest.raises(UserError, match=r"unknown surface 'bowl'.*ravine"):
        get_surface("bowl")
