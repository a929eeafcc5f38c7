"""Two-dimensional test surfaces on which optimisers can be watched.

Each surface is a loss of a single 2-vector `(x, y)`, small enough to draw as a
contour plot and to run every optimiser on in seconds. Together they show the
situations the optimiser entries talk about:

- **ravine**: an elongated bowl. The curvature along y (the *steep axis*) is 75
  times the curvature along x, so a step size large enough to make progress
  along x makes plain gradient descent bounce from wall to wall across y.
- **rosenbrock**: a curved, flat-bottomed valley; getting into the valley is
  easy, following its bend to the minimum at (1, 1) is slow.
- **beale**: steep walls, flat plateaus (the whole line y = 1 has the same loss)
  and a narrow arm leading to the minimum at (3, 0.5).
- **saddle**: the saddle x^2 - y^2, made bounded below by adding y^4 / 4 so that
  a run has somewhere to go. The origin is a saddle point; the two minima sit at
  (0, +-sqrt 2) with loss -1. The start lies just off the saddle's attracting direction, so the
  test is *escape*: gradient descent first slides towards the saddle along x
  and must then pick up the tiny y-gradient and descend into a well. Reaching
  the tolerance of the wells' loss (-1) therefore means "escaped the saddle
  and descended", the criterion this surface is judged by. The wells sit at an
  irrational height so that no learning rate on a round grid can jump straight
  into one with the sign-like first step of Adam or Adagrad.

Every function takes points of shape `[..., 2]` and returns losses of shape
`[...]`, so the same code evaluates one optimiser's point, a batch of runs, or
a plotting grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mlnotebook.errors import UserError

# The loss gap `f(p) - f_min` below which a run counts as having arrived.
DEFAULT_TOLERANCE = 1e-3

# Ravine shape: f = 0.5 * (x^2 / RAVINE_A + RAVINE_B * y^2).
RAVINE_A = 5.0
RAVINE_B = 15.0

SQRT2 = 2.0**0.5


def ravine(points: Tensor, a: float = RAVINE_A, b: float = RAVINE_B) -> Tensor:
    """Elongated quadratic bowl; curvature 1/a along x, b along y (the steep axis)."""
    x, y = points[..., 0], points[..., 1]
    # f(x, y) = 1/2 (x^2 / a + b y^2)
    return 0.5 * (x**2 / a + b * y**2)


def rosenbrock(points: Tensor) -> Tensor:
    """Rosenbrock's banana valley; minimum 0 at (1, 1)."""
    x, y = points[..., 0], points[..., 1]
    # f(x, y) = (1 - x)^2 + 100 (y - x^2)^2
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(points: Tensor) -> Tensor:
    """Beale's function; minimum 0 at (3, 0.5)."""
    x, y = points[..., 0], points[..., 1]
    # f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def bounded_saddle(points: Tensor) -> Tensor:
    """The saddle x^2 - y^2 with a quartic wall in y; saddle at 0, minima -1 at (0, +-sqrt 2)."""
    x, y = points[..., 0], points[..., 1]
    # f(x, y) = x^2 - y^2 + y^4 / 4;  df/dy = -2y + y^3 vanishes at y = 0 (saddle), y = +-sqrt 2
    return x**2 - y**2 + 0.25 * y**4


@dataclass(frozen=True)
class Surface:
    """A 2-D loss plus what a race needs: where to start, where the bottom is, what to draw."""

    name: str
    func: Callable[[Tensor], Tensor]
    minima: tuple[tuple[float, float], ...]  # every global minimiser
    min_value: float  # f at the minimisers
    start: tuple[float, float]
    bounds: tuple[float, float, float, float]  # (x_min, x_max, y_min, y_max) for plots
    steep_axis: int | None = None  # coordinate index across which a ravine is steep
    tolerance: float = DEFAULT_TOLERANCE
    summary: str = ""

    def __call__(self, points: Tensor) -> Tensor:
        return self.func(points)

    def start_point(self) -> Tensor:
        return torch.tensor(self.start, dtype=torch.float64)

    def gap(self, loss: Tensor) -> Tensor:
        """Distance in loss to the global minimum, `f(p) - f_min`."""
        return loss - self.min_value

    def reached(self, loss: Tensor) -> Tensor:
        """Whether a loss is within tolerance of the minimum (saddle: escaped and descended)."""
        return self.gap(loss) <= self.tolerance


RAVINE = Surface(
    name="ravine",
    func=ravine,
    minima=((0.0, 0.0),),
    min_value=0.0,
    start=(-8.0, 1.0),
    bounds=(-9.0, 3.0, -1.5, 1.5),
    steep_axis=1,
    summary=f"0.5 (x^2/{RAVINE_A:g} + {RAVINE_B:g} y^2); y is the steep axis",
)

ROSENBROCK = Surface(
    name="rosenbrock",
    func=rosenbrock,
    minima=((1.0, 1.0),),
    min_value=0.0,
    start=(-1.2, 1.0),
    bounds=(-2.0, 2.0, -1.0, 3.0),
    summary="(1 - x)^2 + 100 (y - x^2)^2; curved valley",
)

BEALE = Surface(
    name="beale",
    func=beale,
    minima=((3.0, 0.5),),
    min_value=0.0,
    start=(1.0, 1.5),
    bounds=(-1.0, 4.5, -1.0, 2.0),
    summary="Beale; plateaus and a narrow arm to (3, 0.5)",
)

SADDLE = Surface(
    name="saddle",
    func=bounded_saddle,
    minima=((0.0, SQRT2), (0.0, -SQRT2)),
    min_value=-1.0,
    start=(1.0, 0.01),
    bounds=(-1.5, 1.5, -2.0, 2.0),
    summary="x^2 - y^2 + y^4/4; judged on escaping the saddle at 0",
)

SURFACES: dict[str, Surface] = {s.name: s for s in (RAVINE, ROSENBROCK, BEALE, SADDLE)}


def get_surface(name: str) -> Surface:
    """Look a surface up by name, with an error that lists the valid names."""
    try:
        return SURFACES[name]
    except KeyError:
        known = ", ".join(SURFACES)
        raise UserError(f"unknown surface {name!r}; expected one of: {known}") from None
