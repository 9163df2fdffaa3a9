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

from dataclasses import dataclass, field

import numpy as np

from . import _checks as check


@dataclass
class NormCache:
    """What a normalization forward pass hands to its backward pass.

    layer : str, which forward made it ('batchnorm', 'layernorm', ...)
    mode : str, 'train' (statistics from the input) or 'test' (stored statistics)
    x_hat : ndarray, the normalized input, same shape as the layer's (reshaped) input
    inv_std : ndarray, 1 / sqrt(var + eps), with size 1 along the reduced axes
    gamma : ndarray, the scale, broadcastable against x_hat
    axes : tuple of int, the axes the statistics were taken over
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


def in_row_blocks(expression, *arrays, block_bytes=1 << 16):
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

    Returns
    -------
    ndarray, shape and dtype of the first array
    """
    first = arrays[0]
    rows = len(first)
    row_bytes = max(1, first[0].nbytes if rows else 1)
    block = max(1, block_bytes // row_bytes)
    if block >= rows:
        return expression(*arrays)
    result = np.empty_like(first)
    for start in range(0, rows, block):
        stop = start + block
        result[start:stop] = expression(*(a[start:stop] for a in arrays))
    return result


def in_one_new_array(expression, *arrays, min_bytes=1 << 18):
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

    Returns
    -------
    ndarray, the value of the expression
    """
    if arrays[0].nbytes < min_bytes:
        return expression(*arrays)
    value = expression(*(_Operand(a, owned=False) for a in arrays))
    return value.array


class _Operand(np.lib.mixins.NDArrayOperatorsMixin):
    """An array inside :func:`in_one_new_array`; `owned`: an intermediate result we may overwrite."""

    REUSABLE = (np.add, np.subtract, np.multiply, np.true_divide, np.negative, np.positive)

    def __init__(self, array, owned):
        self.array, self.owned = array, owned

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
        return _Operand(ufunc(*values, out=out), owned=True)
