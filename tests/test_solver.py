"""Tests of the training loop (cs231n_norm.solver)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from cs231n_norm.model import FullyConnectedNet
from cs231n_norm.optim import adam
from cs231n_norm.solver import History, evaluation_subset, minibatch_schedule, train


@pytest.fixture(scope="module")
def digits():
    """sklearn's digits, standardized with training statistics: 300 train, 200 validation."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    X_train, X_val = X[:300], X[300:500]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-8
    return {"X_train": (X_train - mean) / std, "y_train": y[:300],
            "X_val": (X_val - mean) / std, "y_val": y[300:500]}


def test_minibatch_schedule_is_a_seeded_permutation_per_epoch():
    schedule = minibatch_schedule(103, 10, 3, seed=5)
    assert schedule.shape == (3, 10, 10)  # 103 // 10 batches; 3 examples sit each epoch out
    for epoch in schedule:
        assert len(np.unique(epoch)) == 100 and epoch.min() >= 0 and epoch.max() < 103
    assert not np.array_equal(schedule[0], schedule[1])
    np.testing.assert_array_equal(schedule, minibatch_schedule(103, 10, 3, seed=5))
    assert not np.array_equal(schedule, minibatch_schedule(103, 10, 3, seed=6))
    # documented construction: one generator, one permutation per epoch
    rng = np.random.default_rng(5)
    for epoch in schedule:
        np.testing.assert_array_equal(epoch.ravel(), rng.permutation(103)[:100])


def test_evaluation_subset():
    np.testing.assert_array_equal(evaluation_subset(50, None, 0), np.arange(50))
    np.testing.assert_array_equal(evaluation_subset(50, 80, 0), np.arange(50))
    subset = evaluation_subset(50, 20, 3)
    assert len(np.unique(subset)) == 20 and np.all(np.diff(subset) > 0)
    np.testing.assert_array_equal(subset, evaluation_subset(50, 20, 3))


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_training_learns_digits(normalization, digits, unmodified):
    net = FullyConnectedNet([50, 50], normalization=normalization, weight_scale=0.15, seed=0)
    with unmodified(digits):
        history = train(net, digits, num_epochs=8, batch_size=30, optim_config={"learning_rate": 2e-3},
                        progress=False)
    assert isinstance(history, History)
    assert len(history.loss_history) == 8 * 10
    assert len(history.train_acc_history) == len(history.val_acc_history) == 8 + 1  # first step, 8 epoch ends
    assert np.mean(history.loss_history[-5:]) < 0.5 * np.mean(history.loss_history[:5])
    assert history.best_val_acc == max(history.val_acc_history) > 0.85
    assert history.diverged_at is None


def test_one_iteration_per_epoch_checks_once_per_epoch(digits):
    net = FullyConnectedNet([10], seed=0)
    history = train(net, digits, num_epochs=3, batch_size=300, progress=False)
    assert len(history.loss_history) == 3 and len(history.val_acc_history) == 3


def test_lr_decay_and_optim_config_are_applied(digits):
    seen = []

    def recording_sgd(w, dw, config):
        seen.append(config["learning_rate"])
        return w - config["learning_rate"] * dw, config

    net = FullyConnectedNet([10], seed=0)
    optim_config = {"learning_rate": 0.1}
    train(net, digits, num_epochs=3, batch_size=150, update_rule=recording_sgd, optim_config=optim_config,
          lr_decay=0.5, progress=False)
    n_params = len(net.params)
    assert seen == [0.1] * 2 * n_params + [0.05] * 2 * n_params + [0.025] * 2 * n_params
    assert optim_config == {"learning_rate": 0.1}  # the caller's dict is copied, not used


def test_same_seed_same_history_different_seed_different_batches(digits):
    def run(seed):
        net = FullyConnectedNet([20], normalization="batchnorm", weight_scale=0.1, seed=0)
        return train(net, digits, num_epochs=2, batch_size=50, seed=seed, progress=False).loss_history

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_best_state_comes_back_with_its_batchnorm_running_statistics(digits):
    """Train well for one epoch, then wreck the net: the best state is epoch 1's.

    CS231n's Solver swaps back the best *parameters* only; the batch-norm running
    statistics stay those of the last (wrecked) epoch, and the restored net no
    longer scores its best validation accuracy. Here both come back together.
    """
    steps_per_epoch = 300 // 30

    def adam_then_wreck(w, dw, config):
        config["calls"] = config.get("calls", 0) + 1
        if config["calls"] <= steps_per_epoch:
            return adam(w, dw, config)
        noise = np.random.default_rng(config["calls"]).standard_normal(w.shape)
        return w + 0.5 * noise, config

    net = KeepsLastStatistics([50, 50], normalization="batchnorm", weight_scale=0.05, seed=0)
    history = train(net, digits, num_epochs=3, batch_size=30, update_rule=adam_then_wreck,
                    optim_config={"learning_rate": 5e-3}, progress=False)
    assert history.val_acc_history[-1] < history.best_val_acc - 0.2  # wrecked
    best = history.best_params
    assert {"running_mean1", "running_var1", "running_mean2", "running_var2"} <= set(best)
    for i, bn_param in enumerate(net.bn_params, start=1):
        np.testing.assert_array_equal(bn_param["running_mean"], best[f"running_mean{i}"])
        np.testing.assert_array_equal(bn_param["running_var"], best[f"running_var{i}"])
        assert not np.array_equal(bn_param["running_var"], net.last_bn_params[i - 1]["running_var"])
    assert np.mean(net.predict(digits["X_val"]) == digits["y_val"]) == history.best_val_acc

    # what CS231n's Solver leaves behind: the best weights with the last epoch's running statistics
    net.bn_params = net.last_bn_params
    net.params = {name: best[name] for name in net.params}
    assert np.mean(net.predict(digits["X_val"]) == digits["y_val"]) < history.best_val_acc - 0.1


class KeepsLastStatistics(FullyConnectedNet):
    """Remembers the batch-norm statistics it had just before train() restored the best state."""

    def set_state(self, state):
        self.last_bn_params = [dict(p) for p in self.bn_params]
        super().set_state(state)


def test_diverging_net_stops_with_a_marked_history(digits):
    """SGD with a huge L2 penalty: each step multiplies W by (1 - lr * reg) = -99999."""
    net = FullyConnectedNet([20, 20], weight_scale=0.1, reg=1e4, seed=0)
    history = train(net, digits, num_epochs=3, batch_size=20, update_rule="sgd",
                    optim_config={"learning_rate": 10.0}, progress=False)
    assert history.diverged_at is not None and 0 < history.diverged_at < 45
    assert len(history.loss_history) == history.diverged_at + 1
    assert np.isnan(history.loss_history[-1]) and np.isfinite(history.loss_history[:-1]).all()
    assert all(np.isfinite(value).all() for value in net.params.values())  # the best (first) state is back
    assert np.geterr()["over"] == "warn"  # the loop's error state was local


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_diverging_normalized_net_is_marked_not_crashed(normalization, digits):
    """Plain SGD at learning rate 1e3 in float32: the activations before a normalization
    layer grow until their variance overflows (matmul does not raise under np.errstate).
    The layer's NonFiniteError is a FloatingPointError too, so the loop marks divergence."""
    net = FullyConnectedNet([50, 50], normalization=normalization, dtype=np.float32, seed=0)
    history = train(net, digits, num_epochs=3, batch_size=20, update_rule="sgd",
                    optim_config={"learning_rate": 1e3}, progress=False)
    assert history.diverged_at is not None
    assert np.isnan(history.loss_history[-1])
    assert all(np.isfinite(value).all() for value in net.params.values())


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_data_is_an_error_not_a_divergence(value, digits):
    X_train = digits["X_train"].copy()
    X_train[7, 3] = value
    with pytest.raises(ValueError, match=r"data\['X_train'\] contains 1 NaN or inf value\(s\) \(first at index \(7, 3\)"):
        train(FullyConnectedNet([10], seed=0), dict(digits, X_train=X_train), num_epochs=1,
              batch_size=50, progress=False)


def test_progress_bar_can_be_turned_off(digits, capsys):
    train(FullyConnectedNet([10], seed=0), digits, num_epochs=1, batch_size=100, progress=False)
    assert capsys.readouterr() == ("", "")
    train(FullyConnectedNet([10], seed=0), digits, num_epochs=1, batch_size=100, progress=True)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"data": {"X_train": np.zeros((3, 64))}}, ValueError, "missing"),
        ({"batch_size": 301}, ValueError, "batch_size must be at most"),
        ({"num_epochs": 0}, ValueError, "num_epochs must be an integer >= 1"),
        ({"lr_decay": 1.5}, ValueError, "lr_decay must be in"),
        ({"update_rule": "rmsprop"}, ValueError, "update_rule must be one of"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"optim_config": 0.1}, TypeError, "optim_config must be a dict"),
        ({"num_train_samples": 0}, ValueError, "num_train_samples must be an integer >= 1"),
        ({"num_val_samples": 2.5}, ValueError, "num_val_samples must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(change, error, message, digits):
    arguments = {"data": digits, "num_epochs": 1, "batch_size": 50, "progress": False}
    arguments.update(change)
    with pytest.raises(error, match=message):
        train(FullyConnectedNet([10], seed=0), **arguments)


def test_labels_must_be_integers(digits):
    data = dict(digits, y_val=digits["y_val"].astype(float))
    with pytest.raises(TypeError, match=r"data\['y_val'\] must be an integer array"):
        train(FullyConnectedNet([10], seed=0), data, num_epochs=1, batch_size=50, progress=False)
