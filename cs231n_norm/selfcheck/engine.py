"""How a self-check runs: probes, safe calls into the learner's code, comparison, diagnosis.

A check runs in three steps.

1. Run the learner's functions on *probes*: small inputs chosen so that every
   catalogued mistake shows (several shapes including N == D and N != D,
   per-feature offsets and scales, one feature of tiny variance, random gamma,
   beta and dout, a gamma = 1 probe, several training steps, test mode). Every
   call is guarded: an exception, a None, a wrong shape or a modified input
   becomes part of the report, never a crash.
2. Compare everything with the package's reference layers (:mod:`cs231n_norm.layers`).
   If it all matches, the check passes.
3. Otherwise diagnose by symptom: compare the learner's numbers with what each
   catalogued mistake would have produced on the same inputs
   (:mod:`cs231n_norm.selfcheck.symptoms`), and with the running-statistics and
   test-mode signatures. A mismatch that matches nothing is reported as an
   unnamed mismatch, with its errors: a wrong implementation never passes.
"""

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import layers
from ..gradcheck import eval_numerical_gradient_array, rel_error
from . import symptoms
from .report import Finding, Report, format_error

SEED = 231
EPS = 1e-5  # CS231n's default; the probes' param dicts leave it out, as CS231n's tests do
MOMENTUM = 0.9  # CS231n's default, likewise left out of the probes' bn_param
RUNNING_STEPS = 3

# Order of findings that are not symptom matches (symptom matches come first,
# best match first): a wrong shape or an exception is usually the consequence.
_RUNNING_RANK = 0.5  # running-statistics findings come after train-mode ones (which may cause them)
_RANK = {"wrong_output_shape": 1, "wrong_return_value": 2, "input_modified": 3, "raised_exception": 4}


# ------------------------------------------------------------------ measuring


FLOAT64_AGREEMENT = 1e-7  # a float64 computation of the same formula agrees to ~1e-15


def tolerances(*arrays):
    """(pass, match) tolerances for the learner's arrays.

    Passing needs agreement to float32 precision (1e3 float32 epsilons, ~1.2e-4),
    whatever the dtype: a float64 result computed partly in float32 is still
    right, and every catalogued mistake shows far above that on some probe
    (eps outside the sqrt on the tiny-variance probe, an N-1 variance at
    N = 64 by 8e-3, ...). A float64 result that passes with an error above
    1e-7 gets a note saying so. A learner's result *matches a mistake* within
    1e-6 in float64, or 1e4 float32 epsilons for float32 results.
    """
    float32_eps = float(np.finfo(np.float32).eps)
    machine_eps = max(
        (np.finfo(a.dtype).eps if a.dtype.kind == "f" else np.finfo(np.float64).eps) for a in arrays
    )
    return max(1e3 * float32_eps, 1e3 * machine_eps), max(1e-6, 1e4 * machine_eps)


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
    """

    label: str
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    dout: np.ndarray
    G: int = None
    note: str = ""
    tiny: tuple = ()  # index of the slice with tiny variance, if any


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


# ------------------------------------------------------------------ the layers


class Layer:
    """What the engine needs to know about one kind of normalization layer.

    Subclasses define how the learner's functions are called, the reference
    (``_reference_forward``, ``reference_backward``), the probes, and the
    layer's own wrong-axis mistakes. Class attributes:

    forward_name, backward_name : the CS231n names of the learner's functions
    axes : the axes of the *view* (see :meth:`view`) that each statistic is taken over
    slice_axes : the axes of out / dx that index one slice for :func:`error`
    param_sum_axes : the axes of x that dgamma and dbeta sum over
    """

    forward_name = backward_name = ""
    axes = (0,)
    slice_axes = (1,)
    param_sum_axes = (0,)

    def param_dict(self, mode="train"):
        return {"mode": mode}

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
        """gamma or beta reshaped to broadcast against x."""
        return param

    def wrong_axis_outputs(self, probe):
        """[(mistake id, description, out)] for this layer's own axis mistakes."""
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
    slice_axes = (1,)
    param_sum_axes = (0,)
    axes = (0,)

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.batchnorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.batchnorm_backward_alt(dout, cache)

    def probes(self, rng):
        def probe(N, D, note="", tiny=False, gamma_one=False, x=None):
            x = per_feature_data(rng, (N, D)) if x is None else x
            tiny_index = ()
            if tiny:  # one feature of variance ~1e-6, comparable to eps: shows where eps sits
                x[:, 0] = 1e-3 * rng.standard_normal(N)
                tiny_index = (0,)
            gamma = np.ones(D) if gamma_one else rng.uniform(0.5, 2.0, D)
            return Probe(f"N={N}, D={D}" + (f" ({note})" if note else ""), x, gamma,
                         rng.standard_normal(D), rng.standard_normal((N, D)), note=note, tiny=tiny_index)

        classic = probe(4, 5)
        return [
            classic,
            probe(5, 5),
            probe(16, 3, "tiny variance", tiny=True),
            probe(64, 3),
            probe(4, 5, "gamma = 1", gamma_one=True, x=classic.x.copy()),
        ]

    def running_batches(self, rng):
        shape = (8, 4)
        batches = [per_feature_data(rng, shape) + rng.uniform(-1, 1, shape[1]) * step for step in range(RUNNING_STEPS)]
        test = per_feature_data(rng, shape)
        gamma, beta = rng.uniform(0.5, 2.0, shape[1]), rng.standard_normal(shape[1])
        return [Probe(f"train step {i + 1}", b, gamma, beta, None) for i, b in enumerate(batches)], \
            Probe("test mode", test, gamma, beta, None)

    def wrong_axis_outputs(self, probe):
        x = probe.x
        outs = [("batchnorm_wrong_axis", "x normalized over axis 1 (each example over its features)",
                 symptoms.normalized(x, (1,), EPS))]
        if x.shape[0] == x.shape[1]:
            outs.append(("batchnorm_wrong_axis", "statistics over axis 1 broadcast against the columns",
                         symptoms.normalized_no_keepdims(x, EPS)))
        return [(i, d, probe.gamma * xh + probe.beta) for i, d, xh in outs]



class LayerNorm(Layer):
    forward_name, backward_name = "layernorm_forward", "layernorm_backward"
    slice_axes = (0,)
    param_sum_axes = (0,)
    axes = (1,)

    def param_dict(self, mode="train"):
        return {} if mode == "train" else {"mode": mode}

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.layernorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.layernorm_backward(dout, cache)

    def probes(self, rng):
        def probe(N, D, note="", tiny=False, gamma_one=False, x=None):
            x = per_feature_data(rng, (N, D), row_offsets=True) if x is None else x
            tiny_index = ()
            if tiny:  # one example of variance ~1e-6
                x[0] = 1e-3 * rng.standard_normal(D)
                tiny_index = (0,)
            gamma = np.ones(D) if gamma_one else rng.uniform(0.5, 2.0, D)
            return Probe(f"N={N}, D={D}" + (f" ({note})" if note else ""), x, gamma,
                         rng.standard_normal(D), rng.standard_normal((N, D)), note=note, tiny=tiny_index)

        classic = probe(4, 5)
        return [
            classic,
            probe(5, 5),
            probe(3, 16, "tiny variance", tiny=True),
            probe(4, 5, "gamma = 1", gamma_one=True, x=classic.x.copy()),
        ]

    def wrong_axis_outputs(self, probe):
        x = probe.x
        outs = [("layernorm_wrong_axis", "x normalized over axis 0 (batch norm)", symptoms.normalized(x, (0,), EPS))]
        if x.shape[0] == x.shape[1]:
            outs.append(("missing_keepdims", "row statistics without keepdims (x[i, j] - mean of row j)",
                         symptoms.normalized_no_keepdims(x, EPS)))
        outs = [(i, d, probe.gamma * xh + probe.beta) for i, d, xh in outs]
        if x.shape[0] == x.shape[1]:
            x_hat = symptoms.normalized(x, (1,), EPS)
            outs.append(("layernorm_gamma_before_transpose", "gamma and beta applied per example (row)",
                         probe.gamma[:, None] * x_hat + probe.beta[:, None]))
        return outs

    def wrong_axis_dx(self, probe, x_hat, inv_std, dx_hat):
        return [("layernorm_wrong_axis", "the batch-norm gradient formula (means over axis 0)",
                 symptoms.dx_family(dx_hat, x_hat, inv_std, (0,)))]

    def wrong_axis_param_grads(self, probe):
        if probe.x.shape[0] != probe.x.shape[1]:
            return []
        x_hat = symptoms.normalized(probe.x, (1,), EPS)
        return [("layernorm_wrong_axis", "sums over axis 1 instead of axis 0",
                 (probe.dout * x_hat).sum(axis=1), probe.dout.sum(axis=1))]


class SpatialBatchNorm(Layer):
    forward_name, backward_name = "spatial_batchnorm_forward", "spatial_batchnorm_backward"
    slice_axes = (1,)
    param_sum_axes = (0, 2, 3)
    axes = (0, 2, 3)

    def _reference_forward(self, x, gamma, beta, param, probe):
        return layers.spatial_batchnorm_forward(x, gamma, beta, param)

    def reference_backward(self, dout, cache):
        return layers.spatial_batchnorm_backward(dout, cache)

    def broadcast(self, param, probe):
        return param.reshape(1, -1, 1, 1)

    def probes(self, rng):
        def probe(shape, note="", tiny=False):
            x = per_feature_data(rng, shape)
            tiny_index = ()
            if tiny:
                x[:, 0] = 1e-3 * rng.standard_normal(x[:, 0].shape)
                tiny_index = (0,)
            C = shape[1]
            label = "N={}, C={}, H={}, W={}".format(*shape) + (f" ({note})" if note else "")
            return Probe(label, x, rng.uniform(0.5, 2.0, C), rng.standard_normal(C),
                         rng.standard_normal(shape), note=note, tiny=tiny_index)

        return [probe((2, 3, 4, 5)), probe((3, 4, 2, 2), "tiny variance", tiny=True), probe((2, 2, 3, 3))]

    def running_batches(self, rng):
        shape = (2, 3, 2, 3)
        batches = [per_feature_data(rng, shape) + rng.uniform(-1, 1, (1, 3, 1, 1)) * step for step in range(RUNNING_STEPS)]
        test = per_feature_data(rng, shape)
        gamma, beta = rng.uniform(0.5, 2.0, 3), rng.standard_normal(3)
        return [Probe(f"train step {i + 1}", b, gamma, beta, None) for i, b in enumerate(batches)], \
            Probe("test mode", test, gamma, beta, None)

    def wrong_axis_outputs(self, probe):
        x, (N, C, H, W) = probe.x, probe.x.shape
        gamma, beta = probe.gamma, probe.beta
        flat = x.reshape(-1, C)  # the mistake: channels are not the last axis of x
        mixed = gamma * symptoms.normalized(flat, (0,), EPS) + beta
        channels_last = x.transpose(0, 2, 3, 1).reshape(-1, C)
        not_undone = gamma * symptoms.normalized(channels_last, (0,), EPS) + beta
        return [
            ("spatial_bn_channels_mixed", "batch norm of x.reshape(-1, C) without moving C last",
             mixed.reshape(x.shape)),
            ("spatial_bn_channels_mixed", "channels moved last correctly, but reshaped back without moving them back",
             not_undone.reshape(x.shape)),
        ]


class GroupNorm(Layer):
    forward_name, backward_name = "spatial_groupnorm_forward", "spatial_groupnorm_backward"
    slice_axes = (0,)
    param_sum_axes = (0, 2, 3)
    axes = (2,)

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
        def probe(shape, G, tiny=False):
            C = shape[1]
            x = per_feature_data(rng, shape)
            if tiny:  # the first group of the first example has variance ~1e-6
                x[0, : C // G] = 1e-3 * rng.standard_normal(x[0, : C // G].shape)
            label = "N={}, C={}, H={}, W={}".format(*shape) + f", G={G}" + (" (tiny variance)" if tiny else "")
            return Probe(label, x, rng.uniform(0.5, 2.0, (1, C, 1, 1)), rng.standard_normal((1, C, 1, 1)),
                         rng.standard_normal(shape), G=G, note="tiny variance" if tiny else "",
                         tiny=(0,) if tiny else ())

        return [probe((2, 6, 2, 3), 2), probe((3, 6, 2, 2), 3, tiny=True), probe((2, 4, 3, 3), 2)]

    def wrong_axis_outputs(self, probe):
        x, G = probe.x, probe.G
        N, C, H, W = x.shape
        interleaved = x.reshape(N, C // G, G, H, W)  # channel c lands in group c % G
        x_hat = symptoms.normalized(interleaved, (1, 3, 4), EPS).reshape(x.shape)
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
                      tolerance=tolerances(np.zeros(1))[0])


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
        session.find("raised_exception", f"{where} raised {call.exception} on {probe.label}",
                     rank=_RANK["raised_exception"])
        return None, True
    result = call.result
    if result is None or (isinstance(result, (tuple, list)) and len(result) >= 1 and result[0] is None):
        return None, False
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = "a single array" if isinstance(result, np.ndarray) else f"a {type(result).__name__}"
        session.find("wrong_return_value", f"{where} returned {what}; it must return the pair (out, cache)",
                     rank=_RANK["wrong_return_value"])
        return None, True
    out = as_float_array(result[0])
    if out is None:
        session.find("wrong_return_value", f"{where} returned out of type {type(result[0]).__name__}; "
                     "out must be an array of floats", rank=_RANK["wrong_return_value"])
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
        session.find("raised_exception", f"{where} raised {call.exception} on {probe.label}",
                     rank=_RANK["raised_exception"])
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
        array = as_float_array(value)
        if array is None:
            session.find("wrong_return_value", f"{where} returned {name} of type {type(value).__name__}; "
                         "it must be an array of floats", rank=_RANK["wrong_return_value"])
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
        run, implemented = run_forward(session, forward, probe, layer.param_dict("train"))
        if not implemented:
            session.not_implemented = _not_implemented_note(
                layer.forward_name, runs_first=layer.backward_name if backward is not None else None)
            return None
        reference_out, reference_cache = layer.reference_forward(probe, layer.param_dict("train"))
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


# ------------------------------------------------------------------ diagnosis: forward


def _xhat_of(out, probe, layer):
    """Undo gamma and beta: the learner's normalized output."""
    return (out - layer.broadcast(probe.beta, probe)) / layer.broadcast(probe.gamma, probe)


def forward_alternatives(layer, probe):
    """[(ids, description, out)] for the forward mistakes, on this probe."""
    view = layer.view(probe.x, probe)
    gamma, beta = layer.broadcast(probe.gamma, probe), layer.broadcast(probe.beta, probe)

    def out_of(x_hat_view):
        return gamma * layer.unview(x_hat_view, probe) + beta

    return [
        (("unbiased_variance",), "the variance divided by N-1",
         out_of(symptoms.normalized(view, layer.axes, EPS, ddof=1))),
        (("eps_outside_sqrt",), "sqrt(var) + eps as the denominator",
         out_of(symptoms.normalized(view, layer.axes, EPS, eps_outside_sqrt=True))),
    ] + [((i,), d, out) for i, d, out in layer.wrong_axis_outputs(probe)]


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


def forward_evidence(session, runs, mistake_id, description, match_error):
    """The 'seen' text for a forward mistake, with the numbers it keys on."""
    layer = session.layer
    wrong = {r.probe.label: r.out_error for r in runs if r.out_error is not None}
    base = (f"out differs from the correct output ({_probe_list(wrong)}) and matches {description} "
            f"(to {format_error(match_error)})")
    if mistake_id == "unbiased_variance":
        ratios = {}
        for run in runs:
            if run.probe.tiny:
                continue
            spread = _xhat_of(run.out, run.probe, layer).std(axis=layer.axes)
            ratios.setdefault(layer.count(run.probe), float(np.mean(spread)))
        listed = ", ".join(f"{value:.3f} at N={count}" for count, value in sorted(ratios.items()))
        return base + f"; the spread (std) of your normalized output is {listed} instead of 1: " \
            "that is sqrt((N-1)/N), furthest from 1 for small batches"
    if mistake_id == "eps_outside_sqrt":
        tiny = [r for r in runs if r.probe.tiny]
        normal = [r for r in runs if not r.probe.tiny]
        if tiny and normal:
            run = tiny[0]
            small_slice = error(np.take(run.out, run.probe.tiny, axis=layer.slice_axes[0]),
                                np.take(run.reference["out"], run.probe.tiny, axis=layer.slice_axes[0]))
            return (f"out is almost right where the variance is ~1 (error {format_error(max(r.out_error for r in normal))}) "
                    f"but off by {format_error(small_slice)} where the variance is ~1e-6, comparable to eps = 1e-5; "
                    f"it matches {description} (to {format_error(match_error)})")
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
    for ids, description, match_error in matched:
        for mistake_id in ids:
            session.find(mistake_id, forward_evidence(session, runs, mistake_id, description, match_error),
                         strength=match_error)
    if not matched:
        worst = max(wrong, key=lambda r: r.out_error)
        session.unexplained.append(
            f"{layer.forward_name}: out differs from the correct output (worst error "
            f"{format_error(worst.out_error)} on {worst.probe.label}{_nonfinite(worst.out)}) in a way that "
            "matches no mistake in the catalogue. Compare your formula with the docstring step by step, "
            "printing shapes and the per-feature mean and std of your normalized output."
        )
    return False


# ------------------------------------------------------------------ diagnosis: backward


def dx_alternatives(layer, run):
    """[(ids, description, dx)]: what dx would be under each backward mistake, on this run's probe."""
    probe = run.probe
    cache = run.reference["cache"]
    # the correct normalization of this probe, in the layer's view
    x_hat = layer.view(cache.x_hat.reshape(probe.x.shape), probe)
    view = layer.view(probe.x, probe)
    inv_std = 1 / np.sqrt(np.square(view - view.mean(axis=layer.axes, keepdims=True)).mean(axis=layer.axes, keepdims=True) + EPS)
    gamma = layer.broadcast(probe.gamma, probe)
    dx_hat = layer.view(gamma * probe.dout, probe)
    plain = layer.view(probe.dout, probe)
    count = symptoms.statistic_count(view, layer.axes)

    def dx(dx_hat_view, a=1.0, b=1.0):
        return layer.unview(symptoms.dx_family(dx_hat_view, x_hat, inv_std, layer.axes, a, b), probe)

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
    ] + [((i,), d, layer.unview(v, probe)) for i, d, v in layer.wrong_axis_dx(probe, x_hat, inv_std, dx_hat)]


def param_alternatives(layer, run, name):
    """[(ids, description, value)]: what dgamma or dbeta (`name`) would be under each mistake."""
    probe = run.probe
    shape = probe.gamma.shape
    keep = probe.gamma.ndim == probe.x.ndim
    count = layer.param_count(probe)
    reference = run.reference[name]
    alternatives = []
    if name == "dgamma":
        with_x = (probe.dout * probe.x).sum(axis=layer.param_sum_axes, keepdims=keep).reshape(shape)
        alternatives += [
            (("dgamma_uses_x",), "sum(dout * x) over the batch", with_x),
            (("dgamma_mean_not_sum",), "the mean of dout * x_hat instead of the sum", reference / count),
        ]
    else:
        alternatives.append((("dbeta_mean_not_sum",), "the mean of dout instead of the sum", reference / count))
    for mistake_id, description, dgamma, dbeta in layer.wrong_axis_param_grads(probe):
        alternatives.append(((mistake_id,), description, dgamma if name == "dgamma" else dbeta))
    return alternatives


def backward_evidence(session, runs, name, mistake_id, description, match_error):
    """The 'seen' text for a backward mistake in gradient `name`, with the numbers it keys on."""
    wrong = {r.probe.label: r.grad_errors[name] for r in runs if r.grad_errors.get(name) is not None}
    others = [n for n in ("dx", "dgamma", "dbeta") if n != name]
    right = [n for n in others if all(not r.mismatched(n) for r in runs)
             and any(r.grad_errors.get(n) is not None for r in runs)]
    base = f"{name} differs from the correct gradient ({_probe_list(wrong)}) and matches {description} " \
           f"(to {format_error(match_error)})"
    if right:
        base += f"; {' and '.join(right)} {'are' if len(right) > 1 else 'is'} right"
    if mistake_id == "dx_missing_gamma":
        ones = [r for r in runs if r.probe.note == "gamma = 1" and r.grad_errors.get("dx") is not None]
        random = [r for r in runs if r.probe.note != "gamma = 1" and r.grad_errors.get("dx") is not None]
        if ones and random:
            run = random[0]
            ratio = np.median(run.grads["dx"] / run.reference["dx"], axis=session.layer.param_sum_axes).ravel()
            ratio_text = ", ".join(f"{v:.2f}" for v in ratio[:5])
            inverse = ", ".join(f"{v:.2f}" for v in (1 / run.probe.gamma.ravel())[:5])
            base += (f"; with gamma = 1 your dx is right (error {format_error(ones[0].grad_errors['dx'])}); "
                     f"with random gamma, your dx / correct dx per feature is {ratio_text} = 1/gamma ({inverse})")
    if mistake_id in ("dbeta_mean_not_sum", "dgamma_mean_not_sum"):
        run = runs[0]
        ratio = np.median(run.grads[name] / run.reference[name])
        base += f"; yours / correct = {ratio:.3f} = 1/{session.layer.param_count(run.probe)} on {run.probe.label}"
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
            worst = max(wrong, key=lambda r: r.grad_errors[name])
            session.unexplained.append(
                f"{layer.backward_name}: {name} differs from the correct gradient (worst error "
                f"{format_error(worst.grad_errors[name])} on {worst.probe.label}{_nonfinite(worst.grads[name])}) "
                "in a way that matches no "
                "mistake in the catalogue. Check each backward step against its local derivative "
                "(notebook 02's explorer checks every node numerically)."
            )


def classic_check(session, forward, backward, run):
    """CS231n's check on one probe: rel_error(numerical dx of your forward, your dx)."""
    layer, probe = session.layer, run.probe
    if run.grads is None or run.grads.get("dx") is None:
        return None
    param = layer.param_dict("train")

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


def running_section(session, forward):
    """Train steps, then the running statistics, then test mode."""
    layer = session.layer
    rng = np.random.default_rng(SEED + 1)
    steps, test_probe = layer.running_batches(rng)
    learner_param = layer.param_dict("train")
    reference_param = layer.param_dict("train")
    batch_means, batch_vars = [], []
    for probe in steps:
        run, implemented = run_forward(session, forward, probe, learner_param)
        if not implemented:
            session.not_implemented = _not_implemented_note(layer.forward_name)
            return
        layer.reference_forward(probe, reference_param)
        view = layer.view(probe.x, probe)
        batch_means.append(view.mean(axis=layer.axes).ravel())
        batch_vars.append(view.var(axis=layer.axes).ravel())
        if run is None:
            return
    label = f"after {len(steps)} train steps"
    features = probe.gamma.size
    count = layer.count(steps[0])
    problems = {}
    for key, correct in (("running_mean", reference_param["running_mean"]), ("running_var", reference_param["running_var"])):
        stored = _stat(learner_param, key)
        if stored is None:
            problems[key] = "missing"
            continue
        if stored.size != features:
            session.find("wrong_output_shape", f"bn_param['{key}'] has shape {stored.shape}; it needs shape ({features},)",
                         rank=_RANK["wrong_output_shape"])
            problems[key] = "shape"
            continue
        if stored.shape != (features,):
            session.find("wrong_output_shape", f"bn_param['{key}'] has shape {stored.shape}; it needs shape ({features},)",
                         rank=_RANK["wrong_output_shape"])
        value = error(stored.ravel(), correct)
        session.record_error(key, label, value)
        if _mismatched(value, stored):
            problems[key] = stored.ravel()

    if problems:
        _diagnose_running(session, forward, problems, learner_param, batch_means, batch_vars, count, test_probe)

    # test mode, with the correct running statistics
    test_param = layer.param_dict("test")
    test_param.update(running_mean=reference_param["running_mean"].copy(), running_var=reference_param["running_var"].copy())
    given = copy.deepcopy(test_param)
    reference_out, _ = layer.reference_forward(test_probe, copy.deepcopy(given))
    run, implemented = run_forward(session, forward, test_probe, test_param)
    if not implemented:
        session.not_implemented = (
            f"train mode works, but in test mode {layer.forward_name} still returns None. Fill in the "
            "test-mode TODO, run that cell, then run this check again."
        )
        return
    if run is None:
        return
    value = error(run.out, reference_out, layer.slice_axes)
    session.record_error("out (test mode)", test_probe.label, value)
    changed = [k for k in ("running_mean", "running_var")
               if _stat(test_param, k) is None or _stat(test_param, k).shape != given[k].shape
               or not np.array_equal(_stat(test_param, k), given[k])]
    if changed:
        session.find("running_stats_updated_in_test_mode",
                     f"in test mode, {layer.forward_name} changed bn_param's {' and '.join(changed)}")
    if _mismatched(value, run.out):
        x_hat = _xhat_of(run.out, test_probe, layer)
        batch = symptoms.normalized(layer.view(test_probe.x, test_probe), layer.axes, EPS)
        batch_out = layer.broadcast(test_probe.gamma, test_probe) * layer.unview(batch, test_probe) + \
            layer.broadcast(test_probe.beta, test_probe)
        match = error(run.out, batch_out, layer.slice_axes)
        if match <= tolerances(run.out)[1]:
            means = np.abs(x_hat.mean(axis=layer.axes)).max()
            stds = x_hat.std(axis=layer.axes)
            session.find("batch_stats_in_test_mode", (
                f"test-mode out differs from the correct output (error {format_error(value)}) and is 'too clean': "
                f"per-feature means of your normalized output {format_error(means)}, stds "
                f"{stds.min():.4f} to {stds.max():.4f}, although the running statistics in bn_param differ "
                f"from this batch's (it matches normalization with the batch statistics to {format_error(match)})"),
                strength=match)
        else:
            session.unexplained.append(
                f"{layer.forward_name} in test mode: out differs from the correct output (error "
                f"{format_error(value)}) in a way that matches no mistake in the catalogue. In test mode the "
                "output is gamma * (x - running_mean) / sqrt(running_var + eps) + beta."
            )


def _diagnose_running(session, forward, problems, learner_param, batch_means, batch_vars, count, test_probe):
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
                seen = (f"bn_param['{key}'] after {RUNNING_STEPS} train steps (momentum {MOMENTUM}, from zeros) "
                        f"differs from the correct value (error "
                        f"{format_error(session.errors[key][next(iter(session.errors[key]))])}) and matches "
                        f"{description} (to {format_error(match)})")
                if mistake_id == "running_std_instead_of_var":
                    seen += _test_with_own_stats(session, forward, learner_param, test_probe)
                session.find(mistake_id, seen, rank=_RUNNING_RANK, strength=match)
                matched = True
        if not matched:
            session.unexplained.append(
                f"bn_param['{key}'] after {RUNNING_STEPS} train steps differs from the correct running "
                f"average (error {format_error(session.errors[key][next(iter(session.errors[key]))])}) in a way "
                "that matches no mistake in the catalogue: running = momentum * running + (1 - momentum) * batch, "
                "starting from zeros, with the biased batch variance."
            )


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
    return (f"; test mode with that bn_param gives normalized outputs with per-feature stds "
            f"{np.min(stds):.3g} to {np.max(stds):.3g} (they should be near 1)")


def same_in_test_mode(session, forward):
    """Layer norm has no running statistics: its output must not change in test mode."""
    layer = session.layer
    probe = layer.probes(np.random.default_rng(SEED))[0]
    run, implemented = run_forward(session, forward, probe, layer.param_dict("test"))
    if not implemented:
        session.unexplained.append(
            f"with mode = 'test' in the param dict, {layer.forward_name} returns None: layer norm "
            "behaves the same in train and test mode"
        )
    if run is None:
        return
    correct, _ = layer.reference_forward(probe, layer.param_dict("train"))
    value = error(run.out, correct, layer.slice_axes)
    session.record_error("out (mode='test')", probe.label, value)
    if _mismatched(value, run.out):
        session.unexplained.append(
            f"with mode = 'test' in the param dict, {layer.forward_name}'s out differs from the correct "
            f"output (error {format_error(value)}): layer norm has no running statistics and behaves the "
            "same in train and test mode"
        )
