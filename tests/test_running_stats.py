"""Running statistics: ``running = momentum * running + (1 - momentum) * batch`` with the
biased batch variance (CS231n), and PyTorch's conventions through pytorch_bn_param
(momentum = weight of the new value, unbiased running_var, starting at ones).

Each convention is checked against the closed form of its own documented formula
after k steps (and two of the numbers are worked out by hand below). PyTorch's
convention is also checked against PyTorch itself: golden values recorded once with
torch 2.13.0 (BatchNorm1d and BatchNorm2d, 5 training steps) are always compared,
and with PyTorch installed, `python tests/test_running_stats.py` repeats the comparison
live (it is not a test: pytest never needs PyTorch, which is not a dependency).
"""

import numpy as np
import pytest

from cs231n_norm import (
    batchnorm_backward_alt,
    batchnorm_forward,
    pytorch_bn_param,
    spatial_batchnorm_backward,
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


# ------------------------------------------------------------------ PyTorch itself
#
# The tests above check each convention against its own documented formula. These
# check pytorch_bn_param against PyTorch's actual numbers: golden values recorded
# once with real PyTorch (always run; PyTorch is not a dependency). With PyTorch
# installed, `python tests/test_running_stats.py` repeats the comparison live.

TORCH_STEPS = 5  # training steps, one fixed batch each
TORCH_SHAPES = {"BatchNorm1d": (4, 3), "BatchNorm2d": (2, 3, 2, 2)}


def torch_check_data(module_name):
    """The fixed float64 data of the PyTorch comparison.

    Returns (batches, gamma, beta, test_batch): TORCH_STEPS training batches and one
    test-mode batch of TORCH_SHAPES[module_name], whose 3 features / channels have
    means -3, 0.5 and 10 and standard deviations 0.5, 2 and 4; and a random gamma and
    beta of shape (3,). Drawn with numpy's legacy RandomState, whose stream is frozen
    across numpy versions, so the golden values below stay valid.
    """
    shape = TORCH_SHAPES[module_name]
    per_feature = (1, 3) + (1,) * (len(shape) - 2)
    means = np.array([-3.0, 0.5, 10.0]).reshape(per_feature)
    scales = np.array([0.5, 2.0, 4.0]).reshape(per_feature)
    rs = np.random.RandomState(1 if module_name == "BatchNorm1d" else 2)
    batches = [rs.randn(*shape) * scales + means for _ in range(TORCH_STEPS + 1)]
    gamma, beta = rs.uniform(0.5, 2.0, 3), rs.randn(3)
    return batches[:-1], gamma, beta, batches[-1]


def run_torch(module_name):
    """What PyTorch computes on :func:`torch_check_data`: a dict of float64 arrays.

    ``torch.nn.BatchNorm1d(3, eps=1e-5, momentum=0.1)`` (or BatchNorm2d) with weight
    gamma and bias beta, TORCH_STEPS train-mode passes, then one eval-mode pass:
    running_mean and running_var after each step, shape (steps, 3); the train-mode
    outputs, shape (steps,) + batch shape; the eval-mode output on test_batch.
    """
    import torch

    batches, gamma, beta, test_batch = torch_check_data(module_name)
    module = getattr(torch.nn, module_name)(3, eps=1e-5, momentum=0.1, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(gamma))
        module.bias.copy_(torch.from_numpy(beta))
        module.train()
        outputs, means, variances = [], [], []
        for batch in batches:
            outputs.append(module(torch.from_numpy(batch)).numpy().copy())
            means.append(module.running_mean.numpy().copy())
            variances.append(module.running_var.numpy().copy())
        module.eval()
        test_output = module(torch.from_numpy(test_batch)).numpy().copy()
    return {"running_mean": np.array(means), "running_var": np.array(variances),
            "train_out": np.array(outputs), "test_out": test_output}


def run_ours(module_name, bn_param):
    """The same passes as :func:`run_torch`, with our layers and `bn_param`."""
    batches, gamma, beta, test_batch = torch_check_data(module_name)
    forward = batchnorm_forward if module_name == "BatchNorm1d" else spatial_batchnorm_forward
    outputs, means, variances = [], [], []
    for batch in batches:
        outputs.append(forward(batch, gamma, beta, bn_param)[0])
        means.append(bn_param["running_mean"])
        variances.append(bn_param["running_var"])
    bn_param["mode"] = "test"
    test_output = forward(test_batch, gamma, beta, bn_param)[0]
    return {"running_mean": np.array(means), "running_var": np.array(variances),
            "train_out": np.array(outputs), "test_out": test_output}


# Recorded with torch 2.13.0+cpu (CPU, float64) by running this file as a script,
# ``python tests/test_running_stats.py``, which prints run_torch's results in this
# form. The literals are the shortest decimal reprs that round-trip to the float64s.
PYTORCH_GOLDEN = {
    "BatchNorm1d": {
        "running_mean": np.array([
            [-0.27441477337192327, 0.09772761259122371, 0.5429187937415706],
            [-0.5499154337193851, 0.18435101993658967, 1.454405532977715],
            [-0.8145711388251802, 0.11493513811827342, 2.2797277738980473],
            [-1.055106776547389, 0.2497391358639806, 3.344078606936233],
            [-1.243469636968689, 0.2921099936836693, 4.1771659638114285],
        ]).reshape((5, 3)),
        "running_var": np.array([
            [0.9487412257226989, 1.3816772452946409, 3.406096390934584],
            [0.8756340877086752, 1.3921106126023601, 4.927168944140227],
            [0.8069235960288395, 1.2699023178025637, 4.833052201957788],
            [0.7428073291263543, 1.4182829959078291, 7.453829211591736],
            [0.676768699193986, 1.554040068411712, 7.240789975988637],
        ]).reshape((5, 3)),
        "train_out": np.array([
            [0.16014550412253936, -0.17223445661609973, 1.296310953521365],
            [-3.977724544527421, 1.9424915674405414, 0.4711804089542991],
            [0.3449494658928567, -0.38618959327684643, 1.690509994368442],
            [-2.714266699067367, 2.7967349910467316, 0.5835005654741107],
            [-2.1517728355635874, -0.5426024039928352, 1.6686224331309054],
            [-3.936504712776197, 0.002854477565630421, 0.5826525778677942],
            [-1.3147436510504342, 1.9494604475348296, 0.4623960064086668],
            [1.216124925810827, 2.771089987486702, 1.3278309049108497],
            [1.6445369408641703, -0.3173508977993081, 0.9522778233363864],
            [-2.885643003978997, 2.851145793560242, 1.714409748267029],
            [-2.2835298741609886, 1.8692538167459858, 0.2939379465183924],
            [-2.662260336303579, -0.22224620391259256, 1.0808764041964083],
            [-3.328781155832864, 0.577393049838316, 1.39876621998328],
            [1.562280734597934, -0.2296740305459761, 0.33374365937432604],
            [-2.355090232267887, 3.3380540454543723, 0.7260825379914468],
            [-2.065305620076582, 0.49502944384761394, 1.5829095049691642],
            [-1.5555659788794969, 2.0455993311683938, 0.8906758136532091],
            [-3.3177990245715034, -1.272952538306209, 0.23496199681379465],
            [-2.783037607613703, 1.9879305143253512, 1.4346328512024413],
            [1.4695063374853161, 1.420225201406791, 1.4812312606487714],
        ]).reshape((5, 4, 3)),
        "test_out": np.array([
            [-6.358175661475867, 4.006772137446683, 2.4861715495178207],
            [-5.843703208436899, 2.338394147706943, 2.0449994781351237],
            [-4.231727603735416, 4.589451885796535, 3.740075704369023],
            [-7.082125343036521, -1.8800405670794924, 1.7234775962450744],
        ]).reshape((4, 3)),
    },
    "BatchNorm2d": {
        "running_mean": np.array([
            [-0.3131402337077253, -0.024014114891041344, 0.9554975781589452],
            [-0.5955778819568235, 0.04609217055261835, 1.9199152888991962],
            [-0.8384411180640609, 0.02024678461540118, 2.711923888884232],
            [-1.0485505640208406, -0.013083498817295182, 3.576731333273325],
            [-1.2636623048791327, 0.00225677830945443, 4.419408906854129],
        ]).reshape((5, 3)),
        "running_var": np.array([
            [0.9313414923281388, 1.2756200215575704, 3.012893971914358],
            [0.8476400813584225, 1.9601509105753356, 5.086376161547501],
            [0.7704601688227168, 2.201290916634776, 5.972395047436484],
            [0.7262120478642894, 2.620027741898146, 7.084766306140852],
            [0.6788159280895191, 2.5990391635270624, 10.572334094980441],
        ]).reshape((5, 3)),
        "train_out": np.array([
            [-0.3681594286498643, 0.0660052936768527],
            [-2.4389999983929367, 2.1092650429062876],
            [-3.2555145526313574, -1.9026207104671662],
            [0.008866647386200598, -2.476283119256672],
            [0.47154624007686613, 0.5496454236768372],
            [1.3154392844153129, 2.228204568809673],
            [0.18380021246455217, -1.2126249446344963],
            [0.7829972935423313, -0.5842257134462812],
            [-0.7332111560936808, 0.9643337038411361],
            [-1.7691685745537673, -0.6931857185346527],
            [0.5658477094489875, 0.9442577161988448],
            [1.160816913236456, 0.5078172292132233],
            [-0.32277412342663936, -0.09745889671559546],
            [-0.9787853291756181, -2.186075281347647],
            [-2.691730402372224, -1.4660847418832588],
            [-1.5778109497523083, 0.839622399999908],
            [-0.31042583669937784, 0.9495518284894829],
            [1.077017861255541, 1.5662658899538273],
            [1.5227210932020558, -1.4322318866261843],
            [0.42104391390410945, 1.611618267651976],
            [-1.6207868262460319, -0.5722626869144901],
            [-3.1237718619701114, 0.3560415888285563],
            [1.6197039780760605, 0.7277735595102673],
            [1.1961639224451073, 0.9175238820452931],
            [-2.094072576323877, 0.15052958830424393],
            [2.3848742752626064, -0.9971835512795578],
            [-1.2577785772104906, -0.8608807250834825],
            [-0.1915183579754359, 0.9218073393579169],
            [0.5841424899669928, 1.3218799197700946],
            [1.1332431574828556, -0.2057801420715851],
            [-1.0907626691036516, -0.388165616039913],
            [-0.16107579063625, 0.7339140972828464],
            [-3.451338960745977, -0.7017963400686265],
            [-1.655740486725483, -2.659537371858383],
            [1.332141851585432, 1.4683097227233448],
            [0.5721568480271764, 1.53748123759189],
            [-0.7742854650887567, -0.24683629418770703],
            [-1.618691175090734, 1.5403445053659848],
            [-3.687851890078756, -0.8886560139474295],
            [-0.03126798760481626, -3.005511180745549],
            [0.659306796600558, 0.7247403629329598],
            [1.250492134496302, 1.4973662205519382],
            [-0.800629094448197, -1.9551474891082627],
            [1.2845681906842916, 1.1087345793398382],
            [-1.2925699311752143, -0.40649053214457537],
            [-0.3727238385731672, -0.17171210604045223],
            [0.8887907029796163, 1.5897499491077],
            [-0.2433452996099226, 1.376474218017051],
            [0.8641189342377892, 0.061854522150182494],
            [1.9287704222508122, -2.7928457328874883],
            [1.1483992064828068, -0.22777001555474688],
            [-2.9238942533961465, -0.14433399173077197],
            [0.6684332342245758, 1.7435247899720419],
            [1.4644761342897448, 0.9455523258470154],
            [-0.6122200794425771, -0.4298611881742187],
            [-0.08301629708653895, -0.39874282358150215],
            [-2.514141783464324, -1.9617283008363007],
            [-1.403069712103493, -1.8302446297069837],
            [0.5216449261095427, 0.4359533257788536],
            [1.730555206886998, 0.2334351419674289],
        ]).reshape((5, 2, 3, 2, 2)),
        "test_out": np.array([
            [-3.623027828066982, -2.5101168371079137],
            [-3.0888262247122467, -2.5166780449745043],
            [0.44332131433968386, 1.1841681240830246],
            [0.3678430041825992, -2.422880894543778],
            [2.704403246904686, 0.711551212553326],
            [1.8559928787768603, 1.5899015401816465],
            [-3.653177031742835, -2.38819293149004],
            [-2.981406744197608, -2.0604092306233173],
            [-3.2041257426896412, 0.5186665423105412],
            [-0.038241840524036105, -0.6320207877488361],
            [0.9515392955232864, 1.7607534776253655],
            [0.8628793292011004, 0.4912367308444338],
        ]).reshape((2, 3, 2, 2)),
    },
}


@pytest.mark.parametrize("module_name", sorted(TORCH_SHAPES))
def test_pytorch_bn_param_reproduces_pytorch_golden_values(module_name):
    """pytorch_bn_param + our layers give PyTorch's running statistics after each of 5
    steps, its train-mode outputs, and its eval-mode output, to 1e-12."""
    golden = PYTORCH_GOLDEN[module_name]
    ours = run_ours(module_name, pytorch_bn_param(3, momentum=0.1, eps=1e-5))
    for key, expected in golden.items():
        np.testing.assert_allclose(ours[key], np.array(expected), rtol=1e-12, atol=1e-12, err_msg=key)
    # The golden values carry PyTorch's variance convention: the same momentum and start,
    # but CS231n's biased running variance, does not reproduce them.
    biased = run_ours(module_name, dict(pytorch_bn_param(3), running_var_unbiased=False))
    np.testing.assert_allclose(biased["running_mean"], golden["running_mean"], rtol=1e-12, atol=1e-12)
    assert not np.allclose(biased["running_var"], golden["running_var"], rtol=1e-3)


def compare_with_live_pytorch(module_name):
    """Run by hand with PyTorch installed (``python tests/test_running_stats.py``): the
    golden values are still PyTorch's, our layers reproduce them, and the gradients agree
    with PyTorch's autograd. Not a test: PyTorch is not a dependency, and a test that
    skips on every machine without it would be a check that never runs in CI."""
    import torch

    live = run_torch(module_name)
    ours = run_ours(module_name, pytorch_bn_param(3))
    for key in live:
        np.testing.assert_allclose(np.array(PYTORCH_GOLDEN[module_name][key]), live[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(ours[key], live[key], rtol=1e-12, atol=1e-12, err_msg=key)

    batches, gamma, beta, _ = torch_check_data(module_name)
    x, dout = batches[0], np.random.default_rng(0).standard_normal(batches[0].shape)
    module = getattr(torch.nn, module_name)(3, eps=1e-5, momentum=0.1, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(gamma))
        module.bias.copy_(torch.from_numpy(beta))
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    module(x_torch).backward(torch.from_numpy(dout))
    if module_name == "BatchNorm1d":
        _, cache = batchnorm_forward(x, gamma, beta, pytorch_bn_param(3))
        grads = batchnorm_backward_alt(dout, cache)
    else:
        _, cache = spatial_batchnorm_forward(x, gamma, beta, pytorch_bn_param(3))
        grads = spatial_batchnorm_backward(dout, cache)
    for ours_grad, torch_grad in zip(grads, (x_torch.grad, module.weight.grad, module.bias.grad)):
        np.testing.assert_allclose(ours_grad, torch_grad.numpy(), rtol=1e-10, atol=1e-12)


def _golden_literal(results):
    """run_torch's results as Python source for PYTORCH_GOLDEN (shortest round-trip reprs)."""
    lines = []
    for key, array in results.items():
        rows = array.reshape(-1, array.shape[-1]).tolist()
        body = ",\n".join("            [" + ", ".join(repr(float(v)) for v in row) + "]" for row in rows)
        lines.append(f'        "{key}": np.array([\n{body},\n        ]).reshape({array.shape}),')
    return "\n".join(lines)


if __name__ == "__main__":  # needs PyTorch: compare live, then print fresh golden values
    import torch

    for name in sorted(TORCH_SHAPES):
        compare_with_live_pytorch(name)
        print(f"# {name}: golden values, our layers and autograd agree with torch {torch.__version__}")
    print(f"# torch {torch.__version__}")
    for name in sorted(TORCH_SHAPES):
        print(f'    "{name}": {{\n{_golden_literal(run_torch(name))}\n    }},')
