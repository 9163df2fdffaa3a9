"""Running statistics: ``running = momentum * running + (1 - momentum) * batch`` with the
biased batch variance (CS231n), and PyTorch's conventions through pytorch_bn_param
(momentum = weight of the new value, unbiased running_var, starting at ones).

Each convention is checked against the closed form of its own documented formula
after k steps. PyTorch itself is not needed: the numbers are what its documentation
specifies (and two of them are worked out by hand below).
"""

import numpy as np
import pytest

from cs231n_norm import (
    batchnorm_backward_alt,
    batchnorm_forward,
    pytorch_bn_param,
    spatial_batchnorm_forward,
    update_running_stats,
)


@pytest.mark.parametrize("momentum", [0.9, 0.5, 0.99])
def test_cs231n_closed_form_after_k_steps_of_one_batch(momentum, rng, per_feature_data):
    """From zeros, k steps on the same batch: running = (1 - m^k) * batch statistic."""
    x = per_feature_data(rng, (6, 4))
    bn_param = {"mode": "train", "momentum": momentum}
    k = 7
    for _ in range(k):
        batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], (1 - momentum**k) * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], (1 - momentum**k) * x.var(axis=0, ddof=0), rtol=1e-12)


def test_cs231n_closed_form_after_k_different_batches(rng, per_feature_data):
    """running_k = m^k * running_0 + (1 - m) * sum_t m^(k - t) * batch_t, biased variance."""
    momentum, k, D = 0.8, 6, 5
    xs = [per_feature_data(rng, (4, D)) + t for t in range(k)]
    start_mean, start_var = rng.standard_normal(D), rng.uniform(0.5, 2, D)
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": start_mean, "running_var": start_var}
    for x in xs:
        batchnorm_forward(x, np.ones(D), np.zeros(D), bn_param)
    weights = [(1 - momentum) * momentum ** (k - t) for t in range(1, k + 1)]
    expected_mean = momentum**k * start_mean + sum(w * x.mean(axis=0) for w, x in zip(weights, xs))
    expected_var = momentum**k * start_var + sum(w * x.var(axis=0, ddof=0) for w, x in zip(weights, xs))
    np.testing.assert_allclose(bn_param["running_mean"], expected_mean, rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], expected_var, rtol=1e-12)


@pytest.mark.parametrize("torch_momentum", [0.1, 0.3])
def test_pytorch_closed_form_after_k_steps(torch_momentum, rng, per_feature_data):
    """PyTorch: running = (1 - p) * running + p * batch, running_var from ones, unbiased (N - 1)."""
    x = per_feature_data(rng, (5, 3))
    bn_param = pytorch_bn_param(3, momentum=torch_momentum)
    k = 9
    for _ in range(k):
        batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    keep = (1 - torch_momentum) ** k
    np.testing.assert_allclose(bn_param["running_mean"], (1 - keep) * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], keep * 1.0 + (1 - keep) * x.var(axis=0, ddof=1), rtol=1e-12)


def test_both_conventions_by_hand():
    """x = [1, 3]: mean 2, biased variance 1, unbiased variance 2.
    CS231n (m = 0.9, from zeros): mean 0.1 * 2 = 0.2, var 0.1 * 1 = 0.1.
    PyTorch (p = 0.1, var from ones): mean 0.2, var 0.9 * 1 + 0.1 * 2 = 1.1."""
    x = np.array([[1.0], [3.0]])
    cs231n = {"mode": "train"}
    torch_like = pytorch_bn_param(1)
    out_cs231n, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), cs231n)
    out_torch, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), torch_like)
    np.testing.assert_allclose(cs231n["running_mean"], [0.2], rtol=1e-14)
    np.testing.assert_allclose(cs231n["running_var"], [0.1], rtol=1e-14)
    np.testing.assert_allclose(torch_like["running_mean"], [0.2], rtol=1e-14)
    np.testing.assert_allclose(torch_like["running_var"], [1.1], rtol=1e-14)
    # both normalize the batch itself with the biased variance: (x - 2) / sqrt(1 + eps)
    expected = np.array([[-1.0], [1.0]]) / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(out_cs231n, expected, rtol=1e-14)
    np.testing.assert_array_equal(out_torch, out_cs231n)


def test_pytorch_bn_param_contents():
    bn_param = pytorch_bn_param(4, momentum=0.1, eps=1e-3, dtype=np.float32)
    assert bn_param["mode"] == "train" and bn_param["eps"] == 1e-3
    assert bn_param["momentum"] == pytest.approx(0.9, abs=1e-15)
    assert bn_param["running_var_unbiased"] is True
    np.testing.assert_array_equal(bn_param["running_mean"], np.zeros(4, np.float32))
    np.testing.assert_array_equal(bn_param["running_var"], np.ones(4, np.float32))
    assert bn_param["running_var"].dtype == np.float32


def test_spatial_batchnorm_counts_n_h_w(rng, per_feature_data):
    """Spatial BN's statistics are over N*H*W values per channel (PyTorch's BatchNorm2d too)."""
    x = per_feature_data(rng, (2, 3, 2, 2))
    bn_param = pytorch_bn_param(3, momentum=1.0)  # running = the batch statistic itself
    spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_extremes(momentum, rng, per_feature_data):
    x = per_feature_data(rng, (4, 3))
    start_mean, start_var = np.full(3, 7.0), np.full(3, 2.0)
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": start_mean, "running_var": start_var}
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    if momentum == 0.0:  # nothing of the old value is kept
        np.testing.assert_allclose(bn_param["running_mean"], x.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(bn_param["running_var"], x.var(axis=0), rtol=1e-14)
    else:  # nothing of the batch enters
        np.testing.assert_array_equal(bn_param["running_mean"], start_mean)
        np.testing.assert_array_equal(bn_param["running_var"], start_var)


def test_new_arrays_written_back_old_ones_untouched(rng, per_feature_data):
    x = per_feature_data(rng, (4, 3))
    old_mean, old_var = np.ones(3), np.ones(3)
    bn_param = {"mode": "train", "running_mean": old_mean, "running_var": old_var}
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert bn_param["running_mean"] is not old_mean and bn_param["running_var"] is not old_var
    np.testing.assert_array_equal(old_mean, np.ones(3))
    np.testing.assert_array_equal(old_var, np.ones(3))
    assert not np.array_equal(bn_param["running_mean"], old_mean)


def test_running_stats_take_the_dtype_of_x(rng, per_feature_data):
    bn_param = {"mode": "train"}
    batchnorm_forward(per_feature_data(rng, (4, 3), dtype=np.float32), np.ones(3), np.zeros(3), bn_param)
    assert bn_param["running_mean"].dtype == np.float32 and bn_param["running_var"].dtype == np.float32


def test_update_running_stats_directly():
    bn_param = {"momentum": 0.75, "running_mean": np.array([4.0]), "running_var": np.array([8.0])}
    update_running_stats(bn_param, np.array([0.0]), np.array([4.0]), count=5)
    np.testing.assert_allclose(bn_param["running_mean"], [3.0])
    np.testing.assert_allclose(bn_param["running_var"], [7.0])
    bn_param["running_var_unbiased"] = True
    update_running_stats(bn_param, np.array([0.0]), np.array([4.0]), count=5)
    np.testing.assert_allclose(bn_param["running_var"], [0.75 * 7.0 + 0.25 * 4.0 * 5 / 4])


# ------------------------------------------------------------------ test mode


def test_test_mode_uses_the_running_statistics(rng, per_feature_data):
    x = per_feature_data(rng, (8, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    running_mean, running_var = rng.standard_normal(4), rng.uniform(0.5, 2.0, 4)
    bn_param = {"mode": "test", "running_mean": running_mean, "running_var": running_var}
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - running_mean) / np.sqrt(running_var + 1e-5) + beta, rtol=1e-13)
    batch_normalized, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert not np.allclose(out, batch_normalized, atol=0.1)
    assert bn_param["running_mean"] is running_mean and bn_param["running_var"] is running_var  # not updated
    # test-mode backward: statistics are constants
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(batchnorm_backward_alt(dout, cache)[0], dout * gamma / np.sqrt(running_var + 1e-5), rtol=1e-13)


def test_spatial_test_mode_uses_the_running_statistics(rng, per_feature_data):
    x = per_feature_data(rng, (2, 3, 2, 2))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    running_mean, running_var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "test", "running_mean": running_mean, "running_var": running_var})
    c = (1, 3, 1, 1)
    expected = gamma.reshape(c) * (x - running_mean.reshape(c)) / np.sqrt(running_var.reshape(c) + 1e-5) + beta.reshape(c)
    np.testing.assert_allclose(out, expected, rtol=1e-13)


@pytest.mark.parametrize("layer", ["batchnorm", "spatial_batchnorm"])
def test_test_mode_after_warm_up_on_stationary_data(layer, rng, per_feature_data):
    """After training-mode passes over batches from one distribution, test mode on fresh
    data from it gives means ~0 and stds ~1 per feature, but not *exactly* 0 and 1
    (that would mean batch statistics are being used)."""
    D = 5
    shape = (64, D) if layer == "batchnorm" else (8, D, 3, 3)
    axes = 0 if layer == "batchnorm" else (0, 2, 3)
    means = rng.permutation(np.linspace(-4, 4, D)).reshape((1, D) + (1,) * (len(shape) - 2))
    scales = rng.uniform(2.0, 6.0, D).reshape(means.shape)  # far from 1: running std vs var shows

    def draw(n):
        return rng.standard_normal((n,) + shape[1:]) * scales + means

    forward = batchnorm_forward if layer == "batchnorm" else spatial_batchnorm_forward
    bn_param = {"mode": "train"}
    for _ in range(100):
        forward(draw(shape[0]), np.ones(D), np.zeros(D), bn_param)
    bn_param["mode"] = "test"
    out, _ = forward(draw(2000), np.ones(D), np.zeros(D), bn_param)
    assert np.abs(out.mean(axis=axes)).max() < 0.1
    assert np.abs(out.std(axis=axes) - 1).max() < 0.1
    assert np.abs(out.mean(axis=axes)).max() > 1e-6  # not the batch's own statistics
