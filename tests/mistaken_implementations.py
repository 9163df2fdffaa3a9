"""Learner-style implementations for testing cs231n_norm.selfcheck: right ones and wrong ones.

Written the way learners write them in CS231n's layers.py (not with the
package's core), so the self-check sees the same kind of code it will see in
the exercises. Each wrong one makes one catalogued mistake (the keyword that
switches it on is named after the mistake id); the right ones differ in style
(staged, simplified, float32, extra cache entries, tuple or dict caches,
the transpose trick) and must all pass.
"""

import numpy as np

# ---------------------------------------------------------------------- batch norm forward


def bn_forward(x, gamma, beta, bn_param, *, unbiased_variance=False, eps_outside_sqrt=False,
               batchnorm_wrong_axis=False, running_stats_not_saved=False, momentum_reversed=False,
               running_std_instead_of_var=False, running_var_unbiased=False,
               batch_stats_in_test_mode=False, running_stats_updated_in_test_mode=False,
               input_modified=False, raised_exception=False, wrong_return_value=False,
               eps_missing=False, ignores_eps=False, momentum_hard_coded=False,
               eps_missing_in_test_mode=False, eps_outside_sqrt_in_test_mode=False,
               running_stats_dtype=None, dict_cache=False, dtype=None):
    """CS231n-style batch-norm forward with a tuple (or dict) cache; keywords switch mistakes on.

    `dtype` computes in that dtype (np.float32: right; np.float16: wrong_output_dtype).
    """
    mode = bn_param["mode"]
    eps = bn_param["eps"] if raised_exception else bn_param.get("eps", 1e-5)  # CS231n's bn_param has no 'eps'
    if ignores_eps:
        eps = 1e-5
    momentum = 0.9 if momentum_hard_coded else bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if dtype is not None:
        x, gamma, beta = x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)

    if mode == "train" or batch_stats_in_test_mode:
        axis = 1 if batchnorm_wrong_axis else 0
        mu = x.mean(axis=axis)
        if input_modified:
            x -= mu  # in place: the caller's x changes
            xmu = x
        else:
            xmu = x - mu
        var = (xmu ** 2).sum(axis=axis) / (N - 1 if unbiased_variance else N)
        if eps_missing:
            std = np.sqrt(var)
        else:
            std = np.sqrt(var) + eps if eps_outside_sqrt else np.sqrt(var + eps)
        inv_std = 1 / std
        x_hat = xmu * inv_std
        out = gamma * x_hat + beta
        if mode == "train":
            stored_var = np.sqrt(var) if running_std_instead_of_var else var
            if running_var_unbiased:
                stored_var = var * N / (N - 1)
            if momentum_reversed:
                running_mean = (1 - momentum) * running_mean + momentum * mu
                running_var = (1 - momentum) * running_var + momentum * stored_var
            else:
                running_mean = momentum * running_mean + (1 - momentum) * mu
                running_var = momentum * running_var + (1 - momentum) * stored_var
        cache = (x_hat, gamma, xmu, inv_std, std, var, eps, x)
        if dict_cache:
            cache = {"x_hat": x_hat, "gamma": gamma, "xmu": xmu, "inv_std": inv_std, "std": std, "var": var,
                     "eps": eps, "x": x, "mu": mu, "N": N}
    elif mode == "test":
        if eps_missing or eps_missing_in_test_mode:
            std = np.sqrt(running_var)
        elif eps_outside_sqrt_in_test_mode:
            std = np.sqrt(running_var) + eps
        else:
            std = np.sqrt(running_var + eps)
        x_hat = (x - running_mean) / std
        out = gamma * x_hat + beta
        cache = None
        if running_stats_updated_in_test_mode:
            running_mean = momentum * running_mean + (1 - momentum) * x.mean(axis=0)
            running_var = momentum * running_var + (1 - momentum) * x.var(axis=0)
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

    if running_stats_dtype is not None:
        running_mean, running_var = running_mean.astype(running_stats_dtype), running_var.astype(running_stats_dtype)
    if not running_stats_not_saved:
        bn_param["running_mean"] = running_mean
        bn_param["running_var"] = running_var
    if wrong_return_value:
        return out
    return out, cache


def bn_forward_one_pass(x, gamma, beta, bn_param):
    """Correct, differently written: np.var with keepdims, one-pass style, extra cache entries in a dict."""
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    bn_param.setdefault("running_mean", np.zeros(D))
    bn_param.setdefault("running_var", np.zeros(D))
    if mode == "train":
        mean = np.mean(x, axis=0, keepdims=True)
        var = np.var(x, axis=0, keepdims=True)
        x_hat = (x - mean) / np.sqrt(var + eps)
        bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mean[0]
        bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var[0]
        cache = {"x": x, "x_hat": x_hat, "mean": mean, "var": var, "eps": eps, "gamma": gamma,
                 "beta": beta, "note": "extra entries are fine"}
    else:
        x_hat = (x - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + eps)
        cache = {"x_hat": x_hat, "gamma": gamma}
    return x_hat * gamma + beta, cache


def bn_forward_float32(x, gamma, beta, bn_param):
    """Correct, computed in float32."""
    return bn_forward(x, gamma, beta, bn_param, dtype=np.float32)


def bn_forward_float32_skeleton(x, gamma, beta, bn_param):
    """Correct, in float32 on purpose, written on CS231n's skeleton: the running statistics are
    read in x's dtype and stored back at the end in both modes (in test mode: the same values,
    rounded to float32)."""
    x, gamma, beta = (np.asarray(a, dtype=np.float32) for a in (x, gamma, beta))
    mode, eps, momentum = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D)).astype(x.dtype)
    running_var = bn_param.get("running_var", np.zeros(D)).astype(x.dtype)
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        x_hat = (x - mean) / np.sqrt(var + eps)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return gamma * x_hat + beta, (x_hat, gamma)


def bn_forward_dict(x, gamma, beta, bn_param):
    return bn_forward(x, gamma, beta, bn_param, dict_cache=True)


def not_implemented_forward(x, gamma, beta, bn_param):
    """CS231n's skeleton: nothing filled in."""
    out, cache = None, None
    return out, cache


def not_implemented_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    return dx, dgamma, dbeta


def half_implemented_backward(dout, cache):
    """dgamma and dbeta done, dx still a TODO."""
    x_hat = cache[0]
    return None, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


# ---------------------------------------------------------------------- batch norm backward


def bn_backward_staged(dout, cache, *, missing_variance_path=False, missing_mean_path=False,
                       missing_1_over_n=False, dx_missing_gamma=False, dgamma_uses_x=False,
                       dbeta_mean_not_sum=False, dgamma_mean_not_sum=False, wrong_output_shape=False,
                       input_modified=False, eps_outside_sqrt=False):
    """Staged backward over the tuple cache of bn_forward (Kratzert's walk-through, node by node).

    eps_outside_sqrt=True recomputes std = sqrt(var) + eps in the backward only (the forward
    is right) and differentiates it as if it were sqrt(var + eps); "exact" differentiates
    sqrt(var) + eps correctly (d std / d var = 0.5 / sqrt(var)).
    """
    x_hat, gamma, xmu, inv_std, std, var, eps, x = cache
    if eps_outside_sqrt:
        std = np.sqrt(var) + eps
        inv_std = 1 / std
    N = dout.shape[0]
    dbeta = dout.mean(axis=0) if dbeta_mean_not_sum else dout.sum(axis=0)
    if dgamma_uses_x:
        dgamma = np.sum(dout * x, axis=0)
    elif dgamma_mean_not_sum:
        dgamma = np.mean(dout * x_hat, axis=0)
    else:
        dgamma = np.sum(dout * x_hat, axis=0)
    if input_modified:
        dout *= 1.0 if dx_missing_gamma else gamma  # in place: the caller's dout changes
        dx_hat = dout
    else:
        dx_hat = dout if dx_missing_gamma else dout * gamma
    divide = 1 if missing_1_over_n else N
    # x_hat = xmu * inv_std
    dinv_std = np.sum(dx_hat * xmu, axis=0)
    dxmu1 = dx_hat * inv_std
    # inv_std = 1 / std, std = sqrt(var + eps)
    dstd = -dinv_std / std ** 2
    dvar = 0.5 * dstd / (np.sqrt(var) if eps_outside_sqrt == "exact" else std)
    # var = mean(xmu ** 2)
    dsq = np.ones_like(xmu) * dvar / divide
    dxmu2 = 0 if missing_variance_path else 2 * xmu * dsq
    # xmu = x - mu
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 0 if missing_mean_path else np.ones_like(xmu) * dmu / divide
    dx = dx1 + dx2
    if wrong_output_shape:
        dgamma, dbeta = dgamma.reshape(1, -1), dbeta.reshape(1, -1)
    return dx, dgamma, dbeta


def bn_backward_simplified(dout, cache, *, eps_outside_sqrt=False, eps_missing=False, ignores_eps=False,
                           dtype=None, scale=1.0):
    """Closed form over the dict cache of bn_forward_dict / bn_forward_one_pass (correct by default).

    The eps keywords recompute 1 / std in the backward only, wrongly (the forward is right):
    sqrt(var) + eps, sqrt(var), or sqrt(var + 1e-5) whatever bn_param['eps'] was. `dtype`
    and `scale` change the returned dx (np.float16 and 0.5: wrong in two ways).
    """
    x_hat, gamma, var, eps = cache["x_hat"], cache["gamma"], cache.get("var"), cache.get("eps")
    if eps_outside_sqrt:
        inv_std = 1 / (np.sqrt(var) + eps)
    elif eps_missing:
        inv_std = 1 / np.sqrt(var)
    elif ignores_eps:
        inv_std = 1 / np.sqrt(var + 1e-5)
    else:
        inv_std = cache["inv_std"] if "inv_std" in cache else 1 / np.sqrt(var + eps)
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    if dtype is not None:
        dx = (scale * dx).astype(dtype)
    return dx, dgamma, dbeta


def bn_backward_float32(dout, cache):
    dout = dout.astype(np.float32)
    return bn_backward_staged(dout, cache)


# ---------------------------------------------------------------------- layer norm


def ln_forward(x, gamma, beta, ln_param, *, layernorm_wrong_axis=False, missing_keepdims=False,
               unbiased_variance=False, ignores_eps=False, dtype=None):
    """CS231n-style layer-norm forward with a tuple cache."""
    eps = 1e-5 if ignores_eps else ln_param.get("eps", 1e-5)
    if dtype is not None:
        x, gamma, beta = x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)
    axis = 0 if layernorm_wrong_axis else 1
    keep = not missing_keepdims and not layernorm_wrong_axis
    mu = x.mean(axis=axis, keepdims=keep)
    xmu = x - mu
    var = (xmu ** 2).sum(axis=axis, keepdims=keep) / (x.shape[axis] - (1 if unbiased_variance else 0))
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = xmu * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std, axis, keep)


def ln_backward(dout, cache, *, dx_missing_gamma=False, dbeta_mean_not_sum=False, dgamma_uses_x=False):
    """Closed form, rows instead of columns (and it follows the forward's axis, as learners' code does)."""
    x_hat, gamma, inv_std, axis, keep = cache
    dbeta = dout.mean(axis=0) if dbeta_mean_not_sum else dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout if dx_missing_gamma else dout * gamma
    M = dout.shape[axis]
    dx = inv_std / M * (M * dx_hat - dx_hat.sum(axis=axis, keepdims=keep)
                        - x_hat * (dx_hat * x_hat).sum(axis=axis, keepdims=keep))
    return dx, dgamma, dbeta


def ln_forward_no_keepdims(x, gamma, beta, ln_param):
    """Wrong, the common way: row mean and variance without keepdims=True (breaks for N != D)."""
    eps = ln_param.get("eps", 1e-5)
    x_hat = (x - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + eps)
    return gamma * x_hat + beta, (x_hat, gamma)


def ln_backward_params_summed_over_features(dout, cache):
    """Wrong: dx is right, but dgamma and dbeta are summed along the rows (axis 1), shape (N,)."""
    dx, _, _ = ln_backward(dout, cache)
    x_hat = cache[0]
    return dx, np.sum(dout * x_hat, axis=1), np.sum(dout, axis=1)


def ln_forward_transpose_trick(x, gamma, beta, ln_param):
    """Correct: layer norm as batch norm of x.T (the seed's trick), gamma and beta after transposing back."""
    eps = ln_param.get("eps", 1e-5)
    xt = x.T
    mu = xt.mean(axis=0)
    var = xt.var(axis=0)
    x_hat_t = (xt - mu) / np.sqrt(var + eps)
    x_hat = x_hat_t.T
    return gamma * x_hat + beta, {"x_hat_t": x_hat_t, "var": var, "eps": eps, "gamma": gamma}


def ln_backward_transpose_trick(dout, cache):
    x_hat_t, var, eps, gamma = cache["x_hat_t"], cache["var"], cache["eps"], cache["gamma"]
    dgamma = np.sum(dout * x_hat_t.T, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx_hat_t = (dout * gamma).T
    D = dx_hat_t.shape[0]
    dx_t = 1 / np.sqrt(var + eps) / D * (D * dx_hat_t - dx_hat_t.sum(axis=0) - x_hat_t * (dx_hat_t * x_hat_t).sum(axis=0))
    return dx_t.T, dgamma, dbeta


def ln_forward_gamma_before_transpose(x, gamma, beta, ln_param):
    """Wrong: the transpose trick with gamma and beta applied to the transposed array."""
    out_t, cache = bn_forward(x.T, gamma, beta, {"mode": "train", "eps": ln_param.get("eps", 1e-5)})
    return out_t.T, cache


def ln_forward_float32(x, gamma, beta, ln_param):
    return ln_forward(x, gamma, beta, ln_param, dtype=np.float32)


# ---------------------------------------------------------------------- spatial batch norm and group norm


def spatial_bn_forward(x, gamma, beta, bn_param, *, spatial_bn_channels_mixed=False, **mistakes):
    """Via the 2-D batch norm: (N, C, H, W) -> (N*H*W, C), and back."""
    N, C, H, W = x.shape
    flat = x.reshape(-1, C) if spatial_bn_channels_mixed else x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = bn_forward(flat, gamma, beta, bn_param, **mistakes)
    if spatial_bn_channels_mixed:
        return out.reshape(N, C, H, W), cache
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_bn_backward(dout, cache, *, spatial_bn_channels_mixed=False, **mistakes):
    N, C, H, W = dout.shape
    flat = dout.reshape(-1, C) if spatial_bn_channels_mixed else dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = bn_backward_staged(flat, cache, **mistakes)
    if spatial_bn_channels_mixed:
        return dx.reshape(N, C, H, W), dgamma, dbeta
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


def spatial_bn_backward_not_moved_back(dout, cache):
    """Wrong: the forward is right; the backward moves the channels last, but reshapes dx back
    with reshape(N, C, H, W) instead of moving them back."""
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = bn_backward_staged(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, C, H, W), dgamma, dbeta


def groupnorm_forward(x, gamma, beta, G, gn_param, *, groupnorm_interleaved_groups=False, eps_outside_sqrt=False,
                      ignores_eps=False, unbiased_variance=False):
    eps = 1e-5 if ignores_eps else gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    if groupnorm_interleaved_groups:
        grouped = x.reshape(N, C // G, G, H, W).transpose(0, 2, 1, 3, 4).reshape(N, G, -1)
    else:
        grouped = x.reshape(N, G, -1)
    mu = grouped.mean(axis=2, keepdims=True)
    var = grouped.var(axis=2, keepdims=True, ddof=1 if unbiased_variance else 0)
    x_hat_g = (grouped - mu) / (np.sqrt(var) + eps if eps_outside_sqrt else np.sqrt(var + eps))
    if groupnorm_interleaved_groups:
        x_hat = x_hat_g.reshape(N, G, C // G, H, W).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    else:
        x_hat = x_hat_g.reshape(x.shape)
    return gamma * x_hat + beta, (x_hat, gamma, var, eps, G, groupnorm_interleaved_groups)


def groupnorm_backward(dout, cache):
    x_hat, gamma, var, eps, G, interleaved = cache
    N, C, H, W = dout.shape
    dgamma = np.sum(dout * x_hat, axis=(0, 2, 3), keepdims=True)
    dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True)
    dx_hat = dout * gamma

    def grouped(a):
        if interleaved:
            return a.reshape(N, C // G, G, H, W).transpose(0, 2, 1, 3, 4).reshape(N, G, -1)
        return a.reshape(N, G, -1)

    g, xh = grouped(dx_hat), grouped(x_hat)
    M = g.shape[2]
    dx_g = 1 / np.sqrt(var + eps) / M * (M * g - g.sum(axis=2, keepdims=True) - xh * (g * xh).sum(axis=2, keepdims=True))
    if interleaved:
        dx = dx_g.reshape(N, G, C // G, H, W).transpose(0, 2, 1, 3, 4).reshape(dout.shape)
    else:
        dx = dx_g.reshape(dout.shape)
    return dx, dgamma, dbeta


def bn_forward_one_pass_variance(x, gamma, beta, bn_param, dtype=None):
    """Correct: var = E[x^2] - E[x]^2 (one pass), running statistics updated in place."""
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    if dtype is not None:
        x = x.astype(dtype)
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if bn_param["mode"] == "train":
        mu = x.mean(axis=0)
        var = (x * x).mean(axis=0) - mu * mu
        running_mean *= momentum  # in place on the array that lives in bn_param: allowed
        running_mean += (1 - momentum) * mu
        running_var *= momentum
        running_var += (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
    x_hat = (x - mu) / np.sqrt(var + eps)
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return gamma * x_hat + beta, {"x_hat": x_hat, "var": var, "eps": eps, "gamma": gamma}


# ---------------------------------------------------------------------- more right ones, in other styles
# (from the audit of issue 5: each is correct and must pass with no mistake listed)


def bn_forward_einsum_minimal_cache(x, gamma, beta, bn_param):
    """Correct: einsum everywhere, and a minimal cache (x, gamma, eps): the backward recomputes."""
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    N, D = x.shape
    bn_param.setdefault("running_mean", np.zeros(D))
    bn_param.setdefault("running_var", np.zeros(D))
    if mode == "train":
        mu = np.einsum("nd->d", x) / N
        xc = x - mu
        var = np.einsum("nd,nd->d", xc, xc) / N
        bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mu
        bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var
    else:
        var = bn_param["running_var"]
        xc = x - bn_param["running_mean"]
    x_hat = np.einsum("nd,d->nd", xc, (var + eps) ** -0.5)
    return np.einsum("nd,d->nd", x_hat, gamma) + beta, (x, gamma, eps)


def bn_backward_recompute_staged(dout, cache):
    """Staged backward that recomputes the forward's intermediates from (x, gamma, eps)."""
    x, gamma, eps = cache
    N = x.shape[0]
    xc = x - x.mean(axis=0)
    var = np.einsum("nd,nd->d", xc, xc) / N
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    dx_hat = dout * gamma
    dvar = np.einsum("nd,nd->d", dx_hat, xc) * -0.5 * inv_std ** 3
    dmu = -np.einsum("nd->d", dx_hat) * inv_std + dvar * (-2.0 / N) * xc.sum(axis=0)
    dx = dx_hat * inv_std + dvar * 2 * xc / N + dmu / N
    return dx, dgamma, dbeta


class ObjectCache:
    """A cache as an object with attributes (and entries the backward does not need)."""

    def __init__(self, **entries):
        self.__dict__.update(entries)


def bn_forward_longdouble(x, gamma, beta, bn_param):
    """Correct: computed in extended precision and cast back to float64; an object cache;
    in-place operations only on its own copies."""
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    xl = x.astype(np.longdouble)
    if mode == "train":
        mu = xl.mean(axis=0)
        xc = xl.copy()
        xc -= mu
        var = (xc * xc).mean(axis=0)
        running_mean = bn_param.get("running_mean", np.zeros(D))
        running_var = bn_param.get("running_var", np.zeros(D))
        bn_param["running_mean"] = (momentum * running_mean + (1 - momentum) * mu).astype(np.float64)
        bn_param["running_var"] = (momentum * running_var + (1 - momentum) * var).astype(np.float64)
    else:
        mu = bn_param["running_mean"].astype(np.longdouble)
        var = bn_param["running_var"].astype(np.longdouble)
        xc = xl - mu
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    cache = ObjectCache(x_hat=x_hat.astype(np.float64), inv_std=inv_std.astype(np.float64), gamma=gamma,
                        mu=mu, unused=np.zeros(10))
    return (gamma * x_hat + beta).astype(np.float64), cache


def bn_backward_object_cache(dout, cache):
    """Closed form over the object cache; scales its own copy of dout in place (allowed)."""
    dx_hat = dout.copy()
    dx_hat *= cache.gamma
    dx = cache.inv_std * (dx_hat - dx_hat.mean(axis=0) - cache.x_hat * (dx_hat * cache.x_hat).mean(axis=0))
    return dx, (dout * cache.x_hat).sum(axis=0), dout.sum(axis=0)


def bn_forward_std_squared(x, gamma, beta, bn_param):
    """Correct: var = np.std(...) ** 2 with keepdims, a list cache."""
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    if mode == "train":
        mu = np.mean(x, axis=0, keepdims=True)
        var = np.std(x, axis=0, keepdims=True) ** 2
        bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros(D)) + (1 - momentum) * mu.ravel()
        bn_param["running_var"] = momentum * bn_param.get("running_var", np.zeros(D)) + (1 - momentum) * var.ravel()
    else:
        mu, var = bn_param["running_mean"], bn_param["running_var"]
    x_hat = (x - mu) / np.sqrt(var + eps)
    return x_hat * gamma + beta, [x_hat, gamma, 1 / np.sqrt(var + eps)]


def bn_backward_list(dout, cache):
    """Closed form over the list cache; returns a list instead of a tuple."""
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    return [dx, dgamma, dbeta]


def bn_forward_float32_out(x, gamma, beta, bn_param):
    """Correct: computed in float64, returned as float32."""
    out, cache = bn_forward(x, gamma, beta, bn_param)
    return out.astype(np.float32), cache


def ln_forward_einsum(x, gamma, beta, ln_param):
    """Correct: einsum statistics, a dict cache with centred x and the variance."""
    eps = ln_param.get("eps", 1e-5)
    D = x.shape[1]
    xc = x - np.einsum("nd->n", x)[:, None] / D
    var = np.einsum("nd,nd->n", xc, xc)[:, None] / D
    x_hat = xc / np.sqrt(var + eps)
    return x_hat * gamma + beta, {"xc": xc, "var": var, "eps": eps, "gamma": gamma, "D": D, "extra": 1}


def ln_backward_staged(dout, cache):
    """Staged layer-norm backward over the einsum forward's dict cache."""
    xc, var, eps, gamma, D = (cache[k] for k in ("xc", "var", "eps", "gamma", "D"))
    std = np.sqrt(var + eps)
    inv_std = 1 / std
    x_hat = xc * inv_std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dinv_std = (dx_hat * xc).sum(axis=1, keepdims=True)
    dvar = 0.5 * (-dinv_std / std ** 2) / std
    dxc = dx_hat * inv_std + 2 * xc * dvar / D
    return dxc - dxc.sum(axis=1, keepdims=True) / D, dgamma, dbeta


def groupnorm_forward_flat(x, gamma, beta, G, gn_param):
    """Correct: groups as rows of x.reshape(N * G, -1)."""
    eps = gn_param.get("eps", 1e-5)
    grouped = x.reshape(x.shape[0] * G, -1)
    mu = grouped.mean(axis=1)[:, None]
    var = ((grouped - mu) ** 2).mean(axis=1)[:, None]
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = ((grouped - mu) * inv_std).reshape(x.shape)
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "G": G}


def groupnorm_backward_flat(dout, cache):
    x_hat, inv_std, gamma, G = cache["x_hat"], cache["inv_std"], cache["gamma"], cache["G"]
    N = dout.shape[0]
    dx_hat = (dout * gamma).reshape(N * G, -1)
    xh = x_hat.reshape(N * G, -1)
    dx = inv_std * (dx_hat - dx_hat.mean(axis=1, keepdims=True) - xh * (dx_hat * xh).mean(axis=1, keepdims=True))
    return (dx.reshape(dout.shape), (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True),
            dout.sum(axis=(0, 2, 3), keepdims=True))


# ---------------------------------------------------------------------- more wrong ones


def bn_forward_float16_scaled(x, gamma, beta, bn_param, scale=1.5):
    """Wrong twice: out is `scale` times too large, and returned as float16 (which once hid it)."""
    out, cache = bn_forward(x, gamma, beta, bn_param)
    return (scale * out).astype(np.float16), cache


def bn_forward_int_out(x, gamma, beta, bn_param):
    """Wrong: out written into an integer array."""
    out, cache = bn_forward(x, gamma, beta, bn_param)
    result = np.zeros(out.shape, dtype=int)
    result[...] = out
    return result, cache
