"""Tests of FullyConnectedNet (cs231n_norm.model): shapes, gradients, modes, recording hook."""

import numpy as np
import pytest

from cs231n_norm.gradcheck import eval_numerical_gradient
from cs231n_norm.layers import affine_forward, batchnorm_forward, layernorm_forward, relu_forward
from cs231n_norm.model import FullyConnectedNet, tanh_backward, tanh_forward

NORMALIZATIONS = [None, "batchnorm", "layernorm"]


def small_net(normalization, rng, activation="relu", reg=0.0, dtype=np.float64):
    """A 3-layer net with random gamma and beta (gamma = 1, beta = 0 would hide mistakes)."""
    net = FullyConnectedNet([6, 7], input_dim=5, num_classes=4, normalization=normalization,
                            weight_scale=0.5, reg=reg, dtype=dtype, seed=1, activation=activation)
    for name in net.params:
        if name.startswith("gamma"):
            net.params[name] = rng.uniform(0.5, 2.0, net.params[name].shape).astype(dtype)
        elif name.startswith(("beta", "b")):
            net.params[name] = rng.normal(0, 0.5, net.params[name].shape).astype(dtype)
    return net


def test_parameters_have_cs231n_names_and_shapes():
    net = FullyConnectedNet([8, 9], input_dim=5, num_classes=3, normalization="batchnorm", seed=0)
    shapes = {name: value.shape for name, value in net.params.items()}
    assert shapes == {
        "W1": (5, 8), "b1": (8,), "gamma1": (8,), "beta1": (8,),
        "W2": (8, 9), "b2": (9,), "gamma2": (9,), "beta2": (9,),
        "W3": (9, 3), "b3": (3,),
    }
    assert len(net.bn_params) == 2
    assert FullyConnectedNet([8, 9], normalization=None).bn_params == []
    np.testing.assert_array_equal(net.params["gamma1"], np.ones(8))
    np.testing.assert_array_equal(net.params["b3"], np.zeros(3))


def test_weights_are_seeded_and_scaled():
    a = FullyConnectedNet([200], input_dim=300, weight_scale=0.03, seed=7)
    b = FullyConnectedNet([200], input_dim=300, weight_scale=0.03, seed=7)
    c = FullyConnectedNet([200], input_dim=300, weight_scale=0.03, seed=8)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert abs(a.params["W1"].std() / 0.03 - 1) < 0.01  # 60,000 draws
    single = FullyConnectedNet([200], input_dim=300, weight_scale=0.03, seed=7, dtype=np.float32)
    assert single.params["W1"].dtype == np.float32
    np.testing.assert_array_equal(single.params["W1"], a.params["W1"].astype(np.float32))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_full_net_passes_numerical_gradient_check(normalization, activation, rng, normwise):
    net = small_net(normalization, rng, activation=activation, reg=0.3)
    X = rng.standard_normal((10, 5)) * rng.uniform(0.5, 3, 5) + rng.uniform(-2, 2, 5)
    y = rng.integers(0, 4, 10)
    loss, grads = net.loss(X, y)
    assert set(grads) == set(net.params)
    for name, value in net.params.items():
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], value, h=1e-6)
        if normalization == "batchnorm" and name in ("b1", "b2"):
            # batch norm subtracts the batch mean, and the bias with it: its gradient is 0,
            # and the numerical one is rounding noise around 0
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-8, name
            continue
        error = normwise(grads[name], numeric)
        assert error < 1e-7, f"{name}: gradient error {error:.2e}"


def test_loss_without_regularization_is_the_softmax_loss_of_the_scores(rng):
    """Train-mode loss of a layer-norm net (same in both modes) from its test-mode scores."""
    net = small_net("layernorm", rng)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    scores = net.loss(X)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    assert net.loss(X, y)[0] == pytest.approx(-log_probs[np.arange(6), y].mean(), rel=1e-13)


def test_regularization_adds_half_reg_times_squared_weights(rng):
    plain, regularized = small_net(None, rng), small_net(None, np.random.default_rng(0), reg=0.7)
    regularized.params = {k: v.copy() for k, v in plain.params.items()}
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    penalty = 0.5 * 0.7 * sum(np.sum(plain.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert regularized.loss(X, y)[0] == pytest.approx(plain.loss(X, y)[0] + penalty, rel=1e-13)


def test_batchnorm_test_mode_uses_the_running_statistics(rng):
    net = small_net("batchnorm", rng)
    for _ in range(3):
        net.loss(rng.standard_normal((8, 5)) + 1.0, rng.integers(0, 4, 8))
    assert all(p["running_mean"].shape == (d,) for p, d in zip(net.bn_params, (6, 7)))
    X = rng.standard_normal((4, 5))
    # the same forward by hand, every batch-norm layer in test mode
    h = X
    for i in (1, 2):
        a, _ = affine_forward(h, net.params[f"W{i}"], net.params[f"b{i}"])
        bn_param = dict(net.bn_params[i - 1], mode="test")
        n, _ = batchnorm_forward(a, net.params[f"gamma{i}"], net.params[f"beta{i}"], bn_param)
        h, _ = relu_forward(n)
    expected = h @ net.params["W3"] + net.params["b3"]
    np.testing.assert_allclose(net.loss(X), expected, rtol=1e-13, atol=1e-13)
    # test mode does not depend on the rest of the batch; train mode does
    np.testing.assert_allclose(net.loss(X[:2]), expected[:2], rtol=1e-13, atol=1e-13)


def test_batchnorm_test_mode_before_training_says_what_to_do(rng):
    with pytest.raises(ValueError, match="train"):
        small_net("batchnorm", rng).loss(rng.standard_normal((3, 5)))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_recording_keeps_the_results_and_stores_each_hidden_layer(normalization, rng):
    net = small_net(normalization, rng)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 4, 9)
    loss, grads = net.loss(X, y)
    recorded_loss, recorded_grads = net.loss(X, y, record=True)
    assert recorded_loss == loss
    for name in grads:
        np.testing.assert_array_equal(recorded_grads[name], grads[name])
    assert len(net.recorded) == 2
    for i, layer in enumerate(net.recorded, start=1):
        assert set(layer) == {"pre_norm", "post_norm", "activation", "activation_grad"}
        for value in layer.values():
            assert value.shape == (9, net.params[f"b{i}"].size)
        np.testing.assert_allclose(layer["activation"], np.maximum(layer["post_norm"], 0))
        np.testing.assert_allclose(layer["pre_norm"], (X if i == 1 else net.recorded[i - 2]["activation"])
                                   @ net.params[f"W{i}"] + net.params[f"b{i}"], rtol=1e-13)
    if normalization is None:
        np.testing.assert_array_equal(net.recorded[0]["post_norm"], net.recorded[0]["pre_norm"])
    if normalization == "layernorm":
        np.testing.assert_allclose(
            net.recorded[1]["post_norm"],
            layernorm_forward(net.recorded[1]["pre_norm"], net.params["gamma2"], net.params["beta2"], {})[0],
            rtol=1e-13)
    # activation_grad is dL/d(activation): the last one times the activation gives dW3
    np.testing.assert_allclose(net.recorded[1]["activation"].T @ _dscores(net, X, y),
                               grads["W3"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.recorded[1]["activation_grad"], _dscores(net, X, y) @ net.params["W3"].T,
                               rtol=1e-12, atol=1e-15)


def test_activation_grad_is_the_gradient_of_the_loss(rng, normwise):
    """Nudge the activation of hidden layer 1 through its bias: without normalization and
    with every unit active, d loss / d b1 = sum over the batch of dL/d(activation)."""
    net = FullyConnectedNet([6, 7], input_dim=5, num_classes=4, weight_scale=0.5, seed=3)
    net.params["b1"] = np.full(6, 10.0)  # all ReLUs of layer 1 open: d activation / d b1 = 1
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 4, 8)
    net.loss(X, y, record=True)
    numeric = eval_numerical_gradient(lambda _: net.loss(X, y)[0], net.params["b1"], h=1e-6)
    assert normwise(net.recorded[0]["activation_grad"].sum(axis=0), numeric) < 1e-8


def _dscores(net, X, y):
    scores = net.loss(X) if net.normalization != "batchnorm" else None
    if scores is None:  # batch norm: train-mode scores from the recorded last activation
        scores = net.recorded[-1]["activation"] @ net.params["W3"] + net.params["b3"]
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    return probs / len(y)


def test_recording_in_test_mode_has_no_gradients(rng):
    net = small_net("layernorm", rng, activation="tanh")
    scores = net.loss(rng.standard_normal((3, 5)), record=True)
    assert scores.shape == (3, 4)
    assert [layer["activation_grad"] for layer in net.recorded] == [None, None]
    np.testing.assert_allclose(net.recorded[0]["activation"], np.tanh(net.recorded[0]["post_norm"]))


def test_tanh_layer_gradient(rng, normwise):
    from cs231n_norm.gradcheck import eval_numerical_gradient_array
    x, dout = rng.standard_normal((4, 6)) * 2, rng.standard_normal((4, 6))
    out, cache = tanh_forward(x)
    numeric = eval_numerical_gradient_array(lambda x: tanh_forward(x)[0], x, dout)
    assert normwise(tanh_backward(dout, cache), numeric) < 1e-9


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_float32_net_computes_in_float32(normalization, rng):
    net = FullyConnectedNet([6], input_dim=5, num_classes=3, normalization=normalization, dtype=np.float32, seed=0)
    X, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)  # float64 input is converted
    loss, grads = net.loss(X, y)
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert net.loss(X).dtype == np.float32


def test_inputs_are_not_modified(rng, unmodified):
    net = small_net("batchnorm", rng)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    with unmodified(X, y):
        net.loss(X, y, record=True)
        net.loss(X)


def test_state_round_trip_includes_running_statistics(rng):
    net = small_net("batchnorm", rng)
    net.loss(rng.standard_normal((8, 5)), rng.integers(0, 4, 8))
    state = net.get_state()
    assert {"running_mean1", "running_var1", "running_mean2", "running_var2"} <= set(state)
    other = small_net("batchnorm", np.random.default_rng(99))
    other.set_state(state)
    X = rng.standard_normal((5, 5))
    np.testing.assert_array_equal(other.loss(X), net.loss(X))
    state["W1"][0, 0] += 1.0  # the loaded state is a copy
    assert other.params["W1"][0, 0] != state["W1"][0, 0]
    with pytest.raises(ValueError, match="state lacks"):
        other.set_state({"W1": state["W1"]})


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"hidden_dims": []}, ValueError, "hidden_dims must hold at least one"),
        ({"hidden_dims": 100}, TypeError, "hidden_dims must be a list"),
        ({"hidden_dims": [10, 0]}, ValueError, r"hidden_dims\[1\] must be a positive integer"),
        ({"normalization": "bn"}, ValueError, "normalization must be one of"),
        ({"activation": "sigmoid"}, ValueError, "activation must be one of"),
        ({"weight_scale": 0.0}, ValueError, "weight_scale must be a positive"),
        ({"reg": -1.0}, ValueError, "reg must be"),
        ({"dtype": np.int32}, TypeError, "dtype must be"),
        ({"input_dim": 2.5}, ValueError, "input_dim must be a positive integer"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_bad_construction_is_named(kwargs, error, message):
    arguments = {"hidden_dims": [10]}
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        FullyConnectedNet(**arguments)


def test_bad_loss_input_is_named(rng):
    net = FullyConnectedNet([6], input_dim=5, num_classes=3, seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 5\), got shape \(4, 6\)"):
        net.loss(np.zeros((4, 6)))
    with pytest.raises(TypeError, match="X must have dtype float"):
        net.loss(np.zeros((4, 5), dtype=int))
    with pytest.raises(ValueError, match="y must hold labels"):
        net.loss(np.zeros((4, 5)), np.array([0, 1, 2, 3]))
