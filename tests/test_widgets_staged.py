"""Tests for cs231n_norm.widgets.staged: the step-through explorer of the staged backward pass."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.gradcheck import eval_numerical_gradient_array, rel_error
from cs231n_norm.graph import explore_backward, normalization_graph
from cs231n_norm.layers import batchnorm_backward, batchnorm_forward, layernorm_forward
from cs231n_norm.widgets.staged import (
    StepView,
    backward_without_variance_path,
    build_staged_explorer,
    describe_step,
    draw_step,
    example_inputs,
    step_view,
)


@pytest.fixture
def data():
    return example_inputs(N=4, D=3, seed=0)


@pytest.fixture(params=[0, 1], ids=["batchnorm", "layernorm"])
def walk(request, data):
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=request.param)
    return graph, explore_backward(graph, data["dout"])


def test_example_inputs_are_random_and_per_feature(data):
    assert data["x"].shape == (4, 3) and data["dout"].shape == (4, 3)
    assert not np.allclose(data["dout"], 1.0) and not np.allclose(data["gamma"], 1.0)
    assert all(v.dtype == np.float64 for v in data.values())
    with pytest.raises(ValueError, match="D"):
        example_inputs(D=1)


def test_every_step_view_passes_its_numerical_check(walk):
    graph, steps = walk
    names = []
    for index in range(len(steps)):
        view = step_view(graph, steps, index)
        names.append(view.name)
        assert view.passed, (view.name, view.errors)
        assert set(view.errors) == set(view.downstream) == set(graph[view.name].inputs)
        for name, part in view.downstream.items():
            assert part.shape == graph[name].shape
    assert names == ["out", "scaled", "x_hat", "inv_std", "std", "var", "sq", "xmu", "mu"]


def test_a_broken_local_derivative_fails_the_check(walk, monkeypatch):
    from cs231n_norm import graph as graph_module

    graph, _ = walk
    original = graph_module.Square.backward
    monkeypatch.setattr(graph_module.Square, "backward", lambda self, up, inputs, value: tuple(0.5 * g for g in original(self, up, inputs, value)))
    steps = explore_backward(graph, np.random.default_rng(5).normal(size=graph["out"].shape))
    views = {step_view(graph, steps, i).name: step_view(graph, steps, i) for i in range(len(steps))}
    assert not views["sq"].passed and views["sq"].errors["xmu"] > 0.1
    assert "WRONG" in describe_step(views["sq"])
    assert views["std"].passed


def test_describe_step_shows_formula_derivative_shapes_and_check(data):
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    view = step_view(graph, steps, 7)  # xmu: sends to x (4, 3) and to mu (1, 3)
    text = describe_step(view)
    assert view.name == "xmu" and "Step 8 of 9" in text
    assert graph["xmu"].formula in text and graph["xmu"].local_derivative in text
    assert "shape (4, 3)" in text and "shape (1, 3) (summed over the broadcast axis)" in text
    assert text.count("&#10004;") == 2


def test_draw_step_highlights_the_node(data):
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    fig = draw_step(graph, step_view(graph, steps, 2))
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert "backward step 3 of 9: node x_hat" in titles
    assert sum("sent to" in t for t in titles) == 2  # x_hat has two inputs
    fig.canvas.draw()


def test_step_view_rejects_bad_arguments(data):
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    with pytest.raises(ValueError, match="index"):
        step_view(graph, steps, 9)
    with pytest.raises(ValueError, match="index"):
        step_view(graph, steps, True)
    with pytest.raises(TypeError, match="steps"):
        step_view(graph, [], 0)
    with pytest.raises(TypeError, match="graph"):
        step_view(None, steps, 0)
    with pytest.raises(TypeError, match="view"):
        describe_step(None)


def test_the_broken_backward_is_invisible_with_dout_ones_and_visible_with_random_dout(data):
    x, gamma, beta, dout = data["x"], data["gamma"], data["beta"], data["dout"]
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    ones = np.ones_like(x)
    true_dx = batchnorm_backward(ones, cache)[0]
    assert np.max(np.abs(true_dx)) < 1e-12
    assert np.array_equal(backward_without_variance_path(ones, cache), np.zeros_like(x))
    broken = backward_without_variance_path(dout, cache)
    np.testing.assert_allclose(broken.sum(axis=0), 0, atol=1e-12)
    numeric = eval_numerical_gradient_array(lambda v: batchnorm_forward(v, gamma, beta, {"mode": "train"})[0], x, dout)
    assert rel_error(broken, numeric) > 0.1
    assert rel_error(batchnorm_backward(dout, cache)[0], numeric) < 1e-8
    _, ln_cache = layernorm_forward(x, gamma, beta, {})
    with pytest.raises(ValueError, match="batchnorm_forward"):
        backward_without_variance_path(dout, ln_cache)


def test_explorer_steps_with_buttons_and_slider(data):
    box = build_staged_explorer(**data)
    (previous, following, slider), text, picture = box.children[0].children, *box.children[1:]
    assert slider.value == 1 and "node <code>out</code>" in text.value
    first = picture.value
    following.click()
    assert slider.value == 2 and "node <code>scaled</code>" in text.value and picture.value != first
    previous.click()
    previous.click()  # stays at the first step
    assert slider.value == 1
    slider.value = 9
    following.click()
    assert slider.value == 9 and "node <code>mu</code>" in text.value
    assert "WRONG" not in text.value


def test_explorer_rejects_bad_input(data):
    with pytest.raises(ValueError, match="axis"):
        build_staged_explorer(axis=2)
    with pytest.raises(ValueError, match="dout"):
        build_staged_explorer(x=data["x"], dout=np.ones((2, 2)))


def test_step_markdown_matches_the_html_description(data):
    from cs231n_norm.widgets.staged import step_markdown

    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    view = step_view(graph, steps, 2)  # x_hat
    text = step_markdown(view)
    assert text.startswith("**Step 3 of 9: node `x_hat`**")
    assert f"${graph['x_hat'].formula}$" in text and f"${graph['x_hat'].local_derivative}$" in text
    assert "sends to `xmu`" in text and "sends to `inv_std`" in text
    assert "shape (1, 3), summed over the broadcast axis" in text and text.count("✔") == 2
    with pytest.raises(TypeError, match="view"):
        step_markdown("x")
