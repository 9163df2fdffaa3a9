"""What each mistake computes instead, so that a learner's numbers can be matched to it.

These are the mistaken formulas of the catalogue (:mod:`cs231n_norm.mistakes`),
written once, in float64, on the same inputs the check gives the learner's
functions. A learner's output that equals one of them (and not the correct
value) shows that mistake's symptom: the diagnosis compares numbers, it never
reads source code.

Every function works on a *view* of the input in which the statistics are taken
over ``axes`` (batch norm: x itself, axes (0,); group norm: x reshaped to
(N, G, C/G*H*W), axes (2,); ...); :class:`Layer` in ``engine`` knows the views.
"""

import numpy as np


def statistic_count(view, axes):
    """How many values each statistic is taken over."""
    return int(np.prod([view.shape[a] for a in axes]))


def normalized(view, axes, eps, ddof=0, eps_outside_sqrt=False):
    """x_hat over `axes`, with the variance divided by (count - ddof) and eps where asked."""
    count = statistic_count(view, axes)
    centred = view - view.mean(axis=axes, keepdims=True)
    var = np.square(centred).sum(axis=axes, keepdims=True) / (count - ddof)
    denominator = np.sqrt(var) + eps if eps_outside_sqrt else np.sqrt(var + eps)
    return centred / denominator


def normalized_no_keepdims(x, eps):
    """Layer norm of a square (N, N) x whose row statistics lost keepdims:
    x[i, j] is normalized with the statistics of row j."""
    mean = x.mean(axis=1)
    centred = x - mean
    var = np.square(centred).mean(axis=1)
    return centred / np.sqrt(var + eps)


def dx_family(dx_hat, x_hat, inv_std, axes, mean_weight=1.0, variance_weight=1.0):
    """``inv_std * (dx_hat - a * mean(dx_hat) - b * x_hat * mean(dx_hat * x_hat))``.

    a = b = 1 is the correct gradient of normalization over `axes` (see
    :func:`cs231n_norm.core.normalize_backward`). The term with a is the path
    through the mean, the term with b the path through the variance, so:
    a = 0 drops the mean path, b = 0 the variance path, and a = count or
    b = count is that path without its 1/N.
    """
    mean_term = mean_weight * dx_hat.mean(axis=axes, keepdims=True)
    variance_term = variance_weight * x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True)
    return inv_std * (dx_hat - mean_term - variance_term)


def running_average(batch_values, momentum, start):
    """``running = momentum * running + (1 - momentum) * batch`` over a sequence of batches."""
    running = np.asarray(start, dtype=np.float64)
    for value in batch_values:
        running = momentum * running + (1 - momentum) * value
    return running
