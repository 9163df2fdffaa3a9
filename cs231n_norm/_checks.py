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
    if isinstance(value, (np.matrix, np.ma.MaskedArray)):
        # np.matrix keeps two dimensions through every reduction, a masked array hides some
        # values: neither computes what the plain formulas say
        raise TypeError(f"{name} must be a plain numpy array, got {type(value).__name__}; "
                        f"pass np.asarray({name}) (for a masked array: {name}.filled(...) first)")
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


class NonFiniteError(ValueError, FloatingPointError):
    """NaN or inf in an input, or values so large that the computation overflows.

    A ValueError, like every complaint about an argument here. Also a
    FloatingPointError, so that code which treats overflow as a diverging
    computation (the training loop runs under ``np.errstate(over="raise")`` and
    catches FloatingPointError) treats it the same way: a net whose activations
    overflowed before a normalization layer has diverged, exactly as one whose
    elementwise arithmetic overflowed.
    """


def finite_input(
    name,
    array,
    statistic=None,
    needs="normalization needs finite input",
    task="normalize",
    overflow="its variance overflows",
):
    """Raise if `array` holds NaN or inf.

    Parameters
    ----------
    name : str, the argument's name for the message
    array : ndarray
    statistic : optional small array, or tuple of them, that the caller has computed
        from `array` anyway (a variance, the column sums dbeta = dout.sum(0), ...)
        and that any NaN or inf in `array` necessarily makes non-finite (NaN and inf
        propagate through sums and products). When it is finite, so is every element
        of `array`, and the full scan is skipped: the check costs next to nothing.
        When it is not finite although `array` is, the statistic overflowed: the
        values of `array` are too large for its dtype, and that is the error raised.
    needs : str, the end of the NaN message: what needs finite values
    task, overflow : the end of the overflow message, "`name` has values too large
        to `task` in <dtype> (largest magnitude ...): `overflow`"
    """
    if statistic is None:
        if np.isfinite(array).all():
            return
    else:
        statistics = statistic if isinstance(statistic, tuple) else (statistic,)
        if all(np.isfinite(s).all() for s in statistics):
            return
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(
            f"{name} contains {int(bad.sum())} NaN or inf value(s) (first at index {first}, "
            f"value {array[first]}); {needs}"
        )
    if statistic is not None:
        or_float64 = " or convert it to float64" if array.dtype == np.float32 else ""
        raise NonFiniteError(
            f"{name} has values too large to {task} in {array.dtype} "
            f"(largest magnitude {np.abs(array).max():.3g}): {overflow}. "
            f"Rescale {name} (divide it by a constant){or_float64}"
        )


def parameter(name, value, dtype, shape, what):
    """A layer's parameter (gamma, beta, ...): a finite float array of `shape`, converted to `dtype`.

    `what` names it in the message for NaN or inf ("the scale gamma").
    """
    given = float_array(name, value)
    same_shape(name, given, shape)
    finite_input(name, given, needs=f"{what} must be finite")
    if given.dtype == dtype:
        return given
    with np.errstate(over="ignore"):
        array = given.astype(dtype)
    if not np.isfinite(array).all():  # finite as given, too large for x's dtype
        raise NonFiniteError(f"{name} has values too large for {np.dtype(dtype)}, the dtype of x (largest "
                             f"magnitude {np.abs(given).max():.3g}); rescale it, or compute in float64")
    return array


def scale_and_shift(x, gamma, beta, shape):
    """gamma and beta of a normalization layer: finite arrays of `shape` in x's dtype."""
    return (parameter("gamma", gamma, x.dtype, shape, "the scale gamma"),
            parameter("beta", beta, x.dtype, shape, "the shift beta"))


def not_empty(name, array):
    """Raise if `array` has no elements (some axis of size 0)."""
    if array.size == 0:
        empty_axis = array.shape.index(0)
        raise ValueError(
            f"{name} must not be empty, got shape {array.shape} (axis {empty_axis} has size 0): "
            "there is nothing to normalize"
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


def number_in_unit_interval(name, value, include_one=True):
    """`value` as a float in [0, 1] (in [0, 1) with include_one=False), or a ValueError naming `name`."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not (0.0 <= value <= 1.0 if include_one else 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, {'1]' if include_one else '1)'}, got {describe(value)}")
    return float(value)


def decay_factor(name, value):
    """`value` as a float in (0, 1] (a factor applied to the learning rate every epoch)."""
    value = positive_number(name, value)
    if value > 1:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return value


def flag(name, value):
    """`value` as a bool: True, False (or numpy's bools), nothing else (a string like 'no' is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def param_dict(name, value):
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {describe(value)}")
    return value


def _mode_text(name, mode, when=""):
    """The error for a 'mode' value that is not 'train' or 'test' (checked as a str first:
    a numpy array would make ``mode in (...)`` ambiguous)."""
    if not isinstance(mode, str):
        return f"{name}['mode'] must be the string 'train' or 'test'{when}, got {describe(mode)}"
    return f"{name}['mode'] must be 'train' or 'test'{when}, got {mode!r}"


def optional_mode(name, param):
    """For layers that behave the same in train and test mode: accept a 'mode' key
    (a network sets it on every layer's param dict) but reject a misspelt one."""
    if "mode" in param:
        mode = param["mode"]
        if not isinstance(mode, str) or mode not in ("train", "test"):
            raise ValueError(_mode_text(name, mode, " when given"))


def mode_of(name, param):
    if "mode" not in param:
        raise ValueError(f"{name}['mode'] is required: 'train' or 'test'; got keys {list(param)}")
    mode = param["mode"]
    if not isinstance(mode, str) or mode not in ("train", "test"):
        raise ValueError(_mode_text(name, mode))
    return mode
