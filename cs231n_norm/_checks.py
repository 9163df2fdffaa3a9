"""Input validation shared by every public function.

Every check raises an error whose message names the argument, what it got and
what it needs, so a learner can fix the call without reading this file.
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def describe(value, limit=80):
    """Short description of a value for an error message: shape and dtype for arrays.

    Other values are shown by their repr, cut to about `limit` characters (the repr
    of a cache holds whole arrays).
    """
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def float_array(name, value, ndim=None, dtype=None):
    """Return `value` as a float32/float64 ndarray, or raise a clear error.

    Integer, boolean, complex and object arrays are rejected rather than silently
    converted: an integer input usually means the caller forgot ``.astype(float)``.
    With `dtype` given, the array is converted to that floating dtype (used to
    bring gamma and beta to the dtype of x). The input is never modified.
    """
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (list, tuple, numbers.Real)) and not isinstance(value, bool):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers, got {describe(value)}") from None
        if array.dtype.kind in "iu":  # a Python list of ints is an honest float request
            array = array.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a numpy array, got {describe(value)}")
    if array.dtype.type not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got dtype {array.dtype}; "
            f"convert explicitly, e.g. {name}.astype(np.float64)"
        )
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return array


def same_shape(name, array, expected_shape):
    if array.shape != tuple(expected_shape):
        raise ValueError(f"{name} must have shape {tuple(expected_shape)}, got shape {array.shape}")


def finite_input(name, array, statistic=None):
    """Raise if `array` holds NaN or inf.

    `statistic` is an optional reduction of `array` already computed by the
    caller (a mean): when it is finite, so is every element (NaN and inf
    propagate through a sum), so the full scan is skipped.
    """
    if statistic is not None and np.isfinite(statistic).all():
        return
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or inf value(s) (first at index {first}, "
            f"value {array[first]}); normalization needs finite input"
        )
    if statistic is not None:
        raise ValueError(
            f"{name} has values too large to normalize in {array.dtype} "
            f"(largest magnitude {np.abs(array).max()}): the mean overflows"
        )


def axes_for(name, axes, ndim):
    """`axes` as a tuple of distinct axes in 0..ndim-1 (a single int is accepted)."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = (int(axes),)
    valid = (
        isinstance(axes, tuple)
        and len(axes) > 0
        and len(set(axes)) == len(axes)
        and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and 0 <= a < ndim for a in axes)
    )
    if not valid:
        raise ValueError(f"{name} must be a tuple of distinct axes in 0..{ndim - 1} (x has {ndim} dimensions), got {describe(axes)}")
    return axes


def positive_number(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {describe(value)}")
    return float(value)


def number_in_unit_interval(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {describe(value)}")
    return float(value)


def param_dict(name, value):
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {describe(value)}")
    return value


def optional_mode(name, param):
    """For layers that behave the same in train and test mode: accept a 'mode' key
    (a network sets it on every layer's param dict) but reject a misspelt one."""
    if "mode" in param and param["mode"] not in ("train", "test"):
        raise ValueError(f"{name}['mode'] must be 'train' or 'test' when given, got {param['mode']!r}")


def mode_of(name, param):
    if "mode" not in param:
        raise ValueError(f"{name}['mode'] is required: 'train' or 'test'; got keys {list(param)}")
    mode = param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(f"{name}['mode'] must be 'train' or 'test', got {mode!r}")
    return mode
