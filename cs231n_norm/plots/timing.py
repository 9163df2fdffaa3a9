"""Figure for notebook 03: how long each batch-norm backward pass takes, against the batch size.

Drawn on a :class:`matplotlib.figure.Figure` (never pyplot's global state) and
returned to the caller. The data come from :mod:`cs231n_norm.timing`.
"""

import numpy as np
from matplotlib.figure import Figure

from ..timing import METHODS, BackwardTimings

METHOD_STYLES = {
    "staged": {"color": "tab:red", "marker": "o"},
    "core general form": {"color": "tab:gray", "marker": "s", "linestyle": "--"},
    "simplified": {"color": "tab:blue", "marker": "^"},
}


def plot_backward_timings(timings, cpu_caches=None, itemsize=8, figsize=(11, 3.8)):
    """Time per backward call against N * D (left), and the speed-ups over the staged pass (right).

    Parameters
    ----------
    timings : BackwardTimings, from :func:`cs231n_norm.timing.time_backward`
    cpu_caches : optional dict like {'L2': bytes, 'L3': bytes}
        (:func:`cs231n_norm.timing.cpu_cache_sizes`): drawn as vertical lines at
        the N * D where one (N, D) array of `itemsize`-byte numbers fills that cache
    itemsize : int, bytes per number (8 for float64)
    figsize : (width, height) in inches

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(timings, BackwardTimings):
        raise TypeError(f"timings must be the BackwardTimings returned by time_backward, got {type(timings).__name__}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax_time, ax_speed = fig.subplots(1, 2)
    order = np.argsort(timings.sizes)
    sizes = timings.sizes[order]
    for method in METHODS:
        ax_time.loglog(sizes, timings.median[method][order] * 1e3, label=method, **METHOD_STYLES[method])
    ax_time.set_xlabel("N × D (numbers in the batch)")
    ax_time.set_ylabel("median time per backward call (ms)")
    ax_time.set_title(f"Batch-norm backward, median of {timings.repeats} repeats")
    ax_time.legend()

    for method in ("core general form", "simplified"):
        ax_speed.semilogx(sizes, timings.speedup(method)[order], label=f"{method} vs staged", **METHOD_STYLES[method])
    ax_speed.axhline(1.0, color="black", linewidth=0.8)
    ax_speed.set_xlabel("N × D (numbers in the batch)")
    ax_speed.set_ylabel("speed-up over the staged pass (×)")
    ax_speed.set_title("How many times faster than staged")
    ax_speed.set_ylim(bottom=0)
    ax_speed.legend()

    for level, nbytes in sorted((cpu_caches or {}).items()):
        if level not in ("L2", "L3"):
            continue
        at = nbytes / itemsize
        if sizes.min() / 2 <= at <= sizes.max() * 2:
            for ax in (ax_time, ax_speed):
                ax.axvline(at, color="tab:green", linewidth=0.8, linestyle=":")
            ax_speed.annotate(f"one array = {level}", (at, 0.02), xycoords=("data", "axes fraction"),
                              rotation=90, color="tab:green", fontsize=8, ha="right", va="bottom")
    for ax in (ax_time, ax_speed):
        ax.grid(True, which="major", alpha=0.3)
    return fig

