"""The training loop: minibatch gradient descent with a history (CS231n's Solver as a function).

::

    history = train(model, data, num_epochs=10, batch_size=50,
                    optim_config={'learning_rate': 1e-3})

`model` is anything with a ``params`` dict and a ``loss(X, y)`` method
returning (loss, grads) (see :class:`cs231n_norm.model.FullyConnectedNet`).

Which examples each step sees is fixed by `seed` (see :func:`minibatch_schedule`
and :func:`evaluation_subset`); the sweep trainer (:mod:`cs231n_norm.sweep`)
calls the same two functions, so it trains on exactly the same batches.

Two things this loop does that CS231n's Solver does not:

* when the best parameters are swapped back in at the end, the batch-norm
  running statistics that belong to them come back too (the Solver restores
  the weights only, leaving the test-mode statistics of the last epoch);
* a run whose numbers overflow (a diverging net) stops with its history
  marked (``diverged_at``) instead of crashing or silently training on NaN.
"""

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from . import _checks as check
from .optim import get_update_rule


@dataclass
class History:
    """What :func:`train` records.

    Attributes
    ----------
    loss_history : list of float, the training loss of every iteration (minibatch)
    train_acc_history, val_acc_history : list of float, accuracies measured after
        the first iteration and at the end of every epoch (CS231n's schedule; one
        entry when the two coincide, i.e. with one iteration per epoch)
    best_val_acc : float, the highest validation accuracy measured
    best_params : dict, the state with the best validation accuracy, as from
        ``model.get_state()``: the parameters and, for batch norm, the running
        statistics 'running_mean{i}', 'running_var{i}' saved at the same moment
    iterations_per_epoch : int
    diverged_at : int or None, the iteration at which the numbers overflowed
        (training stopped there; its loss is recorded as nan), None if they never did
    """

    loss_history: list = field(default_factory=list)
    train_acc_history: list = field(default_factory=list)
    val_acc_history: list = field(default_factory=list)
    best_val_acc: float = -1.0
    best_params: dict = field(default_factory=dict)
    iterations_per_epoch: int = 0
    diverged_at: int = None


def _integer_at_least(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {check.describe(value)}")
    return int(value)


def minibatch_schedule(num_train, batch_size, num_epochs, seed):
    """The indices of the training examples of every minibatch.

    Every epoch draws one permutation of the training set from
    ``np.random.default_rng(seed)`` (one generator, epoch after epoch) and cuts
    it into ``num_train // batch_size`` consecutive batches; the remaining
    ``num_train % batch_size`` examples of that permutation sit the epoch out.

    Returns
    -------
    ndarray of int, shape (num_epochs, num_train // batch_size, batch_size)
    """
    num_train = _integer_at_least("num_train", num_train, 1)
    batch_size = _integer_at_least("batch_size", batch_size, 1)
    num_epochs = _integer_at_least("num_epochs", num_epochs, 1)
    seed = _integer_at_least("seed", seed)
    if batch_size > num_train:
        raise ValueError(f"batch_size must be at most the number of training examples ({num_train}), got {batch_size}")
    rng = np.random.default_rng(seed)
    per_epoch = num_train // batch_size
    return np.stack([rng.permutation(num_train)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
                     for _ in range(num_epochs)])


def evaluation_subset(num_examples, num_samples, seed, name="num_samples"):
    """The fixed examples on which accuracy is measured every time.

    All of them (in order) when `num_samples` is None or at least `num_examples`;
    otherwise `num_samples` of them, sorted, drawn without replacement by
    ``np.random.default_rng([seed, 1])`` (a generator of its own, so the subset
    does not shift the minibatch order).

    Returns
    -------
    ndarray of int, shape (min(num_examples, num_samples),)
    """
    if num_samples is not None:
        num_samples = _integer_at_least(name, num_samples, 1)
    if num_samples is None or num_samples >= num_examples:
        return np.arange(num_examples)
    return np.sort(np.random.default_rng([_integer_at_least("seed", seed), 1]).choice(num_examples, num_samples, replace=False))


def check_data(data):
    """Validate the ``data`` dict (X_train, y_train, X_val, y_val); return the four arrays."""
    data = check.param_dict("data", data)
    missing = [key for key in ("X_train", "y_train", "X_val", "y_val") if key not in data]
    if missing:
        raise ValueError(f"data must hold X_train, y_train, X_val and y_val, missing {missing}")
    arrays = []
    for split in ("train", "val"):
        X = check.float_array(f"data['X_{split}']", data[f"X_{split}"])
        y = np.asarray(data[f"y_{split}"])
        if y.dtype.kind not in "iu":
            raise TypeError(f"data['y_{split}'] must be an integer array of labels, got dtype {y.dtype}")
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(f"data['X_{split}'] must have shape (N, D) with N >= 1, got shape {X.shape}")
        check.same_shape(f"data['y_{split}']", y, (len(X),))
        # once, here: during training a NaN or inf met by a layer means divergence
        check.finite_input(f"data['X_{split}']", X, needs="training needs finite data")
        arrays += [X.reshape(len(X), -1), y]
    return arrays


def accuracy(model, X, y, batch_size=1000):
    """Fraction of rows of X that the model (in test mode) classifies as y."""
    return float(np.mean(model.predict(X, batch_size=batch_size) == y))


def train(model, data, *, num_epochs, batch_size, update_rule="adam", optim_config=None, lr_decay=1.0,
          seed=0, progress=True, num_train_samples=1000, num_val_samples=None):
    """Train `model` with minibatch gradient descent and return its history.

    Parameters
    ----------
    model : object with ``params`` (dict of arrays), ``loss(X, y)`` -> (loss, grads),
        ``predict(X)``, ``get_state()`` and ``set_state(state)`` (FullyConnectedNet)
    data : dict with X_train (N, D), y_train (N,), X_val (N_val, D), y_val (N_val,)
    num_epochs : int, passes over the training set
    batch_size : int, examples per step (at most N)
    update_rule : 'sgd', 'sgd_momentum', 'adam' (see :mod:`cs231n_norm.optim`) or a rule function
    optim_config : dict, hyperparameters of the rule (e.g. learning_rate); each
        parameter gets its own copy (and so its own Adam moments)
    lr_decay : float in (0, 1], the learning rate is multiplied by it after every epoch
    seed : int, fixes the minibatches and the accuracy subset (:func:`minibatch_schedule`,
        :func:`evaluation_subset`); the weights come from the model's own seed
    progress : bool, show a tqdm progress bar
    num_train_samples : int or None, training examples used for the train accuracy
    num_val_samples : int or None, validation examples used (None: all)

    Returns
    -------
    History. At the end the model holds the best state (parameters and batch-norm
    running statistics), as ``history.best_params``.
    """
    X_train, y_train, X_val, y_val = check_data(data)
    rule = get_update_rule(update_rule)
    if optim_config is not None:
        check.param_dict("optim_config", optim_config)
    lr_decay = check.decay_factor("lr_decay", lr_decay)
    schedule = minibatch_schedule(len(X_train), batch_size, num_epochs, seed)
    train_subset = evaluation_subset(len(X_train), num_train_samples, seed, "num_train_samples")
    val_subset = evaluation_subset(len(X_val), num_val_samples, seed, "num_val_samples")
    X_train_eval, y_train_eval = X_train[train_subset], y_train[train_subset]
    X_val_eval, y_val_eval = X_val[val_subset], y_val[val_subset]

    configs = {name: dict(optim_config or {}) for name in model.params}
    history = History(iterations_per_epoch=schedule.shape[1])
    iterations = schedule.shape[0] * schedule.shape[1]
    bar = tqdm(total=iterations, disable=not progress, desc="training", unit="step")
    t = 0
    try:
        # Overflow or invalid arithmetic (inf - inf, 0 * inf) means the net is diverging:
        # stop there rather than train on NaN (underflow to 0 is harmless and ignored).
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            for epoch in range(num_epochs):
                for batch in schedule[epoch]:
                    loss, grads = model.loss(X_train[batch], y_train[batch])
                    for name, w in model.params.items():
                        model.params[name], configs[name] = rule(w, grads[name], configs[name])
                    history.loss_history.append(float(loss))
                    if t == 0 or t % schedule.shape[1] == schedule.shape[1] - 1:
                        _check_accuracy(model, history, X_train_eval, y_train_eval, X_val_eval, y_val_eval)
                    t += 1
                    bar.update(1)
                for config in configs.values():  # each has been through the rule, so has its learning_rate
                    config["learning_rate"] *= lr_decay
                bar.set_postfix(loss=f"{history.loss_history[-1]:.3f}", val_acc=f"{history.val_acc_history[-1]:.3f}")
    except FloatingPointError:
        history.diverged_at = t
        history.loss_history = history.loss_history[:t] + [float("nan")]
    finally:
        bar.close()
    if history.best_params:
        model.set_state(history.best_params)
    return history


def _check_accuracy(model, history, X_train, y_train, X_val, y_val):
    train_acc = accuracy(model, X_train, y_train)
    val_acc = accuracy(model, X_val, y_val)
    history.train_acc_history.append(train_acc)
    history.val_acc_history.append(val_acc)
    if val_acc > history.best_val_acc:
        history.best_val_acc = val_acc
        history.best_params = model.get_state()
