"""Timing helpers of notebook 03: timeit with repeats, the problems timed, cache sizes."""

import dataclasses
import time
from collections import Counter

import numpy as np
import pytest

from cs231n_norm import timing
from cs231n_norm.layers import batchnorm_backward, batchnorm_backward_alt, batchnorm_forward
from cs231n_norm.timing import (
    METHODS,
    BackwardTimings,
    Timing,
    backward_calls,
    batchnorm_problem,
    cache_nbytes,
    cpu_cache_sizes,
    logical_cpus,
    time_backward,
    time_call,
)

# ------------------------------------------------------------------ time_call


def test_time_call_repeats_and_reports_seconds_per_call():
    calls = []
    result = time_call(lambda: calls.append(1), repeats=4, min_seconds=1e-4)
    assert isinstance(result, Timing)
    assert result.seconds.shape == (4,)
    assert result.number >= 1
    # calibration calls (1 + 2 + 4 + ... up to number) and then repeats * number
    assert len(calls) >= 4 * result.number + result.number
    assert result.best <= result.median <= result.seconds.max()


def test_time_call_measures_a_known_duration():
    result = time_call(lambda: time.sleep(0.002), repeats=3, min_seconds=0.004)
    assert result.number >= 2  # one 2 ms call is shorter than 4 ms: number doubled
    assert result.best >= 0.002  # sleep never returns early (no upper bound: a busy machine is slower)


def test_time_call_stops_at_max_number():
    calls = []
    result = time_call(lambda: calls.append(1), repeats=2, min_seconds=10.0, max_number=8)
    assert result.number == 8
    assert len(calls) == 1 + 2 + 4 + 8 + 2 * 8


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"function": 3}, TypeError, "function must be callable"),
        ({"function": print, "repeats": 0}, ValueError, "repeats must be a positive integer"),
        ({"function": print, "repeats": 2.5}, ValueError, "repeats must be a positive integer"),
        ({"function": print, "min_seconds": 0}, ValueError, "min_seconds must be a positive"),
        ({"function": print, "max_number": 0}, ValueError, "max_number must be a positive integer"),
    ],
)
def test_time_call_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        time_call(**kwargs)


# ------------------------------------------------------------------ the problem


def test_batchnorm_problem_has_per_feature_statistics_and_is_seeded():
    x, gamma, beta, dout = batchnorm_problem(500, 6, seed=3)
    assert x.shape == dout.shape == (500, 6) and gamma.shape == beta.shape == (6,)
    assert np.ptp(x.mean(axis=0)) > 1.0  # features have clearly different means ...
    assert x.std(axis=0).max() / x.std(axis=0).min() > 1.5  # ... and scales
    again = batchnorm_problem(500, 6, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((x, gamma, beta, dout), again))
    assert not np.array_equal(x, batchnorm_problem(500, 6, seed=4)[0])


def test_batchnorm_problem_dtype_and_validation():
    assert all(a.dtype == np.float32 for a in batchnorm_problem(4, 3, dtype=np.float32))
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        batchnorm_problem(4, 3, dtype=np.int64)
    with pytest.raises(ValueError, match="N must be a positive integer"):
        batchnorm_problem(0, 3)


def test_every_method_computes_the_staged_gradient():
    x, gamma, beta, dout = batchnorm_problem(16, 5, seed=1)
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    expected = batchnorm_backward(dout, cache)[0]
    calls = backward_calls(x, gamma, beta, dout)
    assert list(calls) == list(METHODS)
    for method, call in calls.items():
        assert np.abs(call() - expected).max() <= 1e-12 * np.abs(expected).max(), method


# ------------------------------------------------------------------ time_backward


def test_time_backward_returns_medians_per_method_and_shape():
    result = time_backward([(8, 4), (16, 8)], repeats=2, min_seconds=1e-4)
    assert isinstance(result, BackwardTimings)
    assert result.shapes == [(8, 4), (16, 8)]
    assert result.sizes.tolist() == [32, 128]
    assert result.repeats == 2
    for method in METHODS:
        assert result.median[method].shape == (2,)
        assert (result.median[method] > 0).all()
        assert (result.best[method] <= result.median[method]).all()
    assert np.allclose(result.speedup(), result.median["staged"] / result.median["simplified"])
    assert np.allclose(result.speedup("simplified", "core general form"),
                       result.median["core general form"] / result.median["simplified"])
    with pytest.raises(ValueError, match="method must be one of"):
        result.speedup("fast")


def test_time_backward_refuses_to_time_a_wrong_gradient(monkeypatch):
    right = timing.backward_calls

    def with_a_wrong_one(*args):
        calls = right(*args)
        simplified = calls["simplified"]
        calls["simplified"] = lambda: 2 * simplified()  # a factor 2 too large
        return calls

    monkeypatch.setattr(timing, "backward_calls", with_a_wrong_one)
    with pytest.raises(AssertionError, match="simplified backward disagrees"):
        time_backward([(8, 4)], repeats=1, min_seconds=1e-4)


@pytest.mark.parametrize("shapes", [[], [(4,)], "4x4", [(4, 0)]])
def test_time_backward_rejects_bad_shapes(shapes):
    with pytest.raises(ValueError):
        time_backward(shapes, repeats=1)


# ------------------------------------------------------------------ cache sizes


@pytest.mark.parametrize("N, D", [(4, 3), (64, 16), (100, 7)])
def test_cache_sizes_count_the_arrays_each_backward_needs(N, D):
    sizes = cache_nbytes(N, D)
    # staged graph: x, xmu, sq, x_hat, scaled, out of shape (N, D) and
    # gamma, beta, mu, var, std, inv_std of shape (D,)
    assert sizes["staged"] == (6 * N * D + 6 * D) * 8
    # closed form: x_hat (N, D), inv_std and gamma (D,)
    assert sizes["simplified"] == (N * D + 2 * D) * 8
    assert cache_nbytes(N, D, dtype=np.float32)["simplified"] == (N * D + 2 * D) * 4


# ------------------------------------------------------------------ machine facts


def test_cpu_cache_sizes_reads_linux_sysfs(tmp_path):
    entries = [("Data", 1, "48K"), ("Instruction", 1, "32K"), ("Unified", 2, "1280K"), ("Unified", 3, "24M")]
    for index, (kind, level, size) in enumerate(entries):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "type").write_text(kind + "\n")
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(size + "\n")
    assert cpu_cache_sizes(tmp_path) == {"L1": 48 << 10, "L2": 1280 << 10, "L3": 24 << 20}


def test_cpu_cache_sizes_without_sysfs_is_empty(tmp_path):
    assert cpu_cache_sizes(tmp_path / "missing") == {}


def test_logical_cpus_is_positive():
    assert logical_cpus() >= 1


# ------------------------------------------------------------------ peak memory


def test_peak_bytes_include_dx_and_the_staged_pass_keeps_more_temporaries():
    N, D = 256, 128
    peaks = timing.backward_peak_bytes(N, D)
    assert list(peaks) == list(METHODS)
    one_array = N * D * 8
    assert all(peak >= one_array for peak in peaks.values())  # dx itself
    assert peaks["staged"] >= 3 * one_array  # gradients of x_hat, xmu and x alive together
    assert peaks["simplified"] < peaks["staged"]


def test_peak_bytes_leave_tracemalloc_as_it_was():
    import tracemalloc

    assert not tracemalloc.is_tracing()
    timing.backward_peak_bytes(8, 4)
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        timing.backward_peak_bytes(8, 4)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------ passes over memory


class _Recorded(np.ndarray):
    """An array that records every numpy operation reading or writing a whole (N, D) array.

    Ufuncs (elementwise operations and their reductions) arrive in __array_ufunc__,
    other numpy functions (einsum, ...) in __array_function__, and ndarray.copy is
    recorded too (the staged mean nodes spread their gradient with a copy).
    """

    log = []
    counted_shape = None
    NO_PASS = {"shape", "ndim", "size", "broadcast_to", "reshape", "transpose", "result_type"}

    def _record(self, name, arrays, result):
        results = result if isinstance(result, tuple) else (result,)
        if _Recorded.counted_shape in [getattr(a, "shape", None) for a in (*arrays, *results)]:
            _Recorded.log.append(name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [a.view(np.ndarray) if isinstance(a, _Recorded) else a for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Recorded) else o for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        self._record(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}", inputs, result)
        return result.view(_Recorded) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        plain = tuple(a.view(np.ndarray) if isinstance(a, _Recorded) else a for a in args)
        result = func(*plain, **kwargs)
        if func.__name__ not in self.NO_PASS:
            self._record(func.__name__, [a for a in args if isinstance(a, np.ndarray)], result)
        return result.view(_Recorded) if isinstance(result, np.ndarray) else result

    def copy(self, order="C"):
        result = super().copy(order)
        self._record("copy", [self], result)
        return result


def _full_array_operations(method, N=64, D=32):
    """The numpy operations on whole (N, D) arrays of one batch-norm backward pass, in order."""
    x, gamma, beta, dout = batchnorm_problem(N, D)
    keep_graph = method == "staged"
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": keep_graph})
    _Recorded.log, _Recorded.counted_shape = [], (N, D)
    if keep_graph:
        for node in cache.graph.nodes:
            node.value = node.value.view(_Recorded)
        batchnorm_backward(dout.view(_Recorded), cache)
    else:
        cache = dataclasses.replace(cache, x_hat=cache.x_hat.view(_Recorded))
        batchnorm_backward_alt(dout.view(_Recorded), cache)
    return list(_Recorded.log)


def test_the_staged_walk_makes_fifteen_passes_over_the_batch_and_the_simplified_pass_six():
    """The counts notebook 03 states in 'Where the speed comes from' (small arrays: one thread,
    plain numpy). If the graph or the simplified pass changes, update the notebook's sentence."""
    staged = _full_array_operations("staged")
    assert len(staged) == 15, staged
    # six products, two additions where paths fork, one negation (x - mu's gradient to mu),
    # four sums over the batch (to beta, gamma, r and mu), two copies (the two means spreading back)
    assert Counter(staged) == {"multiply": 6, "add": 2, "negative": 1, "add.reduce": 4, "copy": 2}
    simplified = _full_array_operations("simplified")
    assert len(simplified) == 6, simplified
    # dbeta and dgamma (a sum and an einsum), then the four operations of the dx line
    assert Counter(simplified) == {"add.reduce": 1, "einsum": 1, "multiply": 2, "add": 1, "subtract": 1}
