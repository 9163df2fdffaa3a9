"""Explorer: which cells of an (N, C, H, W) block share a mean and a variance (notebook 04).

Pick a normalization (batch norm, layer norm, spatial batch norm, group norm,
instance norm) and, for group norm, the number of groups G; the cube colours
the cells that are normalized together.

* :func:`statistic_groups` (from :mod:`cs231n_norm.plots.family`): the pure
  function behind the picture, the label of each cell's statistic;
* :func:`layer_output` runs the package's real layer on a block, and
  :func:`normalize_by_labels` normalizes the same block using nothing but the
  labels: the two agree exactly when the labels are right (the notebook and the
  tests assert it);
* :func:`axes_view` is the widget's update function: settings in, a
  :class:`matplotlib.figure.Figure` and a sentence out; tests call it directly;
* :func:`build_axes_explorer` returns the ipywidgets widget.
"""

import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import _checks as check
from ..layers import (
    batchnorm_forward,
    layernorm_forward,
    spatial_batchnorm_forward,
    spatial_groupnorm_forward,
)
from ..plots.family import (
    NORM_TITLES,
    NORMS,
    _check_groups,
    _check_norm,
    draw_block,
    group_summary,
    statistic_groups,
)

__all__ = [
    "NORMS", "statistic_groups", "group_summary", "layer_output", "normalize_by_labels",
    "divisors", "axes_view", "build_axes_explorer",
]

DEFAULT_SHAPE = (4, 6, 2, 2)
VIEW_FIGSIZE = (4.6, 4.0)  # inches


def layer_output(norm, x, G=None, eps=1e-5):
    """Run the package's layer for `norm` on `x` with gamma = 1 and beta = 0 (train mode).

    Parameters
    ----------
    norm : str, one of :data:`NORMS`
    x : ndarray, shape (N, C, H, W)
    G : int, groups (group norm only)
    eps : float

    Returns
    -------
    x_hat : ndarray, shape (N, C, H, W): the normalized block
    """
    norm = _check_norm(norm)
    x = check.float_array("x", x, ndim=4)
    N, C, H, W = x.shape
    G = _check_groups(norm, G, C)
    flat = x.reshape(N, C * H * W)
    ones, zeros = np.ones(C * H * W, x.dtype), np.zeros(C * H * W, x.dtype)
    if norm == "batchnorm":
        out, _ = batchnorm_forward(flat, ones, zeros, {"mode": "train", "eps": eps})
    elif norm == "layernorm":
        out, _ = layernorm_forward(flat, ones, zeros, {"eps": eps})
    elif norm == "spatial_batchnorm":
        out, _ = spatial_batchnorm_forward(x, ones[:C], zeros[:C], {"mode": "train", "eps": eps})
    else:
        groups = G if norm == "groupnorm" else C  # instance norm: one channel per group
        per_channel = (1, C, 1, 1)
        out, _ = spatial_groupnorm_forward(x, np.ones(per_channel, x.dtype), np.zeros(per_channel, x.dtype),
                                           groups, {"eps": eps})
    return out.reshape(x.shape)


def normalize_by_labels(x, labels, eps=1e-5):
    """Normalize `x` so that cells with the same label share one mean and one (biased) variance.

    Written independently of the layers (with ``np.bincount``), so that
    comparing it with :func:`layer_output` tests the labels against the layers.

    Parameters
    ----------
    x : ndarray, any shape
    labels : ndarray of non-negative int, shape of x
    eps : float

    Returns
    -------
    x_hat : ndarray, shape of x
    """
    x = check.float_array("x", x)
    labels = np.asarray(labels)
    if labels.shape != x.shape or labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be non-negative integers of the shape of x {x.shape}, "
                         f"got {check.describe(labels)}")
    flat_x, flat_labels = x.ravel(), labels.ravel()
    counts = np.bincount(flat_labels)
    used = counts > 0
    mean = np.zeros(len(counts))
    mean[used] = np.bincount(flat_labels, weights=flat_x)[used] / counts[used]
    centred = flat_x - mean[flat_labels]
    var = np.zeros(len(counts))
    var[used] = np.bincount(flat_labels, weights=centred**2)[used] / counts[used]
    return (centred / np.sqrt(var[flat_labels] + eps)).reshape(x.shape).astype(x.dtype)


def divisors(C):
    """The numbers of groups group norm allows for C channels: the divisors of C, ascending."""
    if isinstance(C, bool) or not isinstance(C, (int, np.integer)) or C < 1:
        raise ValueError(f"C must be a positive integer, got {check.describe(C)}")
    return [g for g in range(1, int(C) + 1) if C % g == 0]


def axes_view(norm, G=2, shape=DEFAULT_SHAPE, colour="one", figsize=VIEW_FIGSIZE):
    """The explorer's update function: the block for one normalization, and what it shows.

    Parameters
    ----------
    norm : str, one of :data:`NORMS`
    G : int, groups (used for group norm only; must divide C then)
    shape : (N, C, H, W)
    colour : 'one' (shade the cells of the statistic of cell (0, 0, 0, 0)) or 'all'
    figsize : (width, height) in inches

    Returns
    -------
    fig : matplotlib.figure.Figure with one 3-D axes
    labels : ndarray of int, shape (N, C, H, W) (from :func:`statistic_groups`)
    summary : str (from :func:`group_summary`)
    """
    norm = _check_norm(norm)
    groups = G if norm == "groupnorm" else None
    labels = statistic_groups(norm, shape, groups)
    summary = group_summary(norm, shape, groups)
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot(projection="3d")
    draw_block(ax, labels, colour)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.98)
    return fig, labels, summary


PNG_DPI = 100


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def build_axes_explorer(shape=DEFAULT_SHAPE, norm="groupnorm", G=2):
    """The explorer widget: a normalization picker, a G slider, a colouring switch and the cube.

    Parameters
    ----------
    shape : (N, C, H, W) of the block drawn
    norm : the normalization shown first
    G : the number of groups shown first (a divisor of C)

    Returns
    -------
    ipywidgets.VBox
    """
    norm = _check_norm(norm)
    labels = statistic_groups(norm, shape, G if norm == "groupnorm" else None)
    C = labels.shape[1]
    _check_groups("groupnorm", G, C)
    picker = widgets.ToggleButtons(
        options=[(NORM_TITLES[n].replace(" (on N × CHW)", ""), n) for n in NORMS],
        value=norm, description="norm", style={"button_width": "auto"},
    )
    groups = widgets.SelectionSlider(options=divisors(C), value=G, description="G (groups)",
                                     disabled=norm != "groupnorm", continuous_update=False)
    colour = widgets.RadioButtons(options=[("one statistic", "one"), ("every statistic", "all")],
                                  value="one", description="colour")
    width, height = (round(inches * PNG_DPI) for inches in VIEW_FIGSIZE)
    image = widgets.Image(format="png", layout=widgets.Layout(width=f"{width}px", height=f"{height}px"))
    summary = widgets.HTML()

    def update(*_):
        groups.disabled = picker.value != "groupnorm"
        fig, _labels, text = axes_view(picker.value, groups.value, shape, colour.value)
        image.value = _png(fig)
        summary.value = f"<b>{text}</b>"

    for control in (picker, groups, colour):
        control.observe(update, names="value")
    update()
    return widgets.VBox([picker, widgets.HBox([groups, colour]), summary, image])
