"""The axes explorer (notebook 04): the statistic labels against the real layers, and the widget."""

import ipywidgets as widgets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from cs231n_norm.plots.family import block_colours
from cs231n_norm.widgets.axes import (
    NORMS,
    axes_view,
    build_axes_explorer,
    divisors,
    group_summary,
    layer_output,
    normalize_by_labels,
    statistic_groups,
)


def _groups_for(norm, C):
    return 2 if norm == "groupnorm" and C % 2 == 0 else (1 if norm == "groupnorm" else None)


# ------------------------------------------------------------------ labels against the layers


@pytest.mark.parametrize("norm", NORMS)
def test_cells_with_one_label_are_exactly_the_cells_the_layer_normalizes_together(norm, rng, per_feature_data):
    x = per_feature_data(rng, (3, 6, 2, 3))  # every channel its own mean and scale
    G = 3 if norm == "groupnorm" else None
    labels = statistic_groups(norm, x.shape, G)
    expected = layer_output(norm, x, G)
    assert np.abs(normalize_by_labels(x, labels) - expected).max() < 1e-12


@pytest.mark.parametrize("norm", NORMS)
def test_any_other_normalization_s_labels_disagree_with_the_layer(norm, rng, per_feature_data):
    """The comparison above is sharp: the labels of a different norm fail it."""
    x = per_feature_data(rng, (3, 6, 2, 3))
    G = 3 if norm == "groupnorm" else None
    expected = layer_output(norm, x, G)
    for other in NORMS:
        if other == norm:
            continue
        other_labels = statistic_groups(other, x.shape, 3 if other == "groupnorm" else None)
        assert np.abs(normalize_by_labels(x, other_labels) - expected).max() > 1e-3, other


@settings(max_examples=25, deadline=None)
@given(
    norm=st.sampled_from(NORMS),
    N=st.integers(2, 4), C=st.integers(1, 6), H=st.integers(1, 3), W=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_labels_match_the_layers_for_any_shape(norm, N, C, H, W, seed):
    if norm in ("layernorm", "instancenorm", "groupnorm") and C * H * W < 2 or norm == "instancenorm" and H * W < 2:
        return  # a statistic over a single number: the layers refuse it
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C, H, W)) * rng.uniform(0.5, 4, (1, C, 1, 1)) + rng.uniform(-4, 4, (1, C, 1, 1))
    G = _groups_for(norm, C)
    if norm == "groupnorm" and C // G * H * W < 2:
        return
    labels = statistic_groups(norm, x.shape, G)
    assert np.abs(normalize_by_labels(x, labels) - layer_output(norm, x, G)).max() < 1e-10


def test_group_norm_with_one_group_is_layer_norm_and_with_C_groups_instance_norm():
    shape = (2, 6, 2, 2)
    assert np.array_equal(statistic_groups("groupnorm", shape, 1), statistic_groups("layernorm", shape))
    assert np.array_equal(statistic_groups("groupnorm", shape, 6), statistic_groups("instancenorm", shape))


@pytest.mark.parametrize(
    "norm, G, count",
    [("batchnorm", None, 6 * 2 * 3), ("layernorm", None, 4), ("spatial_batchnorm", None, 6),
     ("groupnorm", 2, 4 * 2), ("groupnorm", 3, 4 * 3), ("instancenorm", None, 4 * 6)],
)
def test_labels_are_consecutive_and_every_statistic_covers_equally_many_cells(norm, G, count):
    labels = statistic_groups(norm, (4, 6, 2, 3), G)
    assert labels.shape == (4, 6, 2, 3)
    assert labels.dtype.kind == "i"
    sizes = np.bincount(labels.ravel())
    assert len(sizes) == count
    assert (sizes == labels.size // count).all()


def test_group_norm_groups_are_contiguous_channels():
    labels = statistic_groups("groupnorm", (1, 6, 1, 1), 3)
    assert labels.ravel().tolist() == [0, 0, 1, 1, 2, 2]  # not interleaved [0, 1, 2, 0, 1, 2]


def test_group_summary_says_how_many_statistics_over_how_many_numbers():
    assert group_summary("groupnorm", (4, 6, 2, 2), 2) == (
        "Group norm (G=2): 8 means and variances, each over 12 numbers (C/G, H, W), one per (n, group)")
    assert group_summary("spatial_batchnorm", (4, 6, 2, 2)) == (
        "Spatial batch norm: 6 means and variances, each over 16 numbers (N, H, W), one per channel c")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: statistic_groups("batch", (2, 2, 2, 2)), "norm must be one of"),
        (lambda: statistic_groups("layernorm", (2, 2, 2)), "shape must be"),
        (lambda: statistic_groups("layernorm", (2, 0, 2, 2)), "shape must be"),
        (lambda: statistic_groups("groupnorm", (2, 6, 2, 2), 4), "G must be a positive integer dividing"),
        (lambda: statistic_groups("groupnorm", (2, 6, 2, 2)), "G must be"),
        (lambda: layer_output("groupnorm", np.zeros((2, 6, 2, 2)), 5), "G must be"),
        (lambda: layer_output("layernorm", np.zeros((2, 6))), "x must have 4 dimensions"),
        (lambda: normalize_by_labels(np.zeros((2, 3)), np.zeros((3, 2), dtype=int)), "labels must be"),
        (lambda: normalize_by_labels(np.zeros((2, 3)), -np.ones((2, 3), dtype=int)), "labels must be"),
        (lambda: normalize_by_labels(np.zeros((2, 3)), np.zeros((2, 3))), "labels must be"),
        (lambda: divisors(0), "C must be a positive integer"),
        (lambda: axes_view("rmsnorm"), "norm must be one of"),
        (lambda: axes_view("layernorm", colour="some"), "colour must be 'one' or 'all'"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_inputs_are_not_modified(rng, per_feature_data, unmodified):
    x = per_feature_data(rng, (2, 4, 2, 2))
    labels = statistic_groups("groupnorm", x.shape, 2)
    with unmodified(x, labels):
        layer_output("groupnorm", x, 2)
        normalize_by_labels(x, labels)


def test_normalize_by_labels_keeps_the_dtype(rng, per_feature_data):
    x = per_feature_data(rng, (2, 4, 2, 2), dtype=np.float32)
    assert normalize_by_labels(x, statistic_groups("layernorm", x.shape)).dtype == np.float32


def test_divisors():
    assert divisors(6) == [1, 2, 3, 6]
    assert divisors(1) == [1]


# ------------------------------------------------------------------ the update function and the widget


def test_axes_view_returns_a_figure_the_labels_and_the_summary():
    fig, labels, summary = axes_view("groupnorm", 3, (2, 6, 1, 2))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1 and fig.axes[0].name == "3d"
    assert np.array_equal(labels, statistic_groups("groupnorm", (2, 6, 1, 2), 3))
    assert summary == group_summary("groupnorm", (2, 6, 1, 2), 3)


def test_axes_view_ignores_G_for_norms_without_groups():
    _, labels, summary = axes_view("layernorm", G=5, shape=(2, 6, 1, 2))  # 5 does not divide 6: unused
    assert np.array_equal(labels, statistic_groups("layernorm", (2, 6, 1, 2)))
    assert summary.startswith("Layer norm:")


def test_one_statistic_colouring_shades_exactly_the_cells_of_the_first_statistic():
    labels = statistic_groups("groupnorm", (3, 4, 2, 2), 2)
    colours = block_colours(labels, "one")
    shaded = (colours != colours[-1, -1, -1, -1]).any(axis=-1)  # the last cell is not in group 0
    assert np.array_equal(shaded, labels == labels[0, 0, 0, 0])
    every = block_colours(labels, "all")
    assert len({tuple(every[index]) for index in np.ndindex(labels.shape) if labels[index] == 1}) == 1


def _parts(widget):
    picker = widget.children[0]
    groups, colour = widget.children[1].children
    summary, image = widget.children[2], widget.children[3]
    return picker, groups, colour, summary, image


def test_the_widget_redraws_when_any_control_changes():
    widget = build_axes_explorer(shape=(2, 6, 2, 2), norm="groupnorm", G=2)
    assert isinstance(widget, widgets.VBox)
    picker, groups, colour, summary, image = _parts(widget)
    assert bytes(image.value).startswith(b"\x89PNG")
    assert summary.value == f"<b>{group_summary('groupnorm', (2, 6, 2, 2), 2)}</b>"
    assert list(groups.options) == [1, 2, 3, 6] and not groups.disabled

    groups.value = 3
    assert summary.value == f"<b>{group_summary('groupnorm', (2, 6, 2, 2), 3)}</b>"

    before = bytes(image.value)
    picker.value = "spatial_batchnorm"
    assert groups.disabled
    assert summary.value == f"<b>{group_summary('spatial_batchnorm', (2, 6, 2, 2))}</b>"
    assert bytes(image.value) != before

    before = bytes(image.value)
    colour.value = "all"
    assert bytes(image.value) != before


def test_build_rejects_bad_settings():
    with pytest.raises(ValueError, match="norm must be one of"):
        build_axes_explorer(norm="bn")
    with pytest.raises(ValueError, match="G must be"):
        build_axes_explorer(shape=(2, 6, 2, 2), G=4)
