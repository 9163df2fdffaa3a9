"""Batch norm couples the examples of a batch; layer norm does not (notebook 01).

Move one value of one example and look at everyone's normalized values: under
batch norm every example's value of that feature moves (the batch mean and
variance changed), under layer norm only the moved example's row changes.

The update logic is :func:`move_one_value` (pure, tested directly); the
picture is :func:`draw_coupling`; :func:`build_coupling_explorer` wires them
to a slider.
"""

import io
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .. import _checks as check
from ..layers import batchnorm_forward, layernorm_forward

MOVED_TOLERANCE = 1e-12  # a normalized value "moved" when it changed by more than this


def figure_png(fig, dpi=80):
    """Render a matplotlib Figure to PNG bytes (for ipywidgets.Image; thread-safe, no pyplot)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib.figure.Figure, got {check.describe(fig)}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def example_batch(N=8, D=3, seed=0):
    """A small float64 batch (N, D) whose features have different means and spreads."""
    for name, value in (("N", N), ("D", D)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {check.describe(value)}")
    rng = np.random.default_rng(seed)
    return rng.normal(loc=2.0 * np.arange(D) - 1.0, scale=1.0 + np.arange(D), size=(N, D))


def _normalized(x, eps):
    ones, zeros = np.ones(x.shape[1], dtype=x.dtype), np.zeros(x.shape[1], dtype=x.dtype)
    bn, _ = batchnorm_forward(x, ones, zeros, {"mode": "train", "eps": eps, "keep_graph": False})
    ln, _ = layernorm_forward(x, ones, zeros, {"eps": eps, "keep_graph": False})
    return bn, ln


@dataclass
class CouplingState:
    """Normalized values of a batch before and after one value was moved."""

    row: int
    column: int
    x_before: np.ndarray  # (N, D)
    x_after: np.ndarray  # (N, D), x_before with x[row, column] replaced
    batchnorm_before: np.ndarray  # (N, D), gamma = 1, beta = 0
    batchnorm_after: np.ndarray
    layernorm_before: np.ndarray
    layernorm_after: np.ndarray

    @property
    def batchnorm_rows_moved(self):
        """(N,) bool: which examples' batch-norm outputs changed."""
        return np.abs(self.batchnorm_after - self.batchnorm_before).max(axis=1) > MOVED_TOLERANCE

    @property
    def layernorm_rows_moved(self):
        """(N,) bool: which examples' layer-norm outputs changed."""
        return np.abs(self.layernorm_after - self.layernorm_before).max(axis=1) > MOVED_TOLERANCE


def move_one_value(x, row, column, value, eps=1e-5):
    """Set ``x[row, column] = value`` (in a copy) and normalize the batch before and after.

    Parameters
    ----------
    x : ndarray, shape (N, D), N >= 2, D >= 2
    row, column : int, the example and the feature to move
    value : float, the new value of ``x[row, column]``
    eps : float

    Returns
    -------
    CouplingState (x is not modified)
    """
    x = check.float_array("x", x, ndim=2)
    N, D = x.shape
    for name, index, size in (("row", row, N), ("column", column, D)):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < size:
            raise ValueError(f"{name} must be an integer in [0, {size - 1}] for x of shape {x.shape}, got {check.describe(index)}")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"value must be a finite number, got {check.describe(value)}")
    moved = x.copy()
    moved[row, column] = value
    bn_before, ln_before = _normalized(x, eps)
    bn_after, ln_after = _normalized(moved, eps)
    return CouplingState(int(row), int(column), x.copy(), moved, bn_before, bn_after, ln_before, ln_after)


def draw_coupling(state, figsize=(11, 3.6)):
    """Two panels, batch norm and layer norm: each example's normalized values before
    (hollow) and after (filled) the move, one colour per feature.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(state, CouplingState):
        raise TypeError(f"state must be a CouplingState from move_one_value, got {check.describe(state)}")
    N, D = state.x_before.shape
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    panels = (
        ("batch norm", state.batchnorm_before, state.batchnorm_after, state.batchnorm_rows_moved,
         "statistics per feature, over the batch"),
        ("layer norm", state.layernorm_before, state.layernorm_after, state.layernorm_rows_moved,
         "statistics per example, over its features"),
    )
    examples = np.arange(N)
    for ax, (title, before, after, moved, how) in zip(axes, panels):
        ax.axvspan(state.row - 0.45, state.row + 0.45, color="gold", alpha=0.35, lw=0)
        for j in range(D):
            color = colors[j % len(colors)]
            offset = (j - (D - 1) / 2) * 0.18
            ax.vlines(examples + offset, before[:, j], after[:, j], color=color, lw=1.2, alpha=0.8)
            ax.scatter(examples + offset, before[:, j], facecolors="white", edgecolors=color, s=22, zorder=3)
            ax.scatter(examples + offset, after[:, j], color=color, s=22, zorder=4,
                       label=f"feature {j}" + (" (moved)" if j == state.column else ""))
        ax.axhline(0.0, color="grey", lw=0.6, zorder=0)
        ax.set_xticks(examples)
        ax.set_xlabel("example in the batch (gold: the one moved)")
        ax.set_title(f"{title}: {int(moved.sum())} of {N} examples changed\n({how})", fontsize=10)
    axes[0].set_ylabel("normalized value (hollow: before, filled: after)")
    bottom, top = axes[0].get_ylim()  # shared by both panels
    axes[0].set_ylim(bottom, top + 0.3 * (top - bottom))  # headroom: the legend above the points
    axes[0].legend(fontsize=7, loc="upper left", ncols=min(D, 3))
    return fig


def build_coupling_explorer(x=None, row=0, column=0, dpi=80):
    """A slider that moves ``x[row, column]``; the picture shows every example's normalized values.

    The slider starts at the original value plus two standard deviations of the feature.

    Parameters
    ----------
    x : ndarray (N, D), default :func:`example_batch`
    row, column : the starting example and feature to move (both can be changed in the widget)
    dpi : resolution of the picture

    Returns
    -------
    ipywidgets.VBox with the sliders, a one-line summary and the picture (Image)
    """
    import ipywidgets as widgets

    x = check.float_array("x", example_batch() if x is None else x, ndim=2)
    N, D = x.shape
    move_one_value(x, row, column, 0.0)  # validates row and column
    spread = float(np.max(x.std(axis=0)))

    def moved_start(i, j):
        # start each (example, feature) already moved by two of that feature's stds, so the
        # first picture shows the effect; dragging back to the original value shows "nothing moved"
        return round(float(x[i, j] + 2 * x[:, j].std()), 2)

    value = widgets.FloatSlider(value=moved_start(row, column), min=float(x.min() - 4 * spread),
                                max=float(x.max() + 4 * spread), step=0.05, description="new value",
                                # redraw on release: a drag would queue one ~0.3 s redraw per mouse move
                                continuous_update=False, readout_format=".2f")
    example = widgets.IntSlider(value=row, min=0, max=N - 1, description="example")
    feature = widgets.IntSlider(value=column, min=0, max=D - 1, description="feature")
    summary = widgets.HTML()
    picture = widgets.Image(format="png")

    def show(change=None):
        state = move_one_value(x, example.value, feature.value, value.value)
        summary.value = (
            f"x[{state.row}, {state.column}]: {x[state.row, state.column]:.2f} &rarr; {value.value:.2f}. "
            f"Batch norm changed {int(state.batchnorm_rows_moved.sum())} of {N} examples, "
            f"layer norm {int(state.layernorm_rows_moved.sum())}."
        )
        picture.value = figure_png(draw_coupling(state), dpi=dpi)

    def reset_value(change):
        # a new (example, feature) starts from its own moved value; the observer then redraws once
        start = moved_start(example.value, feature.value)
        if value.value == start:
            show()
        else:
            value.value = start

    value.observe(show, names="value")
    example.observe(reset_value, names="value")
    feature.observe(reset_value, names="value")
    show()
    return widgets.VBox([widgets.HBox([example, feature]), value, summary, picture])
