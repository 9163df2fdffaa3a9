"""Experiment figures and widgets: the update functions, called directly."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.data import load_dataset
from cs231n_norm.experiments import ExperimentResult, layer_statistics
from cs231n_norm.plots.experiments import batch_size_figure, layer_histograms_figure, weight_init_figure
from cs231n_norm.widgets.batch_size import (
    BatchNoise,
    batch_noise,
    batch_noise_figure,
    build_batch_size_explorer,
    hidden_units,
    noise_curve,
)
from cs231n_norm.widgets.coupling import figure_png
from cs231n_norm.widgets.weight_init import WeightInitExplorer, build_weight_init_explorer, summary_html


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", num_train=1000)


def fake_result(experiment, knob_values, seeds=(0, 1)):
    rng = np.random.default_rng(0)
    rows = [(n, k, s) for n in ("none", "batchnorm", "layernorm") for k in knob_values for s in seeds]
    values = rng.uniform(0.1, 1.0, len(rows))
    return ExperimentResult(experiment, "digits", {}, {
        "norm": np.array([r[0] for r in rows]),
        "weight_scale": np.array([r[1] if experiment == "weight_init" else 0.1 for r in rows], dtype=float),
        "batch_size": np.array([r[1] if experiment == "batch_size" else 50 for r in rows]),
        "seed": np.array([r[2] for r in rows]),
        "best_train_acc": values, "best_val_acc": values, "final_train_loss": np.where(values > 0.9, np.nan, values),
        "val_acc_history": rng.uniform(0, 1, (len(rows), 4)),
        "train_acc_history": rng.uniform(0, 1, (len(rows), 4)),
    })


@pytest.mark.parametrize("metric", ["best_train_acc", "best_val_acc", "final_train_loss"])
def test_weight_init_figure_has_one_line_per_norm(metric):
    fig = weight_init_figure(fake_result("weight_init", [1e-4, 1e-2, 1.0]), metric)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()][:3] == ["baseline (no norm)", "batch norm", "layer norm"]
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [1e-4, 1e-2, 1.0])


def test_batch_size_figure_shows_mean_and_spread():
    result = fake_result("batch_size", [5, 10, 50], seeds=(0, 1, 2))
    fig = batch_size_figure(result)
    curves, summary = fig.axes
    assert len(curves.get_lines()) == 3 * 3  # a curve per norm and batch size
    assert len(summary.containers) == 3  # an error bar series per norm
    bars = summary.containers[1]  # batch norm
    expected = [result.columns["best_val_acc"][result.select(norm="batchnorm", batch_size=s)].mean() for s in (5, 10, 50)]
    np.testing.assert_allclose(np.asarray(bars.lines[0].get_ydata(), dtype=float), expected)


def test_figures_reject_the_wrong_result():
    with pytest.raises(TypeError, match="weight_init experiment"):
        weight_init_figure(fake_result("batch_size", [5]))
    with pytest.raises(ValueError, match="metric must be one of"):
        weight_init_figure(fake_result("weight_init", [1e-2]), "accuracy")
    with pytest.raises(TypeError, match="LayerStatistics"):
        layer_histograms_figure({"layers": []})


def test_layer_histograms_figure_draws_every_layer(digits):
    stats = layer_statistics(digits, weight_scale=1e-2, norm="batchnorm", hidden_dims=[30, 30, 30], num_examples=100)
    fig = layer_histograms_figure(stats)
    activations, gradients = fig.axes
    assert len(activations.get_lines()) == 3 and len(gradients.get_lines()) == 3
    np.testing.assert_array_equal(activations.get_lines()[1].get_ydata(), stats.layers[1]["activation"]["counts"])


# --------------------------------------------------------------------------- weight-init explorer


def test_explorer_update_is_cached(digits):
    # How fast an update is gets measured, not asserted: the browser tests record the
    # dashboards' response times (tests/artifacts/response_times.json).
    explorer = WeightInitExplorer(digits)
    for scale, norm in ((1e-4, "none"), (1e-2, "batchnorm"), (1.0, "layernorm")):
        stats, fig = explorer.update(scale, norm)
        assert figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
        assert isinstance(fig, Figure) and stats.norm == norm and stats.weight_scale == scale
    assert explorer.computed == 3
    again, _ = explorer.update(1e-2, "batchnorm")
    assert explorer.computed == 3  # served from the cache
    assert again is explorer.statistics(1e-2, "batchnorm")


def test_explorer_cache_is_bounded(digits):
    explorer = WeightInitExplorer(digits, hidden_dims=[10], num_examples=20, max_cached=2)
    for scale in (1e-3, 1e-2, 1e-1):
        explorer.statistics(scale, "none")
    explorer.statistics(1e-3, "none")  # evicted: computed again
    assert explorer.computed == 4


def test_explorer_shows_vanishing_activations_without_norm(digits):
    explorer = WeightInitExplorer(digits, num_examples=100)
    stats, _ = explorer.update(1e-4, "none")
    html = summary_html(stats)
    assert "baseline (no norm)" in html and "weight scale 1.0e-04" in html
    bn, _ = explorer.update(1e-4, "batchnorm")
    assert bn.layers[-1]["activation"]["std"] > 100 * stats.layers[-1]["activation"]["std"]


def test_build_weight_init_explorer_reacts_to_controls(digits):
    explorer = WeightInitExplorer(digits, num_examples=100)
    box = build_weight_init_explorer(digits, explorer=explorer, weight_scale=1e-2)
    scale_slider, norm_buttons, activation_buttons, summary, picture = box.children
    assert scale_slider.value == pytest.approx(1.27e-2, rel=0.01)  # nearest offered scale
    before = picture.value
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    norm_buttons.value = "batchnorm"
    assert picture.value != before and "batch norm" in summary.value
    activation_buttons.value = "tanh"
    assert "|a| &gt; 0.97" in summary.value or "|a| > 0.97" in summary.value
    with pytest.raises(ValueError, match="norm must be one of"):
        build_weight_init_explorer(digits, explorer=explorer, norm="groupnorm")


# --------------------------------------------------------------------------- batch-size explorer


def test_batch_noise_uses_real_batches_and_layer_norm_is_batch_independent(digits):
    units = hidden_units(digits, num_units=20)
    units_before = units.copy()
    noise = batch_noise(units, 5, example=3, unit=2, num_batches=50, seed=1)
    assert isinstance(noise, BatchNoise) and noise.batchnorm_values.shape == (50,)
    np.testing.assert_array_equal(units, units_before)
    # the same draws by hand: first batch is example 3 plus four others
    rng = np.random.default_rng(1)
    others = np.delete(np.arange(len(units)), 3)
    partners = np.argsort(rng.random((50, len(units) - 1)), axis=1)[:, :4]
    batch = units[np.r_[3, others[partners[0]]], 2]
    expected = (batch[0] - batch.mean()) / np.sqrt(batch.var() + 1e-5)
    assert noise.batchnorm_values[0] == pytest.approx(expected, rel=1e-12)
    row = units[3]
    assert noise.layernorm_value == pytest.approx((row[2] - row.mean()) / np.sqrt(row.var() + 1e-5), rel=1e-12)


def test_batch_of_two_gives_plus_or_minus_one(digits):
    noise = batch_noise(hidden_units(digits, num_units=10), 2, num_batches=100)
    # exactly ±d / sqrt(d^2 + eps) for two values 2d apart: just below 1 unless the two are close
    assert np.all(np.abs(noise.batchnorm_values) < 1)
    assert np.mean(np.abs(noise.batchnorm_values) > 0.999) > 0.9


def test_batch_norm_noise_shrinks_with_batch_size(digits):
    sizes, spreads = noise_curve(hidden_units(digits), num_batches=400)
    assert list(sizes) == [2, 3, 5, 10, 20, 50, 100, 200]
    assert np.all(np.diff(spreads) < 0)
    assert spreads[sizes.tolist().index(5)] > 1.5 * spreads[sizes.tolist().index(50)]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"batch_size": 1}, "batch_size must be an integer in"), ({"example": -1}, "example must be"),
     ({"unit": 500}, "unit must be"), ({"num_batches": 0}, "num_batches must be")],
)
def test_batch_noise_bad_arguments(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        batch_noise(hidden_units(digits, num_units=10), **{"batch_size": 5, **kwargs})


def test_batch_noise_figure_and_explorer(digits):
    units = hidden_units(digits)
    fig = batch_noise_figure(batch_noise(units, 10), noise_curve(units, num_batches=50))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    box = build_batch_size_explorer(digits, batch_size=5, num_batches=100)
    slider, summary, picture = box.children
    before = picture.value
    slider.value = 50
    assert picture.value != before and "Batch size 50" in summary.value
    with pytest.raises(ValueError, match="batch_size must be one of"):
        build_batch_size_explorer(digits, batch_size=7)
