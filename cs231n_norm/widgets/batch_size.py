"""Why batch norm needs big batches (notebook 06): the same example, normalized in
many different batches.

Batch norm normalizes a hidden unit of one example with the mean and variance
of *its batch*. Put the same example into 400 random batches of size B and its
normalized value comes out different every time: the batch statistics are
estimates from B samples, and their error shrinks only like 1/sqrt(B). Layer
norm takes its statistics from the example's own units, so the example gets
the same value in every batch. At test time batch norm switches to running
averages, i.e. to the population value: the training-time noise is a
mismatch between what the net learned on and what it is tested with.

The update logic is :func:`batch_noise` (pure, tested directly); the picture is
:func:`batch_noise_figure`; :func:`build_batch_size_explorer` wires them to a slider.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .._checks import describe
from ..core import normalize
from ..experiments import _dataset_of
from .coupling import figure_png

EPS = 1e-5  # the default eps of batchnorm_forward / layernorm_forward
NOISE_CURVE_SIZES = (2, 3, 5, 10, 20, 50, 100, 200)


@dataclass(frozen=True)
class BatchNoise:
    """One example's normalized hidden unit across many random batches.

    Attributes
    ----------
    batch_size : int
    batchnorm_values : ndarray, shape (num_batches,)
        Batch norm's output for the tracked example and unit, one per random batch
        (gamma = 1, beta = 0).
    layernorm_value : float
        Layer norm's output for the same example and unit (the same in every batch).
    population_value : float
        What batch norm gives with the statistics of the whole training set (its
        test-mode value with perfect running averages).
    """

    batch_size: int
    batchnorm_values: np.ndarray
    layernorm_value: float
    population_value: float

    @property
    def batchnorm_spread(self) -> float:
        """Standard deviation of batch norm's output over the batches."""
        return float(self.batchnorm_values.std())


def hidden_units(data, num_units=100, seed=0):
    """Pre-activations of a random first hidden layer, ``X_train @ W``, shape (N, num_units).

    W has i.i.d. normal entries of variance 1/D (the scale does not matter: both
    normalizations remove it).
    """
    data_dict, _, _ = _dataset_of(data, identity=False)
    X = np.asarray(data_dict["X_train"], dtype=np.float64)
    W = np.random.default_rng(seed).standard_normal((X.shape[1], num_units)) / np.sqrt(X.shape[1])
    return X @ W


def batch_noise(units, batch_size, *, example=0, unit=0, num_batches=400, seed=0):
    """Normalize one example's unit inside `num_batches` random batches of `batch_size`.

    Parameters
    ----------
    units : ndarray, shape (N, H)
        Hidden pre-activations of N examples (e.g. from :func:`hidden_units`); not modified.
    batch_size : int, 2 <= batch_size <= N
        The tracked example plus batch_size - 1 others drawn without replacement.
    example, unit : int
        Which example and which unit to track.
    num_batches : int
    seed : int
        Seed of the draw of the other examples.

    Returns
    -------
    BatchNoise
    """
    if not isinstance(units, np.ndarray) or units.ndim != 2 or units.dtype.kind != "f":
        raise TypeError(f"units must be a float array of shape (N, H), got {describe(units)}")
    N, H = units.shape
    for name, value, low, high in (("batch_size", batch_size, 2, N), ("example", example, 0, N - 1),
                                   ("unit", unit, 0, H - 1), ("num_batches", num_batches, 1, 10**6)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}] for units of shape {units.shape}, "
                             f"got {describe(value)}")
    rng = np.random.default_rng(seed)
    others = np.delete(np.arange(N), example)
    # each row: the tracked example first, then batch_size - 1 distinct others
    partners = np.argsort(rng.random((num_batches, N - 1)), axis=1)[:, : batch_size - 1]
    batches = np.concatenate([np.full((num_batches, 1), example), others[partners]], axis=1)
    stacked = units[batches][:, :, unit]  # (num_batches, batch_size)
    batchnorm_values = normalize(stacked, (1,), EPS)[0][:, 0]
    layernorm_value = normalize(units[example][None, :], (1,), EPS)[0][0, unit]
    population_value = normalize(units[:, unit], (0,), EPS)[0][example]
    return BatchNoise(int(batch_size), batchnorm_values, float(layernorm_value), float(population_value))


def noise_curve(units, sizes=NOISE_CURVE_SIZES, **kwargs):
    """Batch norm's spread (std over batches) of the tracked value for each batch size in `sizes`.

    Returns
    -------
    sizes : ndarray of int, spreads : ndarray of float (same length)
    """
    sizes = np.array([s for s in sizes if s <= units.shape[0]])
    return sizes, np.array([batch_noise(units, int(s), **kwargs).batchnorm_spread for s in sizes])


def batch_noise_figure(noise, curve=None, figsize=(11, 3.6)):
    """Left: histogram of batch norm's output for the tracked example over the random
    batches, with layer norm's value and the population value. Right (with `curve`):
    the spread against batch size, with the 1/sqrt(B) trend of large batches (a normalized
    value is bounded by sqrt(B - 1), so tiny batches fall below the trend: at B = 2 every
    output is exactly -1 or +1, up to eps).

    Parameters
    ----------
    noise : BatchNoise
    curve : (sizes, spreads) from :func:`noise_curve`, or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(noise, BatchNoise):
        raise TypeError(f"noise must be a BatchNoise from batch_noise, got {describe(noise)}")
    fig = Figure(figsize=figsize)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.86, wspace=0.25)
    left, right = fig.subplots(1, 2)
    left.hist(noise.batchnorm_values, bins=40, range=(-3.5, 3.5), color="tab:blue", alpha=0.7,
              label=f"batch norm, {len(noise.batchnorm_values)} random batches")
    left.axvline(noise.layernorm_value, color="tab:orange", lw=2.5, label="layer norm (every batch)")
    left.axvline(noise.population_value, color="black", ls="--", lw=1.5, label="batch norm, whole-data statistics")
    left.set_xlim(-3.5, 3.5)
    left.set_xlabel("normalized value of one example's unit")
    left.set_ylabel("batches")
    left.set_title(f"batch size {noise.batch_size}: batch norm spread {noise.batchnorm_spread:.2f}", fontsize=10)
    bottom, top = left.get_ylim()
    left.set_ylim(bottom, top * 1.45)  # headroom: the legend sits above the bars, not on them
    left.legend(fontsize=7, loc="upper left")
    if curve is not None:
        sizes, spreads = curve
        right.loglog(sizes, spreads, "o-", color="tab:blue", label="batch norm spread")
        reference = spreads[-1] * np.sqrt(sizes[-1] / sizes)  # anchored at the largest batch
        right.loglog(sizes, reference, ":", color="grey", label=r"$\propto 1/\sqrt{B}$")
        right.axvline(noise.batch_size, color="gold", lw=6, alpha=0.5, zorder=0)
        right.set_xlabel("batch size B")
        right.set_ylabel("batch norm spread over batches\n(layer norm: exactly 0)")
        right.set_title("large batches: the noise shrinks only like 1/sqrt(B)", fontsize=10)
        right.legend(fontsize=7)
    else:
        right.set_visible(False)
    return fig


def build_batch_size_explorer(data, *, batch_size=5, example=0, unit=0, num_batches=400, dpi=80):
    """A batch-size slider; the picture shows one example's batch-norm output over many batches.

    Parameters
    ----------
    data : Dataset or dict (its training split supplies the examples)
    batch_size : start value of the slider (2..200)
    example, unit : the tracked example and hidden unit
    num_batches : random batches per batch size
    dpi : resolution of the picture

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets

    units = hidden_units(data)
    curve = noise_curve(units, example=example, unit=unit, num_batches=num_batches)
    options = [int(s) for s in curve[0]]
    if batch_size not in options:
        raise ValueError(f"batch_size must be one of {options}, got {describe(batch_size)}")
    slider = widgets.SelectionSlider(options=options, value=batch_size, description="batch size",
                                     continuous_update=True, layout=widgets.Layout(width="50%"),
                                     style={"description_width": "initial"})
    summary = widgets.HTML()
    picture = widgets.Image(format="png")
    cache = {}

    def show(change=None):
        size = slider.value
        if size not in cache:
            cache[size] = batch_noise(units, size, example=example, unit=unit, num_batches=num_batches)
        noise = cache[size]
        summary.value = (f"Batch size {size}: batch norm gives example {example} values from "
                         f"{noise.batchnorm_values.min():.2f} to {noise.batchnorm_values.max():.2f} "
                         f"(spread {noise.batchnorm_spread:.2f}); layer norm always {noise.layernorm_value:.2f}.")
        picture.value = figure_png(batch_noise_figure(noise, curve), dpi=dpi)

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, summary, picture])
