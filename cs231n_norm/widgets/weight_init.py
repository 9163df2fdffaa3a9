"""Weight-init explorer (notebook 05): pick a weight scale and a norm, see every
hidden layer's activation and gradient histograms at initialization.

The update logic is :meth:`WeightInitExplorer.update` (pure apart from its
cache, tested directly): it computes the statistics with
:func:`cs231n_norm.experiments.layer_statistics` the first time a
(scale, norm, activation) is asked for, keeps them in a small in-memory cache,
and draws them with :func:`cs231n_norm.plots.experiments.layer_histograms_figure`.
:func:`build_weight_init_explorer` wires it to the controls.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._checks import describe
from ..experiments import NORMS, WEIGHT_INIT_DEFAULTS, default_weight_scales, layer_statistics
from ..plots.experiments import NORM_STYLE, layer_histograms_figure
from .coupling import figure_png


class WeightInitExplorer:
    """Per-layer statistics for any (weight scale, norm, activation), computed lazily and cached.

    Parameters
    ----------
    data : Dataset or dict (see :func:`cs231n_norm.experiments.layer_statistics`)
    weight_scales : sequence of float or None
        The scales offered by the widget's slider (default: 20 log-spaced from 1e-4 to 1).
    hidden_dims : sequence of int
    num_examples : int
        Examples passed through the net for the statistics.
    seed : int
        Seed of the weight initialization (the same for every scale, so only the scale changes).
    max_cached : int
        How many statistics to keep (least recently used are dropped).
    """

    def __init__(self, data, *, weight_scales=None, hidden_dims=WEIGHT_INIT_DEFAULTS["hidden_dims"],
                 num_examples=500, seed=0, max_cached=128):
        self.data = data
        self.weight_scales = [float(s) for s in (default_weight_scales() if weight_scales is None else weight_scales)]
        self.hidden_dims = list(hidden_dims)
        self.num_examples = num_examples
        self.seed = seed
        self.max_cached = max_cached
        self._cache = OrderedDict()
        self.computed = 0  # how many statistics were computed (not served from the cache)

    def statistics(self, weight_scale, norm, activation="relu"):
        """LayerStatistics for one setting, from the cache when it was asked for before."""
        key = (float(weight_scale), norm, activation)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        stats = layer_statistics(self.data, weight_scale=weight_scale, norm=norm, hidden_dims=self.hidden_dims,
                                 activation=activation, num_examples=self.num_examples, seed=self.seed)
        self.computed += 1
        self._cache[key] = stats
        if len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        return stats

    def update(self, weight_scale, norm, activation="relu"):
        """The widget's update: statistics and their figure for one setting.

        Returns
        -------
        stats : LayerStatistics
        fig : matplotlib.figure.Figure
        """
        stats = self.statistics(weight_scale, norm, activation)
        return stats, layer_histograms_figure(stats)


def summary_html(stats):
    """One line that names what the histograms show: the last layer's activation and gradient scale."""
    first, last = stats.layers[0], stats.layers[-1]
    ratio = last["gradient"]["std"] / first["gradient"]["std"] if first["gradient"]["std"] > 0 else np.nan
    saturated = "|a| > 0.97" if stats.activation == "tanh" else "a = 0"
    return (
        f"<b>{NORM_STYLE[stats.norm]['label']}</b>, weight scale {stats.weight_scale:.1e}: "
        f"activation std layer 1 &rarr; {len(stats.layers)}: {first['activation']['std']:.2g} &rarr; "
        f"{last['activation']['std']:.2g}; gradient std ratio (last/first layer) {ratio:.2g}; "
        f"{saturated} in layer {len(stats.layers)}: {100 * last['activation']['saturated']:.0f}%"
    )


def build_weight_init_explorer(data, *, explorer=None, weight_scale=1e-2, norm="none", activation="relu", dpi=80):
    """Controls (weight scale, norm, activation) and the histograms they select.

    Parameters
    ----------
    data : Dataset or dict
    explorer : WeightInitExplorer or None
        Reuse one (and its cache); by default a new one over the default 20 scales.
    weight_scale : float
        Start value; the nearest offered scale is selected.
    norm : {'none', 'batchnorm', 'layernorm'}
    activation : {'relu', 'tanh'}
    dpi : int
        Resolution of the picture.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets

    explorer = explorer if explorer is not None else WeightInitExplorer(data)
    if not isinstance(explorer, WeightInitExplorer):
        raise TypeError(f"explorer must be a WeightInitExplorer, got {describe(explorer)}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {describe(norm)}")
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {describe(activation)}")
    scales = explorer.weight_scales
    start = scales[int(np.argmin(np.abs(np.log(scales) - np.log(weight_scale))))]
    scale_slider = widgets.SelectionSlider(
        options=[(f"{s:.1e}", s) for s in scales], value=start, description="weight scale",
        continuous_update=False, layout=widgets.Layout(width="60%"), style={"description_width": "initial"},
    )
    norm_buttons = widgets.ToggleButtons(
        options=[(NORM_STYLE[n]["label"], n) for n in NORMS], value=norm, description="norm",
        style={"description_width": "initial"},
    )
    activation_buttons = widgets.ToggleButtons(options=["relu", "tanh"], value=activation, description="activation",
                                               style={"description_width": "initial"})
    summary = widgets.HTML()
    picture = widgets.Image(format="png")

    def show(change=None):
        stats, fig = explorer.update(scale_slider.value, norm_buttons.value, activation_buttons.value)
        summary.value = summary_html(stats)
        picture.value = figure_png(fig, dpi=dpi)

    for control in (scale_slider, norm_buttons, activation_buttons):
        control.observe(show, names="value")
    show()
    return widgets.VBox([scale_slider, norm_buttons, activation_buttons, summary, picture])
