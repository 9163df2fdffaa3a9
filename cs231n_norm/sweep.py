"""Train many networks of one architecture at once: stacked weights, batched matmul, one optimizer step.

The weight-initialization experiment trains the same net at ~20 weight scales.
One by one, each step of each net is a handful of small matrix products,
and Python's per-call overhead dominates. Stacked, the K nets' weights of
layer i form one array of shape (K, D_in, D_out), and ``np.matmul`` computes all
K products in one call::

    x (B, D) or (K, B, D)  @  W (K, D, H)  ->  a (K, B, H)

Batch norm of net k takes its statistics over the batch axis of ``a[k]``
(axis 1 of the stack), layer norm over the feature axis (axis 2), both with
the core's :func:`~cs231n_norm.core.normalize`; their backward passes are the
closed forms of :func:`~cs231n_norm.layers.batchnorm_backward_alt` and
:func:`~cs231n_norm.layers.layernorm_backward`, written for the stack. Every
parameter of every net lives in one flat array (the arrays per layer are views
into it), so one Adam step over that array updates everything at once. (With
``workers > 1`` the nets are split into groups trained in parallel threads, one
flat array per group.)

Nothing is mixed between nets: a net that diverges (its numbers overflow to
inf and NaN, as plain SGD does at large weight scales) keeps its NaN to itself;
the others train on unaffected. Its loss is recorded as it is (nan) and an
output that is not finite counts as a wrong prediction. (``train`` instead
stops a diverging net; the two agree up to that step.)

Each net gets the numbers :func:`cs231n_norm.solver.train` gives it (tested to
1e-10 in float64): the same initial weights (the net is built by
:class:`~cs231n_norm.model.FullyConnectedNet` with the same seed), the same
minibatches (:func:`~cs231n_norm.solver.minibatch_schedule`), the same accuracy
subsets, the same update rule and the same formulas, evaluated in the same order.
Measured on the weight-init experiment (numpy 2.4, OpenBLAS; see
benchmarks/results_training.md), all 60 nets' losses and accuracies equal
``train``'s bit for bit, in float64 and in float32; that relies on BLAS computing
each matrix of a stacked product as it computes a single one, which no library
promises. Nets that amplify rounding (many of them in float32) would part ways
visibly at the smallest difference in the order of additions.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import _checks as check
from .core import normalize
from .layers import update_running_stats
from .model import FullyConnectedNet, check_architecture
from .optim import get_update_rule
from .solver import check_data, evaluation_subset, minibatch_schedule

# The weight-initialization experiment (notebook 05): what DESIGN.md measured on digits.
WEIGHT_INIT_EXPERIMENT = {
    "hidden_dims": (100, 100, 100, 100, 100),
    "weight_scales": tuple(np.logspace(-4, 0, 20)),
    "normalizations": (None, "batchnorm", "layernorm"),
    "num_train": 1000,
    "num_epochs": 10,
    "batch_size": 50,
    "update_rule": "adam",
    # Adam at 2e-3 gives the clearest picture on digits (measured over 5e-4..5e-3 and
    # sgd_momentum): batch norm >= 0.96 validation accuracy at every scale from 1e-4
    # to 0.23, the baseline stuck at chance (0.11) below ~3e-3 and good only from
    # ~1e-2 to ~0.2. CS231n's 1e-3 leaves batch norm at 0.85 for the smallest scale.
    "learning_rate": 2e-3,
}

BN_EPS = 1e-5  # the defaults of batchnorm_forward / layernorm_forward
BN_MOMENTUM = 0.9


@dataclass
class SweepRun:
    """The record of one net of a sweep.

    Attributes
    ----------
    norm : None, 'batchnorm' or 'layernorm'
    weight_scale : float
    seed : int, the seed of its initial weights and of its minibatch order
    loss_history : ndarray, shape (iterations,): training loss of every step (nan once diverged)
    train_acc_history, val_acc_history : ndarray: accuracies after the first step and
        after every epoch, as in :class:`cs231n_norm.solver.History`
    best_train_acc, best_val_acc : float, the highest of each
    final_train_loss : float, the loss of the last step (nan if the net diverged)
    """

    norm: object
    weight_scale: float
    seed: int
    loss_history: np.ndarray
    train_acc_history: np.ndarray
    val_acc_history: np.ndarray
    best_train_acc: float
    best_val_acc: float
    final_train_loss: float

    @property
    def diverged(self):
        """True if some training loss of this net was not finite."""
        return not np.isfinite(self.loss_history).all()


class StackedNets:
    """K fully-connected nets of one architecture, their parameters stacked along a first axis.

    Parameters
    ----------
    nets : list of FullyConnectedNet, same architecture, dtype and reg

    Attributes
    ----------
    theta : ndarray, shape (total,): every parameter of every net, one flat array
    grads : ndarray, shape (total,): their gradients, same layout
    params, param_grads : dict of views into theta / grads: 'W{i}' (K, D_in, D_out),
        'b{i}', 'gamma{i}', 'beta{i}' (K, D_out)
    running : list of dicts (batch norm only), one per hidden layer, with
        'running_mean', 'running_var' of shape (K, 1, D_out) once trained
    """

    def __init__(self, nets):
        if not nets:
            raise ValueError("nets must hold at least one FullyConnectedNet, got an empty list")
        first = nets[0]
        for k, net in enumerate(nets):
            if not isinstance(net, FullyConnectedNet):
                raise TypeError(f"nets[{k}] must be a FullyConnectedNet, got {check.describe(net)}")
            same = (net.hidden_dims, net.input_dim, net.num_classes, net.normalization, net.dtype, net.reg, net.activation)
            if same != (first.hidden_dims, first.input_dim, first.num_classes, first.normalization,
                        first.dtype, first.reg, first.activation):
                raise ValueError(f"nets[{k}] differs from nets[0] in architecture, dtype or reg: {net!r} vs {first!r}")
        self.K = len(nets)
        self.num_layers = first.num_layers
        self.normalization = first.normalization
        self.activation = first.activation
        self.reg = first.reg
        self.dtype = first.dtype
        names = list(first.params)
        sizes = [self.K * first.params[name].size for name in names]
        self.theta = np.empty(sum(sizes), dtype=self.dtype)
        self.grads = np.zeros_like(self.theta)
        self.params, self.param_grads = {}, {}
        offset = 0
        for name, size in zip(names, sizes):
            shape = (self.K, *first.params[name].shape)
            self.params[name] = self.theta[offset:offset + size].reshape(shape)
            self.param_grads[name] = self.grads[offset:offset + size].reshape(shape)
            self.params[name][...] = np.stack([net.params[name] for net in nets])
            offset += size
        self.running = []
        if self.normalization == "batchnorm":
            for i, bn_param in enumerate(first.bn_params):
                stats = {"momentum": bn_param.get("momentum", BN_MOMENTUM)}
                for key in ("running_mean", "running_var"):
                    if first.bn_params[i].get(key) is not None:
                        stats[key] = np.stack([net.bn_params[i][key] for net in nets])[:, None, :].astype(self.dtype)
                self.running.append(stats)

    def net(self, k):
        """Net k as a FullyConnectedNet (copies of its parameters and running statistics)."""
        first_W = self.params["W1"]
        net = FullyConnectedNet(
            [self.params[f"W{i}"].shape[2] for i in range(1, self.num_layers)], input_dim=first_W.shape[1],
            num_classes=self.params[f"W{self.num_layers}"].shape[2], normalization=self.normalization,
            reg=self.reg, dtype=self.dtype, activation=self.activation,
        )
        net.set_state({
            **{name: value[k] for name, value in self.params.items()},
            **{f"{key}{i}": stats[key][k, 0] for i, stats in enumerate(self.running, start=1)
               for key in ("running_mean", "running_var") if key in stats},
        })
        return net

    # ------------------------------------------------------------------ training step

    def loss_and_grads(self, X, y):
        """Train-mode forward and backward pass of all K nets; gradients go into ``self.grads``.

        Parameters
        ----------
        X : ndarray, shape (B, D) (the same batch for every net) or (K, B, D)
        y : ndarray of int, shape (B,) or (K, B)

        Returns
        -------
        losses : ndarray, shape (K,): each net's loss (nan for a diverged net)
        """
        p, g = self.params, self.param_grads
        L = self.num_layers
        axes = (1,) if self.normalization == "batchnorm" else (2,)
        caches = []
        h = X
        for i in range(1, L):
            a = np.matmul(h, p[f"W{i}"])
            a += p[f"b{i}"][:, None, :]
            x_hat = inv_std = None
            if self.normalization is not None:
                x_hat, mean, var, inv_std = normalize(a, axes, BN_EPS)
                if self.normalization == "batchnorm":
                    update_running_stats(self.running[i - 1], mean, var, a.shape[1])
                # gamma * x_hat + beta, written into `a`, which is no longer needed
                np.multiply(x_hat, p[f"gamma{i}"][:, None, :], out=a)
                a += p[f"beta{i}"][:, None, :]
            caches.append((h, x_hat, inv_std))
            h = np.maximum(a, 0, out=a) if self.activation == "relu" else np.tanh(a, out=a)
        scores = np.matmul(h, p[f"W{L}"])
        scores += p[f"b{L}"][:, None, :]

        # softmax cross-entropy of every net, averaged over its batch
        B = scores.shape[1]
        # the entry of each example's label: log_probs[label] has shape (K, B) (indexing:
        # measured 0.18 ms a step for softmax and loss, 0.26 with take/put_along_axis). The net
        # index as an array, not a slice `:`, keeps that result laid out net by net, so each
        # net's mean adds its losses in the order the one-net loss does.
        label = (np.arange(self.K)[:, None], np.arange(B), y)
        log_probs = scores - scores.max(axis=2, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(axis=2, keepdims=True))
        losses = -log_probs[label].mean(axis=1)
        dout = np.exp(log_probs)
        dout[label] -= 1
        dout /= B
        if self.reg:
            losses += 0.5 * self.reg * sum(np.einsum("kij,kij->k", p[f"W{i}"], p[f"W{i}"]) for i in range(1, L + 1))

        np.matmul(np.swapaxes(h, -1, -2), dout, out=g[f"W{L}"])
        _batch_sum(dout, out=g[f"b{L}"])
        for i in range(L - 1, 0, -1):
            dh = np.matmul(dout, np.swapaxes(p[f"W{i + 1}"], 1, 2))
            h_in, x_hat, inv_std = caches[i - 1]
            if self.activation == "relu":
                dh *= h > 0
            else:
                dh *= 1 - np.square(h)
            if self.normalization is not None:
                dgamma = np.einsum("kbh,kbh->kh", dh, x_hat, out=g[f"gamma{i}"])
                dbeta = _batch_sum(dh, out=g[f"beta{i}"])
                if self.normalization == "batchnorm":
                    dh = _batchnorm_backward(dh, x_hat, inv_std, p[f"gamma{i}"], dgamma, dbeta)
                else:
                    dh = _layernorm_backward(dh, x_hat, inv_std, p[f"gamma{i}"])
            dout = dh
            np.matmul(np.swapaxes(h_in, -1, -2), dout, out=g[f"W{i}"])
            _batch_sum(dout, out=g[f"b{i}"])
            h = h_in
        if self.reg:
            for i in range(1, L + 1):
                g[f"W{i}"] += self.reg * p[f"W{i}"]
        return losses

    # ------------------------------------------------------------------ test mode

    def scores(self, X, fold_batchnorm=True, block_bytes=1 << 19):
        """Test-mode class scores of all K nets.

        Parameters
        ----------
        X : ndarray, shape (N, D)
        fold_batchnorm : bool
            In test mode batch norm is a fixed affine map per feature,
            ``gamma * (a - running_mean) / sqrt(running_var + eps) + beta``, so it
            can be folded into the affine layer before it: with
            ``s = gamma / sqrt(running_var + eps)``, ``W' = W * s`` (column by column)
            and ``b' = (b - running_mean) * s + beta``. One matmul instead of a
            matmul and a normalization; the same numbers up to rounding.
        block_bytes : int, about how many bytes of activations to process at once

        Layer norm's centring is folded into its affine layer the same way (always):
        the mean over the features of ``a = h @ W + b`` is ``h @ mean_j(W) + mean_j(b)``,
        so ``h @ (W - mean_j(W)) + (b - mean_j(b))`` is ``a`` already centred, and the
        test-mode layer norm only divides by the standard deviation (measured: 36 instead
        of 51 ms for the 20 nets of the weight-init experiment on its 1,300 accuracy
        examples; the same numbers up to rounding).

        Returns
        -------
        scores : ndarray, shape (K, N, C)
        """
        layers = self._test_mode_layers(fold_batchnorm)
        L = self.num_layers
        W_last, b_last = self.params[f"W{L}"], self.params[f"b{L}"][:, None, :]
        scores = np.empty((self.K, len(X), W_last.shape[2]), dtype=np.result_type(X, W_last))
        # A few rows at a time, updated in place: the (K, rows, H) activations then stay in
        # the CPU cache instead of making a fresh 10 MB array per operation (measured 1.5x).
        rows = max(1, block_bytes // (self.K * max(W.shape[2] for W, _, _ in layers) * X.itemsize))
        for start in range(0, len(X), rows):
            h = X[start:start + rows]
            for W, b, normalization in layers:
                a = np.matmul(h, W)
                a += b
                if normalization is not None:  # layer norm, or batch norm not folded
                    a = normalization(a)
                h = np.maximum(a, 0, out=a) if self.activation == "relu" else np.tanh(a, out=a)
            np.matmul(h, W_last, out=scores[:, start:start + rows])
        scores += b_last
        return scores

    def _test_mode_layers(self, fold_batchnorm):
        """(W, b, normalization or None) of each hidden layer in test mode (see :meth:`scores`)."""
        p = self.params
        layers = []
        for i in range(1, self.num_layers):
            W, b = p[f"W{i}"], p[f"b{i}"][:, None, :]
            normalization = None
            if self.normalization is not None:
                gamma, beta = p[f"gamma{i}"][:, None, :], p[f"beta{i}"][:, None, :]
            if self.normalization == "batchnorm":
                stats = self.running[i - 1]
                if "running_mean" not in stats:
                    raise ValueError("batch norm has no running statistics yet: train the nets first")
                scale = gamma / np.sqrt(stats["running_var"] + BN_EPS)
                if fold_batchnorm:
                    W, b = W * scale, (b - stats["running_mean"]) * scale + beta
                else:
                    def normalization(a, mean=stats["running_mean"], scale=scale, beta=beta):
                        a -= mean
                        a *= scale
                        a += beta
                        return a
            elif self.normalization == "layernorm":
                # centred weights: the matmul gives each row of a with mean 0 (see scores)
                W, b = W - W.mean(axis=2, keepdims=True), b - b.mean(axis=2, keepdims=True)

                def normalization(a, gamma=gamma, beta=beta):
                    var = np.einsum("kbh,kbh->kb", a, a)[:, :, None] / a.shape[2]
                    a *= 1 / np.sqrt(var + BN_EPS)
                    a *= gamma
                    a += beta
                    return a
            layers.append((W, b, normalization))
        return layers

    def correct(self, X, y):
        """Which rows of X each net classifies as y, shape (K, N); non-finite scores count as wrong."""
        scores = self.scores(X)
        return (scores.argmax(axis=2) == y) & np.isfinite(scores).all(axis=2)

    def accuracy(self, X, y):
        """Accuracy of each net on (X, y), shape (K,)."""
        return self.correct(X, y).mean(axis=1)


def _batch_sum(a, out):
    """``a.sum(axis=1)`` of a (K, B, H) stack into `out` (K, H): the sum over each net's batch.

    ``np.einsum('kbh->kh')`` adds the B rows in the same order as ``np.sum`` (the
    same numbers, bit for bit) in half the time on these shapes (measured 12 vs 24 us
    for (20, 50, 100) float32).
    """
    return np.einsum("kbh->kh", a, out=out)


def _batchnorm_backward(dout, x_hat, inv_std, gamma, dgamma, dbeta):
    """dL/da of batch norm, K nets at once, given dgamma and dbeta (overwrites `dout`).

    The formula of :func:`cs231n_norm.layers.batchnorm_backward_alt` for each net,
    in the same order of operations::

        gamma * inv_std * (dout - (dbeta / B + x_hat * dgamma / B))

    Its two batch means are dbeta / B and dgamma / B, already computed: measured
    0.43 ms a step for the 5 layers of the 20 batch-norm nets of the weight-init
    experiment, against 1.24 ms for the general
    ``normalize_backward(gamma * dout, ...)``, which takes both means again.

    Parameters
    ----------
    dout, x_hat : ndarray, shape (K, B, H)
    inv_std : ndarray, shape (K, 1, H)
    gamma, dgamma, dbeta : ndarray, shape (K, H)

    Returns
    -------
    dx : ndarray, shape (K, B, H), in the memory of `dout`
    """
    B = dout.shape[1]
    centring = x_hat * (dgamma / B)[:, None, :]
    centring += (dbeta / B)[:, None, :]
    dout -= centring
    dout *= gamma[:, None, :] * inv_std
    return dout


def _layernorm_backward(dout, x_hat, inv_std, gamma):
    """dL/da of layer norm, K nets at once (overwrites `dout`).

    The formula of :func:`cs231n_norm.layers.layernorm_backward` for each net, in
    the same order of operations, with the means over each example's features::

        inv_std * (gamma * dout - mean(gamma * dout) - x_hat * mean(gamma * dout * x_hat))

    ``np.einsum`` takes both means without writing the products out (measured
    0.96 ms a step for the 5 layers of the 20 nets of the weight-init experiment,
    against 1.26 ms for the general ``normalize_backward``).

    Parameters
    ----------
    dout, x_hat : ndarray, shape (K, B, H)
    inv_std : ndarray, shape (K, B, 1)
    gamma : ndarray, shape (K, H)

    Returns
    -------
    dx : ndarray, shape (K, B, H), in the memory of `dout`
    """
    H = dout.shape[2]
    mean_g = np.einsum("kbh,kh->kb", dout, gamma)[:, :, None] / H
    mean_g_x_hat = np.einsum("kbh,kh,kbh->kb", dout, gamma, x_hat)[:, :, None] / H
    projection = x_hat * mean_g_x_hat
    dout *= gamma[:, None, :]
    dout -= mean_g
    dout -= projection
    dout *= inv_std
    return dout


def _as_list(name, values, kind):
    values = [values] if np.ndim(values) == 0 else list(np.asarray(values).ravel())
    if not values:
        raise ValueError(f"{name} must hold at least one {kind}, got an empty list")
    return values


def train_sweep(data, *, hidden_dims, normalization, weight_scales, num_epochs, batch_size, learning_rate,
                update_rule="adam", seeds=0, dtype=np.float32, progress=True, reg=0.0, lr_decay=1.0,
                activation="relu", num_train_samples=1000, num_val_samples=None, workers=1):
    """Train one net per (seed, weight scale) at once, all with one normalization and batch size.

    Parameters
    ----------
    data : dict with X_train, y_train, X_val, y_val (as for :func:`cs231n_norm.solver.train`)
    hidden_dims : list of int
    normalization : None, 'batchnorm' or 'layernorm'
    weight_scales : float or sequence of float > 0
    num_epochs, batch_size : int
    learning_rate : float > 0 (the other hyperparameters of the rule: CS231n's defaults)
    update_rule : 'sgd', 'sgd_momentum' or 'adam'
    seeds : int or sequence of int: each seed fixes a net's initial weights
        (``FullyConnectedNet(seed=...)``) and its minibatches (``train(seed=...)``)
    dtype : np.float32 (fast) or np.float64 (to compare with train to the last digits)
    progress : bool, show a tqdm progress bar
    reg, lr_decay, activation, num_train_samples, num_val_samples : as for
        FullyConnectedNet and train
    workers : int or None, threads that train groups of the nets in parallel
        (None: one per CPU core); the numbers do not depend on it. Default 1:
        a second thread helps only when a second core is free (on the shared
        2-core machine, the weight-init experiment: 4.0 s wall instead of 5.2 s
        at load ~0.3-0.9, for 6.5 s of CPU time instead of 5.2; slower than one
        worker at load 3-4; see benchmarks/results_training.md)

    Returns
    -------
    list of SweepRun, seed by seed and within a seed scale by scale
    (``len(seeds) * len(weight_scales)`` runs)
    """
    X_train, y_train, X_val, y_val = check_data(data)
    hidden_dims = check_architecture(hidden_dims, normalization, activation)
    scales = [check.positive_number("weight_scales", float(s)) for s in _as_list("weight_scales", weight_scales, "scale")]
    seeds = _as_list("seeds", seeds, "seed")
    if any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative integers, got {seeds}")
    seeds = [int(s) for s in seeds]
    learning_rate = check.positive_number("learning_rate", learning_rate)
    lr_decay = check.decay_factor("lr_decay", lr_decay)
    rule = get_update_rule(update_rule)
    if np.dtype(dtype).type not in check.FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    num_classes = int(max(y_train.max(), y_val.max())) + 1

    nets = [FullyConnectedNet(hidden_dims, input_dim=X_train.shape[1], num_classes=num_classes,
                              normalization=normalization, weight_scale=scale, reg=reg, dtype=dtype,
                              seed=seed, activation=activation)
            for seed in seeds for scale in scales]
    net_seeds = np.repeat(seeds, len(scales))
    K = len(nets)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {check.describe(workers)}")
    groups = np.array_split(np.arange(K), min(int(workers), K))

    X_train = X_train.astype(dtype, copy=False)
    X_val = X_val.astype(dtype, copy=False)
    schedules = {seed: minibatch_schedule(len(X_train), batch_size, num_epochs, seed) for seed in seeds}
    eval_sets = {}
    for seed in seeds:
        train_subset = evaluation_subset(len(X_train), num_train_samples, seed, "num_train_samples")
        val_subset = evaluation_subset(len(X_val), num_val_samples, seed, "num_val_samples")
        # train and validation examples in one array: one test-mode pass per check
        eval_sets[seed] = (np.concatenate([X_train[train_subset], X_val[val_subset]]),
                           np.concatenate([y_train[train_subset], y_val[val_subset]]), len(train_subset))
    settings = {"rule": rule, "learning_rate": learning_rate, "lr_decay": lr_decay, "X_train": X_train,
                "y_train": y_train, "schedules": schedules, "eval_sets": eval_sets,
                "same_eval_sets": (num_train_samples is None or num_train_samples >= len(X_train))
                and (num_val_samples is None or num_val_samples >= len(X_val))}
    steps = schedules[seeds[0]].shape[0] * schedules[seeds[0]].shape[1]
    bar = tqdm(total=steps * len(groups), disable=not progress, unit="step",
               desc=f"{normalization or 'no norm'}: {K} nets")
    # One BLAS thread: the products here are small (a batch of 50 by 100 per net),
    # too small for a second BLAS thread to pay for its start-up, and on a busy machine
    # OpenBLAS's waiting threads made the sweep several times slower (measured: 69 s vs 14 s).
    # With workers > 1, the cores are used instead by training groups of nets in parallel
    # threads (numpy releases the GIL while it computes); the groups share nothing, so
    # the numbers are the same with any number of workers.
    with threadpool_limits(1, user_api="blas"), bar:
        if len(groups) == 1:
            results = [_train_group([nets[k] for k in groups[0]], net_seeds[groups[0]], bar=bar, **settings)]
        else:
            with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                futures = [pool.submit(_train_group, [nets[k] for k in group], net_seeds[group], bar=bar, **settings)
                           for group in groups]
                results = [future.result() for future in futures]
    losses, train_acc, val_acc = (np.concatenate(parts) for parts in zip(*results))
    return [
        SweepRun(norm=normalization, weight_scale=scales[k % len(scales)], seed=int(net_seeds[k]),
                 loss_history=losses[k], train_acc_history=train_acc[k], val_acc_history=val_acc[k],
                 best_train_acc=float(train_acc[k].max()), best_val_acc=float(val_acc[k].max()),
                 final_train_loss=float(losses[k, -1]))
        for k in range(K)
    ]


def _train_group(nets, net_seeds, *, rule, learning_rate, lr_decay, X_train, y_train, schedules, eval_sets,
                 same_eval_sets, bar):
    """Train `nets` stacked, with the minibatches of their seeds; one flat buffer, one update per step.

    Returns
    -------
    losses : ndarray, shape (K, steps)
    train_acc, val_acc : ndarray, shape (K, checks): after the first step and every epoch
    """
    stack = StackedNets(nets)
    seeds = list(dict.fromkeys(int(seed) for seed in net_seeds))
    num_epochs, per_epoch = schedules[seeds[0]].shape[:2]
    losses = np.empty((stack.K, num_epochs * per_epoch))
    train_acc, val_acc = [], []
    config = {"learning_rate": learning_rate}
    t = 0
    # A diverging net overflows; its NaN stays in its own slice of every array.
    # (numpy's error state belongs to the thread, so it is set here.)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(num_epochs):
            for it in range(per_epoch):
                if len(seeds) == 1:  # every net sees the same batch: one (B, D) array for all
                    batch = schedules[seeds[0]][epoch, it]
                else:
                    batch = np.stack([schedules[seed][epoch, it] for seed in net_seeds])
                losses[:, t] = stack.loss_and_grads(X_train[batch], y_train[batch])
                _, config = rule(stack.theta, stack.grads, config, out=stack.theta)
                if t == 0 or it == per_epoch - 1:
                    train_acc.append(np.empty(stack.K))
                    val_acc.append(np.empty(stack.K))
                    for seed in seeds[:1] if same_eval_sets else seeds:
                        nets_of_seed = slice(None) if same_eval_sets else net_seeds == seed
                        X_eval, y_eval, num_train = eval_sets[seed]
                        correct = stack.correct(X_eval, y_eval)[nets_of_seed]
                        train_acc[-1][nets_of_seed] = correct[:, :num_train].mean(axis=1)
                        val_acc[-1][nets_of_seed] = correct[:, num_train:].mean(axis=1)
                t += 1
                bar.update(1)
            config["learning_rate"] *= lr_decay
    return losses, np.array(train_acc).T, np.array(val_acc).T
