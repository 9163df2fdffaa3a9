"""How a self-check runs: probes, safe calls into the learner's code, comparison, diagnosis.

A check runs in three steps.

1. Run the learner's functions on *probes*: small inputs chosen so that every
   catalogued mistake shows (several shapes including N == D and N != D,
   per-feature offsets and scales, one feature of tiny variance, random gamma,
   beta and dout, a gamma = 1 probe, one probe whose param dict sets eps =
   1e-3, several training steps with the default momentum and again with
   momentum = 0.6 in bn_param, test mode including a feature whose running
   variance is 1e-6). Every call is guarded: an exception, a None, a wrong
   shape or dtype, or a modified input becomes part of the report, never a crash.
2. Compare everything with the package's reference layers (:mod:`cs231n_norm.layers`).
   If it all matches, the check passes.
3. Otherwise diagnose by symptom: compare the learner's numbers with what each
   catalogued mistake would have produced on the same inputs
   (:mod:`cs231n_norm.selfcheck.symptoms`), and with the running-statistics and
   test-mode signatures. A mismatch that matches nothing is reported as an
   unnamed mismatch, with its errors: a wrong implementation never passes.
"""

import copy
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import layers
from ..gradcheck import eval_numerical_gradient_array, rel_error
from . import symptoms
from .report import Finding, Report, format_error

SEED = 231
EPS = 1e-5  # CS231n's default; most probes' param dicts leave 'eps' out, as CS231n's tests do
MOMENTUM = 0.9  # CS231n's default, likewise left out of the first train steps' bn_param
GIVEN_EPS = 1e-3  # the eps that one probe passes in its param dict (your code must use it)
GIVEN_MOMENTUM = 0.6  # the momentum that a second run of train steps passes in bn_param
RUNNING_STEPS = 3
TEST_TINY_VARIANCE = 1e-6  # the running variance of one feature in the second test-mode input

# Order of findings that are not symptom matches (symptom matches have rank 0, best
# match first). A wrong dtype is a fact, not an inference, and it makes every number
# less trustworthy: it comes first. A wrong shape is a fact too, and the concrete
# thing to fix: it comes next, before any symptom match (a dgamma summed along the
# rows resembles the wrong-axis layer norm's, whose statistics may well be right).
# A bad return value or an exception is usually a consequence: those come last.
_RUNNING_RANK = 0.5  # running-statistics findings come after train-mode ones (which may cause them)
_RANK = {"wrong_output_dtype": -1, "wrong_output_shape": -0.5, "wrong_return_value": 2, "input_modified": 3,
         "raised_exception": 4}


# ------------------------------------------------------------------ measuring


FLOAT64_AGREEMENT = 1e-7  # a float64 computation of the same formula agrees to ~1e-15
FLOAT32_EPS = float(np.finfo(np.float32).eps)
PASS_TOLERANCE = 1e3 * FLOAT32_EPS  # ~1.2e-4, for every dtype
# The probes are float64; a result in float64, in float32 on purpose, or in extended
# precision (np.longdouble: nothing is lost) is fine.
ACCEPTED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.longdouble))


def tolerances(*arrays):
    """(pass, match) tolerances for the learner's arrays.

    Passing needs agreement to float32 precision (PASS_TOLERANCE: 1e3 float32
    epsilons, ~1.2e-4) whatever the dtype: a float64 result computed partly in
    float32 is still right, and every catalogued mistake shows far above that
    on some probe (eps outside the sqrt on the tiny-variance probe, an N-1
    variance at N = 64 by 8e-3, ...). It is never looser: a float16 result is
    held to the same tolerance (and reported as ``wrong_output_dtype``). A
    float64 result that passes with an error above 1e-7 gets a note saying so.

    A learner's result *matches a mistake* within 1e-6 when it is float64 (or
    more precise), and within 1e4 float32 epsilons (~1.2e-3) otherwise: float16
    is matched as if it were float32, never more loosely.
    """
    precise = all(
        a.dtype.kind == "f" and np.finfo(a.dtype).eps <= np.finfo(np.float64).eps for a in map(np.asarray, arrays)
    )
    return PASS_TOLERANCE, (1e-6 if precise else 1e4 * FLOAT32_EPS)


def eps_text(value):
    """An eps for display: 1e-05 -> '1e-5'."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def error(actual, expected, slice_axes=()):
    """Largest |actual - expected| relative to the largest |expected|, within each slice.

    A slice is one index along `slice_axes` (one feature, one example, ...), so
    a feature of tiny scale is judged on its own scale. With no slice axes the
    whole array is one slice. NaN or inf in `actual` gives inf.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if not np.isfinite(actual).all():
        return float("inf")
    reduce = tuple(axis for axis in range(expected.ndim) if axis not in slice_axes)
    difference = np.abs(actual - expected).max(axis=reduce) if reduce else np.abs(actual - expected)
    scale = np.abs(expected).max(axis=reduce) if reduce else np.abs(expected)
    relative = np.where(scale > 0, difference / np.where(scale > 0, scale, 1.0), difference)
    return float(np.max(relative, initial=0.0))


# ------------------------------------------------------------------ probe data


def per_feature_data(rng, shape, feature_axis=1, row_offsets=False):
    """Normal data whose mean and scale differ per index of `feature_axis`.

    Means are spread evenly over [-4, 4] in random order, scales log-uniform in
    [0.5, 4], so any statistic taken over the wrong axis, and any mix-up of
    channels, changes the numbers. With `row_offsets`, every example (axis 0)
    also gets its own offset and scale (so that per-example statistics differ too).
    """
    count = shape[feature_axis]
    broadcast = [1] * len(shape)
    broadcast[feature_axis] = count
    means = rng.permutation(np.linspace(-4.0, 4.0, count)).reshape(broadcast)
    scales = np.exp(rng.uniform(np.log(0.5), np.log(4.0), count)).reshape(broadcast)
    x = rng.standard_normal(shape) * scales + means
    if row_offsets:
        rows = [1] * len(shape)
        rows[0] = shape[0]
        x = x * np.exp(rng.uniform(np.log(0.5), np.log(2.0), shape[0])).reshape(rows)
        x = x + rng.uniform(-3.0, 3.0, shape[0]).reshape(rows)
    return x


@dataclass
class Probe:
    """One input for the learner's functions.

    label : str, how the report names it, e.g. 'N=4, D=5'
    x, gamma, beta, dout : float64 arrays (gamma and beta in the layer's parameter shape)
    G : int or None, the number of groups (group norm only)
    note : str, what this probe is for ('' for a plain one)
    tiny : bool array of x's shape or None: the values of the one slice (feature,
        example, channel or group) whose variance is comparable to eps
    eps : float or None, the eps this probe passes in the param dict (None: it
        leaves 'eps' out, so the default 1e-5 applies)
    """

    label: str
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    dout: np.ndarray
    G: int = None
    note: str = ""
    tiny: np.ndarray = None
    eps: float = None

    @property
    def eps_value(self):
        """The eps the layer must use on this probe."""
        return EPS if self.eps is None else self.eps


def _label(shape_text, note):
    return shape_text + (f" ({note})" if note else "")


def _mask(shape, index):
    """A boolean array of `shape`, True at `index`."""
    mask = np.zeros(shape, dtype=bool)
    mask[index] = True
    return mask


def _make_small(rng, x, index, scale):
    """Give the slice x[index] standard deviation `scale` around 0 (in place); return its mask."""
    x[index] = scale * rng.standard_normal(x[index].shape)
    return _mask(x.shape, index)


TINY_SCALE = 1e-3  # a slice of variance ~1e-6, comparable to the default eps: shows where eps sits
GIVEN_EPS_SCALE = 0.03  # on the probe that passes GIVEN_EPS, a slice of variance ~1e-3, comparable to it
GIVEN_EPS_NOTE = f"eps = {eps_text(GIVEN_EPS)} in {{}}"


# ------------------------------------------------------------------ calling learner code


@dataclass
class Call:
    """The outcome of one guarded call into the learner's code."""

    result: object = None
    exception: str = None
    modified: list = field(default_factory=list)


def guarded_call(function, args, watched):
    """Call ``function(*args)``; catch any exception; report which watched arrays changed.

    Parameters
    ----------
    function : the learner's function
    args : tuple of arguments
    watched : dict name -> array among the arguments that must come back unchanged
    """
    snapshots = {name: np.array(value, copy=True) for name, value in watched.items()}
    call = Call()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # learner code's RuntimeWarnings are symptoms, not news
            call.result = function(*args)
    except Exception as exc:  # noqa: BLE001 - any failure of learner code is reported, never raised
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if len(message) > 160:
            message = message[:157] + "..."
        call.exception = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    for name, value in watched.items():
        if not np.array_equal(np.asarray(value), snapshots[name], equal_nan=True):
            call.modified.append(name)
    return call


def as_float_array(value):
    """The learner's returned value as a float ndarray, or None if it is not numeric."""
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001
        return None
    if array.dtype.kind not in "fiu" or array.dtype == object:
        return None
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _dtype_problem(dtype):
    """Why a returned dtype is wrong, in words, or None if it is accepted."""
    if dtype in ACCEPTED_DTYPES:
        return None
    if dtype.kind == "f" and np.finfo(dtype).eps > FLOAT32_EPS:
        return (f"{dtype} keeps only about {np.finfo(dtype).precision} significant digits, too few "
                "to tell a right result from a wrong one")
    if dtype.kind in "iu":
        return "an integer type: every value is rounded to a whole number"
    if dtype.kind == "b":
        return "booleans: only True or False"
    if dtype.kind == "c":
        return "complex numbers"
    return "more precision than the float64 inputs carry"


def numeric_result(session, name, value, label, where):
    """The learner's returned `name` as a float ndarray to compare, or None when it cannot be compared.

    A value that is not numeric is a ``wrong_return_value``; a numeric dtype other
    than float64 or float32 is a ``wrong_output_dtype`` (integers and low-precision
    floats are still compared, converted to float64, so the report also says how
    far off the numbers are).
    """
    try:
        raw = np.asarray(value)
    except Exception:  # noqa: BLE001 - a ragged list, an object whose __array__ raises, ...
        raw = None
    if raw is None or raw.dtype.kind not in "biufc":
        session.find("wrong_return_value", f"{where} returned {name} of type {type(value).__name__}; "
                     f"{name} must be an array of floats", rank=_RANK["wrong_return_value"])
        return None
    problem = _dtype_problem(raw.dtype)
    if problem:
        session.find("wrong_output_dtype",
                     f"{where} returned {name} of dtype {raw.dtype} (the inputs are float64): "
                     f"{problem}", rank=_RANK["wrong_output_dtype"])
        if raw.dtype.kind in "bc":
            return None
    return raw if raw.dtype.kind == "f" else raw.astype(np.float64)


# ------------------------------------------------------------------ the layers


class Layer:
    """What the engine needs to know about one kind of normalization layer.

    Subclasses define how the learner's functions are called, the reference
    (``_reference_forward``, ``reference_backward``), the probes, and the
    layer's own wrong-axis mistakes. Class attributes:

    forward_name, backward_name : the CS231n names of the learner's functions
    param_name : the CS231n name of the param dict ('bn_param', ...)
    axes : the axes of the *view* (see :meth:`view`) that each statistic is taken over
    count_name : what the number of values each statistic is taken over is called ('N', 'D', ...)
    count_over : those values, in words
    slice_name : what one slice a statistic is taken for is called ('feature', ...)
    slice_axes : the axes of out / dx that index one slice for :func:`error`
    param_sum_axes : the axes of x that dgamma and dbeta sum over
    """

    forward_name = backward_name = ""
    statistics_of = ""
    param_name = "bn_param"
    axes = (0,)
    count_name = "N"
    count_over = "the N examples of each feature"
    slice_name = "feature"
    slice_axes = (1,)
    param_sum_axes = (0,)

    def param_dict(self, mode="train"):
        return {"mode": mode}

    def param_for(self, probe, mode="train"):
        """The param dict for `probe`: with its eps when it passes one."""
        param = self.param_dict(mode)
        if probe.eps is not None:
            param["eps"] = probe.eps
        return param

    def call_forward(self, forward, x, gamma, beta, param, probe):
        return forward(x, gamma, beta, param)

    def reference_forward(self, probe, param):
        """The package's output and cache on this probe; `param` is updated as the layer would."""
        return self._reference_forward(probe.x, probe.gamma, probe.beta, param, probe)

    def view(self, array, probe):
        """`array` (shaped like x) reshaped so that each statistic runs over `axes`."""
        return array

    def unview(self, array, probe):
        """Back from the view to x's shape."""
        return array.reshape(probe.x.shape)

    def broadcast(self, param, probe):
        """gamma or beta (or a running statistic) reshaped to broadcast against x."""
        return param

    def wrong_axis_outputs(self, probe, eps):
        """[(mistake id, description, out)] for this layer's own axis mistakes, normalizing with `eps`."""
        return []

    def wrong_axis_dx(self, probe, x_hat, inv_std, dx_hat):
        """[(mistake id, description, dx in the view)] for this layer's own axis mistakes."""
        return []

    def wrong_axis_param_grads(self, probe):
        """[(mistake id, description, dgamma, dbeta)]"""
        return []

    def count(self, probe):
        return symptoms.statistic_count(self.view(probe.x, probe), self.axes)

    def param_count(self, probe):
        return int(np.prod([probe.x.shape[a] for a in self.param_sum_axes]))


class BatchNorm(Layer):
    forward_name, backward_name = "batchnorm_forward", "batchnorm_backward"
    statistics_of = "per-feature"  # what one mean and std are taken for
    slice_axes = (1,)
    param_sum_axes = (0,)
    axes = (0,)

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.batchnorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.batchnorm_backward_alt(dout, cache)

    def probes(self, rng):
        def probe(N, D, note="", small=None, gamma_one=False, x=None, eps=None):
            x = per_feature_data(rng, (N, D)) if x is None else x
            tiny = _make_small(rng, x, (slice(None), 0), small) if small else None  # feature 0
            gamma = np.ones(D) if gamma_one else rng.uniform(0.5, 2.0, D)
            return Probe(_label(f"N={N}, D={D}", note), x, gamma, rng.standard_normal(D),
                         rng.standard_normal((N, D)), note=note, tiny=tiny, eps=eps)

        classic = probe(4, 5)
        return [
            classic,
            probe(5, 5),
            probe(16, 3, "tiny variance", small=TINY_SCALE),
            probe(64, 3),
            probe(4, 5, "gamma = 1", gamma_one=True, x=classic.x.copy()),
            probe(6, 4, GIVEN_EPS_NOTE.format(self.param_name), small=GIVEN_EPS_SCALE, eps=GIVEN_EPS),
        ]

    def running_batches(self, rng):
        shape = (8, 4)
        batches = [per_feature_data(rng, shape) + rng.uniform(-1, 1, shape[1]) * step for step in range(RUNNING_STEPS)]
        test = per_feature_data(rng, shape)
        gamma, beta = rng.uniform(0.5, 2.0, shape[1]), rng.standard_normal(shape[1])
        return [Probe(f"train step {i + 1}", b, gamma, beta, None) for i, b in enumerate(batches)], \
            Probe("test mode", test, gamma, beta, None)

    def feature(self, index):
        """The index into x of one feature (the slice a running statistic belongs to)."""
        return (slice(None), index)

    def wrong_axis_outputs(self, probe, eps):
        x = probe.x
        outs = [("batchnorm_wrong_axis", "x normalized over axis 1 (each example over its features)",
                 symptoms.normalized(x, (1,), eps))]
        if x.shape[0] == x.shape[1]:
            outs.append(("batchnorm_wrong_axis", "statistics over axis 1 broadcast against the columns",
                         symptoms.normalized_no_keepdims(x, eps)))
        return [(i, d, probe.gamma * xh + probe.beta) for i, d, xh in outs]


class LayerNorm(Layer):
    forward_name, backward_name = "layernorm_forward", "layernorm_backward"
    statistics_of = "per-example"  # what one mean and std are taken for
    param_name = "ln_param"
    slice_axes = (0,)
    param_sum_axes = (0,)
    axes = (1,)
    count_name = "D"
    count_over = "the D features of each example"
    slice_name = "example"

    def param_dict(self, mode="train"):
        return {} if mode == "train" else {"mode": mode}

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.layernorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.layernorm_backward(dout, cache)

    def probes(self, rng):
        def probe(N, D, note="", small=None, gamma_one=False, x=None, eps=None):
            x = per_feature_data(rng, (N, D), row_offsets=True) if x is None else x
            tiny = _make_small(rng, x, (0,), small) if small else None  # example 0
            gamma = np.ones(D) if gamma_one else rng.uniform(0.5, 2.0, D)
            return Probe(_label(f"N={N}, D={D}", note), x, gamma, rng.standard_normal(D),
                         rng.standard_normal((N, D)), note=note, tiny=tiny, eps=eps)

        classic = probe(4, 5)
        return [
            classic,
            probe(5, 5),
            probe(3, 16, "tiny variance", small=TINY_SCALE),
            probe(4, 5, "gamma = 1", gamma_one=True, x=classic.x.copy()),
            probe(4, 6, GIVEN_EPS_NOTE.format(self.param_name), small=GIVEN_EPS_SCALE, eps=GIVEN_EPS),
        ]

    def wrong_axis_outputs(self, probe, eps):
        x = probe.x
        outs = [("layernorm_wrong_axis", "x normalized over axis 0 (batch norm)", symptoms.normalized(x, (0,), eps))]
        if x.shape[0] == x.shape[1]:
            outs.append(("missing_keepdims", "row statistics without keepdims (x[i, j] - mean of row j)",
                         symptoms.normalized_no_keepdims(x, eps)))
        outs = [(i, d, probe.gamma * xh + probe.beta) for i, d, xh in outs]
        if x.shape[0] == x.shape[1]:
            x_hat = symptoms.normalized(x, (1,), eps)
            outs.append(("layernorm_gamma_before_transpose", "gamma and beta applied per example (row)",
                         probe.gamma[:, None] * x_hat + probe.beta[:, None]))
        return outs

    def wrong_axis_dx(self, probe, x_hat, inv_std, dx_hat):
        return [("layernorm_wrong_axis", "the batch-norm gradient formula (means over axis 0)",
                 symptoms.dx_family(dx_hat, x_hat, inv_std, (0,)))]

    def wrong_axis_param_grads(self, probe):
        if probe.x.shape[0] != probe.x.shape[1]:
            return []
        x_hat = symptoms.normalized(probe.x, (1,), probe.eps_value)
        return [("layernorm_wrong_axis", "sums over axis 1 instead of axis 0",
                 (probe.dout * x_hat).sum(axis=1), probe.dout.sum(axis=1))]


class SpatialBatchNorm(Layer):
    forward_name, backward_name = "spatial_batchnorm_forward", "spatial_batchnorm_backward"
    statistics_of = "per-channel"  # what one mean and std are taken for
    slice_axes = (1,)
    param_sum_axes = (0, 2, 3)
    axes = (0, 2, 3)
    count_name = "N*H*W"
    count_over = "the N*H*W values of each channel"
    slice_name = "channel"

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.spatial_batchnorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.spatial_batchnorm_backward(dout, cache)

    def broadcast(self, param, probe):
        return param.reshape(1, -1, 1, 1)

    def feature(self, index):
        return (slice(None), index)

    def probes(self, rng):
        def probe(shape, note="", small=None, eps=None):
            x = per_feature_data(rng, shape)
            tiny = _make_small(rng, x, (slice(None), 0), small) if small else None  # channel 0
            C = shape[1]
            label = _label("N={}, C={}, H={}, W={}".format(*shape), note)
            return Probe(label, x, rng.uniform(0.5, 2.0, C), rng.standard_normal(C),
                         rng.standard_normal(shape), note=note, tiny=tiny, eps=eps)

        return [
            probe((2, 3, 4, 5)),
            probe((3, 4, 2, 2), "tiny variance", small=TINY_SCALE),
            probe((2, 2, 3, 3)),
            probe((2, 3, 2, 2), GIVEN_EPS_NOTE.format(self.param_name), small=GIVEN_EPS_SCALE, eps=GIVEN_EPS),
        ]

    def running_batches(self, rng):
        shape = (2, 3, 2, 3)
        batches = [per_feature_data(rng, shape) + rng.uniform(-1, 1, (1, 3, 1, 1)) * step for step in range(RUNNING_STEPS)]
        test = per_feature_data(rng, shape)
        gamma, beta = rng.uniform(0.5, 2.0, 3), rng.standard_normal(3)
        return [Probe(f"train step {i + 1}", b, gamma, beta, None) for i, b in enumerate(batches)], \
            Probe("test mode", test, gamma, beta, None)

    def wrong_axis_outputs(self, probe, eps):
        x, (N, C, H, W) = probe.x, probe.x.shape
        gamma, beta = probe.gamma, probe.beta
        flat = x.reshape(-1, C)  # the mistake: channels are not the last axis of x
        mixed = gamma * symptoms.normalized(flat, (0,), eps) + beta
        channels_last = x.transpose(0, 2, 3, 1).reshape(-1, C)
        not_undone = gamma * symptoms.normalized(channels_last, (0,), eps) + beta
        return [
            ("spatial_bn_channels_mixed", "batch norm of x.reshape(-1, C) without moving C last",
             mixed.reshape(x.shape)),
            ("spatial_bn_channels_mixed", "channels moved last correctly, but reshaped back without moving them back",
             not_undone.reshape(x.shape)),
        ]

    def wrong_axis_dx(self, probe, x_hat, inv_std, dx_hat):
        # the backward's own half of the mistake: dx right in channels-last order, then
        # dx.reshape(N, C, H, W) where it needed dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        right = symptoms.dx_family(dx_hat, x_hat, inv_std, self.axes)
        return [("spatial_bn_channels_mixed",
                 "the right gradient in channels-last order, reshaped back without moving the channels back",
                 right.transpose(0, 2, 3, 1).reshape(probe.x.shape))]


class GroupNorm(Layer):
    forward_name, backward_name = "spatial_groupnorm_forward", "spatial_groupnorm_backward"
    statistics_of = "per-group (each example's)"  # what one mean and std are taken for
    param_name = "gn_param"
    slice_axes = (0,)
    param_sum_axes = (0, 2, 3)
    axes = (2,)
    count_name = "C/G*H*W"
    count_over = "the C/G*H*W values of each group"
    slice_name = "group"

    def param_dict(self, mode="train"):
        return {} if mode == "train" else {"mode": mode}

    def call_forward(self, forward, x, gamma, beta, param, probe):
        return forward(x, gamma, beta, probe.G, param)

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.spatial_groupnorm_forward(x, gamma, beta, probe.G, param)

    def reference_backward(self, dout, cache):
        return layers.spatial_groupnorm_backward(dout, cache)

    def view(self, array, probe):
        return array.reshape(array.shape[0], probe.G, -1)

    def probes(self, rng):
        def probe(shape, G, note="", small=None, eps=None):
            C = shape[1]
            x = per_feature_data(rng, shape)
            # the first group of the first example gets the small variance
            tiny = _make_small(rng, x, (0, slice(0, C // G)), small) if small else None
            label = _label("N={}, C={}, H={}, W={}".format(*shape) + f", G={G}", note)
            return Probe(label, x, rng.uniform(0.5, 2.0, (1, C, 1, 1)), rng.standard_normal((1, C, 1, 1)),
                         rng.standard_normal(shape), G=G, note=note, tiny=tiny, eps=eps)

        return [
            probe((2, 6, 2, 3), 2),
            probe((3, 6, 2, 2), 3, "tiny variance", small=TINY_SCALE),
            probe((2, 4, 3, 3), 2),
            probe((2, 4, 2, 2), 2, GIVEN_EPS_NOTE.format(self.param_name), small=GIVEN_EPS_SCALE, eps=GIVEN_EPS),
        ]

    def wrong_axis_outputs(self, probe, eps):
        x, G = probe.x, probe.G
        N, C, H, W = x.shape
        interleaved = x.reshape(N, C // G, G, H, W)  # channel c lands in group c % G
        x_hat = symptoms.normalized(interleaved, (1, 3, 4), eps).reshape(x.shape)
        return [("groupnorm_interleaved_groups",
                 "groups of interleaved channels (channel c in group c % G)",
                 probe.gamma * x_hat + probe.beta)]


# ------------------------------------------------------------------ one check


class Session:
    """Collects what one check measures and finds, and turns it into a Report."""

    def __init__(self, exercise, layer):
        self.exercise = exercise
        self.layer = layer
        self.findings = {}  # id -> [rank, match error, list of evidence]
        self.errors = {}
        self.notes = []
        self.not_implemented = None
        self.unexplained = []
        self.failed = False
        self.probe_count = 0

    def record_error(self, quantity, label, value):
        self.errors.setdefault(quantity, {})[label] = value

    def find(self, mistake_id, seen, rank=0, strength=0.0):
        self.failed = True
        if mistake_id in self.findings:
            entry = self.findings[mistake_id]
            entry[0], entry[1] = min(entry[0], rank), min(entry[1], strength)
            if seen not in entry[2]:
                entry[2].append(seen)
        else:
            self.findings[mistake_id] = [rank, strength, [seen]]

    def report(self):
        if self.not_implemented:
            notes = [self.not_implemented]
            return Report(self.exercise, "not implemented", [], {}, notes)
        if "unbiased_variance" in self.findings:  # the same variance line feeds the running average
            self.findings.pop("running_var_unbiased", None)
        ordered = sorted(self.findings.items(), key=lambda item: (item[1][0], item[1][1]))
        findings = [Finding(mistake_id, _join_evidence(entry[2])) for mistake_id, entry in ordered]
        failed = self.failed or bool(self.unexplained)
        notes = list(self.unexplained) + list(self.notes)
        worst = max((v for by_probe in self.errors.values() for v in by_probe.values() if v is not None), default=0.0)
        if not failed and worst > FLOAT64_AGREEMENT:
            notes.append(
                f"passed at float32 precision: the largest error is {format_error(worst)} (a float64 "
                "computation agrees to about 1e-15); fine if you compute in float32 on purpose"
            )
        return Report(self.exercise, "failed" if failed else "passed", findings, self.errors, notes,
                      tolerance=PASS_TOLERANCE)


def _join_evidence(items, shown=2):
    """Several pieces of evidence for one mistake: the first few, then how many more."""
    text = "; ".join(items[:shown])
    if len(items) > shown:
        text += f" (and {len(items) - shown} more like {'it' if shown == 1 else 'these'})"
    return text


@dataclass
class Run:
    """The learner's results on one probe (None where missing or unusable)."""

    probe: Probe
    out: np.ndarray = None
    cache: object = None
    grads: dict = None  # 'dx', 'dgamma', 'dbeta' -> array or None
    out_error: float = None
    grad_errors: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)

    def tolerances(self):
        """(pass, match) tolerances for the lowest precision among this run's results."""
        arrays = [self.out] + [g for g in (self.grads or {}).values() if g is not None]
        return tolerances(*[a for a in arrays if a is not None])

    def mismatched(self, name):
        """Whether the learner's `name` ('out', 'dx', ...) differs from the reference on this run."""
        value = self.out_error if name == "out" else self.grad_errors.get(name)
        return value is not None and value > self.tolerances()[0]


def _shape_ok(session, name, array, shape, label, where):
    if array.shape != tuple(shape):
        session.find("wrong_output_shape",
                     f"{where} returned {name} of shape {array.shape} on {label}; it needs shape {tuple(shape)}",
                     rank=_RANK["wrong_output_shape"])
        return False
    return True


def _exception_found(session, where, exception, probe):
    """Record an exception of the learner's code; name missing_keepdims when it is that one's error.

    In layer norm, a per-example statistic of shape (N,) combined with an (N, D) array
    broadcasts against the columns: an error whenever N != D (the probes' usual case),
    which is how a mean or variance taken without keepdims=True shows. (In batch norm an
    (N,) statistic is itself the mistake, statistics over the wrong axis: keepdims would
    not fix it.)
    """
    session.find("raised_exception", f"{where} raised {exception} on {probe.label}", rank=_RANK["raised_exception"])
    if not isinstance(session.layer, LayerNorm) or probe.x.ndim != 2:
        return
    N, D = probe.x.shape
    shapes = re.findall(r"\(([\d,]*)\)", exception.replace(" ", ""))
    if N != D and "could not be broadcast" in exception and f"{N},{D}" in shapes and f"{N}," in shapes:
        session.find("missing_keepdims", f"{where} raised a broadcast error between shapes ({N}, {D}) and "
                     f"({N},) on {probe.label}: a per-example statistic of shape ({N},) meets the "
                     f"({N}, {D}) array without keepdims",
                     strength=1.0)  # after any closer match of the numbers (e.g. batch norm over axis 1)


def run_forward(session, forward, probe, param):
    """Run the learner's forward on a copy of the probe. Returns (Run or None, implemented)."""
    layer = session.layer
    x, gamma, beta = probe.x.copy(), probe.gamma.copy(), probe.beta.copy()
    call = guarded_call(lambda *a: layer.call_forward(forward, *a, probe), (x, gamma, beta, param),
                        {"x": x, "gamma": gamma, "beta": beta})
    where = layer.forward_name
    for name in call.modified:
        session.find("input_modified", f"{where} changed its argument {name} (on {probe.label})",
                     rank=_RANK["input_modified"])
    if call.exception:
        _exception_found(session, where, call.exception, probe)
        return None, True
    result = call.result
    if result is None or (isinstance(result, (tuple, list)) and len(result) >= 1 and result[0] is None):
        return None, False
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = "a single array" if isinstance(result, np.ndarray) else f"a {type(result).__name__}"
        session.find("wrong_return_value", f"{where} returned {what}; it must return the pair (out, cache)",
                     rank=_RANK["wrong_return_value"])
        return None, True
    out = numeric_result(session, "out", result[0], probe.label, where)
    if out is None:
        return None, True
    if not _shape_ok(session, "out", out, probe.x.shape, probe.label, where):
        return None, True
    return Run(probe, out=out, cache=result[1]), True


def run_backward(session, backward, run):
    """Run the learner's backward on the cache of `run`. Returns implemented (bool)."""
    layer, probe = session.layer, run.probe
    dout = probe.dout.copy()
    call = guarded_call(backward, (dout, run.cache), {"dout": dout})
    where = layer.backward_name
    for name in call.modified:
        session.find("input_modified", f"{where} changed its argument {name} (on {probe.label})",
                     rank=_RANK["input_modified"])
    if call.exception:
        _exception_found(session, where, call.exception, probe)
        return True
    result = call.result
    names = ("dx", "dgamma", "dbeta")
    if result is None:
        return False
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = f"a tuple of {len(result)}" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
        session.find("wrong_return_value", f"{where} returned {what}; it must return (dx, dgamma, dbeta)",
                     rank=_RANK["wrong_return_value"])
        return True
    missing = [n for n, v in zip(names, result) if v is None]
    if missing:
        session.not_implemented = (
            f"{where} returns None for {', '.join(missing)}: not finished yet. "
            "Fill in the TODO and run this check again."
        )
        return False
    run.grads = {}
    shapes = {"dx": probe.x.shape, "dgamma": probe.gamma.shape, "dbeta": probe.beta.shape}
    for name, value in zip(names, result):
        array = numeric_result(session, name, value, probe.label, where)
        if array is None:
            continue
        if _shape_ok(session, name, array, shapes[name], probe.label, where):
            run.grads[name] = array
    return True


def _not_implemented_note(function_name, runs_first=None):
    """The friendly message for a function that still returns None (CS231n's skeleton)."""
    text = (f"{function_name} still returns None. That's fine: fill in the TODO in its cell, "
            "run that cell, then run this check again.")
    if runs_first:
        text = f"This check runs your {function_name} first, since {runs_first} needs its cache. " + text
    return text


def train_probes(session, forward, backward=None):
    """Run forward (and backward) on every probe; record errors. Returns the runs, or None."""
    layer = session.layer
    rng = np.random.default_rng(SEED)
    runs = []
    probes = layer.probes(rng)
    session.probe_count = len(probes)
    for probe in probes:
        run, implemented = run_forward(session, forward, probe, layer.param_for(probe))
        if not implemented:
            session.not_implemented = _not_implemented_note(
                layer.forward_name, runs_first=layer.backward_name if backward is not None else None)
            return None
        reference_out, reference_cache = layer.reference_forward(probe, layer.param_for(probe))
        if run is None:
            continue
        run.reference["out"] = reference_out
        run.out_error = error(run.out, reference_out, layer.slice_axes)
        session.record_error("out", probe.label, run.out_error)
        runs.append(run)
        if backward is None:
            continue
        if not run_backward(session, backward, run):
            if session.not_implemented is None:
                session.not_implemented = _not_implemented_note(layer.backward_name)
            return None
        dx, dgamma, dbeta = layer.reference_backward(probe.dout, reference_cache)
        run.reference.update(dx=dx, dgamma=dgamma, dbeta=dbeta, cache=reference_cache)
        for name in ("dx", "dgamma", "dbeta"):
            if (run.grads or {}).get(name) is not None:
                slices = layer.slice_axes if name == "dx" else ()
                run.grad_errors[name] = error(run.grads[name], run.reference[name], slices)
                session.record_error(name, probe.label, run.grad_errors[name])
    return runs


def _mismatched(value, array):
    return value is not None and value > tolerances(array)[0]


def _rounding_only(runs, get_array, get_error):
    """Whether every mismatch in `runs` is no more than the rounding of a too-small float dtype
    (already reported as wrong_output_dtype): then the formula itself is right."""
    for run in runs:
        array = get_array(run)
        if array.dtype.kind != "f" or np.finfo(array.dtype).eps <= FLOAT32_EPS:
            return False
        if not get_error(run) <= 10 * np.finfo(array.dtype).eps:
            return False
    return bool(runs)


def _no_mistake_matched(session, quantity, runs, get_array, get_error, unexplained):
    """No catalogued mistake matches the wrong `runs`: either the numbers are only the
    rounding of a too-small dtype (a note: the formula is right), or
    ``unexplained(worst run)`` joins the differences no mistake explains."""
    if _rounding_only(runs, get_array, get_error):
        worst = max(get_error(r) for r in runs)
        session.notes.append(
            f"apart from the rounding to {get_array(runs[0]).dtype}, {quantity} agrees with the correct "
            f"result (largest error {format_error(worst)}, about what that dtype can hold): the formula is right"
        )
    else:
        session.unexplained.append(unexplained(max(runs, key=get_error)))


def _paren(name):
    """'N' -> 'N', 'N*H*W' -> '(N*H*W)': a count's name as a factor of a formula."""
    return name if name.isalnum() else f"({name})"


# ------------------------------------------------------------------ diagnosis: forward


def _xhat_of(out, probe, layer):
    """Undo gamma and beta: the learner's normalized output."""
    return (out - layer.broadcast(probe.beta, probe)) / layer.broadcast(probe.gamma, probe)


def forward_alternatives(layer, probe):
    """[(ids, description, out)] for the forward mistakes, on this probe.

    Hard-coding eps = 1e-5 is common, and it comes with other mistakes: each
    alternative also appears computed with eps = 1e-5, with ``ignores_eps``
    added to its ids (on a probe that passes no eps the two are the same).
    """
    alone = _forward_alternatives(layer, probe, probe.eps_value)
    ignored = f"with eps = {eps_text(EPS)} whatever {layer.param_name}['eps'] says"
    with_default_eps = [(ids + ("ignores_eps",), f"{description}, {ignored}", out)
                        for ids, description, out in _forward_alternatives(layer, probe, EPS)
                        if not {"ignores_eps", "eps_missing"} & set(ids)]
    return alone + with_default_eps


def _forward_alternatives(layer, probe, eps):
    view = layer.view(probe.x, probe)
    gamma, beta = layer.broadcast(probe.gamma, probe), layer.broadcast(probe.beta, probe)

    def out_of(x_hat_view):
        return gamma * layer.unview(x_hat_view, probe) + beta

    return [
        (("unbiased_variance",), f"the variance divided by {_paren(layer.count_name)}-1",
         out_of(symptoms.normalized(view, layer.axes, eps, ddof=1))),
        (("eps_outside_sqrt",), "sqrt(var) + eps as the denominator",
         out_of(symptoms.normalized(view, layer.axes, eps, eps_outside_sqrt=True))),
        (("eps_missing",), "sqrt(var) as the denominator, with no eps",
         out_of(symptoms.normalized(view, layer.axes, 0.0))),
        (("ignores_eps",), f"normalization with eps = {eps_text(EPS)} whatever {layer.param_name}['eps'] says",
         out_of(symptoms.normalized(view, layer.axes, EPS))),
    ] + [((i,), d, out) for i, d, out in layer.wrong_axis_outputs(probe, eps)]


def _match(runs, get_actual, alternatives_of, slice_axes):
    """Which alternatives the learner's arrays match on every probe where the learner has a result.

    Returns a list of (ids, description, worst match error), best match first.
    An alternative that cannot be computed for a probe where the learner has a
    result (e.g. one that exists only for N == D) does not match.
    """
    table = {}
    evaluated = 0
    for run in runs:
        actual = get_actual(run)
        if actual is None:
            continue
        evaluated += 1
        match_tolerance = run.tolerances()[1]
        for ids, description, alternative in alternatives_of(run):
            entry = table.setdefault((ids, description), {"worst": 0.0, "matched": True, "probes": 0})
            entry["probes"] += 1
            if alternative is None or np.shape(alternative) != actual.shape:
                entry["matched"] = False
                continue
            value = error(actual, alternative, slice_axes)
            entry["worst"] = max(entry["worst"], value)
            entry["matched"] &= value <= match_tolerance
    matched = [(ids, description, entry["worst"]) for (ids, description), entry in table.items()
               if entry["matched"] and entry["probes"] == evaluated]
    return sorted(matched, key=lambda item: item[2])


def _nonfinite(array):
    """', which contains NaN or inf' when it does (a division by zero, a sqrt of a negative, ...)."""
    return ", which contains NaN or inf" if not np.isfinite(array).all() else ""


def _probe_list(errors_by_label, shown=3):
    items = [f"{format_error(v)} on {label}" for label, v in errors_by_label.items()]
    return ", ".join(items[:shown]) + (", ..." if len(items) > shown else "")


def _slice_error(actual, expected, mask):
    """The error within the values that `mask` selects, judged on their own scale."""
    return error(np.asarray(actual)[mask], np.asarray(expected)[mask])


def eps_evidence(layer, runs, quantity, get_actual, get_error, mistake_id, description, match_error):
    """The 'seen' text for an eps mistake: right where eps hardly matters, wrong where it does.

    eps_outside_sqrt and eps_missing show on the tiny-variance probe (variance
    ~1e-6, comparable to the default eps); ignores_eps on the probe that passes
    its own eps. Returns None when the runs lack the contrast.
    """
    ending = f"; it matches {description} (to {format_error(match_error)})"
    if mistake_id == "ignores_eps":
        given = [r for r in runs if r.probe.eps is not None and get_error(r) is not None]
        default = [r for r in runs if r.probe.eps is None and get_error(r) is not None]
        if not (given and default):
            return None
        run = given[0]
        return (f"{quantity} is right wherever {layer.param_name} leaves 'eps' out (so the default "
                f"{eps_text(EPS)} applies; largest error {format_error(max(get_error(r) for r in default))}) "
                f"but off by {format_error(get_error(run))} on {run.probe.label}, where one {layer.slice_name} "
                f"has a variance comparable to that eps" + ending)
    tiny = [r for r in runs if r.probe.tiny is not None and r.probe.eps is None and get_error(r) is not None]
    normal = [r for r in runs if r.probe.tiny is None and get_error(r) is not None]
    if not (tiny and normal):
        return None
    run = tiny[0]
    small = _slice_error(get_actual(run), run.reference[quantity], run.probe.tiny)
    return (f"{quantity} is almost right where the variance is ~1 (error "
            f"{format_error(max(get_error(r) for r in normal))}) but off by {format_error(small)} in the "
            f"{layer.slice_name} whose variance is ~1e-6, comparable to eps = {eps_text(EPS)}" + ending)


def forward_evidence(session, runs, mistake_id, description, match_error):
    """The 'seen' text for a forward mistake, with the numbers it keys on."""
    layer = session.layer
    wrong = {r.probe.label: r.out_error for r in runs if r.out_error is not None}
    base = (f"out differs from the correct output ({_probe_list(wrong)}) and matches {description} "
            f"(to {format_error(match_error)})")
    if mistake_id == "unbiased_variance":
        spreads = {}
        for run in runs:
            if run.probe.tiny is not None:  # eps, not the N-1, dominates a tiny-variance slice
                continue
            x_hat = layer.view(_xhat_of(run.out, run.probe, layer), run.probe)
            spreads.setdefault(layer.count(run.probe), float(np.mean(x_hat.std(axis=layer.axes))))
        n = layer.count_name
        listed = ", ".join(f"{value:.3f} at {n}={count}" for count, value in sorted(spreads.items()))
        return base + (f"; the spread (std) of your normalized output over {layer.count_over} is {listed} "
                       f"instead of 1: that is sqrt(({n}-1)/{_paren(n)}), furthest from 1 when {n} is small")
    if mistake_id in ("eps_outside_sqrt", "eps_missing", "ignores_eps"):
        text = eps_evidence(layer, runs, "out", lambda r: r.out, lambda r: r.out_error,
                            mistake_id, description, match_error)
        if text:
            return text
    if mistake_id == "layernorm_wrong_axis":
        run = runs[0]
        x_hat = _xhat_of(run.out, run.probe, layer)
        return (base + f"; the per-example (row) means of your normalized output reach "
                f"{np.abs(x_hat.mean(axis=1)).max():.2f} (they should be 0), while the per-feature "
                f"(column) means are {format_error(np.abs(x_hat.mean(axis=0)).max())}")
    if mistake_id == "spatial_bn_channels_mixed":
        run = runs[0]
        x_hat = _xhat_of(run.out, run.probe, layer)
        return (base + f"; the per-channel means of your normalized output reach "
                f"{np.abs(x_hat.mean(axis=(0, 2, 3))).max():.2f} (they should be 0)")
    return base


def diagnose_forward(session, runs):
    """Name the forward mistakes. Returns True if the train-mode forward is right on every probe."""
    layer = session.layer
    wrong = [r for r in runs if r.mismatched("out")]
    if not wrong:
        return len(runs) == session.probe_count  # False if some probe raised or gave a wrong shape
    matched = _match(runs, lambda r: r.out, lambda r: forward_alternatives(layer, r.probe), layer.slice_axes)
    if not any(r.probe.eps is not None for r in runs):
        # without a result on the input that passes its own eps, a mistake "with eps = 1e-5" is the
        # same numbers as the mistake alone: nothing shows that eps was ignored
        matched = [m for m in matched if not ("ignores_eps" in m[0] and len(m[0]) > 1)]
    for ids, description, match_error in matched:
        for mistake_id in ids:
            if mistake_id == "ignores_eps" and len(ids) > 1:  # together with another mistake
                seen = (f"out matches {description} (to {format_error(match_error)}); on the input with "
                        f"{layer.param_name}['eps'] = {eps_text(GIVEN_EPS)} it matches only with eps = {eps_text(EPS)}")
            else:
                seen = forward_evidence(session, runs, mistake_id, description, match_error)
            session.find(mistake_id, seen, strength=match_error)
    if not matched:
        _no_mistake_matched(session, "out", wrong, lambda r: r.out, lambda r: r.out_error, lambda worst: (
            f"{layer.forward_name}: out differs from the correct output (worst error "
            f"{format_error(worst.out_error)} on {worst.probe.label}{_nonfinite(worst.out)}) in a way that "
            "matches no mistake in the catalogue. Compare your formula with the docstring step by step, "
            f"printing shapes and the {layer.statistics_of} mean and std of your normalized output."
        ))
    return False


# ------------------------------------------------------------------ diagnosis: backward


def _normalization_parts(layer, probe):
    """(x minus its mean, the biased std), both in the layer's view: what the eps mistakes recombine."""
    view = layer.view(probe.x, probe)
    centred = view - view.mean(axis=layer.axes, keepdims=True)
    std = np.sqrt(np.square(centred).mean(axis=layer.axes, keepdims=True))
    return centred, std


def dx_alternatives(layer, run):
    """[(ids, description, dx)]: what dx would be under each backward mistake, on this run's probe."""
    probe = run.probe
    cache = run.reference["cache"]
    eps = probe.eps_value
    # the correct normalization of this probe, in the layer's view
    x_hat = layer.view(cache.x_hat.reshape(probe.x.shape), probe)
    centred, std = _normalization_parts(layer, probe)
    inv_std = 1 / np.sqrt(std ** 2 + eps)
    gamma = layer.broadcast(probe.gamma, probe)
    dx_hat = layer.view(gamma * probe.dout, probe)
    plain = layer.view(probe.dout, probe)
    count = symptoms.statistic_count(centred, layer.axes)

    def dx(dx_hat_view, a=1.0, b=1.0, x_hat_used=x_hat, inv_std_used=inv_std):
        return layer.unview(symptoms.dx_family(dx_hat_view, x_hat_used, inv_std_used, layer.axes, a, b), probe)

    # eps in the backward pass only (the forward is right when these are considered): the
    # 1 / std factor computed wrongly, with the cached x_hat or with x_hat recomputed the same way
    outside, no_eps, default = 1 / (std + eps), 1 / std, 1 / np.sqrt(std ** 2 + EPS)
    ignored = f"eps = {eps_text(EPS)} in place of {layer.param_name}['eps']"
    eps_mistakes = [
        (("eps_outside_sqrt",), "the gradient with 1 / (sqrt(var) + eps) in place of 1 / sqrt(var + eps)",
         dx(dx_hat, inv_std_used=outside)),
        (("eps_outside_sqrt",), "the gradient with x_hat and 1 / std both recomputed with sqrt(var) + eps",
         dx(dx_hat, x_hat_used=centred * outside, inv_std_used=outside)),
        (("eps_outside_sqrt",), "the exact gradient of (x - mean) / (sqrt(var) + eps)",
         dx(dx_hat, b=(std + eps) / std, x_hat_used=centred * outside, inv_std_used=outside)),
        (("eps_missing",), "the gradient with 1 / sqrt(var) in place of 1 / sqrt(var + eps)",
         dx(dx_hat, inv_std_used=no_eps)),
        (("eps_missing",), "the gradient with x_hat and 1 / std both recomputed without eps",
         dx(dx_hat, x_hat_used=centred * no_eps, inv_std_used=no_eps)),
        (("ignores_eps",), f"the gradient with 1 / std computed with {ignored}", dx(dx_hat, inv_std_used=default)),
        (("ignores_eps",), f"the gradient with x_hat and 1 / std both recomputed with {ignored}",
         dx(dx_hat, x_hat_used=centred * default, inv_std_used=default)),
    ]
    return [
        (("dx_missing_gamma",), "the gradient computed with dout in place of gamma * dout", dx(plain)),
        (("missing_mean_path",), "the gradient without the path through the mean", dx(dx_hat, 0.0, 1.0)),
        (("missing_variance_path",), "the gradient without the path through the variance", dx(dx_hat, 1.0, 0.0)),
        (("missing_variance_path", "missing_mean_path"), "the gradient with mean and variance treated as constants",
         dx(dx_hat, 0.0, 0.0)),
        (("missing_1_over_n",), "the gradient whose mean and variance paths are N times too large",
         dx(dx_hat, count, count)),
        (("missing_1_over_n",), "the gradient whose mean path is N times too large", dx(dx_hat, count, 1.0)),
        (("missing_1_over_n",), "the gradient whose variance path is N times too large", dx(dx_hat, 1.0, count)),
    ] + eps_mistakes + [((i,), d, layer.unview(v, probe)) for i, d, v in layer.wrong_axis_dx(probe, x_hat, inv_std, dx_hat)]


def param_alternatives(layer, run, name):
    """[(ids, description, value)]: what dgamma or dbeta (`name`) would be under each mistake."""
    probe = run.probe
    shape = probe.gamma.shape
    keep = probe.gamma.ndim == probe.x.ndim
    count = layer.param_count(probe)
    reference = run.reference[name]

    def summed(values):
        return values.sum(axis=layer.param_sum_axes, keepdims=keep).reshape(shape)

    alternatives = []
    if name == "dgamma":
        centred, std = _normalization_parts(layer, probe)
        eps = probe.eps_value
        alternatives += [
            (("dgamma_uses_x",), "sum(dout * x) over the batch", summed(probe.dout * probe.x)),
            (("dgamma_mean_not_sum",), "the mean of dout * x_hat instead of the sum", reference / count),
        ]
        for mistake_id, description, denominator in (
            ("eps_outside_sqrt", "sqrt(var) + eps", std + eps),
            ("eps_missing", "sqrt(var), with no eps", std),
            ("ignores_eps", f"sqrt(var + {eps_text(EPS)}) whatever {layer.param_name}['eps'] says",
             np.sqrt(std ** 2 + EPS)),
        ):
            x_hat = layer.unview(centred / denominator, probe)
            alternatives.append(((mistake_id,), f"sum(dout * x_hat) with x_hat recomputed as (x - mean) / "
                                 f"{description}", summed(probe.dout * x_hat)))
    else:
        alternatives.append((("dbeta_mean_not_sum",), "the mean of dout instead of the sum", reference / count))
    for mistake_id, description, dgamma, dbeta in layer.wrong_axis_param_grads(probe):
        alternatives.append(((mistake_id,), description, dgamma if name == "dgamma" else dbeta))
    return alternatives


def backward_evidence(session, runs, name, mistake_id, description, match_error):
    """The 'seen' text for a backward mistake in gradient `name`, with the numbers it keys on."""
    layer = session.layer
    wrong = {r.probe.label: r.grad_errors[name] for r in runs if r.grad_errors.get(name) is not None}
    others = [n for n in ("dx", "dgamma", "dbeta") if n != name]
    right = [n for n in others if all(not r.mismatched(n) for r in runs)
             and any(r.grad_errors.get(n) is not None for r in runs)]
    right_text = f"; {' and '.join(right)} {'are' if len(right) > 1 else 'is'} right" if right else ""
    if mistake_id in ("eps_outside_sqrt", "eps_missing", "ignores_eps"):
        text = eps_evidence(layer, runs, name, lambda r: r.grads.get(name) if r.grads else None,
                            lambda r: r.grad_errors.get(name), mistake_id, description, match_error)
        if text:
            return text + right_text + "; your forward's out is right on every input, so the difference is in the backward pass"
    base = f"{name} differs from the correct gradient ({_probe_list(wrong)}) and matches {description} " \
           f"(to {format_error(match_error)})" + right_text
    if mistake_id == "dx_missing_gamma":
        ones = [r for r in runs if r.probe.note == "gamma = 1" and r.grad_errors.get("dx") is not None]
        random = [r for r in runs if r.probe.note != "gamma = 1" and r.grad_errors.get("dx") is not None]
        if ones and random:
            run = random[0]
            ratio = np.median(run.grads["dx"] / run.reference["dx"], axis=layer.param_sum_axes).ravel()
            ratio_text = ", ".join(f"{v:.2f}" for v in ratio[:5])
            inverse = ", ".join(f"{v:.2f}" for v in (1 / run.probe.gamma.ravel())[:5])
            base += (f"; with gamma = 1 your dx is right (error {format_error(ones[0].grad_errors['dx'])}); "
                     f"with random gamma, your dx / correct dx per {layer.slice_name} is {ratio_text} = 1/gamma "
                     f"({inverse})")
    if mistake_id in ("dbeta_mean_not_sum", "dgamma_mean_not_sum"):
        run = runs[0]
        ratio = np.median(run.grads[name] / run.reference[name])
        base += f"; yours / correct = {ratio:.3f} = 1/{layer.param_count(run.probe)} on {run.probe.label}"
    return base


def diagnose_backward(session, runs):
    """Name the backward mistakes, gradient by gradient (called only when the forward is right)."""
    layer = session.layer
    for name in ("dx", "dgamma", "dbeta"):
        have = [r for r in runs if r.grads is not None and r.grads.get(name) is not None]
        wrong = [r for r in have if r.mismatched(name)]
        if not wrong:
            continue
        if name == "dx":
            matched = _match(have, lambda r: r.grads["dx"], lambda r: dx_alternatives(layer, r), layer.slice_axes)
        else:
            matched = _match(have, lambda r, n=name: r.grads[n], lambda r, n=name: param_alternatives(layer, r, n), ())
        for ids, description, match_error in matched:
            for mistake_id in ids:
                session.find(mistake_id, backward_evidence(session, have, name, mistake_id, description, match_error),
                             strength=match_error)
        if not matched:
            _no_mistake_matched(session, name, wrong, lambda r, n=name: r.grads[n],
                                lambda r, n=name: r.grad_errors[n], lambda worst, n=name: (
                f"{layer.backward_name}: {n} differs from the correct gradient (worst error "
                f"{format_error(worst.grad_errors[n])} on {worst.probe.label}{_nonfinite(worst.grads[n])}) "
                "in a way that matches no mistake in the catalogue. Check each backward step against its "
                "local derivative (notebook 02's explorer checks every node numerically)."
            ))


def classic_check(session, forward, backward, run):
    """CS231n's check on one probe: rel_error(numerical dx of your forward, your dx)."""
    layer, probe = session.layer, run.probe
    if run.grads is None or run.grads.get("dx") is None:
        return None
    param = layer.param_for(probe)

    def f(x):
        result = layer.call_forward(forward, x, probe.gamma.copy(), probe.beta.copy(), param, probe)
        return np.asarray(result[0], dtype=np.float64)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            numeric = eval_numerical_gradient_array(f, probe.x.copy(), probe.dout.copy())
        value = rel_error(numeric, run.grads["dx"])
    except Exception:  # noqa: BLE001
        return None
    shown = "< 1e-7" if value < 1e-7 else f"{value:.2g}"
    session.notes.append(
        f"for comparison, the classic check (CS231n's rel_error between your dx and the numerical "
        f"gradient of your own forward, on {probe.label}) prints dx error: {shown}"
    )
    return value


# ------------------------------------------------------------------ diagnosis: running statistics and test mode


def _stat(bn_param, key):
    value = bn_param.get(key) if isinstance(bn_param, dict) else None
    if value is None:
        return None
    return as_float_array(value)


def _train_steps(session, forward, steps, learner_param, reference_param):
    """Run the learner's forward and the reference on `steps` in train mode, each with its own param dict.

    Returns (ok, batch means, batch variances); ok is False when the learner's
    forward is not implemented or gave no usable result on some step.
    """
    layer = session.layer
    batch_means, batch_vars = [], []
    for probe in steps:
        run, implemented = run_forward(session, forward, probe, learner_param)
        if not implemented:
            session.not_implemented = _not_implemented_note(layer.forward_name)
            return False, None, None
        layer.reference_forward(probe, reference_param)
        view = layer.view(probe.x, probe)
        batch_means.append(view.mean(axis=layer.axes).ravel())
        batch_vars.append(view.var(axis=layer.axes).ravel())
        if run is None:
            return False, None, None
    return True, batch_means, batch_vars


def _compare_running(session, learner_param, reference_param, label, features):
    """Compare the running statistics the learner left in bn_param with the reference's.

    Returns {key: "missing" | "shape" | the learner's values} for the ones that are wrong.
    """
    problems = {}
    for key in ("running_mean", "running_var"):
        stored = _stat(learner_param, key)
        if stored is None:
            problems[key] = "missing"
            continue
        problem = _dtype_problem(np.asarray(learner_param[key]).dtype)
        if problem:
            session.find("wrong_output_dtype", f"bn_param['{key}'] holds values of dtype "
                         f"{np.asarray(learner_param[key]).dtype} {label}: {problem}", rank=_RANK["wrong_output_dtype"])
        if stored.size != features:
            session.find("wrong_output_shape", f"bn_param['{key}'] has shape {stored.shape}; it needs shape ({features},)",
                         rank=_RANK["wrong_output_shape"])
            problems[key] = "shape"
            continue
        if stored.shape != (features,):
            session.find("wrong_output_shape", f"bn_param['{key}'] has shape {stored.shape}; it needs shape ({features},)",
                         rank=_RANK["wrong_output_shape"])
        value = error(stored.ravel(), reference_param[key])
        session.record_error(key, label, value)
        if _mismatched(value, stored):
            problems[key] = stored.ravel()
    return problems


def running_section(session, forward):
    """Train steps, then the running statistics (also with a given momentum), then test mode."""
    layer = session.layer
    rng = np.random.default_rng(SEED + 1)
    steps, test_probe = layer.running_batches(rng)
    learner_param = layer.param_dict("train")
    reference_param = layer.param_dict("train")
    ok, batch_means, batch_vars = _train_steps(session, forward, steps, learner_param, reference_param)
    if not ok:
        return
    features = test_probe.gamma.size
    label = f"after {len(steps)} train steps"
    problems = _compare_running(session, learner_param, reference_param, label, features)
    if problems:
        _diagnose_running(session, forward, problems, learner_param, batch_means, batch_vars,
                          layer.count(steps[0]), test_probe, label)
    else:  # right with the default momentum: is bn_param['momentum'] used at all?
        _given_momentum(session, forward, steps, features)
    if session.not_implemented is None:
        _test_mode(session, forward, rng, test_probe, reference_param)


def _given_momentum(session, forward, steps, features):
    """The same train steps from zeros, with momentum GIVEN_MOMENTUM in bn_param."""
    layer = session.layer
    learner_param = dict(layer.param_dict("train"), momentum=GIVEN_MOMENTUM)
    reference_param = dict(layer.param_dict("train"), momentum=GIVEN_MOMENTUM)
    ok, batch_means, batch_vars = _train_steps(session, forward, steps, learner_param, reference_param)
    if not ok:
        return
    label = f"after {len(steps)} train steps with momentum = {GIVEN_MOMENTUM} in bn_param"
    problems = _compare_running(session, learner_param, reference_param, label, features)
    for key, stored in problems.items():
        if isinstance(stored, str):
            if stored == "missing":
                session.unexplained.append(f"{label}, bn_param has no {key}, although it has one when "
                                           "bn_param leaves 'momentum' out")
            continue
        batch_values = batch_means if key == "running_mean" else batch_vars
        hard_coded = symptoms.running_average(batch_values, MOMENTUM, np.zeros_like(batch_values[0]))
        match = error(stored, hard_coded)
        if match <= tolerances(stored)[1]:
            session.find("momentum_hard_coded", (
                f"bn_param['{key}'] is right when bn_param leaves 'momentum' out (the default {MOMENTUM}), but "
                f"{label} it differs from the correct value (error {format_error(session.errors[key][label])}) "
                f"and matches the running average with momentum {MOMENTUM} (to {format_error(match)})"),
                rank=_RUNNING_RANK, strength=match)
        else:
            session.unexplained.append(
                f"bn_param['{key}'] {label} differs from the correct running average (error "
                f"{format_error(session.errors[key][label])}) in a way that matches no mistake in the catalogue, "
                "although it is right when bn_param leaves 'momentum' out"
            )


def _test_inputs(layer, rng, test_probe, running_mean, running_var):
    """[(probe, running_mean, running_var)] for test mode: the plain input, and one whose
    feature (channel) 0 has a running variance of TEST_TINY_VARIANCE, comparable to eps."""
    x = test_probe.x.copy()
    index = layer.feature(0)
    tiny = _make_small(rng, x, index, np.sqrt(TEST_TINY_VARIANCE))
    x[index] += running_mean[0]
    tiny_var = running_var.copy()
    tiny_var[0] = TEST_TINY_VARIANCE
    tiny_probe = Probe(f"test mode ({layer.slice_name} 0: running_var {eps_text(TEST_TINY_VARIANCE)})", x,
                       test_probe.gamma, test_probe.beta, None, note="tiny variance", tiny=tiny)
    return [(test_probe, running_mean, running_var), (tiny_probe, running_mean, tiny_var)]


def alternatives_in_test_mode(layer, run):
    """[(ids, description, out)] for the test-mode mistakes, on this run's input."""
    probe = run.probe
    gamma, beta = layer.broadcast(probe.gamma, probe), layer.broadcast(probe.beta, probe)
    mean = layer.broadcast(run.reference["running_mean"], probe)
    std = np.sqrt(layer.broadcast(run.reference["running_var"], probe))
    batch = layer.unview(symptoms.normalized(layer.view(probe.x, probe), layer.axes, EPS), probe)
    return [
        (("batch_stats_in_test_mode",), "normalization with the batch statistics", gamma * batch + beta),
        (("eps_missing",), "(x - running_mean) / sqrt(running_var), with no eps",
         gamma * (probe.x - mean) / std + beta),
        (("eps_outside_sqrt",), "(x - running_mean) / (sqrt(running_var) + eps)",
         gamma * (probe.x - mean) / (std + EPS) + beta),
    ]


def _test_mode(session, forward, rng, test_probe, reference_param):
    """Test mode, with the correct running statistics; then name what differs."""
    layer = session.layer
    runs = []
    inputs = _test_inputs(layer, rng, test_probe, reference_param["running_mean"], reference_param["running_var"])
    for probe, running_mean, running_var in inputs:
        test_param = layer.param_dict("test")
        test_param.update(running_mean=running_mean.copy(), running_var=running_var.copy())
        given = copy.deepcopy(test_param)
        reference_out, _ = layer.reference_forward(probe, copy.deepcopy(given))
        run, implemented = run_forward(session, forward, probe, test_param)
        if not implemented:
            session.not_implemented = (
                f"train mode works, but in test mode {layer.forward_name} still returns None. Fill in the "
                "test-mode TODO, run that cell, then run this check again."
            )
            return
        if run is None:
            continue
        run.reference.update(out=reference_out, running_mean=given["running_mean"], running_var=given["running_var"])
        run.out_error = error(run.out, reference_out, layer.slice_axes)
        session.record_error("out (test mode)", probe.label, run.out_error)
        changed = [k for k in ("running_mean", "running_var")
                   if _stat(test_param, k) is None or _stat(test_param, k).shape != given[k].shape
                   or not np.array_equal(_stat(test_param, k), given[k])]
        # the same values, only stored again in another dtype (a float32 implementation writing
        # its float32 copies back): not an update; a finding only if that dtype is one to avoid
        recast = [k for k in changed if _stat(test_param, k) is not None
                  and _stat(test_param, k).shape == given[k].shape
                  and np.array_equal(_stat(test_param, k), given[k].astype(_stat(test_param, k).dtype))]
        for key in recast:
            problem = _dtype_problem(_stat(test_param, key).dtype)
            if problem:
                session.find("wrong_output_dtype", f"in test mode, {layer.forward_name} stored bn_param['{key}'] "
                             f"again as {_stat(test_param, key).dtype}: {problem}", rank=_RANK["wrong_output_dtype"])
        changed = [k for k in changed if k not in recast]
        if changed:
            session.find("running_stats_updated_in_test_mode",
                         f"in test mode, {layer.forward_name} changed bn_param's {' and '.join(changed)}")
        runs.append(run)
    wrong = [r for r in runs if r.mismatched("out")]
    if not wrong:
        return
    matched = _match(runs, lambda r: r.out, lambda r: alternatives_in_test_mode(layer, r), layer.slice_axes)
    for ids, description, match_error in matched:
        for mistake_id in ids:
            session.find(mistake_id, evidence_in_test_mode(layer, runs, mistake_id, description, match_error),
                         strength=match_error)
    if not matched:
        _no_mistake_matched(session, "test-mode out", wrong, lambda r: r.out, lambda r: r.out_error, lambda worst: (
            f"{layer.forward_name} in test mode: out differs from the correct output (error "
            f"{format_error(worst.out_error)} on {worst.probe.label}) in a way that matches no mistake in the "
            "catalogue. In test mode the output is gamma * (x - running_mean) / sqrt(running_var + eps) + beta."
        ))


def evidence_in_test_mode(layer, runs, mistake_id, description, match_error):
    """The 'seen' text for a test-mode mistake, with the numbers it keys on."""
    plain = [r for r in runs if r.probe.tiny is None]
    tiny = [r for r in runs if r.probe.tiny is not None]
    if mistake_id == "batch_stats_in_test_mode" and plain:
        run = plain[0]
        x_hat = _xhat_of(run.out, run.probe, layer)
        means = np.abs(x_hat.mean(axis=layer.axes)).max()
        stds = x_hat.std(axis=layer.axes)
        return (
            f"test-mode out differs from the correct output (error {format_error(run.out_error)}) and is "
            f"'too clean': per-{layer.slice_name} means of your normalized output {format_error(means)}, stds "
            f"{stds.min():.4f} to {stds.max():.4f}, although the running statistics in bn_param differ from "
            f"this batch's (it matches normalization with the batch statistics to {format_error(match_error)})")
    if plain and tiny:
        run = tiny[0]
        small = _slice_error(run.out, run.reference["out"], run.probe.tiny)
        return (f"test-mode out is almost right where running_var is ~1 (error "
                f"{format_error(max(r.out_error for r in plain))}) but off by {format_error(small)} in the "
                f"{layer.slice_name} whose running_var is {eps_text(TEST_TINY_VARIANCE)}, comparable to eps = "
                f"{eps_text(EPS)}; it matches {description} (to {format_error(match_error)})")
    errors = ", ".join(f"{format_error(r.out_error)} on {r.probe.label}" for r in runs)
    return f"test-mode out differs from the correct output ({errors}) and matches {description} " \
           f"(to {format_error(match_error)})"


def _diagnose_running(session, forward, problems, learner_param, batch_means, batch_vars, count, test_probe, label):
    """Name what is wrong with the running statistics of `problems` (label: when they were read)."""
    layer = session.layer
    start = 0.0
    found = set()
    missing = [k for k, v in problems.items() if isinstance(v, str) and v == "missing"]
    unchanged = [k for k, v in problems.items() if not isinstance(v, str) and np.all(v == start)]
    if missing or unchanged:
        what = []
        if missing:
            what.append(f"bn_param has no {' and no '.join(missing)} (its keys: {sorted(learner_param)})")
        if unchanged:
            what.append(f"{' and '.join(unchanged)} still all zeros")
        effect = _test_with_own_stats(session, forward, learner_param, test_probe)
        session.find("running_stats_not_saved", f"after {RUNNING_STEPS} train steps, " + "; ".join(what) + effect,
                     rank=_RUNNING_RANK)
        found.update(missing + unchanged)
    variants = {
        "running_mean": [
            ("momentum_reversed", "running = momentum * batch + (1 - momentum) * running",
             symptoms.running_average(batch_means, 1 - MOMENTUM, np.zeros_like(batch_means[0]))),
        ],
        "running_var": [
            ("momentum_reversed", "running = momentum * batch + (1 - momentum) * running",
             symptoms.running_average(batch_vars, 1 - MOMENTUM, np.zeros_like(batch_vars[0]))),
            ("running_std_instead_of_var", "the running average of the batch standard deviation",
             symptoms.running_average([np.sqrt(v) for v in batch_vars], MOMENTUM, np.zeros_like(batch_vars[0]))),
            ("running_std_instead_of_var", "the running average of sqrt(var + eps)",
             symptoms.running_average([np.sqrt(v + EPS) for v in batch_vars], MOMENTUM, np.zeros_like(batch_vars[0]))),
            ("running_var_unbiased", "the running average of the unbiased (N-1) batch variance",
             symptoms.running_average([v * count / (count - 1) for v in batch_vars], MOMENTUM,
                                      np.zeros_like(batch_vars[0]))),
        ],
    }
    for key, stored in problems.items():
        if key in found or isinstance(stored, str):
            continue
        matched = False
        for mistake_id, description, value in variants[key]:
            match = error(stored, value)
            if match <= tolerances(stored)[1]:
                seen = (f"bn_param['{key}'] {label} (momentum left out of bn_param, so "
                        f"{MOMENTUM}; from zeros) differs from the correct value (error "
                        f"{format_error(session.errors[key][label])}) and matches "
                        f"{description} (to {format_error(match)})")
                if mistake_id == "running_std_instead_of_var":
                    seen += _test_with_own_stats(session, forward, learner_param, test_probe)
                session.find(mistake_id, seen, rank=_RUNNING_RANK, strength=match)
                matched = True
        if not matched:
            _no_mistake_matched(session, f"bn_param['{key}']", [stored], lambda a: a,
                                lambda a: session.errors[key][label], lambda _: (
                f"bn_param['{key}'] {label} differs from the correct running "
                f"average (error {format_error(session.errors[key][label])}) in a way "
                "that matches no mistake in the catalogue: running = momentum * running + (1 - momentum) * batch, "
                "starting from zeros, with the biased batch variance."
            ))


def _test_with_own_stats(session, forward, learner_param, test_probe):
    """What test mode gives with the running statistics the learner's train steps left behind."""
    layer = session.layer
    param = copy.deepcopy(learner_param)
    param["mode"] = "test"
    x = test_probe.x.copy()
    call = guarded_call(lambda *a: layer.call_forward(forward, *a, test_probe),
                        (x, test_probe.gamma.copy(), test_probe.beta.copy(), param), {})
    if call.exception:
        return f"; test mode with that bn_param raises {call.exception}"
    try:
        out = as_float_array(call.result[0])
        stds = _xhat_of(out, test_probe, layer).std(axis=layer.axes)
    except Exception:  # noqa: BLE001
        return ""
    return (f"; test mode with that bn_param gives normalized outputs with per-{layer.slice_name} stds "
            f"{np.min(stds):.3g} to {np.max(stds):.3g} (they should be near 1)")


def same_in_test_mode(session, forward):
    """Layer norm has no running statistics: its output must not change in test mode."""
    layer = session.layer
    probe = layer.probes(np.random.default_rng(SEED))[0]
    run, implemented = run_forward(session, forward, probe, layer.param_for(probe, "test"))
    if not implemented:
        session.unexplained.append(
            f"with mode = 'test' in the param dict, {layer.forward_name} returns None: layer norm "
            "behaves the same in train and test mode"
        )
    if run is None:
        return
    correct, _ = layer.reference_forward(probe, layer.param_for(probe))
    value = error(run.out, correct, layer.slice_axes)
    session.record_error("out (mode='test')", probe.label, value)
    if _mismatched(value, run.out):
        session.unexplained.append(
            f"with mode = 'test' in the param dict, {layer.forward_name}'s out differs from the correct "
            f"output (error {format_error(value)}): layer norm has no running statistics and behaves the "
            "same in train and test mode"
        )
