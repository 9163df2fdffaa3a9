"""Figures for the experiments (notebooks 05 and 06).

Every function takes results from :mod:`cs231n_norm.experiments` and returns a
:class:`matplotlib.figure.Figure` (no pyplot global state, so the widgets can
draw from any thread).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .._checks import describe
from ..experiments import METRICS, ExperimentResult, LayerStatistics, _unique

NORM_STYLE = {
    "none": {"color": "tab:gray", "marker": "o", "label": "baseline (no norm)"},
    "batchnorm": {"color": "tab:blue", "marker": "s", "label": "batch norm"},
    "layernorm": {"color": "tab:orange", "marker": "^", "label": "layer norm"},
}
METRIC_LABEL = {
    "best_train_acc": "best training accuracy",
    "best_val_acc": "best validation accuracy",
    "final_train_loss": "final training loss",
}


def _check_result(result, experiment):
    if not isinstance(result, ExperimentResult) or result.experiment != experiment:
        raise TypeError(f"result must be an ExperimentResult of a {experiment} experiment, got {describe(result)}")


def weight_init_figure(result, metric="best_val_acc", figsize=(6.4, 3.6)):
    """One classic weight-init plot: `metric` against weight scale (log axis), one line per norm.

    With several seeds, the line is the mean and the band mean ± std.
    A diverged run (NaN loss) leaves a gap in the line. The loss is drawn on a log
    axis, with ln 10 (the loss of a uniform guess over 10 classes) marked.

    Parameters
    ----------
    result : ExperimentResult from ``weight_init_sensitivity``
    metric : one of 'best_train_acc', 'best_val_acc', 'final_train_loss'

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_result(result, "weight_init")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {describe(metric)}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    rows = result.summary(metric)
    for norm in _unique(result.columns["norm"]):
        mine = [r for r in rows if r["norm"] == norm]
        scales = np.array([r["weight_scale"] for r in mine])
        mean = np.array([r["mean"] for r in mine])
        std = np.array([r["std"] for r in mine])
        style = NORM_STYLE[norm]
        ax.plot(scales, mean, marker=style["marker"], color=style["color"], label=style["label"], ms=4)
        if np.any(std > 0):
            ax.fill_between(scales, mean - std, mean + std, color=style["color"], alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("weight initialization scale (std of the initial weights)")
    ax.set_ylabel(METRIC_LABEL[metric])
    if metric == "final_train_loss":
        ax.set_yscale("log")  # from ~1e-3 (fitted) to thousands (exploded): only a log axis shows both
        ax.axhline(np.log(10), color="black", ls=":", lw=1, label=r"$\ln 10$: uniform guess")
    else:
        ax.set_ylim(0, 1.02)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{METRIC_LABEL[metric]} vs weight scale ({result.dataset})", fontsize=10)
    return fig


def batch_size_figure(result, figsize=(11, 3.8)):
    """Left: validation accuracy per epoch (mean over seeds) for each norm and batch size.
    Right: best validation accuracy against batch size, mean ± std over seeds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_result(result, "batch_size")
    fig = Figure(figsize=figsize, layout="constrained")
    curves, summary = fig.subplots(1, 2)
    sizes = _unique(result.columns["batch_size"])
    line_styles = ["-", "--", ":", "-."]
    for norm in _unique(result.columns["norm"]):
        style = NORM_STYLE[norm]
        for k, size in enumerate(sizes):
            history = result.columns["val_acc_history"][result.select(norm=norm, batch_size=size)]
            curves.plot(np.arange(history.shape[1]), history.mean(axis=0), color=style["color"],
                        ls=line_styles[k % len(line_styles)], label=f"{style['label']}, batch {size}")
        rows = [r for r in result.summary("best_val_acc") if r["norm"] == norm]
        summary.errorbar([r["batch_size"] for r in rows], [r["mean"] for r in rows],
                         yerr=[r["std"] for r in rows], color=style["color"], marker=style["marker"],
                         capsize=3, label=style["label"])
    curves.set_xlabel("epoch (0: after the first step)")
    curves.set_ylabel("validation accuracy (mean over seeds)")
    curves.legend(fontsize=7, ncols=len(_unique(result.columns["norm"])), loc="lower right")
    curves.grid(True, alpha=0.3)
    summary.set_xscale("log")
    summary.set_xticks(sizes, [str(s) for s in sizes])
    summary.minorticks_off()
    summary.set_xlabel("batch size")
    summary.set_ylabel("best validation accuracy (mean ± std)")
    summary.legend(fontsize=8)
    summary.grid(True, alpha=0.3)
    n = int(max(r["n"] for r in result.summary("best_val_acc")))
    fig.suptitle(f"batch size ({result.dataset}, {n} seeds)", fontsize=10)
    return fig


def layer_histograms_figure(stats, figsize=(11, 3.6)):
    """Histograms of each hidden layer's activations (left) and of the loss gradient
    with respect to them (right), one line per layer, for a freshly initialized net.

    Parameters
    ----------
    stats : LayerStatistics from ``layer_statistics``

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(stats, LayerStatistics):
        raise TypeError(f"stats must be a LayerStatistics from layer_statistics, got {describe(stats)}")
    # a fixed layout: constrained layout would double the drawing time, and the widget redraws this
    fig = Figure(figsize=figsize)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84, wspace=0.22)
    axes = fig.subplots(1, 2)
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
    saturated_name = "|a|>0.97" if stats.activation == "tanh" else "a=0"
    first_title = "relu outputs > 0 (zeros: a=0 share)" if stats.activation == "relu" else "tanh outputs"
    for ax, quantity, title in ((axes[0], "activation", first_title),
                                (axes[1], "gradient", "gradient of the loss w.r.t. those outputs")):
        for i, layer in enumerate(stats.layers):
            entry = layer[quantity]
            centers = (entry["edges"][:-1] + entry["edges"][1:]) / 2
            if quantity == "activation":
                label = (f"layer {i + 1}: mean {entry['mean']:.2g}, std {entry['std']:.2g}, "
                         f"{saturated_name} {100 * entry['saturated']:.0f}%")
            else:  # the gradient's mean is zero behind a normalized layer: printed, it would be rounding noise
                label = f"layer {i + 1}: std {entry['std']:.2g}"
            ax.plot(centers, entry["counts"], color=colors[i % len(colors)], lw=1.2, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("value")
        ax.set_ylabel("count")
        ax.legend(fontsize=7)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    fig.suptitle(f"{NORM_STYLE[stats.norm]['label']}, weight scale {stats.weight_scale:.2g}, at initialization",
                 fontsize=10)
    return fig
