"""Numerical gradients by centred differences, and the relative error used to compare them.

Use float64: with h = 1e-5 the centred difference has truncation error ~h^2
and rounding error ~eps_machine / h, which is ~1e-11 in float64 but ~1e-2 in
float32.

Never check a layer with ``dout = ones``: the sum of a batch-norm output over
the batch does not depend on x at all (it is N * beta), so the true dx is 0 and
any dx that sums to zero per feature passes. Use a random upstream gradient.
"""

import warnings

import numpy as np

from ._checks import describe, float_array, positive_number


def rel_error(x, y):
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    for name, value in (("x", x), ("y", y)):
        if value is None:  # np.asarray(None, float) would be a 0-d NaN: "not computed yet", usually
            raise TypeError(f"rel_error needs two arrays of numbers, got {name} None (not computed yet?)")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs x and y of the same shape, got x {x.shape} and y {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def error_relative_to_largest(x, y):
    """Largest absolute difference relative to the largest entry: ``max|x - y| / max|y|``.

    :func:`rel_error` divides each entry's error by that entry's own size, so an
    entry of a gradient that happens to be tiny (0.001 next to entries of 1) turns a
    harmless rounding error of 1e-11 into a "relative error" of 1e-8. Measured against
    the scale of the whole array instead, a correct float64 gradient check gives
    ~1e-10 and a wrong formula 1e-2 or more, whatever the draw.

    Parameters
    ----------
    x : array, e.g. the analytic gradient
    y : array of the same shape, the reference (e.g. the numerical gradient)

    Returns
    -------
    float (0.0 when both are zero everywhere)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(
            f"error_relative_to_largest needs x and y of the same shape, got x {x.shape} and y {y.shape}"
        )
    difference = float(np.max(np.abs(x - y), initial=0.0))
    if difference == 0.0:
        return 0.0
    return difference / max(float(np.max(np.abs(y), initial=0.0)), 1e-300)


def _perturbable(x):
    """The array whose entries the numerical gradient nudges, and a snapshot to restore.

    Like CS231n's gradient checkers, the caller's own array is nudged (when it is a
    writable float ndarray), so `f` may read it through a closure instead of its
    argument: ``f = lambda _: model.loss(X, y)[0]`` with ``x = model.params['W1']``.
    """
    x = float_array("x", x)
    if not x.flags.writeable:
        x = x.copy()
    return x, x.copy()


def _warn_if_unseen(grad, x_given):
    """An all-zero gradient of a read-only x: `f` may read x through a closure and never see the nudges."""
    if isinstance(x_given, np.ndarray) and not x_given.flags.writeable and not grad.any():
        warnings.warn(
            "the numerical gradient is 0 everywhere and x is read-only: its entries were nudged in a "
            "writable copy, which f sees only through its argument; if f reads x some other way (a "
            "closure, a model's parameters), pass a writable array instead",
            RuntimeWarning, stacklevel=3,
        )


def eval_numerical_gradient(f, x, h=1e-5, *, verbose=False):
    """Gradient of a scalar function ``f(x)`` at `x` by centred differences.

    Each entry of `x` in turn is set to ``x + h`` and ``x - h`` (in place, so `f`
    may also see it through a closure, as in CS231n) and then restored; at the end
    `x` is exactly as it was, even if `f` raised or wrote into it.

    Parameters
    ----------
    f : callable, ndarray -> float
    x : ndarray, any shape, float
    h : float, the step
    verbose : bool, print each index and its gradient (CS231n's keyword)

    Returns
    -------
    grad : ndarray, same shape as x
    """
    h = positive_number("h", h)
    x_given = x
    x, snapshot = _perturbable(x)
    grad = np.zeros_like(x)
    try:
        for index in np.ndindex(x.shape):
            original = x[index]
            x[index] = original + h
            f_plus = float(f(x))
            x[index] = original - h
            f_minus = float(f(x))
            x[index] = original
            grad[index] = (f_plus - f_minus) / (2 * h)
            if verbose:
                print(index, grad[index])
    finally:
        np.copyto(x, snapshot)
    _warn_if_unseen(grad, x_given)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` at `x`: the vector-Jacobian product for upstream `df`.

    `x` is nudged in place and restored, as in :func:`eval_numerical_gradient`.

    Parameters
    ----------
    f : callable, ndarray -> ndarray of df's shape
    x : ndarray, any shape, float
    df : ndarray, shape of f(x): the upstream gradient
    h : float, the step; or an array of x's shape, one step per entry (for a
        function that bends on a different scale at each entry)

    Returns
    -------
    grad : ndarray, same shape as x. Neither `x` nor `df` is left modified.
    """
    df = float_array("df", df)
    x_given = x
    x, snapshot = _perturbable(x)
    if np.ndim(h) == 0:
        steps = np.full(x.shape, positive_number("h", h))
    else:
        steps = float_array("h", h)
        if steps.shape != x.shape or not (np.isfinite(steps).all() and (steps > 0).all()):
            raise ValueError(f"h must be a positive number or an array of positive steps of x's shape {x.shape}, got {describe(steps)}")
    grad = np.zeros_like(x)
    try:
        for index in np.ndindex(x.shape):
            original = x[index]
            h = steps[index]
            x[index] = original + h
            f_plus = np.array(f(x), dtype=np.float64)  # copy: f may return a view of x
            x[index] = original - h
            f_minus = np.array(f(x), dtype=np.float64)
            x[index] = original
            if f_plus.shape != df.shape:
                raise ValueError(f"f(x) has shape {f_plus.shape} but df has shape {df.shape}; they must match")
            grad[index] = np.sum((f_plus - f_minus) * df) / (2 * h)
    finally:
        np.copyto(x, snapshot)
    _warn_if_unseen(grad, x_given)
    return grad


def numerical_gradients(layer_output, arrays, dout, h=1e-5):
    """Numerical gradients of ``sum(layer_output(*arrays) * dout)`` with respect to each array.

    The three calls a layer's gradient check makes (notebook 02 writes them out), in one:
    each array in turn is nudged by :func:`eval_numerical_gradient_array` (on a copy)
    while the others stay fixed.

    Parameters
    ----------
    layer_output : callable taking the arrays positionally and returning the layer's
        output, e.g. ``lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]``
    arrays : dict name -> ndarray, in the order `layer_output` takes them, e.g.
        ``{"dx": x, "dgamma": gamma, "dbeta": beta}`` (the names are the result's keys)
    dout : ndarray, shape of the output: the upstream gradient
    h : float, the step

    Returns
    -------
    dict name -> ndarray, the numerical gradient, shape of that array
    """
    if not isinstance(arrays, dict) or not arrays:
        raise TypeError(f"arrays must be a non-empty dict of name -> array, got {describe(arrays)}")
    names = list(arrays)

    def output_with(name, value):
        return layer_output(*(value if other == name else arrays[other] for other in names))

    return {
        name: eval_numerical_gradient_array(lambda v, name=name: output_with(name, v),
                                            np.array(arrays[name], dtype=np.float64), dout, h)
        for name in names
    }
