"""Static figures of notebooks 03 (timings) and 04 (the normalization family)."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.plots.family import (
    NORM_TITLES,
    NORMS,
    block_colours,
    draw_block,
    plot_normalization_family,
    statistic_groups,
)
from cs231n_norm.plots.timing import plot_backward_timings
from cs231n_norm.timing import METHODS, BackwardTimings

# ------------------------------------------------------------------ family


def test_family_figure_has_one_cube_per_normalization():
    fig = plot_normalization_family(shape=(2, 4, 1, 2), G=2)
    assert isinstance(fig, Figure)
    assert [ax.name for ax in fig.axes] == ["3d"] * len(NORMS)
    titles = [ax.get_title() for ax in fig.axes]
    for norm, title in zip(NORMS, titles):
        assert title.startswith(NORM_TITLES[norm])
    assert "G=2" in titles[NORMS.index("groupnorm")]


def test_family_figure_draws_a_subset_in_order():
    fig = plot_normalization_family(norms=("instancenorm", "layernorm"))
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [NORM_TITLES["instancenorm"], NORM_TITLES["layernorm"]]


def test_draw_block_draws_the_outer_faces_of_every_cell():
    fig = Figure()
    ax = fig.add_subplot(projection="3d")
    draw_block(ax, statistic_groups("layernorm", (2, 3, 1, 2)), title="LN")
    assert ax.get_title() == "LN"
    assert len(ax.collections) == 2 * 3 * 2  # one Poly3DCollection per cell


@pytest.mark.parametrize("norm, G", [("batchnorm", None), ("groupnorm", 2), ("instancenorm", None)])
@pytest.mark.parametrize("colour", ["one", "all"])
def test_every_cell_is_drawn_in_its_statistic_s_colour_at_its_place(norm, G, colour):
    shape = (3, 4, 2, 3)
    labels = statistic_groups(norm, shape, G)
    expected = block_colours(labels, colour)
    fig = Figure()
    ax = fig.add_subplot(projection="3d")
    faces = draw_block(ax, labels, colour)
    N, C, H, W = shape
    inside = (N - 2) * (C - 2) * (H * W - 2)  # cells with no face on the surface are not drawn
    assert len(faces) == labels.size - inside
    for (n, c, position), face in faces.items():
        h, w = divmod(position, W)
        assert np.allclose(face.get_facecolor()[0], expected[n, c, h, w]), (n, c, h, w)
    assert (0, 0, 0) in faces and (N - 1, C - 1, H * W - 1) in faces  # the corners are on the surface


def test_block_colours_shapes():
    labels = statistic_groups("spatial_batchnorm", (2, 3, 2, 2))
    assert block_colours(labels, "one").shape == (2, 3, 2, 2, 4)
    assert block_colours(labels, "all").shape == (2, 3, 2, 2, 4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_normalization_family(norms=("bn",)), "norm must be one of"),
        (lambda: plot_normalization_family(shape=(2, 6, 2)), "shape must be"),
        (lambda: plot_normalization_family(G=4), "G must be"),
        (lambda: draw_block(Figure().add_subplot(projection="3d"), np.zeros((2, 2), dtype=int)), "labels must have shape"),
    ],
)
def test_family_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ timing


def _timings():
    sizes = np.array([1000, 100, 10000])  # unsorted on purpose: the plot sorts
    median = {"staged": np.array([3e-4, 1e-4, 3e-3]), "core general form": np.array([1e-4, 4e-5, 1e-3]),
              "simplified": np.array([6e-5, 3e-5, 6e-4])}
    best = {m: v * 0.9 for m, v in median.items()}
    return BackwardTimings([(10, 100), (10, 10), (100, 100)], sizes, median, best, repeats=3)


def test_timing_figure_plots_time_and_speedup_sorted_by_size():
    fig = plot_backward_timings(_timings())
    assert isinstance(fig, Figure)
    ax_time, ax_speed = fig.axes
    assert [line.get_label() for line in ax_time.get_lines()] == list(METHODS)
    staged = ax_time.get_lines()[0]
    assert staged.get_xdata().tolist() == [100, 1000, 10000]
    assert np.allclose(staged.get_ydata(), [0.1, 0.3, 3.0])  # milliseconds
    simplified = [line for line in ax_speed.get_lines() if line.get_label() == "simplified vs staged"][0]
    assert np.allclose(simplified.get_ydata(), [1e-4 / 3e-5, 3e-4 / 6e-5, 3e-3 / 6e-4])
    assert ax_time.get_xscale() == "log" and ax_time.get_yscale() == "log"


def test_timing_figure_marks_a_cpu_cache_inside_the_range_only():
    inside = plot_backward_timings(_timings(), cpu_caches={"L2": 8 * 2000, "L3": 8 * 10**9})
    marked = [line for line in inside.axes[0].get_lines() if line.get_label() not in METHODS]
    assert len(marked) == 1 and marked[0].get_xdata()[0] == 2000
    plain = plot_backward_timings(_timings())
    assert len(plain.axes[0].get_lines()) == len(METHODS)


def test_timing_figure_rejects_other_input():
    with pytest.raises(TypeError, match="timings must be the BackwardTimings"):
        plot_backward_timings({"staged": [1.0]})

