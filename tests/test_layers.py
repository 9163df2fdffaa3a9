"""Forward passes of the layers: against written-out reference formulas, against each
other (spatial BN = BN on the transposed input, group norm = layer norm / instance
norm at its extremes), and their dtype and numerical robustness.

The references are written per feature with ``np.mean`` / ``np.var`` (ddof=0),
deliberately not the way the package computes them. Data have a different mean
and scale per feature / channel, so a statistic over the wrong axis shows.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cs231n_norm
from cs231n_norm import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
    normalization_graph,
    relu_backward,
    relu_forward,
    rmsnorm_backward,
    rmsnorm_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)

core_settings = settings(deadline=None, max_examples=30)
seeds = st.integers(0, 2**32 - 1)
matrix_shapes = st.one_of(st.tuples(st.integers(2, 7), st.integers(2, 7)), st.integers(2, 7).map(lambda n: (n, n)))


def reference_standardize(column, eps):
    """(v - mean) / sqrt(biased var + eps) of a 1-D array."""
    return (column - np.mean(column)) / np.sqrt(np.var(column) + eps)


def reference_batchnorm(x, gamma, beta, eps):
    x_hat = np.stack([reference_standardize(x[:, j], eps) for j in range(x.shape[1])], axis=1)
    return gamma * x_hat + beta


def reference_layernorm(x, gamma, beta, eps):
    x_hat = np.stack([reference_standardize(row, eps) for row in x])
    return gamma * x_hat + beta


def test_public_api_is_importable_from_the_top_level():
    names = """batchnorm_forward batchnorm_backward batchnorm_backward_alt layernorm_forward
    layernorm_backward layernorm_backward_staged rmsnorm_forward rmsnorm_backward
    spatial_batchnorm_forward spatial_batchnorm_backward spatial_groupnorm_forward
    spatial_groupnorm_backward affine_forward affine_backward relu_forward relu_backward
    softmax_loss update_running_stats pytorch_bn_param eval_numerical_gradient
    eval_numerical_gradient_array rel_error normalize normalize_backward NormCache
    Graph Node check_step explore_backward normalization_graph""".split()
    missing = [name for name in names if not callable(getattr(cs231n_norm, name, None))]
    assert not missing


# ------------------------------------------------------------------ batch norm


@core_settings
@given(shape=matrix_shapes, seed=seeds, eps=st.sampled_from([1e-5, 0.5]), keep_graph=st.booleans())
def test_batchnorm_train_matches_reference(shape, seed, eps, keep_graph, per_feature_data):
    """eps = 0.5 makes eps-outside-the-sqrt visible; N = 2 makes N-1 vs N a factor of 2."""
    rng = np.random.default_rng(seed)
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps, "keep_graph": keep_graph})
    np.testing.assert_allclose(out, reference_batchnorm(x, gamma, beta, eps), rtol=1e-12, atol=1e-12)


def test_batchnorm_train_statistics_and_affine_take_over(rng, per_feature_data):
    x = per_feature_data(rng, (200, 6))
    out, _ = batchnorm_forward(x, np.ones(6), np.zeros(6), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    # std is sqrt(var / (var + eps)), within 1e-5 / var of 1 (var >= 0.1 here)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)
    gamma, beta = rng.uniform(0.5, 3, 6), rng.standard_normal(6)
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-4)


def test_batchnorm_keep_graph_false_same_numbers_smaller_cache(rng, per_feature_data):
    x = per_feature_data(rng, (8, 5))
    gamma, beta, dout = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal((8, 5))
    with_graph = {"mode": "train"}
    without_graph = {"mode": "train", "keep_graph": False}
    out_graph, cache_graph = batchnorm_forward(x, gamma, beta, with_graph)
    out_plain, cache_plain = batchnorm_forward(x, gamma, beta, without_graph)
    np.testing.assert_allclose(out_plain, out_graph, rtol=1e-14, atol=1e-14)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(without_graph[key], with_graph[key], rtol=1e-14, atol=1e-15)
    assert cache_plain.graph is None and cache_graph.graph is not None
    assert cache_plain.nbytes() < cache_graph.nbytes()
    for a, b in zip(batchnorm_backward_alt(dout, cache_plain), batchnorm_backward_alt(dout, cache_graph)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match=r"cache has no staged graph.*keep_graph.*batchnorm_backward_alt"):
        batchnorm_backward(dout, cache_plain)


def test_layernorm_keep_graph_false(rng, per_feature_data):
    x = per_feature_data(rng, (4, 6))
    gamma, beta, dout = rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal((4, 6))
    out_graph, cache_graph = layernorm_forward(x, gamma, beta, {})
    out_plain, cache_plain = layernorm_forward(x, gamma, beta, {"keep_graph": False})
    np.testing.assert_allclose(out_plain, out_graph, rtol=1e-14, atol=1e-14)
    assert cache_plain.nbytes() < cache_graph.nbytes()
    for a, b in zip(layernorm_backward(dout, cache_plain), layernorm_backward(dout, cache_graph)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match=r"cache has no staged graph.*keep_graph"):
        layernorm_backward_staged(dout, cache_plain)


# ------------------------------------------------------------------ layer norm, RMSNorm


@core_settings
@given(shape=matrix_shapes, seed=seeds, eps=st.sampled_from([1e-5, 0.5]), keep_graph=st.booleans())
def test_layernorm_matches_reference(shape, seed, eps, keep_graph, per_feature_data):
    rng = np.random.default_rng(seed)
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    out, _ = layernorm_forward(x, gamma, beta, {"eps": eps, "keep_graph": keep_graph})
    np.testing.assert_allclose(out, reference_layernorm(x, gamma, beta, eps), rtol=1e-12, atol=1e-12)


def test_layernorm_normalizes_each_example(rng, per_feature_data):
    """Per-row means 0 and stds ~1 (layer norm over the batch axis gets this wrong, though
    its gradient check passes); the columns are *not* standardized (N == D here)."""
    x = per_feature_data(rng, (6, 6))
    out, _ = layernorm_forward(x, np.ones(6), np.zeros(6), {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-4)
    assert np.abs(out.mean(axis=0)).max() > 0.1


@core_settings
@given(shape=matrix_shapes, seed=seeds)
def test_layernorm_example_independent_of_the_rest_of_the_batch(shape, seed, per_feature_data):
    rng = np.random.default_rng(seed)
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    other = per_feature_data(rng, shape) * 3 + 7
    other[0] = x[0]
    alone, _ = layernorm_forward(x[:1], gamma, beta, {})
    out_x, _ = layernorm_forward(x, gamma, beta, {})
    out_other, _ = layernorm_forward(other, gamma, beta, {})
    np.testing.assert_allclose(out_x[0], alone[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(out_other[0], alone[0], rtol=1e-13, atol=1e-13)


def test_layernorm_same_in_train_and_test_mode(rng, per_feature_data):
    x = per_feature_data(rng, (3, 5))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    train, _ = layernorm_forward(x, gamma, beta, {"mode": "train"})
    test, _ = layernorm_forward(x, gamma, beta, {"mode": "test"})
    np.testing.assert_array_equal(train, test)


def test_rmsnorm_matches_reference(rng, per_feature_data):
    x = per_feature_data(rng, (5, 4))
    gamma = rng.standard_normal(4)
    out, _ = rmsnorm_forward(x, gamma, {"eps": 0.5})
    expected = np.stack([gamma * row / np.sqrt(np.mean(row**2) + 0.5) for row in x])
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------ spatial batch norm


def as_rows(x):
    """(N, C, H, W) -> (N*H*W, C): one row per position, channels as features."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def from_rows(rows, shape):
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 4, 1, 1), (1, 3, 2, 2)])
def test_spatial_batchnorm_is_batchnorm_on_transposed_input(shape, rng, per_feature_data):
    """Forward, backward and running statistics equal batch norm on (N*H*W, C) rows."""
    C = shape[1]
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    dout = rng.standard_normal(shape)
    spatial_param, flat_param = {"mode": "train"}, {"mode": "train"}
    out, cache = spatial_batchnorm_forward(x, gamma, beta, spatial_param)
    out_rows, cache_rows = batchnorm_forward(as_rows(x), gamma, beta, flat_param)
    np.testing.assert_allclose(out, from_rows(out_rows, shape), rtol=1e-12, atol=1e-12)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(spatial_param[key], flat_param[key], rtol=1e-12, atol=1e-14)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    dx_rows, dgamma_rows, dbeta_rows = batchnorm_backward_alt(as_rows(dout), cache_rows)
    np.testing.assert_allclose(dx, from_rows(dx_rows, shape), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, dgamma_rows, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbeta, dbeta_rows, rtol=1e-12, atol=1e-12)
    # The data can tell: reshape(-1, C) without the transpose mixes channels
    # (when H * W > 1; for 1x1 images the two reshapes coincide).
    if shape[2] * shape[3] > 1:
        wrong, _ = batchnorm_forward(x.reshape(-1, C), gamma, beta, {"mode": "train"})
        assert not np.allclose(wrong.reshape(shape), out, atol=1e-3)


def test_spatial_batchnorm_statistics_per_channel(rng, per_feature_data):
    x = per_feature_data(rng, (8, 3, 4, 4))
    out, _ = spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)


# ------------------------------------------------------------------ group norm


def reference_groupnorm(x, gamma, beta, G, eps):
    """Loop over examples and contiguous groups of C/G channels."""
    N, C, H, W = x.shape
    size = C // G
    out = np.empty_like(x)
    for n in range(N):
        for g in range(G):
            block = x[n, g * size:(g + 1) * size]
            out[n, g * size:(g + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + eps)
    return gamma * out + beta


@pytest.mark.parametrize("G", [1, 2, 3, 6])
def test_groupnorm_matches_reference_with_contiguous_groups(G, rng, per_feature_data):
    x = per_feature_data(rng, (3, 6, 2, 3))
    gamma, beta = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"eps": 0.5})
    np.testing.assert_allclose(out, reference_groupnorm(x, gamma, beta, G, 0.5), rtol=1e-12, atol=1e-12)


def test_groupnorm_with_one_group_is_layernorm_over_chw(rng, per_feature_data):
    N, C, H, W = shape = (3, 4, 2, 3)
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal((1, C, 1, 1)), rng.standard_normal((1, C, 1, 1))
    dout = rng.standard_normal(shape)
    out, cache = spatial_groupnorm_forward(x, gamma, beta, 1, {})
    ones, zeros = np.ones(C * H * W), np.zeros(C * H * W)
    flat, flat_cache = layernorm_forward(x.reshape(N, -1), ones, zeros, {})
    np.testing.assert_allclose(out, gamma * flat.reshape(shape) + beta, rtol=1e-12, atol=1e-12)
    dx = spatial_groupnorm_backward(dout, cache)[0]
    flat_dx = layernorm_backward((gamma * dout).reshape(N, -1), flat_cache)[0]
    np.testing.assert_allclose(dx, flat_dx.reshape(shape), rtol=1e-10, atol=1e-12)


def test_groupnorm_with_one_channel_per_group_is_instance_norm(rng, per_feature_data):
    shape = (2, 4, 3, 3)
    x = per_feature_data(rng, shape)
    gamma, beta = rng.standard_normal((1, 4, 1, 1)), rng.standard_normal((1, 4, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, 4, {})
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-12, atol=1e-12)


def test_groupnorm_interleaved_groups_would_differ(rng, per_feature_data):
    """With per-channel offsets, grouping channels {0, 2}, {1, 3} (interleaved) gives other numbers."""
    x = per_feature_data(rng, (2, 4, 2, 2))
    ones, zeros = np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))
    out, _ = spatial_groupnorm_forward(x, ones, zeros, 2, {})
    interleaved = x.reshape(2, 2, 2, 2, 2).transpose(0, 2, 1, 3, 4)  # (N, G, C/G, H, W), channel = c*G + g
    mean = interleaved.mean(axis=(2, 3, 4), keepdims=True)
    var = interleaved.var(axis=(2, 3, 4), keepdims=True)
    wrong = ((interleaved - mean) / np.sqrt(var + 1e-5)).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    assert not np.allclose(wrong, out, atol=1e-3)
    # and the contiguous groups really are normalized
    grouped = out.reshape(2, 2, -1)
    np.testing.assert_allclose(grouped.mean(axis=2), 0, atol=1e-12)


# ------------------------------------------------------------------ affine, ReLU, softmax


def test_affine_relu_softmax_forward(rng):
    x = rng.standard_normal((3, 2, 2))
    w, b = rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, _ = affine_forward(x, w, b)
    expected = np.array([[sum(x[n].ravel()[d] * w[d, m] for d in range(4)) + b[m] for m in range(5)] for n in range(3)])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    relu_out, _ = relu_forward(out)
    np.testing.assert_array_equal(relu_out, np.where(out > 0, out, 0.0))
    y = np.array([0, 4, 2])
    loss, _ = softmax_loss(out, y)
    log_probs = [out[n, y[n]] - np.log(np.sum(np.exp(out[n]))) for n in range(3)]
    assert loss == pytest.approx(-np.mean(log_probs), rel=1e-12)


def test_softmax_loss_uniform_scores_and_huge_scores():
    loss, dx = softmax_loss(np.zeros((4, 10)), np.array([0, 1, 2, 3]))
    assert loss == pytest.approx(np.log(10), rel=1e-12)
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-15)
    loss, dx = softmax_loss(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert np.isfinite(loss) and np.isfinite(dx).all()
    assert loss == pytest.approx(500.0, rel=1e-12)


# ------------------------------------------------------------------ dtype and robustness


def run_every_layer(x2, x4, dtype):
    """Forward and backward of every layer on float arrays of `dtype`; yields (name, array)."""
    rng = np.random.default_rng(0)
    D, C = x2.shape[1], x4.shape[1]
    g2, b2 = rng.standard_normal(D).astype(dtype), rng.standard_normal(D).astype(dtype)
    g4, b4 = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    d2, d4 = rng.standard_normal(x2.shape).astype(dtype), rng.standard_normal(x4.shape).astype(dtype)
    for mode in ("train", "test"):
        bn = {"mode": "train"}
        batchnorm_forward(x2, g2, b2, bn)
        bn["mode"] = mode
        out, cache = batchnorm_forward(x2, g2, b2, bn)
        yield f"batchnorm {mode}", out
        for backward in (batchnorm_backward, batchnorm_backward_alt):
            for grad in backward(d2, cache):
                yield f"{backward.__name__} {mode}", grad
        sbn = {"mode": "train"}
        spatial_batchnorm_forward(x4, g4, b4, sbn)
        sbn["mode"] = mode
        out, cache = spatial_batchnorm_forward(x4, g4, b4, sbn)
        yield f"spatial_batchnorm {mode}", out
        for grad in spatial_batchnorm_backward(d4, cache):
            yield f"spatial_batchnorm_backward {mode}", grad
    out, cache = layernorm_forward(x2, g2, b2, {})
    yield "layernorm", out
    for grad in (*layernorm_backward(d2, cache), *layernorm_backward_staged(d2, cache)):
        yield "layernorm_backward", grad
    out, cache = rmsnorm_forward(x2, g2, {})
    yield "rmsnorm", out
    for grad in rmsnorm_backward(d2, cache):
        yield "rmsnorm_backward", grad
    out, cache = spatial_groupnorm_forward(x4, g4.reshape(1, C, 1, 1), b4.reshape(1, C, 1, 1), 2, {})
    yield "groupnorm", out
    for grad in spatial_groupnorm_backward(d4, cache):
        yield "groupnorm_backward", grad
    w, b = rng.standard_normal((D, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    out, cache = affine_forward(x2, w, b)
    yield "affine", out
    for grad in affine_backward(rng.standard_normal(out.shape).astype(dtype), cache):
        yield "affine_backward", grad
    out, cache = relu_forward(x2)
    yield "relu", out
    yield "relu_backward", relu_backward(d2, cache)
    yield "softmax_loss dx", softmax_loss(x2, np.arange(len(x2)) % D)[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_layer_keeps_the_dtype(dtype, rng, per_feature_data):
    x2 = per_feature_data(rng, (6, 4), dtype=dtype)
    x4 = per_feature_data(rng, (2, 4, 3, 3), dtype=dtype)
    results = list(run_every_layer(x2, x4, dtype))
    assert len(results) > 30
    wrong = [(name, array.dtype) for name, array in results if array.dtype != dtype]
    assert not wrong


@pytest.mark.parametrize("keep_graph", [True, False])
def test_float32_with_offset_1e4_still_normalizes(keep_graph, rng, per_feature_data):
    """|mean| >> std in float32. A one-pass variance E[x^2] - mean^2 loses everything here;
    a mean summed in float32 row after row drifts by ~0.2 std at N = 4096.

    The best float32 can do: the mean itself is a float32 near 1e4, resolved to
    np.spacing(1e4) ~ 1e-3, so the output mean may be off by half of that, in units
    of the feature's std. The output std is 1 to within eps / (2 var) ~ 2e-5.
    """
    x2 = per_feature_data(rng, (4096, 8), dtype=np.float32, offset=1e4)
    x4 = per_feature_data(rng, (64, 4, 8, 8), dtype=np.float32, offset=1e4)
    quantum = float(np.spacing(np.float32(1e4)))
    ones2, zeros2 = np.ones(8, np.float32), np.zeros(8, np.float32)
    ones4, zeros4 = np.ones((1, 4, 1, 1), np.float32), np.zeros((1, 4, 1, 1), np.float32)
    outputs = {
        "batchnorm": (batchnorm_forward(x2, ones2, zeros2, {"mode": "train", "keep_graph": keep_graph})[0], 0),
        "layernorm": (layernorm_forward(x2, ones2, zeros2, {"keep_graph": keep_graph})[0], 1),
        "spatial_batchnorm": (spatial_batchnorm_forward(x4, ones4.ravel(), zeros4.ravel(), {"mode": "train"})[0], (0, 2, 3)),
        "groupnorm": (spatial_groupnorm_forward(x4, ones4, zeros4, 2, {})[0].reshape(64, 2, -1), 2),
    }
    inputs = {"batchnorm": x2, "layernorm": x2, "spatial_batchnorm": x4, "groupnorm": x4.reshape(64, 2, -1)}
    for name, (out, axes) in outputs.items():
        assert out.dtype == np.float32, name
        smallest_std = np.sqrt(inputs[name].astype(np.float64).var(axis=axes)).min()
        assert np.abs(out.mean(axis=axes, dtype=np.float64)).max() < quantum / smallest_std, name
        assert np.abs(out.std(axis=axes, dtype=np.float64) - 1).max() < 1e-4, name


# ------------------------------------------------------------------ mixed dtypes
# The rule (layers.py): a layer computes in the dtype of its data, x in a forward pass
# and the forward's x in a backward pass; gamma, beta, w, b, running statistics and
# dout of the other float dtype are converted to it.


def one_layer(name, data_dtype, convert):
    """Run layer `name` on data of `data_dtype`; `convert` gives each other argument
    (parameters in a forward pass, dout in a backward pass) its dtype. Returns the
    arrays the call returns (outputs or gradients)."""
    rng = np.random.default_rng(11)
    x2 = (rng.standard_normal((6, 4)) * 3 + np.arange(4)).astype(data_dtype)
    x4 = (rng.standard_normal((2, 4, 3, 3)) + np.arange(4).reshape(1, 4, 1, 1)).astype(data_dtype)
    g, b = rng.standard_normal(4), rng.standard_normal(4)
    w, bias = rng.standard_normal((4, 3)), rng.standard_normal(3)
    d2, d4, d_affine = rng.standard_normal(x2.shape), rng.standard_normal(x4.shape), rng.standard_normal((6, 3))
    stats = {"running_mean": rng.standard_normal(4), "running_var": rng.uniform(0.5, 2, 4)}

    def own(a):  # the parameters, when dout is the argument of the other dtype
        return a.astype(data_dtype)

    g4, b4 = g.reshape(1, 4, 1, 1), b.reshape(1, 4, 1, 1)
    forwards = {
        "batchnorm_forward train": lambda: batchnorm_forward(x2, convert(g), convert(b), {"mode": "train"})[:1],
        "batchnorm_forward test": lambda: batchnorm_forward(
            x2, convert(g), convert(b), {"mode": "test", **{k: convert(v) for k, v in stats.items()}})[:1],
        "layernorm_forward": lambda: layernorm_forward(x2, convert(g), convert(b), {})[:1],
        "rmsnorm_forward": lambda: rmsnorm_forward(x2, convert(g), {})[:1],
        "spatial_batchnorm_forward": lambda: spatial_batchnorm_forward(x4, convert(g), convert(b), {"mode": "train"})[:1],
        "spatial_groupnorm_forward": lambda: spatial_groupnorm_forward(x4, convert(g4), convert(b4), 2, {})[:1],
        "normalization_graph": lambda: (normalization_graph(x2, convert(g), convert(b), 1e-5, 0).output.value,),
        "affine_forward": lambda: affine_forward(x2, convert(w), convert(bias))[:1],
    }
    if name in forwards:
        return forwards[name]()
    backwards = {
        "batchnorm_backward": (batchnorm_backward, lambda: batchnorm_forward(x2, own(g), own(b), {"mode": "train"}), d2),
        "batchnorm_backward_alt": (batchnorm_backward_alt, lambda: batchnorm_forward(x2, own(g), own(b), {"mode": "train"}), d2),
        "batchnorm_backward test": (batchnorm_backward, lambda: batchnorm_forward(x2, own(g), own(b), {"mode": "test", **stats}), d2),
        "layernorm_backward": (layernorm_backward, lambda: layernorm_forward(x2, own(g), own(b), {}), d2),
        "layernorm_backward_staged": (layernorm_backward_staged, lambda: layernorm_forward(x2, own(g), own(b), {}), d2),
        "rmsnorm_backward": (rmsnorm_backward, lambda: rmsnorm_forward(x2, own(g), {}), d2),
        "spatial_batchnorm_backward": (spatial_batchnorm_backward, lambda: spatial_batchnorm_forward(x4, own(g), own(b), {"mode": "train"}), d4),
        "spatial_groupnorm_backward": (spatial_groupnorm_backward, lambda: spatial_groupnorm_forward(x4, own(g4), own(b4), 2, {}), d4),
        "affine_backward": (affine_backward, lambda: affine_forward(x2, own(w), own(bias)), d_affine),
        "relu_backward": (relu_backward, lambda: relu_forward(x2), d2),
    }
    backward, forward, dout = backwards[name]
    grads = backward(convert(dout), forward()[1])
    return grads if isinstance(grads, tuple) else (grads,)


MIXED_DTYPE_LAYERS = [
    "batchnorm_forward train", "batchnorm_forward test", "layernorm_forward", "rmsnorm_forward",
    "spatial_batchnorm_forward", "spatial_groupnorm_forward", "normalization_graph", "affine_forward",
    "batchnorm_backward", "batchnorm_backward_alt", "batchnorm_backward test", "layernorm_backward",
    "layernorm_backward_staged", "rmsnorm_backward", "spatial_batchnorm_backward",
    "spatial_groupnorm_backward", "affine_backward", "relu_backward",
]


@pytest.mark.parametrize("data_dtype, other_dtype", [(np.float32, np.float64), (np.float64, np.float32)], ids=["x32-other64", "x64-other32"])
@pytest.mark.parametrize("name", MIXED_DTYPE_LAYERS)
def test_mixed_dtypes_compute_in_the_dtype_of_the_data(name, data_dtype, other_dtype):
    """Parameters or dout of the other float dtype: the results have the data's dtype and
    are bit for bit those of the call with the other arguments converted first."""
    mixed = one_layer(name, data_dtype, lambda a: a.astype(other_dtype))
    converted = one_layer(name, data_dtype, lambda a: a.astype(other_dtype).astype(data_dtype))
    assert [a.dtype for a in mixed] == [np.dtype(data_dtype)] * len(mixed)
    for got, expected in zip(mixed, converted):
        np.testing.assert_array_equal(got, expected)
