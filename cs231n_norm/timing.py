"""Honest timing of the batch-norm backward passes (notebook 03), and the sizes of their caches.

Three ways to compute the same gradients are compared:

==========================  ===================================================
``'staged'``                :func:`~cs231n_norm.layers.batchnorm_backward`: the
                            graph walked node by node (cache kept with
                            ``keep_graph=True``)
``'core general form'``     :func:`~cs231n_norm.core.normalize_backward` applied
                            to ``gamma * dout``: the closed form written as plain
                            numpy, one temporary array per operation
``'simplified'``            :func:`~cs231n_norm.layers.batchnorm_backward_alt`:
                            the one-line formula with BLAS reductions and row
                            blocks (cache kept with ``keep_graph=False``)
==========================  ===================================================

Timings are medians over several repeats (:func:`time_call`): the median is
barely moved by the odd slow repeat (another process, a page fault), where the
mean is. They depend on the machine and on what else it is doing; never print
them in a compared notebook output. Cache sizes (:func:`cache_nbytes`) are
exact and deterministic.
"""

import os
import timeit
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _checks as check
from .core import normalize_backward
from .layers import batchnorm_backward, batchnorm_backward_alt, batchnorm_forward

METHODS = ("staged", "core general form", "simplified")

# ------------------------------------------------------------------ timeit with repeats


@dataclass
class Timing:
    """Seconds per call of one function, one entry per repeat.

    seconds : ndarray, shape (repeats,): each repeat's total time / `number`
    number : int, calls per repeat (chosen so one repeat lasts at least min_seconds)
    """

    seconds: np.ndarray
    number: int

    @property
    def median(self):
        """Median seconds per call: the number to report."""
        return float(np.median(self.seconds))

    @property
    def best(self):
        """Fastest repeat, seconds per call: the least disturbed by other work."""
        return float(np.min(self.seconds))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {check.describe(value)}")
    return int(value)


def time_call(function, repeats=5, min_seconds=0.01, max_number=100_000):
    """Time ``function()`` with :mod:`timeit`: `repeats` repeats of `number` calls each.

    `number` doubles from 1 until one repeat takes at least `min_seconds` (like
    ``timeit.Timer.autorange``, but with a shorter target so notebooks stay fast),
    so that the clock's resolution and the per-call overhead of the timer do not
    dominate tiny functions.

    Parameters
    ----------
    function : callable taking no arguments
    repeats : int >= 1
    min_seconds : float > 0, the least duration of one repeat
    max_number : int >= 1, the most calls per repeat

    Returns
    -------
    Timing
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {check.describe(function)}")
    repeats = _positive_int("repeats", repeats)
    min_seconds = check.positive_number("min_seconds", min_seconds)
    max_number = _positive_int("max_number", max_number)
    timer = timeit.Timer(function)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_seconds or number >= max_number:
            break
        number = min(max_number, number * 2)
    seconds = np.array(timer.repeat(repeat=repeats, number=number)) / number
    return Timing(seconds, number)


# ------------------------------------------------------------------ the problem being timed


def batchnorm_problem(N, D, seed=0, dtype=np.float64):
    """Random batch-norm inputs with a different mean and scale per feature.

    Returns
    -------
    x : ndarray, shape (N, D): feature j has its own mean (in [-4, 4]) and scale (in [0.5, 4])
    gamma, beta : ndarray, shape (D,), random
    dout : ndarray, shape (N, D), random upstream gradient
    """
    N, D = _positive_int("N", N), _positive_int("D", D)
    if np.dtype(dtype).type not in check.FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    rng = np.random.default_rng(seed)
    means = rng.uniform(-4.0, 4.0, D)
    scales = rng.uniform(0.5, 4.0, D)
    x = rng.normal(means, scales, size=(N, D))
    gamma = rng.normal(1.0, 0.5, D)
    beta = rng.normal(0.0, 0.5, D)
    dout = rng.normal(size=(N, D))
    return tuple(a.astype(dtype) for a in (x, gamma, beta, dout))


def backward_calls(x, gamma, beta, dout, eps=1e-5):
    """One zero-argument callable per method of :data:`METHODS`, each returning dx.

    The forward passes run here, once: the staged method gets the cache that
    keeps the graph (``keep_graph=True``), the others the small cache
    (``keep_graph=False``). Only the backward passes are left to time.

    Returns
    -------
    dict, method name -> callable returning dx of shape (N, D)
    """
    _, staged_cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps, "keep_graph": True})
    _, small_cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps, "keep_graph": False})
    gamma = np.asarray(gamma, dtype=small_cache.x_hat.dtype)
    return {
        "staged": lambda: batchnorm_backward(dout, staged_cache)[0],
        "core general form": lambda: normalize_backward(gamma * dout, small_cache.x_hat, small_cache.inv_std, (0,)),
        "simplified": lambda: batchnorm_backward_alt(dout, small_cache)[0],
    }


# ------------------------------------------------------------------ measurements


@dataclass
class BackwardTimings:
    """Median backward times over a list of shapes.

    shapes : list of (N, D)
    sizes : ndarray of int, shape (S,): N * D for each shape
    median : dict, method -> ndarray, shape (S,): median seconds per call
    best : dict, method -> ndarray, shape (S,): fastest repeat, seconds per call
    repeats : int
    """

    shapes: list
    sizes: np.ndarray
    median: dict
    best: dict
    repeats: int

    def speedup(self, method="simplified", baseline="staged"):
        """Median time of `baseline` / median time of `method`, per shape (> 1: `method` is faster)."""
        for name in (method, baseline):
            if name not in self.median:
                raise ValueError(f"method must be one of {list(self.median)}, got {name!r}")
        return self.median[baseline] / self.median[method]


def time_backward(shapes, repeats=5, seed=0, dtype=np.float64, min_seconds=0.01):
    """Time every method of :data:`METHODS` on batch-norm problems of the given shapes.

    Before timing, the three methods' dx are checked against each other
    (normwise error < 1e-8 in float64): timing a wrong answer is pointless.

    Parameters
    ----------
    shapes : list of (N, D) pairs
    repeats : int, repeats per method and shape (medians are reported)
    seed : int, for :func:`batchnorm_problem`
    dtype : np.float32 or np.float64
    min_seconds : float, least duration of one repeat (see :func:`time_call`)

    Returns
    -------
    BackwardTimings
    """
    shapes = [tuple(s) for s in shapes] if isinstance(shapes, (list, tuple)) else None
    if not shapes or any(len(s) != 2 for s in shapes):
        raise ValueError(f"shapes must be a non-empty list of (N, D) pairs, got {check.describe(shapes)}")
    shapes = [(_positive_int("N", N), _positive_int("D", D)) for N, D in shapes]
    repeats = _positive_int("repeats", repeats)
    median = {m: np.empty(len(shapes)) for m in METHODS}
    best = {m: np.empty(len(shapes)) for m in METHODS}
    for index, (N, D) in enumerate(shapes):
        calls = backward_calls(*batchnorm_problem(N, D, seed, dtype))
        reference = calls["staged"]()
        scale = max(float(np.abs(reference).max()), np.finfo(reference.dtype).tiny)
        tolerance = 1e-8 if reference.dtype == np.float64 else 1e-3
        for method, call in calls.items():
            error = float(np.abs(call() - reference).max()) / scale
            if not error < tolerance:
                raise AssertionError(f"{method} backward disagrees with the staged one at shape {(N, D)}: error {error:.1e}")
            timing = time_call(call, repeats=repeats, min_seconds=min_seconds)
            median[method][index] = timing.median
            best[method][index] = timing.best
    sizes = np.array([N * D for N, D in shapes])
    return BackwardTimings(shapes, sizes, median, best, repeats)


def cache_nbytes(N, D, dtype=np.float64):
    """Bytes kept alive by the batch-norm caches of the two backward passes.

    Parameters
    ----------
    N, D : int, the batch shape
    dtype : np.float32 or np.float64

    Returns
    -------
    dict with
        'staged' : int, ``cache.nbytes()`` after ``batchnorm_forward`` with ``keep_graph=True``
        'simplified' : int, the same with ``keep_graph=False``
    """
    x, gamma, beta, _ = batchnorm_problem(N, D, seed=0, dtype=dtype)
    sizes = {}
    for method, keep_graph in (("staged", True), ("simplified", False)):
        _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": keep_graph})
        sizes[method] = cache.nbytes()
    return sizes


def backward_peak_bytes(N, D, seed=0, dtype=np.float64):
    """Peak memory each backward method allocates during one call (dx included), in bytes.

    Measured with :mod:`tracemalloc`, which sees numpy's array allocations: the
    peak counts every temporary array alive at the same time. The forward
    passes (and their caches) are allocated before the measurement starts.

    Parameters
    ----------
    N, D : int, the batch shape
    seed : int, for :func:`batchnorm_problem`
    dtype : np.float32 or np.float64

    Returns
    -------
    dict, method of :data:`METHODS` -> int bytes
    """
    calls = backward_calls(*batchnorm_problem(N, D, seed, dtype))
    peaks = {}
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        for method, call in calls.items():
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            dx = call()
            peaks[method] = tracemalloc.get_traced_memory()[1] - before
            del dx
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peaks


def cpu_cache_sizes(sysfs=Path("/sys/devices/system/cpu/cpu0/cache")):
    """The CPU's data cache sizes in bytes, as Linux reports them: {'L1': ..., 'L2': ..., 'L3': ...}.

    Machine-dependent (never compare it in a notebook output). Returns an empty
    dict where the information is not available (not Linux, or a container
    without /sys).
    """
    sizes = {}
    folder = Path(sysfs)
    if not folder.is_dir():
        return sizes
    for index in sorted(folder.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text().strip())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        if kind not in ("Data", "Unified"):
            continue
        multiplier = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes[f"L{level}"] = int(digits) * multiplier
    return sizes


def logical_cpus():
    """How many CPUs this process may use (for the reader of a timing table)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
