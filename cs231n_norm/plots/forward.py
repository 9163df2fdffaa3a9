"""Figures and helpers for notebook 01 (the batch-norm forward pass).

Two kinds of function live here:

* helpers that compute what the figures show: the running statistics a
  sequence of batches leaves behind (:func:`simulate_running_stats`, which
  runs the package's real ``batchnorm_forward``) and the same running mean
  computed *without* the recursion, in closed form
  (:func:`running_average_closed_form`). Comparing the two is a test of the
  momentum update.
* figures, drawn on a :class:`matplotlib.figure.Figure` (never pyplot's global
  state), returned to the caller.
"""

import numpy as np
from matplotlib.figure import Figure

from .. import _checks as check
from ..layers import batchnorm_forward

FEATURE_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


# ------------------------------------------------------------------ running statistics


def running_average_closed_form(batch_values, momentum, initial=0.0):
    """The exponential running average of a sequence, computed without the recursion.

    The update ``r_t = momentum * r_{t-1} + (1 - momentum) * b_t`` unrolls to::

        r_t = momentum^t * r_0 + (1 - momentum) * sum_{s=1..t} momentum^(t-s) * b_s

    so batch s still carries the weight ``(1 - momentum) * momentum^(t-s)`` after
    t steps: the average forgets geometrically, with a memory of about
    ``1 / (1 - momentum)`` steps.

    Parameters
    ----------
    batch_values : ndarray, shape (T,) or (T, D): b_1 .. b_T, one row per step
    momentum : float in [0, 1]: the weight of the *old* value (CS231n's convention)
    initial : float or ndarray of shape (D,): r_0

    Returns
    -------
    ndarray, shape of batch_values: r_1 .. r_T
    """
    values = check.float_array("batch_values", batch_values)
    if values.ndim not in (1, 2) or len(values) == 0:
        raise ValueError(f"batch_values must have shape (T,) or (T, D) with T >= 1, got shape {values.shape}")
    momentum = check.number_in_unit_interval("momentum", momentum)
    T = len(values)
    steps = np.arange(1, T + 1)
    # weights[t-1, s-1] = (1 - m) * m^(t - s) for s <= t, else 0  (0.0 ** 0 == 1)
    lag = steps[:, None] - steps[None, :]
    weights = np.where(lag >= 0, (1 - momentum) * momentum ** np.maximum(lag, 0), 0.0)
    initial_weight = momentum**steps
    flat = values.reshape(T, -1)
    start = np.broadcast_to(np.asarray(initial, dtype=np.float64), flat.shape[1:])
    result = weights @ flat + initial_weight[:, None] * start
    return result.reshape(values.shape)


def steps_to_reach(fraction, momentum):
    """Smallest t with ``1 - momentum^t >= fraction``: steps a running average started at 0
    needs to cover `fraction` of the way to a constant batch value."""
    fraction = check.number_in_unit_interval("fraction", fraction)
    momentum = check.number_in_unit_interval("momentum", momentum)
    if momentum == 0.0 or fraction == 0.0:
        return 0 if fraction == 0.0 else 1
    if momentum == 1.0 or fraction == 1.0:
        raise ValueError(f"with momentum {momentum} a running average started at 0 never reaches fraction {fraction}")
    t = int(np.ceil(np.log(1 - fraction) / np.log(momentum)))
    while 1 - momentum**t < fraction:  # guard against rounding in the logarithms
        t += 1
    return t


def simulate_running_stats(batches, bn_param):
    """Run ``batchnorm_forward`` in train mode over a sequence of batches; record what it leaves behind.

    Parameters
    ----------
    batches : ndarray, shape (T, N, D): T batches of N examples with D features
    bn_param : dict, the starting bn_param (momentum, eps, running statistics,
        running_var_unbiased ...). It is copied: the caller's dict is not changed.

    Returns
    -------
    dict of ndarrays, each of shape (T, D):
        running_mean, running_var : the running statistics after each step
        batch_mean, batch_var : each batch's mean and biased (1/N) variance
    """
    batches = check.float_array("batches", batches, ndim=3)
    bn_param = dict(check.param_dict("bn_param", bn_param), mode="train", keep_graph=False)
    T, N, D = batches.shape
    gamma, beta = np.ones(D, dtype=batches.dtype), np.zeros(D, dtype=batches.dtype)
    record = {key: np.empty((T, D)) for key in ("running_mean", "running_var")}
    for t, batch in enumerate(batches):
        batchnorm_forward(batch, gamma, beta, bn_param)
        record["running_mean"][t] = bn_param["running_mean"]
        record["running_var"][t] = bn_param["running_var"]
    record["batch_mean"] = batches.mean(axis=1)
    record["batch_var"] = batches.var(axis=1)
    return record


# ------------------------------------------------------------------ figures


def plot_feature_distributions(stages, feature_names=None, markers=None, figsize=(11, 3.4)):
    """One panel per stage of the forward pass, showing each feature's distribution as a violin.

    Parameters
    ----------
    stages : list of (title, ndarray of shape (N, D))
    feature_names : list of D str, default "feature 0", "feature 1", ...
    markers : optional dict {stage index: (centers, half_widths)}, each of shape (D,):
        draws a dot at center and a bar of center +- half_width on that stage's
        violins (e.g. beta and |gamma| after the affine step)

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not stages:
        raise ValueError("stages must hold at least one (title, array) pair, got none")
    arrays = [check.float_array(f"stages[{i}][1]", a, ndim=2) for i, (_, a) in enumerate(stages)]
    D = arrays[0].shape[1]
    names = list(feature_names) if feature_names is not None else [f"feature {j}" for j in range(D)]
    markers = markers or {}
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(stages), sharey=False)
    axes = np.atleast_1d(axes)
    positions = np.arange(D)
    for index, (ax, (title, _), values) in enumerate(zip(axes, stages, arrays)):
        parts = ax.violinplot([values[:, j] for j in range(D)], positions=positions, showextrema=False, widths=0.8)
        for j, body in enumerate(parts["bodies"]):
            body.set_facecolor(FEATURE_COLORS[j % len(FEATURE_COLORS)])
            body.set_alpha(0.55)
        ax.scatter(positions, values.mean(axis=0), color="black", s=14, zorder=3, label="mean")
        ax.errorbar(positions, values.mean(axis=0), yerr=values.std(axis=0), fmt="none", ecolor="black",
                    capsize=4, lw=1, zorder=3, label="mean ± std")
        if index in markers:
            centers, half_widths = markers[index]
            ax.errorbar(positions + 0.25, centers, yerr=np.abs(half_widths), fmt="D", color="crimson",
                        ms=4, capsize=3, lw=1, label=r"$\beta \pm |\gamma|$")
        ax.axhline(0.0, color="grey", lw=0.6, zorder=0)
        ax.set_xticks(positions, names, rotation=0, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_running_means(trajectories, batch_means, true_mean, closed_forms=None, figsize=(9, 3.6)):
    """Running mean versus training step, one line per momentum.

    Parameters
    ----------
    trajectories : dict {momentum: ndarray of shape (T,)}: the running mean after each step
    batch_means : ndarray, shape (T,): the mean of each batch (the noisy input of the average)
    true_mean : float: the mean of the distribution the batches come from
    closed_forms : optional dict {momentum: ndarray of shape (T,)}: drawn as dots on top
        of the lines (they should sit exactly on them)

    Returns
    -------
    matplotlib.figure.Figure
    """
    batch_means = check.float_array("batch_means", batch_means, ndim=1)
    steps = np.arange(1, len(batch_means) + 1)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, batch_means, color="lightgrey", lw=1, label="batch mean (one batch)")
    ax.axhline(true_mean, color="black", ls="--", lw=1, label="true mean")
    for k, (momentum, values) in enumerate(sorted(trajectories.items())):
        color = FEATURE_COLORS[k % len(FEATURE_COLORS)]
        ax.plot(steps, values, color=color, lw=2, label=f"momentum {momentum:g}  (memory ~{1 / (1 - momentum):.0f} steps)")
        if closed_forms is not None and momentum in closed_forms:
            every = max(1, len(steps) // 25)
            ax.plot(steps[::every], closed_forms[momentum][::every], "o", color=color, ms=3.5,
                    markerfacecolor="white")
    if closed_forms:
        ax.plot([], [], "o", color="grey", ms=3.5, markerfacecolor="white", label="closed form")
    ax.set_xlabel("training step (one batch each)")
    ax.set_ylabel("running mean of one feature")
    ax.set_title("Running mean: momentum trades noise for lag")
    ax.legend(fontsize=8, loc="lower right")
    return fig
