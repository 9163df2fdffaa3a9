"""Tests for cs231n_norm.plots.forward (running statistics, figures) and cs231n_norm.plots.graph."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.graph import normalization_graph
from cs231n_norm.layers import pytorch_bn_param
from cs231n_norm.plots.forward import (
    plot_feature_distributions,
    plot_running_means,
    running_average_closed_form,
    simulate_running_stats,
    steps_to_reach,
)
from cs231n_norm.plots.graph import draw_graph, edges, layout, node_symbol


def recursion(values, momentum, initial):
    running, out = initial, []
    for value in values:
        running = momentum * running + (1 - momentum) * value
        out.append(running)
    return np.array(out)


@pytest.fixture
def batches():
    rng = np.random.default_rng(3)
    # 30 batches of 5 examples, 3 features with different means and spreads
    return rng.normal(loc=[-4.0, 1.0, 7.0], scale=[0.5, 2.0, 3.0], size=(30, 5, 3))


# ------------------------------------------------------------ closed form


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_closed_form_matches_the_recursion(momentum):
    values = np.random.default_rng(0).normal(size=(40, 3))
    initial = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(running_average_closed_form(values, momentum, initial),
                               recursion(values, momentum, initial), rtol=1e-12, atol=1e-12)


def test_closed_form_of_a_constant_is_one_minus_momentum_to_the_t():
    t = np.arange(1, 51)
    got = running_average_closed_form(np.full(50, 3.0), 0.9)
    np.testing.assert_allclose(got, 3.0 * (1 - 0.9**t), rtol=1e-13)


def test_closed_form_tells_a_reversed_momentum_apart():
    values = np.random.default_rng(1).normal(size=20)
    assert np.max(np.abs(running_average_closed_form(values, 0.9) - recursion(values, 0.1, 0.0))) > 0.1


def test_closed_form_rejects_bad_input():
    with pytest.raises(ValueError, match="momentum"):
        running_average_closed_form(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="batch_values"):
        running_average_closed_form(np.ones((2, 2, 2)), 0.9)
    with pytest.raises(TypeError, match="batch_values"):
        running_average_closed_form(np.ones(3, dtype=int), 0.9)


def test_steps_to_reach():
    assert steps_to_reach(0.95, 0.5) == 5  # 1 - 0.5^5 = 0.969 >= 0.95 > 1 - 0.5^4
    assert steps_to_reach(0.95, 0.9) == 29
    assert steps_to_reach(0.95, 0.99) == 299
    for m in (0.3, 0.9, 0.99):
        t = steps_to_reach(0.95, m)
        assert 1 - m**t >= 0.95 > 1 - m ** (t - 1)
    assert steps_to_reach(0.5, 0.0) == 1
    with pytest.raises(ValueError, match="never"):
        steps_to_reach(0.9, 1.0)


# ------------------------------------------------------------ simulation


def test_simulation_is_the_closed_form_of_the_batch_statistics(batches):
    record = simulate_running_stats(batches, {"momentum": 0.8})
    np.testing.assert_allclose(record["batch_mean"], batches.mean(axis=1))
    np.testing.assert_allclose(record["batch_var"], batches.var(axis=1))
    np.testing.assert_allclose(record["running_mean"], running_average_closed_form(record["batch_mean"], 0.8), rtol=1e-12)
    np.testing.assert_allclose(record["running_var"], running_average_closed_form(record["batch_var"], 0.8), rtol=1e-12)


def test_simulation_with_pytorch_conventions(batches):
    N = batches.shape[1]
    param = pytorch_bn_param(3, momentum=0.1)
    record = simulate_running_stats(batches, param)
    assert np.all(param["running_mean"] == 0) and np.all(param["running_var"] == 1)  # caller's dict untouched
    np.testing.assert_allclose(record["running_mean"], running_average_closed_form(record["batch_mean"], 0.9), rtol=1e-12)
    unbiased = record["batch_var"] * N / (N - 1)
    np.testing.assert_allclose(record["running_var"], running_average_closed_form(unbiased, 0.9, initial=1.0), rtol=1e-12)


def test_simulation_rejects_bad_input(batches):
    with pytest.raises(ValueError, match="batches"):
        simulate_running_stats(batches[0], {})
    with pytest.raises(TypeError, match="bn_param"):
        simulate_running_stats(batches, None)
    copy = batches.copy()
    simulate_running_stats(batches, {})
    assert np.array_equal(copy, batches)


# ------------------------------------------------------------ forward figures


def test_figures_are_figures_and_draw(batches):
    x = batches[0]
    fig = plot_feature_distributions([("before", x), ("after", (x - x.mean(0)) / x.std(0))],
                                     markers={1: (np.zeros(3), np.ones(3))})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig.canvas.draw()
    fig = plot_running_means({0.9: np.zeros(5), 0.5: np.ones(5)}, np.arange(5.0), 1.0,
                             closed_forms={0.9: np.zeros(5)})
    assert isinstance(fig, Figure)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("momentum 0.5" in l for l in labels) and "closed form" in labels
    fig.canvas.draw()
    with pytest.raises(ValueError, match="stages"):
        plot_feature_distributions([])


# ------------------------------------------------------------ graph picture


@pytest.fixture
def graph():
    rng = np.random.default_rng(0)
    return normalization_graph(rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3), 1e-5, axis=0)


def test_layout_places_every_node_once_and_forward_edges_point_right(graph):
    position = layout(graph)
    assert set(position) == {node.name for node in graph.nodes}
    assert len(set(position.values())) == len(position)
    for source, target in edges(graph):
        assert position[source][0] < position[target][0], (source, target)
    assert position["x"] == (0, 0) and position["out"][0] == max(p[0] for p in position.values())
    assert position["gamma"][1] == -1 and position["beta"][1] == -1


def test_edges_come_from_the_node_list(graph):
    assert ("x", "mu") in edges(graph) and ("xmu", "x_hat") in edges(graph)
    assert len(edges(graph)) == sum(len(node.inputs) for node in graph.nodes)


def test_node_symbol_is_the_formula_left_hand_side(graph):
    assert node_symbol(graph["x_hat"]) == r"\hat{x}"
    assert node_symbol(graph["x"]) == "x"


def test_draw_graph_highlights_and_rejects_unknown_names(graph):
    plain = draw_graph(graph)
    lit = draw_graph(graph, highlight="xmu", done=["out", "scaled"])
    for fig in (plain, lit):
        assert isinstance(fig, Figure)
        fig.canvas.draw()
    faces = [p.get_facecolor() for p in lit.axes[0].patches if hasattr(p, "get_boxstyle")]
    assert len(faces) == len(graph)
    # one box is gold (the highlighted node), two tinted (done)
    from matplotlib.colors import to_rgba
    assert sum(f == to_rgba("gold") for f in faces) == 1
    assert sum(f == to_rgba("mistyrose") for f in faces) == 2
    # two arrows (forward + backward) per edge
    arrows = [p for p in plain.axes[0].patches if not hasattr(p, "get_boxstyle")]
    assert len(arrows) == 2 * len(edges(graph))
    with pytest.raises(ValueError, match="highlight"):
        draw_graph(graph, highlight="nope")
    with pytest.raises(ValueError, match="done"):
        draw_graph(graph, done=["nope"])
    with pytest.raises(TypeError, match="graph"):
        draw_graph([1, 2])


def test_nodes_markdown_lists_every_node_with_its_latex(graph):
    from cs231n_norm.plots.graph import nodes_markdown

    table = nodes_markdown(graph)
    lines = table.splitlines()
    assert len(lines) == 2 + len(graph)
    for node in graph.nodes:
        assert f"`{node.name}`" in table and node.formula in table and node.local_derivative in table
    assert "| `gamma` | (input) | (3,) |" in table and "| `mu` | `x` | (1, 3) |" in table
