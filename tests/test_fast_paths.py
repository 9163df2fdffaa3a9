"""The speed helpers of the core give the same numbers as the plain formulas.

in_row_blocks and in_one_new_array must not change a result (elementwise work,
so exactly, whatever the block size, and without writing into the inputs);
mean_of_products must equal np.mean(a * b) over any axes;
normalize, which now scales its own centred array in place, must never write
into the caller's x.
"""

import numpy as np
import pytest

from cs231n_norm.core import in_one_new_array, in_row_blocks, mean_of_products, normalize
from cs231n_norm.layers import batchnorm_backward_alt, batchnorm_forward, layernorm_backward, layernorm_forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_bytes", [1, 100, 4096, 1 << 16, 1 << 30])
def test_in_row_blocks_is_exact_whatever_the_block_size(dtype, block_bytes):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(37, 11)).astype(dtype), rng.normal(size=(37, 11)).astype(dtype)
    row_scale = rng.normal(size=(37, 1)).astype(dtype)
    feature_shift = rng.normal(size=11).astype(dtype)

    def expression(a, b, row_scale):
        return row_scale * (a - feature_shift - b * a)

    expected = expression(a, b, row_scale)
    result = in_row_blocks(expression, a, b, row_scale, block_bytes=block_bytes)
    assert result.dtype == dtype and result.shape == a.shape
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    "shape, axes",
    [((6, 5), (0,)), ((6, 5), (1,)), ((6, 5), (0, 1)), ((3, 4, 2, 5), (0, 2, 3)), ((3, 4, 10), (2,)), ((7,), (0,))],
)
def test_mean_of_products_equals_the_mean_of_the_product_array(shape, axes):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    expected = np.mean(a * b, axis=axes, keepdims=True)
    result = mean_of_products(a, b, axes)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("center", [True, False])
def test_normalize_leaves_x_alone_and_returns_a_new_x_hat(center):
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, size=(8, 5))
    before = x.copy()
    x_hat, _, _, _ = normalize(x, (0,), 1e-5, center=center)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(x_hat, x)


@pytest.mark.parametrize("N, D", [(4, 3), (40, 700), (300, 40)])  # 40 x 700 and 300 x 40 span several 64 KiB row blocks
# (not D = 2: layer norm of two features gives x_hat = +-1 whatever x, so its dx is ~0 and a relative check is meaningless)
def test_simplified_paths_match_the_staged_ones_across_block_boundaries(N, D):
    rng = np.random.default_rng(3)
    x = rng.normal(rng.uniform(-4, 4, D), rng.uniform(0.5, 4, D), size=(N, D))
    gamma, beta, dout = rng.normal(1, 0.5, D), rng.normal(0, 0.5, D), rng.normal(size=(N, D))
    for forward, param, fast_backward, staged_backward in (
        (batchnorm_forward, {"mode": "train"}, batchnorm_backward_alt, "batchnorm"),
        (layernorm_forward, {}, layernorm_backward, "layernorm"),
    ):
        out_staged, staged = forward(x, gamma, beta, dict(param, keep_graph=True))
        out_fast, fast = forward(x, gamma, beta, dict(param, keep_graph=False))
        np.testing.assert_allclose(out_fast, out_staged, rtol=1e-12, atol=1e-12)
        expected = staged.graph.backward(dout)
        dx, dgamma, dbeta = fast_backward(dout, fast)
        scale = np.abs(expected["x"]).max()
        assert np.abs(dx - expected["x"]).max() <= 1e-12 * scale, staged_backward
        np.testing.assert_allclose(dgamma, expected["gamma"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dbeta, expected["beta"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("min_bytes", [0, 1 << 40])  # the in-place path, and the plain fallback
def test_in_one_new_array_is_exact_and_leaves_its_inputs_alone(dtype, min_bytes):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 30)).astype(dtype), rng.normal(size=(50, 30)).astype(dtype)
    scale, shift, slope = (rng.normal(size=30).astype(dtype) for _ in range(3))
    row = rng.normal(size=(50, 1)).astype(dtype)
    before = a.copy(), b.copy(), scale.copy(), shift.copy(), slope.copy(), row.copy()
    expressions = [
        lambda a, b: scale * (b - (shift + a * slope)),  # the batch-norm dx shape: one new array
        lambda a, b: scale * (b - shift - a * slope),  # needs two
        lambda a, b: row * (-(a / 2.0) + b),  # unary minus, division, a per-row factor
        lambda a, b: (a < b) * 1.5 - a,  # a comparison (bool) in the middle
        lambda a, b: a * np.float64(2.0),  # a scalar that promotes float32 to float64
    ]
    for expression in expressions:
        expected = expression(a, b)
        result = in_one_new_array(expression, a, b, min_bytes=min_bytes)
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result, expected)
        for array, original in zip((a, b, scale, shift, slope, row), before):
            np.testing.assert_array_equal(array, original)
    assert in_one_new_array(lambda a, b: a, a, b, min_bytes=min_bytes) is a  # the value of the expression, as numpy gives it
