"""One normalization, over any set of axes: the forward pass and its closed-form backward.

Every layer in this package is this core plus a choice of axes:

==================  ===============  =========================
layer               input shape      axes the statistics use
==================  ===============  =========================
batch norm          (N, D)           (0,)       over the batch
layer norm          (N, D)           (1,)       over the features
spatial batch norm  (N, C, H, W)     (0, 2, 3)  per channel
group norm          (N, G, C/G*H*W)  (2,)       per example and group
==================  ===============  =========================

Forward, with m the number of values each statistic is taken over::

    mean    = sum(x) / m                    (over the axes)
    var     = sum((x - mean)^2) / m          biased: 1/m, not 1/(m-1)
    inv_std = 1 / sqrt(var + eps)
    x_hat   = (x - mean) * inv_std

Backward (derived in notebook 03), for the upstream gradient g = dL/dx_hat::

    dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))

The two means are the two paths through which x reaches x_hat a second time:
through the batch mean and through the batch variance.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import _checks as check


@dataclass
class NormCache:
    """What a normalization forward pass hands to its backward pass.

    layer : str, which forward made it ('batchnorm', 'layernorm', ...)
    mode : str, 'train' (statistics from the input) or 'test' (stored statistics)
    x_hat : ndarray, the normalized input, same shape as the layer's (reshaped) input;
        group norm keeps it as (N, C, H, W)
    inv_std : ndarray, 1 / sqrt(var + eps), with size 1 along the reduced axes
        (group norm: shape (N, G, 1), for x_hat reshaped to (N, G, C/G * H * W))
    gamma : ndarray, the scale, broadcastable against x_hat
    axes : tuple of int, the axes the statistics were taken over (group norm: of that
        (N, G, C/G * H * W) reshape)
    graph : the staged graph (graph.Graph) when the forward kept it, else None
    extra : layer-specific facts (input shape, number of groups, ...)
    """

    layer: str
    mode: str
    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    axes: tuple
    graph: object = None
    extra: dict = field(default_factory=dict)

    def nbytes(self):
        """Bytes of the arrays this cache keeps alive (each array counted once)."""
        arrays = {id(a): a for a in (self.x_hat, self.inv_std, self.gamma)}
        if self.graph is not None:
            arrays.update({id(node.value): node.value for node in self.graph.nodes})
        return sum(a.nbytes for a in arrays.values())


def normalize(x, axes, eps, center=True):
    """Normalize `x` over `axes`.

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64
    axes : tuple of int, the axes each statistic is taken over
    eps : float, added to the variance before the square root
    center : bool, subtract the mean (False gives RMSNorm: ``x / sqrt(mean(x^2) + eps)``)

    NaN and inf in x are not reported here: they propagate into the results, without
    numpy's RuntimeWarnings (and a variance that overflows gives x_hat = 0). The layers
    report them, from the variance this returns; the sweep trainer relies on a diverging
    net's NaN staying in its own slice of a stacked array.

    Returns
    -------
    x_hat : ndarray, shape of x
    mean : ndarray, size 1 along `axes` (zeros when not centering)
    var : ndarray, size 1 along `axes` (the biased variance; mean of x^2 when not centering)
    inv_std : ndarray, size 1 along `axes`
    """
    x = check.float_array("x", x)
    axes = check.axes_for("axes", axes, x.ndim)
    eps = check.positive_number("eps", eps)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # NaN/inf propagate quietly
        if center:
            # Accumulate in float64: numpy sums along axis 0 row after row, and in float32
            # 4096 values near 1e4 lose a quarter of a standard deviation that way.
            mean = x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype, copy=False)
            centred = x - mean
        else:
            mean = np.zeros_like(x, shape=[1 if a in axes else n for a, n in enumerate(x.shape)])
            centred = x
        # Two passes (mean first, then the mean of squared deviations): the one-pass
        # E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std.
        var = mean_of_products(centred, centred, axes)
        inv_std = 1 / np.sqrt(var + eps)
        # x_hat = centred * inv_std, written into `centred` when that is our own new array
        # (one large array less to allocate); never into the caller's x.
        x_hat = np.multiply(centred, inv_std, out=centred if center else None)
    return x_hat, mean, var, inv_std


def normalize_backward(dx_hat, x_hat, inv_std, axes, center=True):
    """Closed-form gradient of :func:`normalize`.

    Parameters
    ----------
    dx_hat : ndarray, shape of x: dL/dx_hat
    x_hat, inv_std : from :func:`normalize`
    axes : the same axes as the forward pass
    center : the same flag as the forward pass

    Like :func:`normalize`, this does not report NaN or inf (the layers do).

    Returns
    -------
    dx : ndarray, shape of x
    """
    x_hat = check.float_array("x_hat", x_hat)
    dx_hat = check.float_array("dx_hat", dx_hat)
    check.same_shape("dx_hat", dx_hat, x_hat.shape)
    axes = check.axes_for("axes", axes, x_hat.ndim)
    inv_std = check.float_array("inv_std", inv_std)
    check.same_shape("inv_std", inv_std, [1 if a in axes else n for a, n in enumerate(x_hat.shape)])
    return closed_form_backward(dx_hat, x_hat, inv_std, axes, center)


def closed_form_backward(dx_hat, x_hat, inv_std, axes, center=True):
    """The formula of :func:`normalize_backward`, without its argument checks.

    For callers that have validated their arrays already.
    """
    projection = x_hat * mean_of_products(dx_hat, x_hat, axes)
    if center:
        return inv_std * (dx_hat - np.mean(dx_hat, axis=axes, keepdims=True) - projection)
    return inv_std * (dx_hat - projection)


def mean_of_products(a, b, axes):
    """``np.mean(a * b, axis=axes, keepdims=True)``, without making the array ``a * b``.

    ``np.einsum`` multiplies and adds in one pass (``'ij,ij->j'`` for the column
    means of a 2-D array, ``'ij,ij->i'`` for the row means): measured 3x to 7x
    faster than writing the products out and reducing them.

    Parameters
    ----------
    a, b : ndarray, the same shape (at most 26 dimensions)
    axes : tuple of int, the axes to average over

    Returns
    -------
    ndarray, size 1 along `axes`, the other sizes of `a`
    """
    indices = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    kept = "".join(index for axis, index in enumerate(indices) if axis not in axes)
    count = int(np.prod([a.shape[axis] for axis in axes]))
    total = np.einsum(f"{indices},{indices}->{kept}", a, b)
    return (total / count).reshape([1 if axis in axes else n for axis, n in enumerate(a.shape)])


def in_row_blocks(expression, *arrays, block_bytes=1 << 16, out=None):
    """Evaluate an elementwise `expression(*row_blocks)` block of rows by block of rows.

    A formula like ``a * (b - c * d)`` over large arrays makes numpy write one
    temporary array per operation, each a full pass over memory. Applied to a
    few rows at a time, the same temporaries stay in the CPU cache. The result
    is identical; only the memory traffic changes.

    Why 64 KiB blocks by default: a block's few temporaries then fit in the
    L2 cache, and they stay below the size (128 KiB by default) from which
    glibc's malloc maps fresh memory from the kernel (or returns freed memory
    to it), memory that is then page-faulted in again at every block. Measured
    on a 4096 x 1024 float64 batch-norm backward: 256 KiB to 1 MiB blocks
    page-faulted up to ~15,000 times a call (depending on what the process
    allocated before), 64 KiB blocks not at all. Much smaller blocks lose to
    the ~1 us that each numpy call costs.

    Parameters
    ----------
    expression : callable taking row blocks of `arrays` (and returning the
        block of the result); it must treat rows independently
    arrays : ndarrays with the same number of rows
    block_bytes : about how many bytes of the first array one block spans
    out : ndarray, shape and dtype of the first array, optional: where to write
        the result (not one of `arrays`)

    Returns
    -------
    ndarray, shape and dtype of the first array (`out` when given)
    """
    first = arrays[0]
    rows = len(first)
    row_bytes = max(1, first[0].nbytes if rows else 1)
    block = max(1, block_bytes // row_bytes)
    if block >= rows and out is None:
        return expression(*arrays)
    result = np.empty_like(first) if out is None else out
    for start in range(0, rows, block):
        stop = start + block
        result[start:stop] = expression(*(a[start:stop] for a in arrays))
    return result


def in_one_new_array(expression, *arrays, min_bytes=1 << 18, out=None):
    """Evaluate an elementwise `expression(*arrays)` writing every step into one new array.

    numpy gives each operation of ``scale * (b - (c + a * d))`` a new array of
    its own. For large arrays each new array costs a full pass over memory, and
    page faults on top (glibc takes arrays of 32 MiB and more fresh from the
    kernel at every call). Here the first operation makes the one new array and
    every later operation writes its result back into it (``out=``), which is
    safe because in a single expression each intermediate result is used by
    exactly one operation; the caller's arrays are never written. The numbers
    are those of the plain expression, bit for bit.

    Write the expression so that the first product is folded into everything
    after it: ``scale * (b - (c + a * d))`` needs one new array,
    ``scale * (b - c - a * d)`` two (``b - c`` and ``a * d`` both exist at once).
    Measured on a 4096 x 1024 float64 batch-norm backward: the dx step took
    14 ms this way, 18-20 ms in 64 KiB row blocks (:func:`in_row_blocks`), 28 ms
    as plain numpy.

    Parameters
    ----------
    expression : callable taking len(arrays) arguments and combining them with
        arithmetic operators (+, -, *, /, unary -) and per-feature or scalar
        constants
    arrays : ndarrays (the large inputs)
    min_bytes : below this size of the first array, `expression` runs on the
        plain arrays (the bookkeeping would cost more than it saves)
    out : ndarray, optional: where to write the value (its shape and dtype; not
        one of `arrays`). The first operation then writes into `out` instead of
        making the new array (used by :func:`parallel_elementwise`, whose
        threads each fill their rows of one result).

    Returns
    -------
    ndarray, the value of the expression (`out` when given)
    """
    if out is None and arrays[0].nbytes < min_bytes:
        return expression(*arrays)
    spare = [out] if out is not None else []
    value = expression(*(_Operand(a, owned=False, spare=spare) for a in arrays))
    if out is None:
        return value.array
    if value.array is not out:  # e.g. an expression that needed two arrays at once
        out[...] = value.array
    return out


class _Operand(np.lib.mixins.NDArrayOperatorsMixin):
    """An array inside :func:`in_one_new_array`.

    owned : an intermediate result we may overwrite
    spare : shared by all operands of one evaluation: the caller's `out` until an
        operation has taken it (then empty)
    """

    REUSABLE = (np.add, np.subtract, np.multiply, np.true_divide, np.negative, np.positive)

    def __init__(self, array, owned, spare):
        self.array, self.owned, self.spare = array, owned, spare

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        values = [x.array if isinstance(x, _Operand) else x for x in inputs]
        out = None
        if ufunc in self.REUSABLE:
            shape = np.broadcast_shapes(*(np.shape(v) for v in values))
            dtype = np.result_type(*values)
            for x in inputs:
                if isinstance(x, _Operand) and x.owned and x.array.shape == shape and x.array.dtype == dtype:
                    out = x.array
                    break
            if out is None and self.spare and self.spare[0].shape == shape and self.spare[0].dtype == dtype:
                out = self.spare.pop()
        return _Operand(ufunc(*values, out=out), owned=True, spare=self.spare)


# ------------------------------------------------------------------ rows in threads
#
# numpy releases the GIL inside its elementwise loops, reductions and einsum, so
# plain Python threads working on different rows of the same arrays run at the
# same time on different cores. Measured on a 4096 x 1024 float64 batch-norm
# backward (2-core VM, other work running): ~22 ms on one thread, ~14 ms on two
# (benchmarks/README.md).
# Small arrays stay on one thread: there a call costs microseconds and handing
# work to a thread costs tens of them.

THREADS = int(os.environ.get("CS231N_NORM_THREADS", 0)) or min(os.cpu_count() or 1, 4)
"""How many threads :func:`parallel_row_blocks` uses, the calling one included (1: no
helper threads). Default min(cpu_count, 4); the environment variable CS231N_NORM_THREADS
overrides it at import, and tests set this constant."""

PARALLEL_MIN_BYTES = 1 << 22
"""Arrays smaller than this (4 MiB: 512 x 1024 float64) are processed whole, on the calling thread."""

ROW_PIECES = 4
"""Larger arrays are cut into this many row ranges, at every thread count (so that sums
of per-range partial sums do not depend on it); hence at most this many threads work."""

_pools = {}  # number of helper threads -> its persistent ThreadPoolExecutor
_pools_lock = threading.Lock()


def _thread_pool(helpers):
    """A persistent pool of `helpers` threads (made at first use, then kept)."""
    with _pools_lock:
        if helpers not in _pools:
            _pools[helpers] = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="cs231n_norm")
        return _pools[helpers]


def _forget_pools_after_fork():
    # A forked child has none of the parent's threads: it must start pools of its own.
    global _pools, _pools_lock
    _pools, _pools_lock = {}, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


def parallel_row_blocks(work, *arrays, threads=None, min_bytes=None):
    """Call ``work(*row_block_of_each_array)`` on consecutive row ranges, in threads.

    Above `min_bytes` (first array), the rows are split into :data:`ROW_PIECES`
    ranges of (nearly) equal size, whatever the number of threads; the calling
    thread and up to ``threads - 1`` helper threads of a persistent pool each take
    the next range nobody has taken yet. The results come back in row order, so
    whatever is done with them (partial sums added, say) gives the same numbers,
    bit for bit, at every thread count. Below `min_bytes` (or with one row), `work`
    runs once, on the whole arrays, on the calling thread.

    Parameters
    ----------
    work : callable taking one row block of each array; it must treat rows independently
    arrays : ndarrays with the same number of rows (a result array among them is fine:
        each call writes only its own rows)
    threads : int, default :data:`THREADS`
    min_bytes : int, default :data:`PARALLEL_MIN_BYTES`

    Returns
    -------
    list of the results of `work`, one per row range, top to bottom
    """
    min_bytes = PARALLEL_MIN_BYTES if min_bytes is None else min_bytes
    rows = len(arrays[0])
    if arrays[0].nbytes < min_bytes or rows < 2:
        return [work(*arrays)]
    pieces = min(ROW_PIECES, rows)
    bounds = [rows * k // pieces for k in range(pieces + 1)]
    blocks = [[a[start:stop] for a in arrays] for start, stop in zip(bounds[:-1], bounds[1:])]
    results = [None] * pieces
    untaken = iter(range(pieces))  # next() on a range iterator is atomic under the GIL

    def take_blocks():
        for k in untaken:
            results[k] = work(*blocks[k])

    # The calling thread works too. When another process holds a core (and with
    # it one of our helpers), the calling thread takes that helper's blocks as well.
    threads = max(1, min(THREADS if threads is None else threads, pieces))
    helpers = [_thread_pool(threads - 1).submit(take_blocks) for _ in range(threads - 1)]
    take_blocks()
    for helper in helpers:
        helper.result()
    return results


def parallel_elementwise(expression, *arrays, evaluate=in_one_new_array, threads=None, min_bytes=None):
    """An elementwise `expression(*arrays)` with the rows split among threads.

    Each thread evaluates `expression` on its rows with `evaluate`
    (:func:`in_one_new_array` or :func:`in_row_blocks`) and writes them into one
    shared result array: the numbers are those of the plain expression, bit for
    bit. `expression` must treat rows independently (per-feature constants are
    fine; per-row values must be passed in `arrays`).

    Returns
    -------
    ndarray, the value of the expression
    """
    if arrays[0].nbytes < (PARALLEL_MIN_BYTES if min_bytes is None else min_bytes) or len(arrays[0]) < 2:
        return evaluate(expression, *arrays)
    first_row = expression(*(a[:1] for a in arrays))  # the result's dtype and row shape
    result = np.empty((len(arrays[0]),) + first_row.shape[1:], dtype=first_row.dtype)
    parallel_row_blocks(
        lambda *blocks: evaluate(expression, *blocks[:-1], out=blocks[-1]),
        *arrays, result, threads=threads, min_bytes=min_bytes,
    )
    return result


def column_sums(a, b, threads=None, min_bytes=None):
    """``(a.sum(axis=0), (a * b).sum(axis=0))`` for 2-D arrays, without the array ``a * b``.

    The affine gradients of a normalization layer: dbeta and dgamma for a = dout,
    b = x_hat. Above the size threshold, the rows are summed in :data:`ROW_PIECES`
    ranges (in threads) and the partial sums added in row order: the same numbers
    at every thread count, rounded a little differently from one whole-array sum.
    """
    parts = parallel_row_blocks(
        lambda a, b: (a.sum(axis=0), np.einsum("ij,ij->j", a, b)), a, b, threads=threads, min_bytes=min_bytes
    )
    sums, sums_of_products = parts[0]
    for part_sums, part_products in parts[1:]:
        sums, sums_of_products = sums + part_sums, sums_of_products + part_products
    return sums, sums_of_products
