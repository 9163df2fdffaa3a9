"""Tests of the update rules (cs231n_norm.optim) against their textbook formulas."""

import numpy as np
import pytest

from cs231n_norm.optim import adam, get_update_rule, sgd, sgd_momentum


def reference_adam(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """CS231n's Adam, line by line (bias-corrected moments)."""
    t = t + 1
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, t


@pytest.fixture
def problem(rng):
    w = rng.standard_normal((4, 5))
    dw = rng.standard_normal((4, 5))
    return w, dw


def test_sgd_is_a_gradient_step(problem, unmodified):
    w, dw = problem
    with unmodified(w, dw):
        next_w, config = sgd(w, dw, {"learning_rate": 0.3})
    np.testing.assert_allclose(next_w, w - 0.3 * dw, rtol=0, atol=1e-15)
    assert sgd(w, dw)[1]["learning_rate"] == 1e-2  # CS231n's default


def test_sgd_momentum_accumulates_velocity(problem, rng, unmodified):
    w, dw = problem
    velocity = rng.standard_normal(w.shape)
    config = {"learning_rate": 0.1, "momentum": 0.8, "velocity": velocity}
    with unmodified(w, dw, velocity):
        next_w, config = sgd_momentum(w, dw, config)
    expected_v = 0.8 * velocity - 0.1 * dw
    np.testing.assert_allclose(config["velocity"], expected_v, rtol=0, atol=1e-15)
    np.testing.assert_allclose(next_w, w + expected_v, rtol=0, atol=1e-15)
    # a second step uses the velocity of the first
    dw2 = rng.standard_normal(w.shape)
    next_w2, config = sgd_momentum(next_w, dw2, config)
    np.testing.assert_allclose(next_w2, next_w + 0.8 * expected_v - 0.1 * dw2, rtol=0, atol=1e-15)
    assert sgd_momentum(w, dw)[1]["momentum"] == 0.9


def test_adam_matches_the_textbook_formula_over_several_steps(problem, rng, unmodified):
    w, dw = problem
    config = {"learning_rate": 1e-2}
    ref_w, m, v, t = w, np.zeros_like(w), np.zeros_like(w), 0
    for _ in range(5):
        with unmodified(w, dw):
            next_w, config = adam(w, dw, config)
        ref_w, m, v, t = reference_adam(ref_w, dw, m, v, t, 1e-2)
        np.testing.assert_allclose(next_w, ref_w, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(config["m"], m, rtol=1e-13)
        np.testing.assert_allclose(config["v"], v, rtol=1e-13)
        assert config["t"] == t
        w, dw = next_w, rng.standard_normal(w.shape)


def test_adam_first_step_moves_every_weight_by_the_learning_rate(problem):
    """At t=1 the bias-corrected m_hat/sqrt(v_hat) is sign(dw): the step is lr in size."""
    w, dw = problem
    next_w, _ = adam(w, dw, {"learning_rate": 1e-3})
    np.testing.assert_allclose(w - next_w, 1e-3 * np.sign(dw), rtol=1e-6)


def test_adam_does_not_modify_the_state_it_was_given(problem):
    w, dw = problem
    _, config = adam(w, dw, {})
    m_before, v_before = config["m"], config["v"]
    m_copy, v_copy = m_before.copy(), v_before.copy()
    adam(w, dw, config)
    np.testing.assert_array_equal(m_before, m_copy)
    np.testing.assert_array_equal(v_before, v_copy)


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, adam])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 7), (100_001,)])  # a long flat array is updated block by block
def test_in_place_update_gives_the_same_numbers(rule, dtype, shape, rng):
    w = rng.standard_normal(shape).astype(dtype)
    config_pure, config_in_place = {"learning_rate": 0.05}, {"learning_rate": 0.05}
    w_pure, w_in_place = w.copy(), w.copy()
    for _ in range(3):
        dw = rng.standard_normal(w.shape).astype(dtype)
        w_pure, config_pure = rule(w_pure, dw, config_pure)
        result, config_in_place = rule(w_in_place, dw, config_in_place, out=w_in_place)
        assert result is w_in_place
        assert w_pure.dtype == dtype
        np.testing.assert_array_equal(w_in_place, w_pure)


def test_get_update_rule():
    assert get_update_rule("adam") is adam
    assert get_update_rule(sgd) is sgd
    with pytest.raises(ValueError, match="update_rule must be one of"):
        get_update_rule("rmsprop")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda w: sgd(w, np.zeros((2, 2))), ValueError, r"dw must have shape \(3, 4\)"),
        (lambda w: sgd(w, np.zeros((3, 4)), {"learning_rate": -1.0}), ValueError, "learning_rate"),
        (lambda w: sgd(w, np.zeros((3, 4)), "fast"), TypeError, "config must be a dict"),
        (lambda w: sgd(w.astype(int), np.zeros((3, 4))), TypeError, "w must have dtype float"),
        (lambda w: sgd_momentum(w, np.zeros((3, 4)), {"momentum": 1.5}), ValueError, "momentum"),
        (lambda w: adam(w, np.zeros((3, 4)), {"beta1": 1.0}), ValueError,
         r"config\['beta1'\] must be a number in \[0, 1\), got float 1.0"),
        (lambda w: adam(w, np.zeros((3, 4)), {"beta2": 1}), ValueError,
         r"config\['beta2'\] must be a number in \[0, 1\)"),
        (lambda w: adam(w, np.zeros((3, 4)), {"beta1": "0.9"}), ValueError,
         r"config\['beta1'\] must be a number"),
        (lambda w: adam(w, np.zeros((3, 4)), {"m": np.zeros(2)}), ValueError, r"config\['m'\]"),
        (lambda w: adam(w, np.zeros((3, 4)), out=np.zeros((3, 4), np.float32)), ValueError, "out must"),
    ],
)
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call(np.ones((3, 4)))
