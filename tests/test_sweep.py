"""Tests of the sweep trainer (cs231n_norm.sweep): same numbers as one-by-one training, faster."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from cs231n_norm.model import FullyConnectedNet
from cs231n_norm.solver import train
from cs231n_norm.sweep import WEIGHT_INIT_EXPERIMENT, StackedNets, SweepRun, train_sweep


@pytest.fixture(scope="module")
def digits():
    """sklearn's digits, standardized with training statistics: 200 train, 120 validation."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(1).permutation(len(X))
    X, y = X[order], y[order]
    mean, std = X[:200].mean(axis=0), X[:200].std(axis=0) + 1e-8
    return {"X_train": (X[:200] - mean) / std, "y_train": y[:200],
            "X_val": (X[200:320] - mean) / std, "y_val": y[200:320]}


def assert_same_as_train(run, history):
    np.testing.assert_allclose(run.loss_history, history.loss_history, rtol=1e-10, atol=0)
    np.testing.assert_array_equal(run.train_acc_history, history.train_acc_history)
    np.testing.assert_array_equal(run.val_acc_history, history.val_acc_history)
    assert run.best_val_acc == history.best_val_acc
    assert run.best_train_acc == max(history.train_acc_history)
    assert run.final_train_loss == pytest.approx(history.loss_history[-1], rel=1e-10)


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_sweep_equals_one_by_one_training_in_float64(normalization, digits, unmodified):
    """Two seeds (so nets see different minibatches) x three scales, a subsampled train accuracy."""
    settings = {"num_epochs": 2, "batch_size": 25, "num_train_samples": 150}
    scales = [1e-3, 5e-2, 1.0]
    with unmodified(digits):
        runs = train_sweep(digits, hidden_dims=[20, 15], normalization=normalization, weight_scales=scales,
                           learning_rate=2e-3, seeds=[0, 3], dtype=np.float64, progress=False, **settings)
    assert [(run.seed, run.weight_scale) for run in runs] == [(s, w) for s in (0, 3) for w in scales]
    for run in runs:
        assert run.norm == normalization
        net = FullyConnectedNet([20, 15], normalization=normalization, weight_scale=run.weight_scale, seed=run.seed)
        history = train(net, digits, optim_config={"learning_rate": 2e-3}, seed=run.seed, progress=False, **settings)
        assert_same_as_train(run, history)


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_sweep_equals_training_with_momentum_reg_decay_and_tanh(normalization, digits):
    settings = {"num_epochs": 3, "batch_size": 40, "lr_decay": 0.7, "num_val_samples": 100}
    runs = train_sweep(digits, hidden_dims=[12, 12, 12], normalization=normalization, weight_scales=[0.02, 0.3],
                       learning_rate=0.05, update_rule="sgd_momentum", reg=0.01, activation="tanh",
                       dtype=np.float64, progress=False, **settings)
    for run in runs:
        net = FullyConnectedNet([12, 12, 12], normalization=normalization, weight_scale=run.weight_scale,
                                reg=0.01, activation="tanh", seed=0)
        history = train(net, digits, update_rule="sgd_momentum", optim_config={"learning_rate": 0.05},
                        progress=False, **settings)
        assert_same_as_train(run, history)


@pytest.fixture
def trained_stack(digits, request):
    nets = [FullyConnectedNet([16, 16], normalization=request.param, weight_scale=scale, seed=2)
            for scale in (0.01, 0.1, 0.5)]
    stack = StackedNets(nets)
    rng = np.random.default_rng(0)
    for _ in range(5):  # some training steps, so the running statistics mean something
        batch = rng.choice(200, 30, replace=False)
        stack.loss_and_grads(digits["X_train"][batch], digits["y_train"][batch])
        stack.theta -= 0.05 * stack.grads
    return stack


@pytest.mark.parametrize("trained_stack", ["batchnorm", "layernorm", None], indirect=True)
def test_batched_test_mode_equals_each_nets_own_forward(trained_stack, digits, unmodified):
    X = digits["X_val"]
    with unmodified(X, trained_stack.theta, trained_stack.running):
        folded = trained_stack.scores(X, fold_batchnorm=True)
        unfolded = trained_stack.scores(X, fold_batchnorm=False)
    np.testing.assert_allclose(folded, unfolded, rtol=1e-11, atol=1e-12)
    for block_bytes in (1, 1000):  # a block of one row; a few rows (the last block shorter)
        np.testing.assert_allclose(trained_stack.scores(X, block_bytes=block_bytes), folded, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(trained_stack.scores(X, fold_batchnorm=False, block_bytes=block_bytes), unfolded,
                                   rtol=1e-12, atol=1e-13)
    for k in range(trained_stack.K):
        np.testing.assert_allclose(folded[k], trained_stack.net(k).loss(X), rtol=1e-11, atol=1e-12)
    accuracy = trained_stack.accuracy(X, digits["y_val"])
    for k in range(trained_stack.K):
        assert accuracy[k] == np.mean(trained_stack.net(k).predict(X) == digits["y_val"])


@pytest.mark.parametrize("trained_stack", ["batchnorm"], indirect=True)
def test_batchnorm_statistics_are_per_net(trained_stack, digits):
    """Each net's running mean is its own: nets of different scales have different statistics."""
    means = trained_stack.running[0]["running_mean"]
    assert means.shape == (3, 1, 16)
    assert not np.allclose(means[0], means[2])
    np.testing.assert_array_equal(trained_stack.net(1).bn_params[0]["running_mean"], means[1, 0])


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_gradients_equal_each_nets_own_gradients(normalization, digits):
    nets = [FullyConnectedNet([8, 9], normalization=normalization, weight_scale=s, reg=0.1, seed=4) for s in (0.1, 1.0)]
    stack = StackedNets(nets)
    X, y = digits["X_train"][:20], digits["y_train"][:20]
    losses = stack.loss_and_grads(X, y)
    for k, net in enumerate(nets):
        loss, grads = net.loss(X, y)
        assert losses[k] == pytest.approx(loss, rel=1e-13)
        for name, grad in grads.items():
            np.testing.assert_allclose(stack.param_grads[name][k], grad, rtol=1e-12, atol=1e-15)


def test_parameters_are_views_into_one_flat_buffer():
    stack = StackedNets([FullyConnectedNet([5], normalization="batchnorm", seed=s) for s in (0, 1)])
    assert sum(value.size for value in stack.params.values()) == stack.theta.size
    for name, value in stack.params.items():
        assert np.shares_memory(value, stack.theta) and np.shares_memory(stack.param_grads[name], stack.grads)


def test_diverging_net_does_not_crash_warn_or_poison_the_others(digits):
    """SGD with momentum, 4 hidden layers: the net at weight scale 3 overflows to NaN in a few steps."""
    settings = {"hidden_dims": [50, 50, 50, 50], "normalization": None, "num_epochs": 2, "batch_size": 20,
                "learning_rate": 0.01, "update_rule": "sgd_momentum", "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = train_sweep(digits, weight_scales=[0.2, 3.0], **settings)
        alone = train_sweep(digits, weight_scales=[0.2], **settings)[0]
    healthy, diverged = runs
    assert diverged.diverged and np.isnan(diverged.final_train_loss)
    assert diverged.val_acc_history[-1] == 0.0  # NaN scores classify nothing correctly
    assert not healthy.diverged
    np.testing.assert_array_equal(healthy.loss_history, alone.loss_history)
    np.testing.assert_array_equal(healthy.val_acc_history, alone.val_acc_history)
    assert np.geterr()["over"] == "warn"  # the sweep's error state was local


def test_float32_sweep_returns_one_run_per_scale(digits):
    runs = train_sweep(digits, hidden_dims=[10], normalization="batchnorm", weight_scales=np.logspace(-3, 0, 4),
                       num_epochs=1, batch_size=50, learning_rate=1e-3, progress=False)
    assert len(runs) == 4 and all(isinstance(run, SweepRun) for run in runs)
    assert [run.weight_scale for run in runs] == list(np.logspace(-3, 0, 4))
    assert all(run.loss_history.shape == (4,) and run.seed == 0 for run in runs)


def test_weight_init_lesson_at_the_smallest_scale():
    """The experiment's point, on 3 epochs: at weight scale 1e-4 the plain 5-layer net
    is stuck at chance, the batch-norm net learns."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    mean, std = X[:1000].mean(axis=0), X[:1000].std(axis=0) + 1e-8
    data = {"X_train": (X[:1000] - mean) / std, "y_train": y[:1000],
            "X_val": (X[1000:1300] - mean) / std, "y_val": y[1000:1300]}
    settings = {key: WEIGHT_INIT_EXPERIMENT[key] for key in ("hidden_dims", "batch_size", "learning_rate")}
    best = {norm: train_sweep(data, normalization=norm, weight_scales=[1e-4], num_epochs=3, progress=False,
                              **settings)[0].best_val_acc for norm in (None, "batchnorm")}
    assert best[None] < 0.2 and best["batchnorm"] > 0.85, best


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"weight_scales": []}, ValueError, "weight_scales must hold at least one"),
        ({"weight_scales": [0.1, -1.0]}, ValueError, "weight_scales must be a positive"),
        ({"seeds": [0, -2]}, ValueError, "seeds must be non-negative integers"),
        ({"normalization": "groupnorm"}, ValueError, "normalization must be one of"),
        ({"learning_rate": 0}, ValueError, "learning_rate must be a positive"),
        ({"update_rule": "rmsprop"}, ValueError, "update_rule must be one of"),
        ({"dtype": np.float16}, TypeError, "dtype must be"),
        ({"batch_size": 1000}, ValueError, "batch_size must be at most"),
        ({"workers": 0}, ValueError, "workers must be a positive integer"),
        ({"lr_decay": 5.0}, ValueError, r"lr_decay must be in \(0, 1\], got 5.0"),  # as train() says
    ],
)
def test_bad_arguments_are_named(change, error, message, digits):
    arguments = {"hidden_dims": [10], "normalization": None, "weight_scales": [0.1], "num_epochs": 1,
                 "batch_size": 50, "learning_rate": 1e-3, "progress": False}
    arguments.update(change)
    with pytest.raises(error, match=message):
        train_sweep(digits, **arguments)


def test_stacking_different_architectures_is_refused():
    with pytest.raises(ValueError, match=r"nets\[1\] differs"):
        StackedNets([FullyConnectedNet([5]), FullyConnectedNet([6])])


def test_benchmark_script_runs_and_writes_its_report(tmp_path, capsys):
    """Smoke run of benchmarks/bench_training.py (2 scales, 1 epoch); no timing is asserted."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_training.py"
    main = runpy.run_path(str(script))["main"]
    main(["--quick", "--rounds", "1", "--output", str(tmp_path / "results.md")])
    report = (tmp_path / "results.md").read_text()
    for trainer in ("sweep float32", "sweep float32, 2 workers", "sweep float64", "one by one float32",
                    "one by one float64"):
        assert f"| {trainer} |" in report
    assert "| float32, like for like (one core each) |" in report
    assert "| float64, like for like (one core each) |" in report
    float64_agreement = next(line for line in report.splitlines() if line.startswith("- float64:"))
    assert "best validation accuracy identical for 6 of 6" in float64_agreement
    capsys.readouterr()


def test_scaling_benchmark_runs_and_writes_its_report(tmp_path, capsys):
    """Smoke run of benchmarks/bench_sweep_scaling.py (1 epoch, K = 1, 2, 4); no timing is asserted."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_sweep_scaling.py"
    module = runpy.run_path(str(script))
    # per net: the sweep's median over the rounds / K, one by one's median / its number of nets
    assert module["per_net"]({4: [2.0, 1.0, 9.0]}, [6.0, 5.0, 7.0], 3, 4) == (0.5, 2.0)
    module["main"](["--quick", "--rounds", "1", "--output", str(tmp_path / "scaling.md")])
    report = (tmp_path / "scaling.md").read_text()
    assert "| normalization | K = 1 | K = 2 | K = 4 |" in report
    assert "| normalization | K = 1 | K = 2 | K = 4 | one by one |" in report
    for norm in ("none", "batchnorm", "layernorm", "all three"):
        rows = [line for line in report.splitlines() if line.startswith(f"| {norm} | ")]
        assert rows and all(re.search(r"\d+ ms, \d+\.\d\dx", row) for row in rows[-1:]), norm
    capsys.readouterr()


def test_parallel_groups_give_identical_numbers(digits):
    settings = {"hidden_dims": [16, 16], "normalization": "batchnorm", "weight_scales": [1e-3, 0.1, 1.0],
                "num_epochs": 2, "batch_size": 40, "learning_rate": 2e-3, "seeds": [0, 5], "progress": False}
    one = train_sweep(digits, workers=1, **settings)
    three = train_sweep(digits, workers=3, **settings)
    assert len(one) == len(three) == 6
    for a, b in zip(one, three):
        assert (a.seed, a.weight_scale) == (b.seed, b.weight_scale)
        np.testing.assert_array_equal(a.loss_history, b.loss_history)
        np.testing.assert_array_equal(a.val_acc_history, b.val_acc_history)
        np.testing.assert_array_equal(a.train_acc_history, b.train_acc_history)
