"""The optimiser race: every optimiser, from the same start, on each 2-D test surface.

A race is only fair if nobody's learning rate was hand-picked. So each optimiser
gets its *best stable learning rate* on each surface, found by the same grid
search for everyone:

- the grid is `LR_GRID`, half-decade steps from 1e-4 to 10;
- a run is *unstable* if its loss ever becomes non-finite or it ends above the
  loss it started at;
- among stable runs the best is the one that settles first: the earliest
  step from which the loss stays within the surface's tolerance
  (`f - f_min <= tol`) to the end of the run. A run that only passes through
  the tolerance band on its way elsewhere has not arrived. Runs that never
  settle rank behind, by final loss; remaining ties go to the smaller lr.

All learning rates of one optimiser run together: one parameter group per
learning rate, each holding its own copy of the start point. The losses of the
runs are summed before `backward`, which changes nothing for any single run
(`d(sum_i f(p_i)) / dp_j = df(p_j)/dp_j`) but does one backward pass instead of
eleven.

For each surface the race writes a contour plot with every optimiser's winning
trajectory (PNG and SVG) and a table (CSV and JSON) with: the learning rate,
steps to tolerance, final loss, and on the ravine an *oscillation index* across
its steep axis y,

    oscillation = sum_t |y_{t+1} - y_t| / |y_T - y_0|,

the distance travelled along y divided by the net distance covered. A run that
slides monotonically down the wall scores 1; every extra bounce across the
floor adds to it. Plain SGD whose y flips sign and halves each step scores 3.

A winner at either end of the grid (Adagrad at lr 10 on the ravine, for one)
means the best learning rate may lie outside it; the table reports it as found.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mlnotebook.errors import UserError
from mlnotebook.optim import SGD, Adadelta, Adagrad, Adam, RMSprop
from mlnotebook.surfaces import SURFACES, Surface, get_surface

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from rich.table import Table

ParamGroups = list[dict]

# Every optimiser at its defaults apart from the learning rate; momentum 0.9 is the usual choice.
OPTIMISERS: dict[str, Callable[[ParamGroups], torch.optim.Optimizer]] = {
    "SGD": lambda groups: SGD(groups),
    "SGD+momentum": lambda groups: SGD(groups, momentum=0.9),
    "SGD+Nesterov": lambda groups: SGD(groups, momentum=0.9, nesterov=True),
    "Adagrad": lambda groups: Adagrad(groups),
    "Adadelta": lambda groups: Adadelta(groups),
    "RMSprop": lambda groups: RMSprop(groups),
    "Adam": lambda groups: Adam(groups),
}

# lr = 10^(k/2) for k = -8 .. 2: 1e-4, 3.2e-4, 1e-3, ..., 3.2, 10.
LR_GRID: tuple[float, ...] = tuple(10 ** (k / 2) for k in range(-8, 3))

STEPS = 1000
QUICK_STEPS = 200


@dataclass(frozen=True)
class Sweep:
    """One optimiser run at every learning rate of a grid on one surface."""

    surface: str
    optimiser: str
    lrs: tuple[float, ...]
    positions: Tensor  # [steps + 1, n_lr, 2]
    losses: Tensor  # [steps + 1, n_lr]


@dataclass(frozen=True)
class RunSummary:
    """What the table reports about one run (one optimiser, one learning rate)."""

    lr: float
    stable: bool
    steps_to_tolerance: int | None  # first step from which the loss stays within tolerance
    final_loss: float
    final_gap: float  # final_loss - f_min
    oscillation: float | None  # steep-axis total variation / net change; None off the ravine


@dataclass
class RaceEntry:
    """One optimiser on one surface: every grid run, and the winner with its path."""

    surface: str
    optimiser: str
    runs: list[RunSummary]
    best: RunSummary | None  # None when no learning rate on the grid was stable
    trajectory: Tensor | None  # [steps + 1, 2] of the best run


@dataclass
class RaceResult:
    steps: int
    lr_grid: tuple[float, ...]
    entries: list[RaceEntry]
    files: list[Path] = field(default_factory=list)

    def entry(self, surface: str, optimiser: str) -> RaceEntry:
        for candidate in self.entries:
            if candidate.surface == surface and candidate.optimiser == optimiser:
                return candidate
        raise KeyError(f"no race entry for {optimiser} on {surface}")


def make_optimiser(name: str, groups: ParamGroups) -> torch.optim.Optimizer:
    try:
        factory = OPTIMISERS[name]
    except KeyError:
        known = ", ".join(OPTIMISERS)
        raise UserError(f"unknown optimiser {name!r}; expected one of: {known}") from None
    return factory(groups)


def sweep_learning_rates(
    surface: Surface, optimiser: str, steps: int, lrs: Sequence[float] = LR_GRID
) -> Sweep:
    """Run `optimiser` from the surface's start at every learning rate in `lrs` at once."""
    points = [surface.start_point().requires_grad_(True) for _ in lrs]
    opt = make_optimiser(
        optimiser, [{"params": [p], "lr": lr} for p, lr in zip(points, lrs, strict=True)]
    )
    positions, losses = [], []
    for _ in range(steps):
        opt.zero_grad()
        batch = torch.stack(points)  # [n_lr, 2]
        loss = surface(batch)  # [n_lr]
        positions.append(batch.detach())
        losses.append(loss.detach())
        loss.sum().backward()
        _freeze_diverged(points, loss.detach())
        opt.step()
    with torch.no_grad():
        final = torch.stack(points)  # [n_lr, 2]
        positions.append(final)
        losses.append(surface(final))
    return Sweep(surface.name, optimiser, tuple(lrs), torch.stack(positions), torch.stack(losses))


def _freeze_diverged(points: list[Tensor], loss: Tensor) -> None:
    # A parameter without a gradient is skipped by every torch optimiser, so a run that has
    # blown up stays where it blew up instead of feeding inf/nan into its own state.
    for point, value in zip(points, loss.tolist(), strict=True):
        if not math.isfinite(value):
            point.grad = None


def oscillation_index(coordinate: Tensor) -> float:
    """Total variation of a coordinate's path divided by its net change (1 = monotone)."""
    steps = coordinate.diff()  # [steps]
    # sum_t |c_{t+1} - c_t| / |c_T - c_0|
    net = (coordinate[-1] - coordinate[0]).abs().clamp_min(1e-12)
    return float(steps.abs().sum() / net)


def settling_step(within: Tensor) -> int | None:
    """First index from which `within` ([steps + 1] booleans) is True to the end, else None."""
    outside = (~within).nonzero()  # [n_outside, 1]
    if len(outside) == 0:
        return 0
    last_outside = int(outside[-1])
    return last_outside + 1 if last_outside + 1 < len(within) else None


def summarise_run(surface: Surface, lr: float, positions: Tensor, losses: Tensor) -> RunSummary:
    """Condense one run (`positions` [steps + 1, 2], `losses` [steps + 1]) into a table row."""
    final_loss = float(losses[-1])
    stable = bool(torch.isfinite(losses).all()) and final_loss <= float(losses[0])
    steps_to_tolerance = settling_step(surface.reached(losses)) if stable else None
    oscillation = None
    if stable and surface.steep_axis is not None:
        oscillation = oscillation_index(positions[:, surface.steep_axis])
    return RunSummary(
        lr=lr,
        stable=stable,
        steps_to_tolerance=steps_to_tolerance,
        final_loss=final_loss,
        final_gap=float(surface.gap(losses[-1])),
        oscillation=oscillation,
    )


def summarise_sweep(sweep: Sweep) -> list[RunSummary]:
    surface = get_surface(sweep.surface)
    return [
        summarise_run(surface, lr, sweep.positions[:, i], sweep.losses[:, i])
        for i, lr in enumerate(sweep.lrs)
    ]


def pick_best(runs: Sequence[RunSummary]) -> int | None:
    """Index of the best stable run: settles first, then lowest final loss, then smaller lr."""
    stable = [i for i, run in enumerate(runs) if run.stable]
    if not stable:
        return None

    def rank(i: int) -> tuple[float, float, float]:
        run = runs[i]
        steps = math.inf if run.steps_to_tolerance is None else run.steps_to_tolerance
        return (steps, run.final_loss, run.lr)

    return min(stable, key=rank)


def race_entry(surface: Surface, optimiser: str, steps: int, lrs: Sequence[float]) -> RaceEntry:
    sweep = sweep_learning_rates(surface, optimiser, steps, lrs)
    runs = summarise_sweep(sweep)
    best = pick_best(runs)
    return RaceEntry(
        surface=surface.name,
        optimiser=optimiser,
        runs=runs,
        best=None if best is None else runs[best],
        trajectory=None if best is None else sweep.positions[:, best],
    )


def race(
    surfaces: Iterable[str] = tuple(SURFACES),
    optimisers: Iterable[str] = tuple(OPTIMISERS),
    steps: int = STEPS,
    lrs: Sequence[float] = LR_GRID,
    on_entry: Callable[[RaceEntry], None] | None = None,
) -> RaceResult:
    """Compute the race without writing anything; `on_entry` is told as each entry finishes."""
    _check_steps(steps)
    entries = []
    for surface_name in surfaces:
        surface = get_surface(surface_name)
        for optimiser in optimisers:
            entries.append(race_entry(surface, optimiser, steps, lrs))
            if on_entry is not None:
                on_entry(entries[-1])
    return RaceResult(steps=steps, lr_grid=tuple(lrs), entries=entries)


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")


def run_race(
    out_dir: Path,
    surfaces: Sequence[str] = tuple(SURFACES),
    steps: int | None = None,
    quick: bool = False,
    show_progress: bool = False,
) -> RaceResult:
    """Run the race and write `race.csv`, `race.json` and `race_<surface>.png/.svg` to `out_dir`.

    `quick` shortens the runs to `QUICK_STEPS` (unless `steps` is given) and draws coarser
    contours; the learning-rate grid stays the same.
    """
    surfaces = [get_surface(name).name for name in surfaces]  # fail on a bad name before running
    steps = (QUICK_STEPS if quick else STEPS) if steps is None else steps
    _check_steps(steps)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"race output {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(surfaces) * len(OPTIMISERS)
    with _progress(show_progress, total) as advance:
        result = race(surfaces, steps=steps, on_entry=advance)
    result.files.append(write_csv(result, out_dir / "race.csv"))
    result.files.append(write_json(result, out_dir / "race.json"))
    for name in surfaces:
        result.files.extend(plot_surface_race(result, name, out_dir, grid=120 if quick else 300))
    return result


class _progress:
    """A rich progress bar over race entries, or a no-op when not wanted."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[RaceEntry], None]:
        if not self.enabled:
            return lambda entry: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("racing", total=self.total)

        def advance(entry: RaceEntry) -> None:
            self.bar.update(task, advance=1, description=f"{entry.surface}: {entry.optimiser}")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


# ---- tables -------------------------------------------------------------------------------

TABLE_COLUMNS = (
    "surface",
    "optimiser",
    "lr",
    "steps_to_tolerance",
    "final_loss",
    "final_gap",
    "oscillation",
    "stable_lrs",
)


def table_rows(result: RaceResult) -> list[dict]:
    """One flat row per (surface, optimiser) with the best run's figures (None if none stable)."""
    rows = []
    for entry in result.entries:
        best = asdict(entry.best) if entry.best is not None else {}
        rows.append(
            {
                "surface": entry.surface,
                "optimiser": entry.optimiser,
                **{key: best.get(key) for key in TABLE_COLUMNS[2:7]},
                "stable_lrs": sum(run.stable for run in entry.runs),
            }
        )
    return rows


def write_csv(result: RaceResult, path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table_rows(result))
    return _write_atomically(path, buffer.getvalue())


def write_json(result: RaceResult, path: Path) -> Path:
    document = {
        "steps": result.steps,
        "lr_grid": list(result.lr_grid),
        "selection": "stable = finite loss throughout and final loss <= start loss; "
        "best = first to settle within tolerance, then lowest final loss, then smaller lr",
        "rows": table_rows(result),
        "grid": [
            {
                "surface": e.surface,
                "optimiser": e.optimiser,
                "runs": [_finite(asdict(r)) for r in e.runs],
            }
            for e in result.entries
        ],
        "trajectories": [
            {"surface": e.surface, "optimiser": e.optimiser, "xy": e.trajectory.tolist()}
            for e in result.entries
            if e.trajectory is not None
        ],
    }
    return _write_atomically(path, json.dumps(document, indent=1, allow_nan=False) + "\n")


def _finite(record: dict) -> dict:
    # JSON has no inf/nan; an unstable run's final loss is written as null.
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }


def _write_atomically(path: Path, text: str) -> Path:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)
    return path


def race_table(result: RaceResult) -> Table:
    """The race as a rich table, one section per surface."""
    from rich.table import Table

    table = Table(title=f"Optimiser race ({result.steps} steps, best stable lr per surface)")
    for column in ("surface", "optimiser", "lr", "steps to tol", "final loss", "oscillation"):
        table.add_column(column, justify="left" if column in ("surface", "optimiser") else "right")
    previous = None
    for row in table_rows(result):
        if previous is not None and row["surface"] != previous:
            table.add_section()
        previous = row["surface"]
        table.add_row(
            row["surface"],
            row["optimiser"],
            _fmt(row["lr"], "{:.2g}"),
            _fmt(row["steps_to_tolerance"], "{}"),
            _fmt(row["final_loss"], "{:.3g}"),
            _fmt(row["oscillation"], "{:.2f}"),
        )
    return table


def _fmt(value: object, template: str) -> str:
    return "-" if value is None else template.format(value)


# ---- figures ------------------------------------------------------------------------------


def plot_surface_race(
    result: RaceResult, surface_name: str, out_dir: Path, grid: int = 300
) -> list[Path]:
    """Contours of log10(gap + tol) with every optimiser's winning path; returns PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surface = get_surface(surface_name)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    _draw_contours(ax, surface, grid)
    for colour, entry in enumerate(e for e in result.entries if e.surface == surface_name):
        if entry.trajectory is not None:
            xy = entry.trajectory.numpy()  # [steps + 1, 2]
            label = f"{entry.optimiser} (lr {entry.best.lr:.2g})"
            ax.plot(xy[:, 0], xy[:, 1], "-", color=f"C{colour}", lw=1.2, label=label)
    ax.plot(*surface.start, "k*", ms=12, label="start")
    for minimiser in surface.minima:
        ax.plot(*minimiser, "rX", ms=9)
    x_min, x_max, y_min, y_max = surface.bounds
    ax.set(xlim=(x_min, x_max), ylim=(y_min, y_max), xlabel="x", ylabel="y")
    ax.set_title(f"{surface.name}: {surface.summary}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    paths = [out_dir / f"race_{surface_name}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        _save_atomically(fig, path)
    plt.close(fig)
    return paths


def _draw_contours(ax: Axes, surface: Surface, grid: int) -> None:
    x_min, x_max, y_min, y_max = surface.bounds
    xs = torch.linspace(x_min, x_max, grid, dtype=torch.float64)
    ys = torch.linspace(y_min, y_max, grid, dtype=torch.float64)
    mesh = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # [grid, grid, 2]
    # Log of the gap to the minimum, so the flat floor and the steep walls both show.
    height = torch.log10(surface.gap(surface(mesh)).clamp_min(0) + surface.tolerance)
    ax.contourf(xs.numpy(), ys.numpy(), height.numpy(), levels=30, cmap="viridis", alpha=0.55)
    ax.contour(xs.numpy(), ys.numpy(), height.numpy(), levels=15, colors="k", linewidths=0.3)


def _save_atomically(fig: Figure, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format=path.suffix[1:], dpi=120, bbox_inches="tight")
    os.replace(tmp, path)


# ---- command line -------------------------------------------------------------------------


def race_command(
    out_dir: Path, quick: bool, surfaces: Sequence[str] | None, steps: int | None
) -> int:
    """`mlnb race`: run, print the table, say where the figures went."""
    from rich.console import Console

    console = Console()
    result = run_race(
        out_dir, surfaces=surfaces or tuple(SURFACES), steps=steps, quick=quick, show_progress=True
    )
    console.print(race_table(result))
    console.print(
        "oscillation = total variation of y / net change of y on the ravine (1 = no zig-zag)"
    )
    for path in result.files:
        console.print(f"wrote {path}")
    return 0
