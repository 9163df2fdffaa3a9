"""Numerical gradients (centred differences) and rel_error."""

import numpy as np
import pytest

from cs231n_norm import (
    error_relative_to_largest,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    numerical_gradients,
    rel_error,
)


def test_centred_difference_is_exact_for_a_quadratic(rng):
    """For f = sum(x^2) the centred difference has no truncation error; a forward
    difference would be off by h in every entry (1e-3 here)."""
    x = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient(lambda v: np.sum(v**2), x, h=1e-3)
    np.testing.assert_allclose(grad, 2 * x, rtol=0, atol=1e-10)


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.uniform(0.5, 2.0, size=(2, 3))
    grad = eval_numerical_gradient(lambda v: np.sum(np.sin(v) * v**3), x)
    assert rel_error(grad, np.cos(x) * x**3 + 3 * np.sin(x) * x**2) < 1e-8


def test_numerical_gradient_array_is_the_vector_jacobian_product(rng):
    x = rng.standard_normal((3, 2))
    A = rng.standard_normal((4, 3))
    df = rng.standard_normal((4, 2))
    grad = eval_numerical_gradient_array(lambda v: A @ np.tanh(v), x, df)
    assert rel_error(grad, (1 - np.tanh(x) ** 2) * (A.T @ df)) < 1e-8


def test_inputs_left_exactly_as_they_were(rng):
    x = rng.standard_normal((3, 3))
    df = rng.standard_normal((3, 3))
    x_copy, df_copy = x.copy(), df.copy()
    eval_numerical_gradient(lambda v: np.sum(v**3), x)
    eval_numerical_gradient_array(lambda v: v**3, x, df)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(df, df_copy)


def test_input_restored_even_when_f_raises_or_writes_into_it(rng):
    x = rng.standard_normal((2, 2))
    x_copy = x.copy()

    def raises(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_gradient(raises, x)
    np.testing.assert_array_equal(x, x_copy)

    def scribbles(v):
        v *= 2  # a buggy f that modifies its argument
        return v.sum()

    eval_numerical_gradient(scribbles, x)
    eval_numerical_gradient_array(lambda v: np.multiply(v, 2, out=v), x, np.ones((2, 2)))
    np.testing.assert_array_equal(x, x_copy)


def test_cs231n_closure_pattern(rng):
    """CS231n checks model parameters with f ignoring its argument:
    ``f = lambda _: model.loss(X, y)[0]; eval_numerical_gradient(f, model.params['W1'], verbose=False)``.
    That works because the caller's array itself is nudged (and restored)."""
    X = rng.standard_normal((5, 3))
    params = {"W": rng.standard_normal((3, 2))}
    W_before = params["W"].copy()

    def loss(_):
        return np.sum((X @ params["W"]) ** 2)

    grad = eval_numerical_gradient(loss, params["W"], verbose=False, h=1e-5)
    assert rel_error(grad, 2 * X.T @ (X @ params["W"])) < 1e-8
    np.testing.assert_array_equal(params["W"], W_before)


def test_read_only_input_is_not_written(rng):
    x = rng.standard_normal(4)
    x.flags.writeable = False
    np.testing.assert_allclose(eval_numerical_gradient(lambda v: np.sum(v**2), x, h=1e-3), 2 * x, atol=1e-10)


def test_gradient_keeps_shape_and_dtype(rng):
    x = rng.standard_normal((2, 3, 4))
    grad = eval_numerical_gradient_array(lambda v: v * 3.0, x, np.ones_like(x))
    assert grad.shape == x.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, 3.0, rtol=1e-9)


def test_rel_error_values():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(np.array([1.0, -1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)  # opposite signs: 2/2
    # the 1e-8 floor: differences between tiny numbers are measured against 1e-8
    assert rel_error(1e-12, 3e-12) == pytest.approx(2e-4)
    # the largest entry wins, and the measure is symmetric
    a, b = np.array([1.0, 100.0]), np.array([1.1, 100.0])
    assert rel_error(a, b) == pytest.approx(0.1 / 2.1) == rel_error(b, a)


def test_rel_error_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"same shape, got x \(2,\) and y \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_error_relative_to_largest_values():
    assert error_relative_to_largest(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert error_relative_to_largest(np.zeros(3), np.zeros(3)) == 0.0
    # the largest difference over the largest reference entry, not entry by entry
    a, b = np.array([1e-3 + 1e-11, 1.0]), np.array([1e-3, 1.0])
    assert error_relative_to_largest(a, b) == pytest.approx(1e-11, rel=1e-3)
    assert rel_error(a, b) == pytest.approx(5e-9, rel=1e-3)  # the tiny entry dominates rel_error
    assert error_relative_to_largest(np.array([1.0, 3.0]), np.array([1.0, 2.0])) == pytest.approx(0.5)
    assert error_relative_to_largest(np.array([1.0]), np.array([0.0])) > 1e250  # zero reference


def test_error_relative_to_largest_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"same shape, got x \(2,\) and y \(3,\)"):
        error_relative_to_largest(np.zeros(2), np.zeros(3))


def test_numerical_gradients_are_the_calls_one_by_one(rng):
    """Each array nudged in turn, the others held: the same numbers as three explicit calls."""
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    dout = rng.normal(size=(4, 2))
    snapshot = [a.copy() for a in (x, w, b)]

    def output(x_, w_, b_):
        return np.tanh(x_ @ w_ + b_)

    grads = numerical_gradients(output, {"dx": x, "dw": w, "db": b}, dout)
    assert list(grads) == ["dx", "dw", "db"]
    np.testing.assert_array_equal(grads["dx"], eval_numerical_gradient_array(lambda v: output(v, w, b), x.copy(), dout))
    np.testing.assert_array_equal(grads["dw"], eval_numerical_gradient_array(lambda v: output(x, v, b), w.copy(), dout))
    np.testing.assert_array_equal(grads["db"], eval_numerical_gradient_array(lambda v: output(x, w, v), b.copy(), dout))
    for before, after in zip(snapshot, (x, w, b)):
        np.testing.assert_array_equal(before, after)
    with pytest.raises(TypeError, match="arrays must be a non-empty dict"):
        numerical_gradients(output, [x, w, b], dout)


@pytest.mark.parametrize("h", [0, -1e-5, float("nan"), "1e-5"])
def test_bad_step(h):
    with pytest.raises(ValueError, match=r"h must be a positive finite number, got"):
        eval_numerical_gradient(np.sum, np.zeros(2), h=h)
    with pytest.raises(ValueError, match=r"h must be a positive finite number, got"):
        eval_numerical_gradient_array(lambda v: v, np.zeros(2), np.zeros(2), h=h)


def test_bad_arrays():
    with pytest.raises(TypeError, match=r"x must have dtype float32 or float64, got dtype int64; convert explicitly"):
        eval_numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(TypeError, match=r"df must have dtype float32 or float64, got dtype object"):
        eval_numerical_gradient_array(lambda v: v, np.zeros(2), np.array([1.0, None]))
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(2,\) but df has shape \(3,\)"):
        eval_numerical_gradient_array(lambda v: v, np.zeros(2), np.zeros(3))
