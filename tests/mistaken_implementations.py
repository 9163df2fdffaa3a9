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
               dict_cache=False, dtype=None):
    """CS231n-style batch-norm forward with a tuple (or dict) cache; keywords switch mistakes on."""
    mode = bn_param["mode"]
    eps = bn_param["eps"] if raised_exception else bn_param.get("eps", 1e-5)  # CS231n's bn_param has no 'eps'
    momentum = bn_param.get("momentum", 0.9)
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
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = None
        if running_stats_updated_in_test_mode:
            running_mean = momentum * running_mean + (1 - momentum) * x.mean(axis=0)
            running_var = momentum * running_var + (1 - momentum) * x.var(axis=0)
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

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
                       input_modified=False):
    """Staged backward over the tuple cache of bn_forward (Kratzert's walk-through, node by node)."""
    x_hat, gamma, xmu, inv_std, std, var, eps, x = cache
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
    dvar = 0.5 * dstd / std
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


def bn_backward_simplified(dout, cache):
    """Correct closed form over the dict cache of bn_forward_dict / bn_forward_one_pass."""
    x_hat, gamma = cache["x_hat"], cache["gamma"]
    inv_std = cache["inv_std"] if "inv_std" in cache else 1 / np.sqrt(cache["var"] + cache["eps"])
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def bn_backward_float32(dout, cache):
    dout = dout.astype(np.float32)
    return bn_backward_staged(dout, cache)


# ---------------------------------------------------------------------- layer norm


def ln_forward(x, gamma, beta, ln_param, *, layernorm_wrong_axis=False, missing_keepdims=False,
               unbiased_variance=False, dtype=None):
    """CS231n-style layer-norm forward with a tuple cache."""
    eps = ln_param.get("eps", 1e-5)
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


def groupnorm_forward(x, gamma, beta, G, gn_param, *, groupnorm_interleaved_groups=False, eps_outside_sqrt=False):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    if groupnorm_interleaved_groups:
        grouped = x.reshape(N, C // G, G, H, W).transpose(0, 2, 1, 3, 4).reshape(N, G, -1)
    else:
        grouped = x.reshape(N, G, -1)
    mu = grouped.mean(axis=2, keepdims=True)
    var = grouped.var(axis=2, keepdims=True)
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
