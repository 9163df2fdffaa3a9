"""The speed helpers of the core give the same numbers as the plain formulas.

in_row_blocks and in_one_new_array must not change a result (elementwise work,
so exactly, whatever the block size, and without writing into the inputs);
mean_of_products must equal np.mean(a * b) over any axes;
normalize, which now scales its own centred array in place, must never write
into the caller's x. The threaded helpers (parallel_row_blocks,
parallel_elementwise, column_sums) must give the same numbers at every thread
count, bit for bit (the rows are cut into the same pieces at every thread count).
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from cs231n_norm import core
from cs231n_norm.core import (
    column_sums,
    in_one_new_array,
    in_row_blocks,
    mean_of_products,
    normalize,
    parallel_elementwise,
    parallel_row_blocks,
)
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
    """dx normwise: max |fast - staged| <= 1e-12 * max |staged dx|; dgamma and dbeta
    elementwise with a floor: |fast - staged| <= 1e-12 + 1e-12 * |staged| (assert_allclose)."""
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


# ------------------------------------------------------------------ rows in threads
# On large arrays the simplified backward passes split their rows among threads
# (core.parallel_row_blocks). Here the size threshold is set to 0 so that small
# arrays take the threaded path too, at several thread counts.


@pytest.fixture
def threads_on_small_arrays(monkeypatch):
    """Make every array 'large enough' for threads; yields a setter for the thread count."""
    monkeypatch.setattr(core, "PARALLEL_MIN_BYTES", 0)
    return lambda count: monkeypatch.setattr(core, "THREADS", count)


@pytest.mark.parametrize("rows", [2, 3, 37])  # fewer rows than pieces, too
@pytest.mark.parametrize("threads", [1, 2, 3, 4, 50])
def test_parallel_row_blocks_covers_every_row_once_in_order(threads, rows):
    array = np.arange(rows * 2).reshape(rows, 2)
    pieces = parallel_row_blocks(lambda block: block.copy(), array, threads=threads, min_bytes=0)
    assert len(pieces) == min(core.ROW_PIECES, rows)  # the same pieces at every thread count
    np.testing.assert_array_equal(np.concatenate(pieces), array)


def test_parallel_row_blocks_runs_once_on_the_whole_arrays_below_the_threshold():
    a = np.ones((8, 3))
    pieces = parallel_row_blocks(lambda block: block, a, threads=4, min_bytes=a.nbytes + 1)
    assert len(pieces) == 1 and pieces[0] is a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
@pytest.mark.parametrize("evaluate", [in_one_new_array, in_row_blocks])
def test_parallel_elementwise_is_exact_and_leaves_its_inputs_alone(dtype, threads, evaluate):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(41, 30)).astype(dtype), rng.normal(size=(41, 30)).astype(dtype)
    row = rng.normal(size=(41, 1)).astype(dtype)
    scale, shift = rng.normal(size=30).astype(dtype), rng.normal(size=30).astype(dtype)
    before = a.copy(), b.copy(), row.copy()
    for expression, arrays in (
        (lambda a, b: scale * (b - (shift + a * scale)), (a, b)),  # the batch-norm dx: one new array
        (lambda a, b, row: row * (scale * b - shift - a * row), (a, b, row)),  # the layer-norm dx: needs two
    ):
        expected = expression(*arrays)
        result = parallel_elementwise(expression, *arrays, evaluate=evaluate, threads=threads, min_bytes=0)
        assert result.dtype == expected.dtype and result.shape == expected.shape
        np.testing.assert_array_equal(result, expected)
        for array, original in zip((a, b, row), before):
            np.testing.assert_array_equal(array, original)


def test_column_sums_are_the_sums_and_the_same_at_every_thread_count():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(53, 7)), rng.normal(size=(53, 7))
    one_thread = column_sums(a, b, threads=1, min_bytes=0)
    np.testing.assert_allclose(one_thread[0], a.sum(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(one_thread[1], (a * b).sum(axis=0), rtol=1e-13, atol=1e-13)
    for threads in (2, 3, 4, 8):
        for got, expected in zip(column_sums(a, b, threads=threads, min_bytes=0), one_thread):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_one_new_array_and_in_row_blocks_write_into_out(dtype):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(20, 9)).astype(dtype), rng.normal(size=(20, 9)).astype(dtype)
    scale = rng.normal(size=9).astype(dtype)
    for expression in (lambda a, b: scale * (b - a * scale), lambda a, b: scale * b - a * scale, lambda a, b: a):
        expected = expression(a, b)
        for evaluate, options in ((in_one_new_array, {}), (in_row_blocks, {"block_bytes": 100})):
            out = np.full_like(a, np.nan)
            assert evaluate(expression, a, b, out=out, **options) is out
            np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_backward_passes_match_staged_and_single_thread(threads_on_small_arrays, threads):
    """Normwise against the staged walk: max |threaded - staged| <= 1e-12 * max |staged| for each
    of dx, dgamma, dbeta; and bit for bit equal to the single-thread result."""
    rng = np.random.default_rng(8)
    N, D = 45, 30
    x = rng.normal(rng.uniform(-4, 4, D), rng.uniform(0.5, 4, D), size=(N, D))
    gamma, beta, dout = rng.normal(1, 0.5, D), rng.normal(0, 0.5, D), rng.normal(size=(N, D))
    dout_before = dout.copy()
    for forward, param, fast_backward in (
        (batchnorm_forward, {"mode": "train"}, batchnorm_backward_alt),
        (layernorm_forward, {}, layernorm_backward),
    ):
        _, staged = forward(x, gamma, beta, dict(param, keep_graph=True))
        _, fast = forward(x, gamma, beta, dict(param, keep_graph=False))
        expected = staged.graph.backward(dout)
        threads_on_small_arrays(1)
        single = fast_backward(dout, fast)
        threads_on_small_arrays(threads)
        threaded = fast_backward(dout, fast)
        for name, got, one_thread in zip(("x", "gamma", "beta"), threaded, single):
            scale = np.abs(expected[name]).max()
            assert np.abs(got - expected[name]).max() <= 1e-12 * scale, (fast_backward.__name__, name)
            np.testing.assert_array_equal(got, one_thread)  # bit for bit, whatever the thread count
        np.testing.assert_array_equal(dout, dout_before)


def test_the_thread_count_can_be_set_by_environment_variable():
    code = "import cs231n_norm.core as core; print(core.THREADS)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ, CS231N_NORM_THREADS="3"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_gets_its_own_thread_pool():
    # The parent's pool threads do not exist in a forked child: using the parent's
    # pool there would wait forever. The child must start a pool of its own.
    a = np.arange(40.0).reshape(20, 2)
    parallel_row_blocks(lambda block: block.sum(), a, threads=2, min_bytes=0)  # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the threaded call works (and within 20 s)
        signal.alarm(20)
        try:
            pieces = parallel_row_blocks(lambda block: block.sum(), a, threads=2, min_bytes=0)
            os._exit(0 if sum(pieces) == a.sum() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# ------------------------------------------------------------------ the NaN checks are cheap
# A NaN or inf check on a large array reuses a small array the layer computes anyway
# (the variance of x, the column sums dbeta): no np.isfinite over an (N, D) array on
# the path of valid input. Counted, not timed: every np.isfinite call of the checks.


class CountingNumpy:
    """Stands in for numpy inside cs231n_norm._checks: records the size of every
    array np.isfinite is asked about, and otherwise is numpy."""

    def __init__(self):
        self.isfinite_sizes = []

    def __getattr__(self, name):
        return getattr(np, name)

    def isfinite(self, value):
        self.isfinite_sizes.append(np.size(value))
        return np.isfinite(value)


def test_the_nan_checks_of_the_train_mode_passes_scan_only_small_arrays(monkeypatch):
    from cs231n_norm import _checks, layers

    rng = np.random.default_rng(9)
    N, D = 64, 32  # every (N, D) array has 2048 entries; the statistics have 64 or 32
    x = rng.normal(rng.uniform(-4, 4, D), rng.uniform(0.5, 4, D), size=(N, D))
    x4 = x.reshape(8, 8, 4, 8)
    gamma, beta, dout = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(N, D))
    g8, b8 = rng.normal(size=8), rng.normal(size=8)
    calls = {
        "batchnorm staged": lambda: layers.batchnorm_backward(dout, layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[1]),
        "batchnorm simplified": lambda: layers.batchnorm_backward_alt(
            dout, layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": False})[1]),
        "layernorm": lambda: layers.layernorm_backward(dout, layers.layernorm_forward(x, gamma, beta, {"keep_graph": False})[1]),
        "layernorm staged": lambda: layers.layernorm_backward_staged(dout, layers.layernorm_forward(x, gamma, beta, {})[1]),
        "rmsnorm": lambda: layers.rmsnorm_backward(dout, layers.rmsnorm_forward(x, gamma, {})[1]),
        "spatial batchnorm": lambda: layers.spatial_batchnorm_backward(
            dout.reshape(x4.shape), layers.spatial_batchnorm_forward(x4, g8, b8, {"mode": "train"})[1]),
        "groupnorm": lambda: layers.spatial_groupnorm_backward(
            dout.reshape(x4.shape), layers.spatial_groupnorm_forward(x4, g8.reshape(1, 8, 1, 1), b8.reshape(1, 8, 1, 1), 2, {})[1]),
    }
    for name, call in calls.items():
        counting = CountingNumpy()
        monkeypatch.setattr(_checks, "np", counting)
        call()
        monkeypatch.setattr(_checks, "np", np)
        assert counting.isfinite_sizes, name  # the checks ran
        assert max(counting.isfinite_sizes) <= 64, (name, counting.isfinite_sizes)
