"""Tests for cs231n_norm.widgets.staged: the step-through explorer of the staged backward pass."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from cs231n_norm.gradcheck import eval_numerical_gradient_array, rel_error
from cs231n_norm.graph import explore_backward, normalization_graph
from cs231n_norm.layers import batchnorm_backward, batchnorm_forward, layernorm_forward
from cs231n_norm.widgets.staged import (
    MarkdownText,
    StepView,
    backward_without_variance_path,
    build_staged_explorer,
    describe_step,
    draw_step,
    example_inputs,
    gradient_route,
    step_markdown,
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
    assert "shape (4, 3); numerical" in text  # to x: the same shape as the upstream, nothing to add
    assert "shape (1, 3), summed over the 4 rows (examples), along which the forward pass broadcast it" in text
    assert text.count("&#10004;") == 2
    assert f"rel error {view.errors['mu']:.1e} &#10004;" in text, "the live explorer shows the exact error"


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
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    view = step_view(graph, steps, 2)  # x_hat
    text = step_markdown(view)
    assert text.startswith("**Step 3 of 9: node `x_hat`**")
    assert f"${graph['x_hat'].formula}$" in text and f"${graph['x_hat'].local_derivative}$" in text
    assert "sends to `xmu`" in text and "sends to `inv_std`" in text
    assert "shape (1, 3), summed over the 4 rows (examples)" in text and text.count("✔") == 2
    with pytest.raises(TypeError, match="view"):
        step_markdown("x")


def test_step_markdown_prints_a_bound_for_a_passing_check_and_the_error_for_a_failing_one(data):
    """Stored notebook outputs are compared as text: rounding-level digits must not be in them."""
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=0)
    steps = explore_backward(graph, data["dout"])
    view = step_view(graph, steps, 3)  # inv_std, whose check has a rel error of ~4e-11
    assert 0 < view.errors["std"] < 1e-8
    text = step_markdown(view)
    assert "numerical check of this node: rel error < 1e-8 ✔" in text
    assert f"{view.errors['std']:.1e}" not in text
    wrong = StepView(**{**view.__dict__, "errors": {"std": 0.25}})
    assert "rel error 2.5e-01 ✘ WRONG" in step_markdown(wrong) and "✔" not in step_markdown(wrong)


# ------------------------------------------------------------------ how shapes change on the way back


def test_gradient_route_same_shape_says_nothing():
    assert gradient_route((4, 3), (4, 3), is_mean=False) == ""


def test_gradient_route_of_a_broadcast_value_is_a_sum_over_the_broadcast_axis():
    assert gradient_route((4, 3), (1, 3), is_mean=False) == (
        "summed over the 4 rows (examples), along which the forward pass broadcast it")
    assert gradient_route((4, 3), (3,), is_mean=False).startswith("summed over the 4 rows (examples)")
    assert gradient_route((4, 3), (4, 1), is_mean=False).startswith("summed over the 3 columns (features)")


def test_gradient_route_of_a_mean_spreads_the_gradient_evenly():
    assert gradient_route((1, 3), (4, 3), is_mean=True) == (
        "spread evenly back over the 4 rows (examples), 1/4 to each (the node is a mean)")
    assert gradient_route((4, 1), (4, 3), is_mean=True) == (
        "spread evenly back over the 3 columns (features), 1/3 to each (the node is a mean)")
    assert "summed" not in gradient_route((1, 3), (4, 3), is_mean=True)
    assert gradient_route((1, 3), (4, 3), is_mean=False) == "copied back over the 4 rows (examples)"


@pytest.mark.parametrize("axis", [0, 1], ids=["batchnorm", "layernorm"])
def test_the_route_words_say_what_the_numbers_do(data, axis):
    """Every step whose shapes change: a mean spreads upstream / m to each entry (not a sum);
    a broadcast input receives the sum over the broadcast axis."""
    graph = normalization_graph(data["x"], data["gamma"], data["beta"], 1e-5, axis=axis)
    steps = explore_backward(graph, data["dout"])
    count, rows_or_columns = (4, "rows") if axis == 0 else (3, "columns")
    routes = {}
    for index in range(len(steps)):
        view = step_view(graph, steps, index)
        for name, part in view.downstream.items():
            routes[(view.name, name)] = view.route(name)
            if view.is_mean:
                assert np.allclose(part, np.broadcast_to(view.upstream / count, part.shape), rtol=1e-15, atol=0)
    spread = f"spread evenly back over the {count} {rows_or_columns}"
    assert routes[("var", "sq")].startswith(spread) and routes[("mu", "x")].startswith(spread)
    assert f"1/{count} to each" in routes[("mu", "x")]
    summed = f"summed over the {count} {rows_or_columns}"
    assert routes[("xmu", "mu")].startswith(summed) and routes[("x_hat", "inv_std")].startswith(summed)
    by_name = {step.node.name: step for step in steps}
    np.testing.assert_allclose(by_name["xmu"].downstream["mu"],
                               -by_name["xmu"].upstream.sum(axis=axis, keepdims=True), rtol=1e-15)
    for node, name in (("out", "beta"), ("scaled", "gamma")):  # per feature in both layers: over the rows
        assert routes[(node, name)].startswith("summed over the 4 rows (examples)")
    assert {key for key, route in routes.items() if route} == {
        ("out", "beta"), ("scaled", "gamma"), ("x_hat", "inv_std"), ("var", "sq"), ("xmu", "mu"), ("mu", "x")}


def test_markdown_text_stores_its_source_as_the_compared_plain_text():
    """nbval compares text/plain: IPython's Markdown stores only '<...Markdown object>' there."""
    from IPython.core.formatters import DisplayFormatter

    graph = normalization_graph(**{k: v for k, v in example_inputs().items() if k != "dout"}, eps=1e-5, axis=0)
    steps = explore_backward(graph, example_inputs()["dout"])
    text = step_markdown(step_view(graph, steps, 4))
    bundle, _ = DisplayFormatter().format(MarkdownText(text))
    assert bundle["text/markdown"] == text and bundle["text/plain"] == text
    # the std node has a symbol of its own: sigma^2 is the variance node, not its square
    assert r"\sigma_\epsilon = \sqrt{\sigma^2 + \epsilon}" in text, text
