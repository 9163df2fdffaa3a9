"""Layers with CS231n's calling conventions: ``out, cache = *_forward(...)`` and
``grads = *_backward(dout, cache)``.

Every normalization layer is a thin wrapper around :mod:`cs231n_norm.core`
that chooses the axes. Batch norm and layer norm can also keep their staged
computational graph (:mod:`cs231n_norm.graph`), which is what the staged
backward pass walks. Inputs are never modified; the only thing written is the
running statistics in ``bn_param``.

Two rules hold for every layer here:

* dtype: a layer computes in the dtype of its data, ``x`` in a forward pass and
  the forward's ``x`` (kept in the cache) in a backward pass. Every other float
  argument (gamma, beta, w, b, dout, stored running statistics) is converted to
  that dtype, so float32 data give float32 results even with float64 parameters
  or a float64 dout, and float64 data float64 results even with float32 ones.
  (The running statistics that a train-mode pass writes back are
  ``momentum * old + (1 - momentum) * batch``, in numpy's promotion of the two.)
* NaN and inf: x, gamma, beta, w, b, stored running statistics and the upstream
  gradient dout are checked, and NaN or inf in them is reported naming the
  argument. The check of a large array reuses a small one the layer computes
  anyway and that a NaN or inf necessarily poisons (the variance of x, the
  column sums dbeta = dout.sum(0)), so it costs next to nothing; when that small
  array is not finite although the input is, the input's values are too large
  for its dtype, and that is reported. Exception: relu_backward, which has no
  such sum (a full scan would cost ~15% of the call); a NaN in its dout reaches
  dx (NaN * 0 is NaN) and is reported by the next backward pass.
  The core (:func:`~cs231n_norm.core.normalize`, ``normalize_backward``) and
  :func:`update_running_stats` do not check for NaN: the sweep trainer relies on
  a diverging net's NaN staying in its own slice.
"""

import numpy as np

from . import _checks as check
from .core import (
    NormCache,
    column_sums,
    normalize,
    normalize_backward,
    parallel_elementwise,
)
from .graph import normalization_graph

# ------------------------------------------------------------------ helpers


def _cache_of(cache, layer, function):
    if not isinstance(cache, NormCache):
        raise TypeError(
            f"cache must be the cache returned by {layer}_forward, got {check.describe(cache)}"
        )
    if cache.layer != layer:
        raise ValueError(
            f"cache comes from {cache.layer}_forward, but {function} needs the cache of {layer}_forward"
        )
    return cache


def _upstream(dout, cache):
    """dout, validated and in the dtype of the forward's x (see the module's dtype rule)."""
    dout = check.float_array("dout", dout)
    check.same_shape("dout", dout, cache.extra["x_shape"])
    return dout.astype(cache.x_hat.dtype, copy=False)


def _finite_test_mode(x, x_hat):
    """Raise if x held NaN or inf, or values that overflow once normalized with the running
    statistics (a large x over a tiny running variance). The sum of x_hat over the batch
    is not finite in either case; it costs the same pass over memory as np.isfinite(x)."""
    check.finite_input(
        "x", x, statistic=x_hat.sum(axis=0),
        overflow="normalized with the running statistics (x - running_mean) / sqrt(running_var + eps), "
                 "they overflow",
    )


def _finite_upstream(dout, *sums, names="the parameter gradients"):
    """Raise if dout held NaN or inf. `sums` are the parameter gradients the backward
    pass has computed (dbeta = dout summed over the batch, dgamma; `names` says which):
    small arrays that are not finite when dout is not, or when its values are too large to sum."""
    check.finite_input(
        "dout", dout, statistic=sums, needs="the backward pass needs a finite upstream gradient",
        task="backpropagate", overflow=f"its sums over the batch ({names}) overflow",
    )


# ------------------------------------------------------------------ running statistics


def update_running_stats(bn_param, batch_mean, batch_var, count):
    """Write the new running mean and variance into `bn_param`.

    ``running = momentum * running + (1 - momentum) * batch`` (CS231n's convention:
    momentum is the weight of the *old* value). The variance is the biased
    batch variance (1/count), unless ``bn_param['running_var_unbiased']`` is true,
    in which case it is rescaled by count / (count - 1) as PyTorch does.
    New arrays are stored; the arrays previously in `bn_param` are not modified.
    NaN is not checked for here (the sweep trainer relies on that); the layers check
    the stored statistics before they call this.

    Parameters
    ----------
    bn_param : dict, as for :func:`batchnorm_forward`
    batch_mean, batch_var : ndarray, shape (D,): the statistics of this batch
        (batch_var biased, 1/count)
    count : int, how many values each statistic was taken over (N, or N*H*W)
    """
    bn_param = check.param_dict("bn_param", bn_param)
    momentum = check.number_in_unit_interval("bn_param['momentum']", bn_param.get("momentum", 0.9))
    batch_mean = check.float_array("batch_mean", batch_mean)
    batch_var = check.float_array("batch_var", batch_var)
    check.same_shape("batch_var", batch_var, batch_mean.shape)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2:
        raise ValueError(f"count must be an integer >= 2 (values per statistic), got {check.describe(count)}")
    if bn_param.get("running_var_unbiased", False):
        batch_var = batch_var * (count / (count - 1))
    for key, batch in (("running_mean", batch_mean), ("running_var", batch_var)):
        old = bn_param.get(key)
        if old is None:  # CS231n starts both at zero; see pytorch_bn_param for PyTorch's start
            old = np.zeros_like(batch)
        else:
            old = check.float_array(f"bn_param['{key}']", old)
            check.same_shape(f"bn_param['{key}']", old, batch.shape)
        bn_param[key] = momentum * old + (1 - momentum) * batch


def pytorch_bn_param(num_features, momentum=0.1, eps=1e-5, dtype=np.float64):
    """A ``bn_param`` that reproduces ``torch.nn.BatchNorm1d(num_features, eps, momentum)``.

    PyTorch and CS231n differ in two conventions:

    * momentum: PyTorch's ``momentum`` is the weight of the *new* batch value,
      ``running = (1 - momentum) * running + momentum * batch``, so PyTorch's 0.1
      is our 0.9;
    * running variance: PyTorch stores the *unbiased* batch variance
      (1/(N-1)) in ``running_var`` (it still normalizes the batch with the
      biased one), and starts it at ones rather than zeros.

    Returns
    -------
    dict with mode 'train', eps, momentum = 1 - `momentum`, running_mean zeros,
    running_var ones, running_var_unbiased True.
    """
    if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
        raise ValueError(f"num_features must be a positive integer, got {check.describe(num_features)}")
    if np.dtype(dtype).type not in check.FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    momentum = check.number_in_unit_interval("momentum", momentum)
    return {
        "mode": "train",
        "eps": check.positive_number("eps", eps),
        "momentum": 1.0 - momentum,
        "running_mean": np.zeros(num_features, dtype=dtype),
        "running_var": np.ones(num_features, dtype=dtype),
        "running_var_unbiased": True,
    }


def _bn_settings(bn_param, features, dtype):
    """Validate bn_param; return (mode, eps) and check any stored running statistics."""
    bn_param = check.param_dict("bn_param", bn_param)
    mode = check.mode_of("bn_param", bn_param)
    eps = check.positive_number("bn_param['eps']", bn_param.get("eps", 1e-5))
    check.number_in_unit_interval("bn_param['momentum']", bn_param.get("momentum", 0.9))
    for key, default in (("running_var_unbiased", False), ("keep_graph", True)):
        check.flag(f"bn_param['{key}']", bn_param.get(key, default))
    for key in ("running_mean", "running_var"):
        if bn_param.get(key) is not None:
            stat = check.float_array(f"bn_param['{key}']", bn_param[key])
            check.same_shape(f"bn_param['{key}']", stat, (features,))
            check.finite_input(
                f"bn_param['{key}']", stat,
                needs="running statistics must be finite (a diverged training run leaves NaN in them)",
            )
            if key == "running_var" and not (stat >= 0).all():
                raise ValueError(f"bn_param['running_var'] must be >= 0 everywhere (a variance), got minimum {stat.min()}")
        elif mode == "test":
            raise ValueError(
                f"bn_param['{key}'] is missing: test mode normalizes with the running statistics, "
                "so run the layer in 'train' mode first"
            )
    return mode, eps


# ------------------------------------------------------------------ batch normalization


def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass for batch normalization.

    Train mode normalizes each feature with the mean and biased variance of the
    batch and updates the running statistics in `bn_param`; test mode
    normalizes with the running statistics.

    Parameters
    ----------
    x : ndarray, shape (N, D), float32 or float64
    gamma, beta : ndarray, shape (D,): scale and shift
    bn_param : dict
        mode : 'train' or 'test' (required)
        eps : float > 0, default 1e-5
        momentum : float in [0, 1], default 0.9:
            ``running = momentum * running + (1 - momentum) * batch``
        running_mean, running_var : ndarray, shape (D,), written back in train mode
        running_var_unbiased : bool, default False (True: PyTorch's convention)
        keep_graph : bool, default True: keep the staged graph in the cache
            (needed by :func:`batchnorm_backward`; :func:`batchnorm_backward_alt`
            works without it, from a much smaller cache)

    Returns
    -------
    out : ndarray, shape (N, D), dtype of x
    cache : NormCache for batchnorm_backward / batchnorm_backward_alt
    """
    x = check.float_array("x", x, ndim=2)
    check.not_empty("x", x)
    N, D = x.shape
    gamma, beta = check.scale_and_shift(x, gamma, beta, (D,))
    mode, eps = _bn_settings(bn_param, D, x.dtype)
    extra = {"x_shape": x.shape}

    if mode == "test":
        inv_std = 1 / np.sqrt(np.asarray(bn_param["running_var"], dtype=x.dtype) + eps)
        x_hat = (x - np.asarray(bn_param["running_mean"], dtype=x.dtype)) * inv_std
        _finite_test_mode(x, x_hat)
        return gamma * x_hat + beta, NormCache("batchnorm", "test", x_hat, inv_std, gamma, (0,), None, extra)

    if N < 2:
        raise ValueError(f"x must hold at least 2 examples in train mode (the batch variance of one is 0), got shape {x.shape}")
    if bn_param.get("keep_graph", True):
        graph = normalization_graph(x, gamma, beta, eps, axis=0)  # checks x for NaN, inf, overflow
        mean, var, inv_std = graph["mu"].value, graph["var"].value, graph["inv_std"].value
        x_hat, out = graph["x_hat"].value, graph["out"].value
    else:
        graph = None
        x_hat, mean, var, inv_std = normalize(x, (0,), eps)
        check.finite_input("x", x, statistic=var)  # NaN, inf or overflow make the variance not finite
        out = gamma * x_hat
        out += beta  # in place: one large new array instead of two
    update_running_stats(bn_param, mean[0], var[0], N)
    return out, NormCache("batchnorm", "train", x_hat, inv_std, gamma, (0,), graph, extra)


def batchnorm_backward(dout, cache):
    """Staged backward pass for batch normalization: walk the graph node by node.

    Parameters
    ----------
    dout : ndarray, shape (N, D): upstream gradient
    cache : from :func:`batchnorm_forward` (with the default ``keep_graph=True``)

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)
    """
    cache = _cache_of(cache, "batchnorm", "batchnorm_backward")
    dout = _upstream(dout, cache)
    if cache.mode == "test":
        return _test_mode_backward(dout, cache)
    if cache.graph is None:
        raise ValueError(
            "cache has no staged graph (batchnorm_forward ran with bn_param['keep_graph'] = False); "
            "use batchnorm_backward_alt, or run the forward with keep_graph=True"
        )
    grads = cache.graph.backward(dout)
    _finite_upstream(dout, grads["beta"], grads["gamma"])
    return grads["x"], grads["gamma"], grads["beta"]


def batchnorm_backward_alt(dout, cache):
    """Simplified (closed-form) backward pass for batch normalization.

    With x_hat the normalized input, the gradients are::

        dbeta  = sum_i dout
        dgamma = sum_i dout * x_hat
        dx     = gamma * inv_std * (dout - (dbeta / N + x_hat * dgamma / N))

    The dx line is the core's closed form with dL/dx_hat = gamma * dout, where
    gamma (constant over the batch) is pulled out of the batch means, which then
    are dbeta / N and dgamma / N: no extra pass over the data.

    Parameters
    ----------
    dout : ndarray, shape (N, D)
    cache : from :func:`batchnorm_forward` (either value of keep_graph)

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)
    """
    cache = _cache_of(cache, "batchnorm", "batchnorm_backward_alt")
    dout = _upstream(dout, cache)
    if cache.mode == "test":
        return _test_mode_backward(dout, cache)
    x_hat, N = cache.x_hat, dout.shape[0]
    # Both sums in one call; on large arrays each thread sums its own rows (core.column_sums).
    dbeta, dgamma = column_sums(dout, x_hat)
    _finite_upstream(dout, dbeta, dgamma)
    scale, mean_dout, mean_dout_x_hat = cache.gamma * cache.inv_std[0], dbeta / N, dgamma / N
    dx = parallel_elementwise(lambda dout, x_hat: scale * (dout - (mean_dout + x_hat * mean_dout_x_hat)), dout, x_hat)
    return dx, dgamma, dbeta


def _test_mode_backward(dout, cache):
    """In test mode mean and variance are constants, so dx is just the affine map's."""
    dgamma = np.einsum("ij,ij->j", dout, cache.x_hat)
    dbeta = dout.sum(axis=0)
    _finite_upstream(dout, dbeta, dgamma)
    return dout * (cache.gamma * cache.inv_std), dgamma, dbeta


# ------------------------------------------------------------------ layer normalization


def _ln_settings(ln_param):
    ln_param = check.param_dict("ln_param", ln_param)
    check.optional_mode("ln_param", ln_param)
    check.flag("ln_param['keep_graph']", ln_param.get("keep_graph", True))
    return check.positive_number("ln_param['eps']", ln_param.get("eps", 1e-5))


def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass for layer normalization: each example normalized over its own features.

    Identical in train and test mode (no running statistics; any 'mode' key is ignored).

    Parameters
    ----------
    x : ndarray, shape (N, D)
    gamma, beta : ndarray, shape (D,)
    ln_param : dict with optional eps (default 1e-5) and keep_graph (default True)

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : NormCache for layernorm_backward
    """
    x = check.float_array("x", x, ndim=2)
    N, D = x.shape
    gamma, beta = check.scale_and_shift(x, gamma, beta, (D,))
    eps = _ln_settings(ln_param)
    if D < 2:
        raise ValueError(f"x must have at least 2 features for layer norm (the variance of one is 0), got shape {x.shape}")
    check.not_empty("x", x)
    if ln_param.get("keep_graph", True):
        graph = normalization_graph(x, gamma, beta, eps, axis=1)  # checks x for NaN, inf, overflow
        x_hat, inv_std, out = graph["x_hat"].value, graph["inv_std"].value, graph["out"].value
    else:
        graph = None
        x_hat, _, var, inv_std = normalize(x, (1,), eps)
        check.finite_input("x", x, statistic=var)  # NaN, inf or overflow make the variance not finite
        out = gamma * x_hat
        out += beta  # in place: one large new array instead of two
    return out, NormCache("layernorm", "train", x_hat, inv_std, gamma, (1,), graph, {"x_shape": x.shape})


def layernorm_backward(dout, cache):
    """Backward pass for layer normalization (closed form).

    The core's closed form with dL/dx_hat = gamma * dout, each row on its own::

        dbeta  = sum_i dout
        dgamma = sum_i dout * x_hat
        dx     = inv_std * (gamma * dout - mean_j(gamma * dout) - x_hat * mean_j(gamma * dout * x_hat))

    Unlike batch norm, gamma cannot be pulled out of the means: it varies along
    the features, which are what layer norm averages over. The two row means
    are computed first, for all rows at once; then dx is one elementwise formula.

    Parameters
    ----------
    dout : ndarray, shape (N, D)
    cache : from :func:`layernorm_forward`

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)
    """
    cache = _cache_of(cache, "layernorm", "layernorm_backward")
    dout = _upstream(dout, cache)
    x_hat, gamma, D = cache.x_hat, cache.gamma, dout.shape[1]
    dbeta, dgamma = column_sums(dout, x_hat)
    _finite_upstream(dout, dbeta, dgamma)
    # Row means of gamma * dout and of gamma * dout * x_hat, shape (N, 1); einsum forms no product array.
    mean_g = np.einsum("ij,j->i", dout, gamma)[:, None] / D
    mean_g_x_hat = np.einsum("ij,j,ij->i", dout, gamma, x_hat)[:, None] / D
    dx = parallel_elementwise(
        lambda dout, x_hat, inv_std, mean_g, mean_g_x_hat: inv_std * (gamma * dout - mean_g - x_hat * mean_g_x_hat),
        dout, x_hat, cache.inv_std, mean_g, mean_g_x_hat,
    )
    return dx, dgamma, dbeta


def layernorm_backward_staged(dout, cache):
    """Staged backward pass for layer normalization: the same graph walk as batch norm's."""
    cache = _cache_of(cache, "layernorm", "layernorm_backward_staged")
    dout = _upstream(dout, cache)
    if cache.graph is None:
        raise ValueError("cache has no staged graph (layernorm_forward ran with ln_param['keep_graph'] = False)")
    grads = cache.graph.backward(dout)
    _finite_upstream(dout, grads["beta"], grads["gamma"])
    return grads["x"], grads["gamma"], grads["beta"]


# ------------------------------------------------------------------ RMS normalization


def rmsnorm_forward(x, gamma, rms_param):
    """RMSNorm: layer norm without the mean, ``gamma * x / sqrt(mean(x^2) + eps)``.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    gamma : ndarray, shape (D,)
    rms_param : dict with optional eps (default 1e-5)

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : NormCache for rmsnorm_backward
    """
    x = check.float_array("x", x, ndim=2)
    check.not_empty("x", x)
    N, D = x.shape
    gamma = check.parameter("gamma", gamma, x.dtype, (D,), "the scale gamma")
    eps = check.positive_number("rms_param['eps']", check.param_dict("rms_param", rms_param).get("eps", 1e-5))
    check.optional_mode("rms_param", rms_param)
    x_hat, _, mean_square, inv_rms = normalize(x, (1,), eps, center=False)
    check.finite_input("x", x, statistic=mean_square, overflow="its mean square overflows")
    return gamma * x_hat, NormCache("rmsnorm", "train", x_hat, inv_rms, gamma, (1,), None, {"x_shape": x.shape})


def rmsnorm_backward(dout, cache):
    """Backward pass for RMSNorm. Returns dx of shape (N, D) and dgamma of shape (D,)."""
    cache = _cache_of(cache, "rmsnorm", "rmsnorm_backward")
    dout = _upstream(dout, cache)
    dgamma = np.einsum("ij,ij->j", dout, cache.x_hat)
    _finite_upstream(dout, dgamma)
    dx = normalize_backward(cache.gamma * dout, cache.x_hat, cache.inv_std, (1,), center=False)
    return dx, dgamma


# ------------------------------------------------------------------ spatial batch normalization


def _nchw(x):
    return check.float_array("x", x, ndim=4)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization for images: one mean and variance per channel, over N, H and W.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    gamma, beta : ndarray, shape (C,)
    bn_param : dict, as for :func:`batchnorm_forward` (running statistics of shape (C,);
        keep_graph is ignored: the backward pass is the closed form)

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : NormCache for spatial_batchnorm_backward
    """
    x = _nchw(x)
    check.not_empty("x", x)
    N, C, H, W = x.shape
    gamma, beta = check.scale_and_shift(x, gamma, beta, (C,))
    mode, eps = _bn_settings(bn_param, C, x.dtype)
    per_channel = (1, C, 1, 1)
    extra = {"x_shape": x.shape}
    gamma4, beta4 = gamma.reshape(per_channel), beta.reshape(per_channel)
    if mode == "test":
        inv_std = 1 / np.sqrt(np.asarray(bn_param["running_var"], dtype=x.dtype).reshape(per_channel) + eps)
        x_hat = (x - np.asarray(bn_param["running_mean"], dtype=x.dtype).reshape(per_channel)) * inv_std
        _finite_test_mode(x, x_hat)
        return gamma4 * x_hat + beta4, NormCache("spatial_batchnorm", "test", x_hat, inv_std, gamma4, (0, 2, 3), None, extra)
    count = N * H * W
    if count < 2:
        raise ValueError(f"x must hold at least 2 values per channel in train mode (N*H*W >= 2), got shape {x.shape}")
    x_hat, mean, var, inv_std = normalize(x, (0, 2, 3), eps)
    check.finite_input("x", x, statistic=var)  # NaN, inf or overflow make the variance not finite
    update_running_stats(bn_param, mean.reshape(C), var.reshape(C), count)
    return gamma4 * x_hat + beta4, NormCache("spatial_batchnorm", "train", x_hat, inv_std, gamma4, (0, 2, 3), None, extra)


def spatial_batchnorm_backward(dout, cache):
    """Backward pass for spatial batch normalization.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H, W)
    cache : from :func:`spatial_batchnorm_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (C,)
    """
    cache = _cache_of(cache, "spatial_batchnorm", "spatial_batchnorm_backward")
    dout = _upstream(dout, cache)
    axes = (0, 2, 3)
    dgamma = np.einsum("nchw,nchw->c", dout, cache.x_hat)
    dbeta = np.einsum("nchw->c", dout)
    _finite_upstream(dout, dbeta, dgamma)
    if cache.mode == "test":
        return dout * cache.gamma * cache.inv_std, dgamma, dbeta
    dx = normalize_backward(cache.gamma * dout, cache.x_hat, cache.inv_std, axes)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------ group normalization


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalization: each example's channels split into G contiguous groups,
    each group normalized over its channels and all positions.

    G = 1 is layer norm over (C, H, W); G = C is instance norm. Channels
    0..C/G-1 form group 0, the next C/G group 1, and so on.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    gamma, beta : ndarray, shape (1, C, 1, 1): per-channel scale and shift
    G : int, number of groups, dividing C
    gn_param : dict with optional eps (default 1e-5)

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : NormCache for spatial_groupnorm_backward
    """
    x = _nchw(x)
    N, C, H, W = x.shape
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise ValueError(f"G must be a positive integer dividing the number of channels C={C}, got {check.describe(G)}")
    G = int(G)
    gamma, beta = check.scale_and_shift(x, gamma, beta, (1, C, 1, 1))
    eps = check.positive_number("gn_param['eps']", check.param_dict("gn_param", gn_param).get("eps", 1e-5))
    check.optional_mode("gn_param", gn_param)
    if C // G * H * W < 2:
        raise ValueError(f"each group must hold at least 2 values (C/G*H*W >= 2), got shape {x.shape} with G={G}")
    check.not_empty("x", x)
    grouped = x.reshape(N, G, -1)  # contiguous channels share a group
    x_hat, _, var, inv_std = normalize(grouped, (2,), eps)
    check.finite_input("x", x, statistic=var)  # NaN, inf or overflow make the variance not finite
    x_hat = x_hat.reshape(x.shape)
    extra = {"x_shape": x.shape, "G": G}
    return gamma * x_hat + beta, NormCache("spatial_groupnorm", "train", x_hat, inv_std, gamma, (2,), None, extra)


def spatial_groupnorm_backward(dout, cache):
    """Backward pass for group normalization.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H, W)
    cache : from :func:`spatial_groupnorm_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (1, C, 1, 1)
    """
    cache = _cache_of(cache, "spatial_groupnorm", "spatial_groupnorm_backward")
    dout = _upstream(dout, cache)
    N, C = dout.shape[:2]
    G = cache.extra["G"]
    dgamma = np.einsum("nchw,nchw->c", dout, cache.x_hat).reshape(1, C, 1, 1)
    dbeta = np.einsum("nchw->c", dout).reshape(1, C, 1, 1)
    _finite_upstream(dout, dbeta, dgamma)
    dx_hat = (cache.gamma * dout).reshape(N, G, -1)
    dx = normalize_backward(dx_hat, cache.x_hat.reshape(N, G, -1), cache.inv_std, (2,))
    return dx.reshape(dout.shape), dgamma, dbeta


# ------------------------------------------------------------------ affine, ReLU, softmax


def affine_forward(x, w, b):
    """Fully connected layer ``out = x.reshape(N, -1) @ w + b``.

    Parameters
    ----------
    x : ndarray, shape (N, d_1, ..., d_k) with d_1 * ... * d_k = D
    w : ndarray, shape (D, M), converted to x's dtype
    b : ndarray, shape (M,), converted to x's dtype

    Returns
    -------
    out : ndarray, shape (N, M), dtype of x
    cache : (x, w) for affine_backward
    """
    x = check.float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (N, ...), got shape {x.shape}")
    w = check.float_array("w", w, ndim=2, dtype=x.dtype)
    b = check.float_array("b", b, ndim=1, dtype=x.dtype)
    D = int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"w must have shape ({D}, M) to match x of shape {x.shape}, got shape {w.shape}")
    check.same_shape("b", b, (w.shape[1],))
    check.finite_input("x", x, needs="the layer needs finite input")
    check.finite_input("w", w, needs="the weights must be finite")
    check.finite_input("b", b, needs="the biases must be finite")
    return x.reshape(len(x), D) @ w + b, ("affine", x, w)


def affine_backward(dout, cache):
    """Backward pass for :func:`affine_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, M)
    cache : from affine_forward

    Returns
    -------
    dx : ndarray, shape of x
    dw : ndarray, shape (D, M)
    db : ndarray, shape (M,)
        all three in the dtype of the forward's x (dout is converted to it)
    """
    if not (isinstance(cache, tuple) and len(cache) == 3 and cache[0] == "affine"):
        raise TypeError(f"cache must be the cache returned by affine_forward, got {check.describe(cache)}")
    _, x, w = cache
    dout = check.float_array("dout", dout, dtype=x.dtype)
    check.same_shape("dout", dout, (len(x), w.shape[1]))
    db = dout.sum(axis=0)
    _finite_upstream(dout, db, names="db")
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(len(x), -1).T @ dout
    return dx, dw, db


def relu_forward(x):
    """ReLU ``max(0, x)``. x: any shape. Returns out (shape of x) and cache."""
    x = check.float_array("x", x)
    check.finite_input("x", x, needs="the layer needs finite input")
    return np.maximum(x, 0), ("relu", x)


def relu_backward(dout, cache):
    """Backward pass for ReLU. dout: shape of x. Returns dx (shape and dtype of x).

    dout is not scanned for NaN or inf: there is no sum to reuse, and a scan would
    cost ~15% of the call. A NaN or inf in dout reaches dx (even where x <= 0,
    as NaN * 0 and inf * 0 are NaN), and the next backward pass reports it.
    """
    if not (isinstance(cache, tuple) and len(cache) == 2 and cache[0] == "relu"):
        raise TypeError(f"cache must be the cache returned by relu_forward, got {check.describe(cache)}")
    x = cache[1]
    dout = check.float_array("dout", dout, dtype=x.dtype)
    check.same_shape("dout", dout, x.shape)
    return dout * (x > 0)


def softmax_loss(x, y):
    """Softmax cross-entropy loss, averaged over the batch.

    Parameters
    ----------
    x : ndarray, shape (N, C): class scores
    y : ndarray of int, shape (N,): labels, 0 <= y[i] < C

    Returns
    -------
    loss : float
    dx : ndarray, shape (N, C): gradient of the loss with respect to x
    """
    x = check.float_array("x", x, ndim=2)
    if len(x) == 0:
        raise ValueError(f"x must hold at least one example (the loss is a mean over the batch), got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"x must hold at least one class score per example, got shape {x.shape}")
    check.finite_input("x", x, needs="the loss needs finite scores")
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must be an integer array of labels, got dtype {y.dtype}; convert explicitly, e.g. y.astype(np.int64)")
    check.same_shape("y", y, (len(x),))
    if len(y) and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"y must hold labels in [0, {x.shape[1] - 1}], got values in [{y.min()}, {y.max()}]")
    shifted = x - x.max(axis=1, keepdims=True)  # softmax is shift-invariant; this avoids overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = len(x)
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return float(loss), dx / N
