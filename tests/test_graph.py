"""The staged graph as data: node order, names, shapes and values; the reverse walk;
a numerical check of every node's local derivative."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_norm import (
    Graph,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    check_step,
    explore_backward,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
    normalization_graph,
    normalize,
)
from cs231n_norm.graph import BackwardStep

core_settings = settings(deadline=None, max_examples=25)
seeds = st.integers(0, 2**32 - 1)
matrix_shapes = st.one_of(st.tuples(st.integers(2, 6), st.integers(2, 6)), st.integers(2, 6).map(lambda n: (n, n)))

NODE_NAMES = ["x", "gamma", "beta", "mu", "xmu", "sq", "var", "std", "inv_std", "x_hat", "scaled", "out"]
OPERATIONS = NODE_NAMES[3:]


def expected_shapes(N, D, axis):
    stat = (1, D) if axis == 0 else (N, 1)
    full = (N, D)
    return {"x": full, "gamma": (D,), "beta": (D,), "mu": stat, "xmu": full, "sq": full, "var": stat,
            "std": stat, "inv_std": stat, "x_hat": full, "scaled": full, "out": full}


def setup(rng, per_feature_data, shape):
    x = per_feature_data(rng, shape)
    return x, rng.standard_normal(shape[1]), rng.standard_normal(shape[1]), rng.standard_normal(shape)


@core_settings
@given(shape=matrix_shapes, seed=seeds, layer=st.sampled_from(["batchnorm", "layernorm"]))
def test_graph_node_order_names_shapes_and_values(shape, seed, layer, per_feature_data):
    rng = np.random.default_rng(seed)
    x, gamma, beta, _ = setup(rng, per_feature_data, shape)
    if layer == "batchnorm":
        out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
        axis = 0
    else:
        out, cache = layernorm_forward(x, gamma, beta, {})
        axis = 1
    graph = cache.graph
    assert [node.name for node in graph.nodes] == NODE_NAMES
    assert {node.name: node.shape for node in graph.nodes} == expected_shapes(*shape, axis)
    assert [node.name for node in graph.nodes if node.is_input] == ["x", "gamma", "beta"]
    # every operation reads only nodes defined before it: the list is a valid evaluation order
    seen = set()
    for node in graph.nodes:
        assert set(node.inputs) <= seen, node.name
        seen.add(node.name)
    for node in graph.nodes[3:]:
        assert node.formula and node.local_derivative, node.name
    # the values are the layer's: the output, and the normalization of the core
    np.testing.assert_array_equal(graph.output.value, out)
    x_hat, mean, var, inv_std = normalize(x, (axis,), 1e-5)
    for name, expected in (("mu", mean), ("var", var), ("inv_std", inv_std), ("x_hat", x_hat)):
        np.testing.assert_allclose(graph[name].value, expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(graph["std"].value, np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5), rtol=1e-13)


@core_settings
@given(shape=matrix_shapes, seed=seeds, axis=st.sampled_from([0, 1]))
def test_check_step_of_every_node_below_1e7(shape, seed, axis, per_feature_data):
    rng = np.random.default_rng(seed)
    x, gamma, beta, dout = setup(rng, per_feature_data, shape)
    steps = explore_backward(normalization_graph(x, gamma, beta, 1e-5, axis), dout)
    assert [step.node.name for step in steps] == OPERATIONS[::-1]
    for step in steps:
        errors = check_step(step)
        assert set(errors) == set(step.node.inputs)
        assert max(errors.values()) < 1e-7, (step.node.name, errors)


def test_check_step_sees_a_wrong_local_derivative(rng, per_feature_data):
    """check_step is not vacuous: a node whose local backward is off by a factor fails it."""
    x, gamma, beta, dout = setup(rng, per_feature_data, (4, 3))
    for step in explore_backward(normalization_graph(x, gamma, beta, 1e-5, 0), dout):
        wrong = {name: 1.5 * grad for name, grad in step.downstream.items()}
        errors = check_step(BackwardStep(step.node, step.upstream, wrong, step.input_values))
        assert min(errors.values()) > 0.1, step.node.name
        assert max(check_step(step).values()) < 1e-7  # and the right one passes


def test_reverse_walk_upstream_is_complete(rng, per_feature_data):
    """Each step's upstream is the sum of what its consumers sent; the first step gets dout."""
    x, gamma, beta, dout = setup(rng, per_feature_data, (5, 4))
    graph = normalization_graph(x, gamma, beta, 1e-5, 0)
    steps = explore_backward(graph, dout)
    np.testing.assert_array_equal(steps[0].upstream, dout)
    sent = {}
    for step in steps:
        if step.node.name in sent:
            np.testing.assert_allclose(step.upstream, sum(sent[step.node.name]), rtol=1e-15)
        for name, part in step.downstream.items():
            assert part.shape == graph[name].shape, (step.node.name, name)
            sent.setdefault(name, []).append(part)
    # xmu feeds two nodes (sq and x_hat): its upstream is the sum of both parts
    assert len(sent["xmu"]) == 2 and len(sent["x"]) == 2
    grads = graph.backward(dout)
    assert set(grads) == {"x", "gamma", "beta"}
    np.testing.assert_allclose(grads["x"], sum(sent["x"]), rtol=1e-15)


def test_staged_walk_equals_closed_form(rng, per_feature_data):
    """Elementwise with a floor: |staged - closed| <= 1e-13 + 1e-11 * |closed| for every entry
    (assert_allclose), for batch norm's and layer norm's dx, dgamma and dbeta on a 6 x 6 case."""
    x, gamma, beta, dout = setup(rng, per_feature_data, (6, 6))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    _, cache = layernorm_forward(x, gamma, beta, {})
    staged = cache.graph.backward(dout)
    closed = layernorm_backward(dout, cache)
    for a, b in zip((staged["x"], staged["gamma"], staged["beta"]), closed):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_layernorm_graph_is_batchnorm_graph_of_the_transpose(rng, per_feature_data):
    """Normalizing the rows of x is normalizing the columns of x.T (gamma, beta aside)."""
    x = per_feature_data(rng, (3, 5))
    rows = normalization_graph(x, np.ones(5), np.zeros(5), 1e-5, axis=1)
    columns = normalization_graph(x.T, np.ones(3), np.zeros(3), 1e-5, axis=0)
    np.testing.assert_allclose(rows["x_hat"].value, columns["x_hat"].value.T, rtol=1e-14, atol=1e-15)


def test_backward_leaves_the_graph_unchanged(rng, per_feature_data, unmodified):
    x, gamma, beta, dout = setup(rng, per_feature_data, (4, 3))
    graph = normalization_graph(x, gamma, beta, 1e-5, 0)
    with unmodified(graph, dout, names=["graph", "dout"]):
        graph.backward(dout)
        explore_backward(graph, dout)
        for step in explore_backward(graph, dout):
            check_step(step)


def test_graph_bookkeeping(rng, per_feature_data):
    x, gamma, beta, _ = setup(rng, per_feature_data, (4, 3))
    graph = normalization_graph(x, gamma, beta, 1e-5, 0)
    assert isinstance(graph, Graph) and len(graph) == len(NODE_NAMES)
    assert graph.nbytes() == sum(node.value.nbytes for node in graph.nodes)
    with pytest.raises(KeyError, match=r"no node named 'sigma'.*'inv_std'"):
        graph["sigma"]


@pytest.mark.parametrize("layer", ["batchnorm", "layernorm"])
def test_staged_backward_is_the_graph_walk(layer, rng, per_feature_data, monkeypatch):
    """batchnorm_backward (and layernorm_backward_staged) *is* the reverse walk over the
    cache's graph: the same numbers bit for bit, the walk runs (once, on the cache's own
    graph, through every operation node), and a cache without its graph cannot be used.
    A staged backward that called the closed form instead would fail all three."""
    x, gamma, beta, dout = setup(rng, per_feature_data, (5, 4))
    if layer == "batchnorm":
        _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
        staged_backward = batchnorm_backward
    else:
        _, cache = layernorm_forward(x, gamma, beta, {})
        staged_backward = layernorm_backward_staged
    walked = cache.graph.backward(dout)

    walks = []
    real_walk = Graph.backward_steps

    def spied_walk(graph, upstream):
        """Graph.backward_steps, recording which graph it walks and the nodes it visits."""
        record = {"graph": graph, "nodes": []}
        walks.append(record)
        steps = real_walk(graph, upstream)
        while True:
            try:
                step = next(steps)
            except StopIteration as finished:
                return finished.value  # the input gradients, as Graph.backward expects
            record["nodes"].append(step.node.name)
            yield step

    monkeypatch.setattr(Graph, "backward_steps", spied_walk)
    dx, dgamma, dbeta = staged_backward(dout, cache)
    for got, name in ((dx, "x"), (dgamma, "gamma"), (dbeta, "beta")):
        np.testing.assert_array_equal(got, walked[name])
    assert len(walks) == 1 and walks[0]["graph"] is cache.graph
    assert walks[0]["nodes"] == OPERATIONS[::-1]

    with pytest.raises(ValueError, match=r"cache has no staged graph"):
        staged_backward(dout, dataclasses.replace(cache, graph=None))
