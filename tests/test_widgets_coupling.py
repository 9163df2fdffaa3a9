"""Tests for cs231n_norm.widgets.coupling: batch norm couples a batch's examples, layer norm does not."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.widgets.coupling import (
    CouplingState,
    build_coupling_explorer,
    draw_coupling,
    example_batch,
    figure_png,
    move_one_value,
)


@pytest.fixture
def x():
    return example_batch(N=8, D=3, seed=0)


def test_example_batch_has_different_statistics_per_feature(x):
    assert x.shape == (8, 3) and x.dtype == np.float64
    assert len(set(np.round(x.mean(axis=0), 3))) == 3
    with pytest.raises(ValueError, match="N"):
        example_batch(N=1)


@pytest.mark.parametrize("row, column", [(0, 0), (3, 1), (7, 2)])
def test_moving_one_value_moves_the_whole_column_under_batch_norm_and_one_row_under_layer_norm(x, row, column):
    state = move_one_value(x, row, column, x[row, column] + 5.0)
    # batch norm: every example's value of the moved feature changes, other features do not
    changed = np.abs(state.batchnorm_after - state.batchnorm_before) > 1e-12
    assert changed[:, column].all()
    assert not np.delete(changed, column, axis=1).any()
    assert state.batchnorm_rows_moved.all()
    # layer norm: only the moved example changes, in all of its features
    changed = np.abs(state.layernorm_after - state.layernorm_before) > 1e-12
    assert changed[row].all()
    assert not np.delete(changed, row, axis=0).any()
    assert np.flatnonzero(state.layernorm_rows_moved).tolist() == [row]


def test_outputs_are_normalized_the_right_way(x):
    state = move_one_value(x, 2, 0, 10.0)
    assert state.x_after[2, 0] == 10.0 and state.x_before[2, 0] == x[2, 0]
    np.testing.assert_allclose(state.batchnorm_after.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(state.layernorm_after.mean(axis=1), 0, atol=1e-12)
    expected = (state.x_after - state.x_after.mean(0)) / np.sqrt(state.x_after.var(0) + 1e-5)
    np.testing.assert_allclose(state.batchnorm_after, expected, rtol=1e-12)


def test_not_moving_changes_nothing_and_input_is_untouched(x):
    copy = x.copy()
    state = move_one_value(x, 1, 1, float(x[1, 1]))
    assert not state.batchnorm_rows_moved.any() and not state.layernorm_rows_moved.any()
    assert np.array_equal(x, copy)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"row": 8}, ValueError, "row"),
    ({"row": -1}, ValueError, "row"),
    ({"column": 3}, ValueError, "column"),
    ({"value": np.nan}, ValueError, "value"),
    ({"value": "1"}, ValueError, "value"),
])
def test_bad_input_is_named(x, kwargs, error, match):
    args = {"row": 0, "column": 0, "value": 1.0} | kwargs
    with pytest.raises(error, match=match):
        move_one_value(x, **args)


def test_draw_coupling_titles_count_the_moved_examples(x):
    fig = draw_coupling(move_one_value(x, 4, 2, 20.0))
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("batch norm: 8 of 8") and titles[1].startswith("layer norm: 1 of 8")
    png = figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="state"):
        draw_coupling("state")
    with pytest.raises(TypeError, match="fig"):
        figure_png(None)


def test_explorer_reacts_to_its_sliders(x):
    box = build_coupling_explorer(x, row=2, column=1)
    (example, feature), value, summary, picture = box.children[0].children, *box.children[1:]
    first = picture.value
    # it starts moved by two stds of the feature, so the first picture shows the coupling
    assert value.value == pytest.approx(x[2, 1] + 2 * x[:, 1].std(), abs=0.01)
    assert "Batch norm changed 8 of 8 examples, layer norm 1." in summary.value
    value.value = float(x[2, 1])  # back to the original value: nothing moved
    assert "Batch norm changed 0 of 8 examples, layer norm 0." in summary.value
    assert picture.value != first
    example.value = 5  # a new example starts from its own moved value
    assert value.value == pytest.approx(x[5, 1] + 2 * x[:, 1].std(), abs=0.01)
    assert "x[5, 1]" in summary.value and "changed 8 of 8 examples, layer norm 1." in summary.value
    with pytest.raises(ValueError, match="row"):
        build_coupling_explorer(x, row=9)
