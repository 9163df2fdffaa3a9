"""First-order update rules with CS231n's signature: ``next_w, config = rule(w, dw, config)``.

Each rule takes the current weights `w`, their gradient `dw` and a `config`
dict holding the hyperparameters and the rule's state (velocity, moments,
step count). It returns the new weights and the config to pass next time.
Missing config keys get CS231n's defaults.

`w` and `dw` are never modified. The state arrays in `config` are replaced
by new ones on every call, unless `out` is given: then the new weights are
written into `out` (which may be `w` itself) and the state arrays are updated
in place. That is what the sweep trainer does with its one flat buffer of all
parameters of all networks; the arithmetic is the same either way.

================  ==========================================================
rule              update
================  ==========================================================
sgd               w - lr * dw
sgd_momentum      v = mu * v - lr * dw;  w + v
adam              m = b1 m + (1 - b1) dw;  v = b2 v + (1 - b2) dw^2;
                  w - lr * m_hat / (sqrt(v_hat) + eps) with the bias-corrected
                  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
================  ==========================================================
"""

import numpy as np

from . import _checks as check

UPDATE_RULES = ("sgd", "sgd_momentum", "adam")


def _prepare(w, dw, config, defaults, out):
    """Validate the arguments and fill `config` with the defaults it lacks."""
    w = check.float_array("w", w)
    dw = check.float_array("dw", dw)
    check.same_shape("dw", dw, w.shape)
    if config is None:
        config = {}
    config = check.param_dict("config", config)
    for key, value in defaults.items():
        config.setdefault(key, value)
    check.positive_number("config['learning_rate']", config["learning_rate"])
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != w.shape or out.dtype != w.dtype:
            raise ValueError(f"out must be an array of shape {w.shape} and dtype {w.dtype}, got {check.describe(out)}")
    return w, dw, config


def _state(config, key, w, out):
    """The state array config[key] (zeros at first), as a private copy unless updating in place."""
    state = config.get(key)
    if state is None:
        return np.zeros_like(w)
    state = check.float_array(f"config['{key}']", state)
    check.same_shape(f"config['{key}']", state, w.shape)
    return state if out is not None else state.copy()


def sgd(w, dw, config=None, out=None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    Parameters
    ----------
    w, dw : ndarray, same shape: weights and their gradient
    config : dict or None
        learning_rate : float, default 1e-2
    out : ndarray or None, where to write the new weights (may be `w`)

    Returns
    -------
    next_w : ndarray, shape of w
    config : dict
    """
    w, dw, config = _prepare(w, dw, config, {"learning_rate": 1e-2}, out)
    step = config["learning_rate"] * dw
    return np.subtract(w, step, out=out), config


def sgd_momentum(w, dw, config=None, out=None):
    """SGD with momentum: the velocity ``v = momentum * v - learning_rate * dw``, then ``w + v``.

    Parameters
    ----------
    w, dw : ndarray, same shape
    config : dict or None
        learning_rate : float, default 1e-2
        momentum : float in [0, 1], default 0.9 (0 is plain sgd)
        velocity : ndarray, shape of w, default zeros
    out : ndarray or None, where to write the new weights (may be `w`)

    Returns
    -------
    next_w : ndarray, shape of w
    config : dict (with the new velocity)
    """
    w, dw, config = _prepare(w, dw, config, {"learning_rate": 1e-2, "momentum": 0.9}, out)
    momentum = check.number_in_unit_interval("config['momentum']", config["momentum"])
    v = _state(config, "velocity", w, out)
    v *= momentum
    v -= config["learning_rate"] * dw
    config["velocity"] = v
    return np.add(w, v, out=out), config


def adam(w, dw, config=None, out=None):
    """Adam: per-parameter step sizes from running averages of the gradient and its square.

    Parameters
    ----------
    w, dw : ndarray, same shape
    config : dict or None
        learning_rate : float, default 1e-3
        beta1 : float in [0, 1), default 0.9: decay of the first moment m
        beta2 : float in [0, 1), default 0.999: decay of the second moment v
        epsilon : float, default 1e-8
        m, v : ndarray, shape of w, default zeros
        t : int, steps taken so far, default 0
    out : ndarray or None, where to write the new weights (may be `w`)

    Returns
    -------
    next_w : ndarray, shape of w
    config : dict (with the new m, v and t)
    """
    defaults = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 0}
    w, dw, config = _prepare(w, dw, config, defaults, out)
    # beta = 1 would never let the moments move from 0, and divides by 1 - beta^t = 0
    beta1 = check.number_in_unit_interval("config['beta1']", config["beta1"], include_one=False)
    beta2 = check.number_in_unit_interval("config['beta2']", config["beta2"], include_one=False)
    eps = check.positive_number("config['epsilon']", config["epsilon"])
    m = _state(config, "m", w, out)
    v = _state(config, "v", w, out)
    t = config["t"] + 1

    # lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps), with the two
    # bias corrections folded into scalars so the arrays are touched fewer times
    step_size = float(config["learning_rate"] * np.sqrt(1 - beta2**t) / (1 - beta1**t))
    eps_hat = float(eps * np.sqrt(1 - beta2**t))
    result = out if out is not None else np.empty_like(w)
    for block in _blocks(w.size if out is not None and w.ndim == 1 else 0):
        _adam_step(w[block], dw[block], m[block], v[block], beta1, beta2, step_size, eps_hat, result[block])
    config.update(m=m, v=v, t=t)
    return result, config


def _blocks(size, block=32768):
    """Slices that cut a flat array of `size` into cache-sized blocks (one slice of all if size is 0).

    The sweep trainer's flat buffer holds ~1M parameters; in blocks of 32k the
    temporaries of :func:`_adam_step` stay in the CPU cache (measured 1.4x faster).
    """
    if size == 0:
        return [slice(None)]
    return [slice(start, start + block) for start in range(0, size, block)]


def _adam_step(w, dw, m, v, beta1, beta2, step_size, eps_hat, out):
    """One Adam step on arrays (or blocks of them): updates m and v in place, writes out."""
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * np.square(dw)
    denominator = np.sqrt(v)
    denominator += eps_hat
    step = np.divide(m, denominator, out=denominator)
    step *= step_size
    np.subtract(w, step, out=out)


def get_update_rule(update_rule):
    """The rule function for a name in UPDATE_RULES (a callable is returned as is)."""
    if callable(update_rule):
        return update_rule
    if update_rule not in UPDATE_RULES:
        raise ValueError(f"update_rule must be one of {UPDATE_RULES} or a callable, got {check.describe(update_rule)}")
    return globals()[update_rule]
