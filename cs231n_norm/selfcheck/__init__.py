"""Self-checks for the exercises: run your functions, compare, and *name* the mistake.

The classic check prints ``dx error: 0.66`` and leaves you to guess. These
checks run your functions on inputs chosen to make each common mistake show
(several shapes, including N == D and N != D; per-feature offsets and scales;
a feature of tiny variance; random gamma, beta and dout; a param dict that
sets its own eps, and one that sets its own momentum; several training steps;
test mode, with a feature of tiny running variance), compare everything with
the package's reference layers, and, when something differs, match the
symptoms against the catalogue in :mod:`cs231n_norm.mistakes`.

Each check returns a :class:`Report`: ``report.passed``, ``report.mistakes``
(catalogue ids, most likely first), an explanation of each (what was seen, the
likely cause, where to look), and the measured errors. It prints as plain text
and renders as HTML in Jupyter. A broken function never crashes a check: an
exception, a None, a wrong shape or dtype, or a modified input becomes part of
the report. Results may be float64 or float32 (computed in float32 on purpose);
any other dtype is reported, and the tolerance is never looser than float32's.
A function that still returns None (CS231n's skeleton) is reported as
"not implemented yet".

Your functions follow CS231n's conventions::

    out, cache = forward(x, gamma, beta, param)     # group norm: forward(x, gamma, beta, G, gn_param)
    dx, dgamma, dbeta = backward(dout, cache)       # cache: whatever your forward returned

Examples
--------
>>> from cs231n_norm.selfcheck import check_batchnorm_forward
>>> from cs231n_norm.layers import batchnorm_forward
>>> check_batchnorm_forward(batchnorm_forward).passed
True
"""

from ..mistakes import CATALOGUE, IDS, mistake
from .engine import (
    BatchNorm,
    GroupNorm,
    LayerNorm,
    Session,
    SpatialBatchNorm,
    classic_check,
    diagnose_backward,
    diagnose_forward,
    run_forward,
    running_section,
    same_in_test_mode,
    train_probes,
)
from .report import Finding, Report

__all__ = [
    "CATALOGUE",
    "IDS",
    "Finding",
    "Report",
    "check_batchnorm_backward",
    "check_batchnorm_forward",
    "check_groupnorm",
    "check_layernorm",
    "check_spatial_batchnorm",
    "mistake",
]


def _callable(name, value, required=True):
    if value is None and not required:
        return
    if not callable(value):
        raise TypeError(f"{name} must be a function (your implementation), got {type(value).__name__} {value!r:.60}")


INTERNAL_ERROR = "the check itself stopped on an unexpected result from your functions"


def _own_name(function):
    """The learner's name for `function`, or None for a lambda or a partial."""
    name = getattr(function, "__name__", None)
    return name if name and name.isidentifier() else None


def _title(default, *functions):
    """The report's title: the learner's function names when they have them."""
    names = [_own_name(f) for f in functions if f is not None]
    return " + ".join(names) if all(names) else default


def _check(exercise, layer, forward, backward, running):
    """Run one check; a result the engine did not foresee still gives a report, never a crash."""
    # findings name the learner's functions as the learner named them (batchnorm_backward_alt, ...)
    layer.forward_name = _own_name(forward) or layer.forward_name
    layer.backward_name = _own_name(backward) or layer.backward_name
    session = Session(_title(exercise, forward, backward), layer)
    try:
        return _run_check(session, layer, forward, backward, running)
    except Exception as exc:  # noqa: BLE001 - a check must never crash on learner code
        session.unexplained.append(f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc}); please report this")
        return session.report()


def _run_check(session, layer, forward, backward, running):
    """Train-mode forward first; everything else is judged only once it is right."""
    runs = train_probes(session, forward, backward)
    if runs is None:
        return session.report()
    if not diagnose_forward(session, runs):
        later = (["the running statistics", "test mode"] if running else []) + \
            (["the gradients"] if backward is not None else [])
        if later:
            session.notes.append(
                f"{' and '.join(later)} will be checked once {layer.forward_name} gives the right "
                "train-mode output (they depend on it)"
            )
        return session.report()
    if running:
        running_section(session, forward)
    if isinstance(layer, LayerNorm):
        same_in_test_mode(session, forward)
    if session.not_implemented is None and backward is not None:
        diagnose_backward(session, runs)
        if not session.report().passed:
            classic_check(session, forward, backward, runs[0])
    return session.report()


def check_batchnorm_forward(forward):
    """Check a batch-norm forward pass: train mode, running statistics, test mode.

    Parameters
    ----------
    forward : function ``out, cache = forward(x, gamma, beta, bn_param)`` with
        x of shape (N, D), gamma and beta of shape (D,), and bn_param a dict
        holding 'mode' ('train' or 'test'), optionally 'eps', 'momentum',
        'running_mean' and 'running_var' (CS231n's conventions: biased
        variance, ``running = momentum * running + (1 - momentum) * batch``,
        running statistics start at zero and are written back into bn_param)

    Returns
    -------
    Report
    """
    _callable("forward", forward)
    return _check("batchnorm_forward", BatchNorm(), forward, None, running=True)


def check_batchnorm_backward(forward, backward):
    """Check a batch-norm backward pass (staged or simplified) with your own forward's cache.

    Your forward runs in train mode first (its output must be right for the
    gradients to be judged); your backward gets back whatever cache it returned.

    Parameters
    ----------
    forward : function ``out, cache = forward(x, gamma, beta, bn_param)``
    backward : function ``dx, dgamma, dbeta = backward(dout, cache)``, dx of
        shape (N, D), dgamma and dbeta of shape (D,)

    Returns
    -------
    Report
    """
    _callable("forward", forward)
    _callable("backward", backward)
    return _check("batchnorm_backward", BatchNorm(), forward, backward, running=False)


def check_layernorm(forward, backward=None):
    """Check a layer-norm forward pass and (when given) its backward pass.

    Parameters
    ----------
    forward : function ``out, cache = forward(x, gamma, beta, ln_param)``, x of
        shape (N, D), gamma and beta of shape (D,), ln_param a dict with
        optional 'eps' (and possibly a 'mode', which layer norm ignores)
    backward : function ``dx, dgamma, dbeta = backward(dout, cache)``, or None
        to check the forward pass only

    Returns
    -------
    Report
    """
    _callable("forward", forward)
    _callable("backward", backward, required=False)
    name = "layernorm_forward" if backward is None else "layernorm"
    return _check(name, LayerNorm(), forward, backward, running=False)


def check_spatial_batchnorm(forward, backward=None):
    """Check spatial batch norm (per-channel statistics over N, H, W).

    Parameters
    ----------
    forward : function ``out, cache = forward(x, gamma, beta, bn_param)``, x of
        shape (N, C, H, W), gamma and beta of shape (C,), bn_param as for batch norm
    backward : function ``dx, dgamma, dbeta = backward(dout, cache)``, or None

    Returns
    -------
    Report
    """
    _callable("forward", forward)
    _callable("backward", backward, required=False)
    return _check("spatial_batchnorm", SpatialBatchNorm(), forward, backward, running=True)


def check_groupnorm(forward, backward=None):
    """Check group normalization (G contiguous groups of channels per example).

    Parameters
    ----------
    forward : function ``out, cache = forward(x, gamma, beta, G, gn_param)``, x
        of shape (N, C, H, W), gamma and beta of shape (1, C, 1, 1)
    backward : function ``dx, dgamma, dbeta = backward(dout, cache)`` (dgamma,
        dbeta of shape (1, C, 1, 1)), or None

    Returns
    -------
    Report
    """
    _callable("forward", forward)
    _callable("backward", backward, required=False)
    return _check("spatial_groupnorm", GroupNorm(), forward, backward, running=False)
