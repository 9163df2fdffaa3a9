"""cs231n_norm.selfcheck names the mistake, and never cries wolf.

For every catalogue id, at least one deliberately wrong implementation (in
tests/mistaken_implementations.py, written the way learners write CS231n code)
must fail with that id listed first. Correct implementations written in other
styles (staged, simplified, float32, dict or tuple caches, extra cache entries,
the transpose trick) must pass with no mistakes listed: a false alarm is as bad
as a missed mistake.
"""

import functools
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from cs231n_norm import layers
from cs231n_norm.mistakes import CATALOGUE, IDS, mistake
from cs231n_norm.selfcheck import (
    INTERNAL_ERROR,
    Report,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_groupnorm,
    check_layernorm,
    check_spatial_batchnorm,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mistaken_implementations as impl  # noqa: E402

P = functools.partial

REQUIRED_IDS = {
    "unbiased_variance", "eps_outside_sqrt", "missing_variance_path", "missing_mean_path",
    "missing_1_over_n", "dgamma_uses_x", "dx_missing_gamma", "dbeta_mean_not_sum",
    "running_stats_not_saved", "batch_stats_in_test_mode", "momentum_reversed",
    "running_std_instead_of_var", "layernorm_wrong_axis", "spatial_bn_channels_mixed",
    "groupnorm_interleaved_groups", "wrong_output_shape", "input_modified",
}


def bn_forward(**mistakes):
    return P(impl.bn_forward, **mistakes)


def bn_backward(**mistakes):
    return P(impl.bn_backward_staged, **mistakes)


def spatial(**mistakes):
    return P(impl.spatial_bn_forward, **mistakes)


def spatial_backward(**mistakes):
    return P(impl.spatial_bn_backward, **mistakes)


# (mistake id, label, check, functions): each implementation makes that one mistake
WRONG = [
    ("unbiased_variance", "bn forward", check_batchnorm_forward, (bn_forward(unbiased_variance=True),)),
    ("unbiased_variance", "bn backward check", check_batchnorm_backward,
     (bn_forward(unbiased_variance=True), impl.bn_backward_staged)),
    ("unbiased_variance", "layer norm", check_layernorm, (P(impl.ln_forward, unbiased_variance=True), impl.ln_backward)),
    ("unbiased_variance", "spatial", check_spatial_batchnorm, (spatial(unbiased_variance=True), impl.spatial_bn_backward)),
    ("eps_outside_sqrt", "bn forward", check_batchnorm_forward, (bn_forward(eps_outside_sqrt=True),)),
    ("eps_outside_sqrt", "bn forward float32", check_batchnorm_forward,
     (bn_forward(eps_outside_sqrt=True, dtype=np.float32),)),
    ("eps_outside_sqrt", "spatial", check_spatial_batchnorm, (spatial(eps_outside_sqrt=True),)),
    ("eps_outside_sqrt", "group norm", check_groupnorm, (P(impl.groupnorm_forward, eps_outside_sqrt=True),)),
    ("batchnorm_wrong_axis", "bn forward", check_batchnorm_forward, (bn_forward(batchnorm_wrong_axis=True),)),
    ("layernorm_wrong_axis", "layer norm", check_layernorm,
     (P(impl.ln_forward, layernorm_wrong_axis=True), impl.ln_backward)),
    ("layernorm_wrong_axis", "layer norm forward only", check_layernorm, (P(impl.ln_forward, layernorm_wrong_axis=True),)),
    ("layernorm_gamma_before_transpose", "transpose trick", check_layernorm, (impl.ln_forward_gamma_before_transpose,)),
    ("missing_keepdims", "layer norm", check_layernorm, (P(impl.ln_forward, missing_keepdims=True), impl.ln_backward)),
    ("missing_variance_path", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(missing_variance_path=True))),
    ("missing_variance_path", "spatial", check_spatial_batchnorm,
     (impl.spatial_bn_forward, spatial_backward(missing_variance_path=True))),
    ("missing_mean_path", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(missing_mean_path=True))),
    ("missing_1_over_n", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(missing_1_over_n=True))),
    ("missing_1_over_n", "spatial", check_spatial_batchnorm,
     (impl.spatial_bn_forward, spatial_backward(missing_1_over_n=True))),
    ("dx_missing_gamma", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(dx_missing_gamma=True))),
    ("dx_missing_gamma", "bn, dict cache", check_batchnorm_backward,
     (impl.bn_forward_dict, lambda dout, cache: impl.bn_backward_simplified(dout, dict(cache, gamma=np.ones_like(cache["gamma"]))))),
    ("dx_missing_gamma", "layer norm", check_layernorm, (impl.ln_forward, P(impl.ln_backward, dx_missing_gamma=True))),
    ("dx_missing_gamma", "spatial", check_spatial_batchnorm,
     (impl.spatial_bn_forward, spatial_backward(dx_missing_gamma=True))),
    ("dgamma_uses_x", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(dgamma_uses_x=True))),
    ("dgamma_uses_x", "spatial", check_spatial_batchnorm, (impl.spatial_bn_forward, spatial_backward(dgamma_uses_x=True))),
    ("dbeta_mean_not_sum", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(dbeta_mean_not_sum=True))),
    ("dbeta_mean_not_sum", "layer norm", check_layernorm, (impl.ln_forward, P(impl.ln_backward, dbeta_mean_not_sum=True))),
    ("dgamma_mean_not_sum", "bn", check_batchnorm_backward, (impl.bn_forward, bn_backward(dgamma_mean_not_sum=True))),
    ("running_stats_not_saved", "bn", check_batchnorm_forward, (bn_forward(running_stats_not_saved=True),)),
    ("running_stats_not_saved", "spatial", check_spatial_batchnorm, (spatial(running_stats_not_saved=True),)),
    ("momentum_reversed", "bn", check_batchnorm_forward, (bn_forward(momentum_reversed=True),)),
    ("momentum_reversed", "spatial", check_spatial_batchnorm, (spatial(momentum_reversed=True),)),
    ("running_std_instead_of_var", "bn", check_batchnorm_forward, (bn_forward(running_std_instead_of_var=True),)),
    ("running_var_unbiased", "bn", check_batchnorm_forward, (bn_forward(running_var_unbiased=True),)),
    ("batch_stats_in_test_mode", "bn", check_batchnorm_forward, (bn_forward(batch_stats_in_test_mode=True),)),
    ("batch_stats_in_test_mode", "spatial", check_spatial_batchnorm, (spatial(batch_stats_in_test_mode=True),)),
    ("running_stats_updated_in_test_mode", "bn", check_batchnorm_forward,
     (bn_forward(running_stats_updated_in_test_mode=True),)),
    ("spatial_bn_channels_mixed", "forward and backward", check_spatial_batchnorm,
     (spatial(spatial_bn_channels_mixed=True), spatial_backward(spatial_bn_channels_mixed=True))),
    ("groupnorm_interleaved_groups", "forward and backward", check_groupnorm,
     (P(impl.groupnorm_forward, groupnorm_interleaved_groups=True), impl.groupnorm_backward)),
    ("wrong_output_shape", "dgamma (1, D)", check_batchnorm_backward, (impl.bn_forward, bn_backward(wrong_output_shape=True))),
    ("wrong_output_shape", "out transposed", check_batchnorm_forward,
     (lambda x, g, b, p: (lambda out, cache: (out.T.copy(), cache))(*impl.bn_forward(x, g, b, p)),)),
    ("wrong_return_value", "forward returns out only", check_batchnorm_forward, (bn_forward(wrong_return_value=True),)),
    ("wrong_return_value", "backward returns two values", check_batchnorm_backward,
     (impl.bn_forward, lambda dout, cache: impl.bn_backward_staged(dout, cache)[:2])),
    ("input_modified", "forward x -= mean", check_batchnorm_forward, (bn_forward(input_modified=True),)),
    ("input_modified", "backward dout *= gamma", check_batchnorm_backward, (impl.bn_forward, bn_backward(input_modified=True))),
    ("raised_exception", "bn_param['eps'] missing", check_batchnorm_forward, (bn_forward(raised_exception=True),)),
    # a dtype other than float64 / float32: float16's tolerance (~0.98) once let these pass
    ("wrong_output_dtype", "out float16, right numbers", check_batchnorm_forward, (bn_forward(dtype=np.float16),)),
    ("wrong_output_dtype", "out float16, 1.5x too large", check_batchnorm_forward, (impl.bn_forward_float16_scaled,)),
    ("wrong_output_dtype", "out float16, 0.3x", check_batchnorm_forward,
     (P(impl.bn_forward_float16_scaled, scale=0.3),)),
    ("wrong_output_dtype", "dx float16, 0.5x", check_batchnorm_backward,
     (impl.bn_forward_dict, P(impl.bn_backward_simplified, dtype=np.float16, scale=0.5))),
    ("wrong_output_dtype", "out int", check_batchnorm_forward, (impl.bn_forward_int_out,)),
    ("wrong_output_dtype", "running stats float16", check_batchnorm_forward,
     (bn_forward(running_stats_dtype=np.float16),)),
    # eps in the backward pass only (the forward is right)
    ("eps_outside_sqrt", "backward only, simplified", check_batchnorm_backward,
     (impl.bn_forward_dict, P(impl.bn_backward_simplified, eps_outside_sqrt=True))),
    ("eps_outside_sqrt", "backward only, staged", check_batchnorm_backward,
     (impl.bn_forward, bn_backward(eps_outside_sqrt=True))),
    ("eps_outside_sqrt", "backward only, staged, exact sqrt derivative", check_batchnorm_backward,
     (impl.bn_forward, bn_backward(eps_outside_sqrt="exact"))),
    ("eps_outside_sqrt", "spatial backward only", check_spatial_batchnorm,
     (impl.spatial_bn_forward, spatial_backward(eps_outside_sqrt=True))),
    ("eps_missing", "forward", check_batchnorm_forward, (bn_forward(eps_missing=True),)),
    ("eps_missing", "backward only", check_batchnorm_backward,
     (impl.bn_forward_dict, P(impl.bn_backward_simplified, eps_missing=True))),
    # test mode: its second input has a feature of running variance 1e-6
    ("eps_missing", "test mode only", check_batchnorm_forward, (bn_forward(eps_missing_in_test_mode=True),)),
    ("eps_missing", "spatial, test mode only", check_spatial_batchnorm, (spatial(eps_missing_in_test_mode=True),)),
    ("eps_outside_sqrt", "test mode only", check_batchnorm_forward,
     (bn_forward(eps_outside_sqrt_in_test_mode=True),)),
    # eps and momentum from the param dict
    ("ignores_eps", "bn forward", check_batchnorm_forward, (bn_forward(ignores_eps=True),)),
    ("ignores_eps", "bn backward only", check_batchnorm_backward,
     (impl.bn_forward_dict, P(impl.bn_backward_simplified, ignores_eps=True))),
    ("ignores_eps", "layer norm", check_layernorm, (P(impl.ln_forward, ignores_eps=True), impl.ln_backward)),
    ("ignores_eps", "spatial", check_spatial_batchnorm, (spatial(ignores_eps=True),)),
    ("ignores_eps", "group norm", check_groupnorm, (P(impl.groupnorm_forward, ignores_eps=True),)),
    ("momentum_hard_coded", "bn", check_batchnorm_forward, (bn_forward(momentum_hard_coded=True),)),
    ("momentum_hard_coded", "spatial", check_spatial_batchnorm, (spatial(momentum_hard_coded=True),)),
    # two mistakes at once: hard-coding eps = 1e-5 must not hide the other one
    ("unbiased_variance", "with eps hard-coded", check_batchnorm_forward,
     (bn_forward(unbiased_variance=True, ignores_eps=True),)),
    ("unbiased_variance", "group norm, with eps hard-coded", check_groupnorm,
     (P(impl.groupnorm_forward, unbiased_variance=True, ignores_eps=True),)),
    ("eps_outside_sqrt", "with eps hard-coded", check_batchnorm_forward,
     (bn_forward(eps_outside_sqrt=True, ignores_eps=True),)),
    ("unbiased_variance", "group norm", check_groupnorm, (P(impl.groupnorm_forward, unbiased_variance=True),)),
]


@pytest.mark.parametrize("expected, label, check, functions", WRONG,
                         ids=[f"{w[0]}-{w[1]}" for w in WRONG])
def test_each_mistake_is_named_first(expected, label, check, functions):
    report = check(*functions)
    assert report.status == "failed" and not report.passed, str(report)
    assert report.mistakes, f"no mistake named:\n{report}"
    assert report.mistakes[0] == expected, f"expected {expected} first, got {report.mistakes}:\n{report}"


def test_every_catalogue_id_has_a_wrong_implementation():
    assert {w[0] for w in WRONG} == set(IDS)


def test_required_ids_are_in_the_catalogue():
    assert REQUIRED_IDS <= set(IDS)


# Correct implementations in different styles: every one passes with nothing flagged.
RIGHT = [
    ("package layers, staged backward", check_batchnorm_backward, (layers.batchnorm_forward, layers.batchnorm_backward)),
    ("package layers, simplified backward", check_batchnorm_backward,
     (layers.batchnorm_forward, layers.batchnorm_backward_alt)),
    ("package layers, forward", check_batchnorm_forward, (layers.batchnorm_forward,)),
    ("staged, tuple cache", check_batchnorm_backward, (impl.bn_forward, impl.bn_backward_staged)),
    ("simplified, dict cache", check_batchnorm_backward, (impl.bn_forward_dict, impl.bn_backward_simplified)),
    ("np.var, keepdims, setdefault, extra cache entries", check_batchnorm_backward,
     (impl.bn_forward_one_pass, impl.bn_backward_simplified)),
    ("np.var forward", check_batchnorm_forward, (impl.bn_forward_one_pass,)),
    ("tuple-cache forward", check_batchnorm_forward, (impl.bn_forward,)),
    ("one-pass variance, running stats in place", check_batchnorm_backward,
     (impl.bn_forward_one_pass_variance, impl.bn_backward_simplified)),
    ("one-pass variance forward", check_batchnorm_forward, (impl.bn_forward_one_pass_variance,)),
    ("one-pass variance forward, float32", check_batchnorm_forward,
     (P(impl.bn_forward_one_pass_variance, dtype=np.float32),)),
    ("float32", check_batchnorm_backward, (impl.bn_forward_float32, impl.bn_backward_float32)),
    ("float32 forward", check_batchnorm_forward, (impl.bn_forward_float32,)),
    ("float32 forward on the skeleton, stats written back in test mode",
     check_batchnorm_forward, (impl.bn_forward_float32_skeleton,)),
    ("computed in float64, cast to single precision at the end", check_batchnorm_forward, (impl.bn_forward_float32_out,)),
    ("einsum, minimal cache, staged backward recomputes", check_batchnorm_backward,
     (impl.bn_forward_einsum_minimal_cache, impl.bn_backward_recompute_staged)),
    ("einsum forward", check_batchnorm_forward, (impl.bn_forward_einsum_minimal_cache,)),
    ("extended precision cast back, object cache", check_batchnorm_backward,
     (impl.bn_forward_longdouble, impl.bn_backward_object_cache)),
    ("extended precision forward", check_batchnorm_forward, (impl.bn_forward_longdouble,)),
    ("std squared, list cache, list returned", check_batchnorm_backward,
     (impl.bn_forward_std_squared, impl.bn_backward_list)),
    ("std squared forward", check_batchnorm_forward, (impl.bn_forward_std_squared,)),
    ("layer norm, learner style", check_layernorm, (impl.ln_forward, impl.ln_backward)),
    ("layer norm, transpose trick", check_layernorm, (impl.ln_forward_transpose_trick, impl.ln_backward_transpose_trick)),
    ("layer norm, float32", check_layernorm, (impl.ln_forward_float32, impl.ln_backward)),
    ("layer norm, einsum, staged backward", check_layernorm, (impl.ln_forward_einsum, impl.ln_backward_staged)),
    ("layer norm, forward only", check_layernorm, (impl.ln_forward,)),
    ("layer norm, package", check_layernorm, (layers.layernorm_forward, layers.layernorm_backward)),
    ("layer norm, package staged", check_layernorm, (layers.layernorm_forward, layers.layernorm_backward_staged)),
    ("spatial, via 2-D batch norm", check_spatial_batchnorm, (impl.spatial_bn_forward, impl.spatial_bn_backward)),
    ("spatial, package", check_spatial_batchnorm, (layers.spatial_batchnorm_forward, layers.spatial_batchnorm_backward)),
    ("group norm, learner style", check_groupnorm, (impl.groupnorm_forward, impl.groupnorm_backward)),
    ("group norm, reshape (N * G, -1)", check_groupnorm, (impl.groupnorm_forward_flat, impl.groupnorm_backward_flat)),
    ("group norm, package", check_groupnorm, (layers.spatial_groupnorm_forward, layers.spatial_groupnorm_backward)),
]


@pytest.mark.parametrize("label, check, functions", RIGHT, ids=[r[0] for r in RIGHT])
def test_correct_implementations_pass_with_no_alarm(label, check, functions):
    report = check(*functions)
    assert report.passed and report.status == "passed", str(report)
    assert report.mistakes == [] and report.findings == [], str(report)
    if "float32" in label:  # passes, and says at which precision
        assert len(report.notes) == 1 and report.notes[0].startswith("passed at float32 precision"), str(report)
    else:
        assert report.notes == [], str(report)
    assert report.errors and all(
        value is not None and value < 1e-4 for by_probe in report.errors.values() for value in by_probe.values()
    ), str(report)
    assert "passed" in str(report) and "passed" in report._repr_html_()


# ------------------------------------------------------------------ not implemented yet


# the function is named as the learner named it; a lambda by the exercise's name
@pytest.mark.parametrize("check, functions, name", [
    (check_batchnorm_forward, (impl.not_implemented_forward,), "not_implemented_forward"),
    (check_batchnorm_forward, (lambda x, gamma, beta, bn_param: None,), "batchnorm_forward"),
    (check_batchnorm_backward, (impl.not_implemented_forward, impl.not_implemented_backward),
     "not_implemented_forward"),
    (check_batchnorm_backward, (impl.bn_forward, impl.not_implemented_backward), "not_implemented_backward"),
    (check_batchnorm_backward, (impl.bn_forward, impl.half_implemented_backward), "half_implemented_backward"),
    (check_layernorm, (impl.not_implemented_forward, impl.not_implemented_backward), "not_implemented_forward"),
    (check_layernorm, (impl.ln_forward, impl.not_implemented_backward), "not_implemented_backward"),
    (check_spatial_batchnorm, (impl.not_implemented_forward,), "not_implemented_forward"),
    (check_groupnorm, (lambda x, gamma, beta, G, gn_param: (None, None),), "spatial_groupnorm_forward"),
])
def test_unimplemented_functions_are_reported_kindly(check, functions, name):
    report = check(*functions)
    assert report.status == "not implemented" and not report.passed
    assert report.mistakes == [] and report.errors == {}
    text = str(report)
    assert "not implemented yet" in text and name in text, text
    assert "not implemented yet" in report._repr_html_()


def test_a_forward_without_its_test_mode_is_not_finished():
    def train_only(x, gamma, beta, bn_param):
        if bn_param["mode"] == "test":
            return None, None
        return impl.bn_forward(x, gamma, beta, bn_param)

    report = check_batchnorm_forward(train_only)
    assert report.status == "not implemented" and report.mistakes == []
    assert "in test mode train_only still returns None" in str(report), str(report)


def test_a_layer_norm_that_changes_in_test_mode_fails():
    def train_only(x, gamma, beta, ln_param):
        if ln_param.get("mode") == "test":
            return None, None
        return impl.ln_forward(x, gamma, beta, ln_param)

    def shifted_in_test(x, gamma, beta, ln_param):
        out, cache = impl.ln_forward(x, gamma, beta, ln_param)
        return (out + 1.0 if ln_param.get("mode") == "test" else out), cache

    for forward in (train_only, shifted_in_test):
        report = check_layernorm(forward, impl.ln_backward)
        assert report.status == "failed" and any("mode = 'test'" in n for n in report.notes), str(report)


def test_half_done_backward_names_what_is_missing():
    report = check_batchnorm_backward(impl.bn_forward, impl.half_implemented_backward)
    assert "None for dx" in str(report)


# ------------------------------------------------------------------ broken functions never crash a check


def _correct_then(transform):
    """A batchnorm_forward whose result is passed through `transform`."""
    def forward(x, gamma, beta, bn_param):
        return transform(*layers.batchnorm_forward(x, gamma, beta, bn_param))
    return forward


BROKEN_FORWARDS = {
    "returns a string": lambda x, g, b, p: "done",
    "out is a string": _correct_then(lambda out, cache: ("out", cache)),
    "out is NaN": _correct_then(lambda out, cache: (out * np.nan, cache)),
    "out is inf": _correct_then(lambda out, cache: (out + np.inf, cache)),
    "out is an int array": _correct_then(lambda out, cache: (out.astype(np.int64), cache)),
    "out is ragged": _correct_then(lambda out, cache: ([[1.0], [1.0, 2.0]], cache)),
    "out is complex": _correct_then(lambda out, cache: (out.astype(complex), cache)),
    "returns three values": _correct_then(lambda out, cache: (out, cache, cache)),
    "raises ZeroDivisionError": lambda x, g, b, p: 1 / 0,
    "raises a long message": lambda x, g, b, p: (_ for _ in ()).throw(RuntimeError("x" * 10_000)),
    "out is a scalar": _correct_then(lambda out, cache: (0.0, cache)),
    "bn_param stats are strings": lambda x, g, b, p: (p.update(running_mean="a", running_var="b"),
                                                      layers.batchnorm_forward(x, g, b, {"mode": "train"}))[1],
    "writes wrong-shape running stats": lambda x, g, b, p: (
        layers.batchnorm_forward(x, g, b, {"mode": "train"}) if p["mode"] == "train" else (x, None),
        p.update(running_mean=np.zeros((1, x.shape[1]))) if p["mode"] == "train" else None)[0],
}

BROKEN_BACKWARDS = {
    "returns None": lambda dout, cache: None,
    "returns a dict": lambda dout, cache: {"dx": dout},
    "raises": lambda dout, cache: cache["no such key"],
    "dx NaN": lambda dout, cache: (dout * np.nan, dout.sum(0), dout.sum(0)),
    "dgamma a string": lambda dout, cache: (dout, "dgamma", dout.sum(0)),
    "dx wrong shape": lambda dout, cache: (dout[:1], dout.sum(0), dout.sum(0)),
}


@pytest.mark.parametrize("name", list(BROKEN_FORWARDS))
def test_a_broken_forward_never_crashes_a_check(name):
    forward = BROKEN_FORWARDS[name]
    report = check_batchnorm_forward(forward)
    assert not report.passed and report.status == "failed", str(report)
    assert report.mistakes or report.notes, str(report)
    for report in (report, check_batchnorm_backward(forward, layers.batchnorm_backward_alt)):
        assert INTERNAL_ERROR not in str(report), str(report)
        str(report), report._repr_html_()


@pytest.mark.parametrize("name", list(BROKEN_BACKWARDS))
def test_a_broken_backward_never_crashes_a_check(name):
    report = check_batchnorm_backward(layers.batchnorm_forward, BROKEN_BACKWARDS[name])
    assert not report.passed, str(report)
    assert INTERNAL_ERROR not in str(report), str(report)
    str(report), report._repr_html_()


def test_a_nested_list_of_the_right_numbers_is_accepted():
    as_list = _correct_then(lambda out, cache: (out.tolist(), cache))
    assert check_batchnorm_forward(as_list).passed


def test_a_mismatch_that_matches_no_symptom_is_reported_unnamed():
    slightly_off = _correct_then(lambda out, cache: (out + 1e-3, cache))
    report = check_batchnorm_forward(slightly_off)
    assert report.status == "failed" and report.mistakes == []
    assert any("matches no mistake in the catalogue" in note for note in report.notes), str(report)
    assert "1e-03" in str(report) or "0.001" in str(report)


def test_a_wrong_backward_that_matches_no_symptom_is_reported_unnamed():
    def backward(dout, cache):
        dx, dgamma, dbeta = layers.batchnorm_backward_alt(dout, cache)
        return dx * 1.01, dgamma, dbeta
    report = check_batchnorm_backward(layers.batchnorm_forward, backward)
    assert report.status == "failed" and report.mistakes == []
    assert any("dx differs" in note for note in report.notes), str(report)
    assert any("classic check" in note for note in report.notes), str(report)


# ------------------------------------------------------------------ the evidence names its numbers


def test_unbiased_variance_evidence_shows_sqrt_n_minus_1_over_n():
    report = check_batchnorm_forward(bn_forward(unbiased_variance=True))
    seen = report.findings[0].seen
    assert f"{np.sqrt(3 / 4):.3f} at N=4" in seen and f"{np.sqrt(63 / 64):.3f} at N=64" in seen, seen


def test_eps_outside_sqrt_evidence_contrasts_normal_and_tiny_variance():
    seen = check_batchnorm_forward(bn_forward(eps_outside_sqrt=True)).findings[0].seen
    small, large = (float(v) for v in re.search(r"error ([0-9.e+-]+)\) but off by ([0-9.e+-]+)", seen).groups())
    assert 1e-7 < small < 1e-4 and large > 0.5, seen


def test_dx_missing_gamma_evidence_shows_gamma_one_is_right():
    seen = check_batchnorm_backward(impl.bn_forward, bn_backward(dx_missing_gamma=True)).findings[0].seen
    assert "with gamma = 1 your dx is right (error < 1e-12)" in seen and "= 1/gamma" in seen, seen


def test_running_stats_not_saved_evidence_shows_exploding_test_outputs():
    seen = check_batchnorm_forward(bn_forward(running_stats_not_saved=True)).findings[0].seen
    low = float(re.search(r"per-feature stds ([0-9.e+]+) to", seen).group(1))
    assert "no running_mean" in seen and low > 100, seen


def test_batch_stats_in_test_mode_evidence_says_too_clean():
    seen = check_batchnorm_forward(bn_forward(batch_stats_in_test_mode=True)).findings[0].seen
    assert "too clean" in seen and "stds 1.0000 to 1.0000" in seen, seen


def test_layernorm_wrong_axis_evidence_contrasts_rows_and_columns():
    seen = check_layernorm(P(impl.ln_forward, layernorm_wrong_axis=True), impl.ln_backward).findings[0].seen
    assert "(column) means are < 1e-12" in seen, seen


def test_dbeta_mean_evidence_shows_one_over_n():
    seen = check_batchnorm_backward(impl.bn_forward, bn_backward(dbeta_mean_not_sum=True)).findings[0].seen
    assert "0.250 = 1/4" in seen, seen


def test_a_wrong_forward_defers_the_later_checks():
    report = check_batchnorm_backward(bn_forward(unbiased_variance=True), impl.bn_backward_staged)
    assert report.mistakes == ["unbiased_variance"]
    assert any("gradients will be checked once" in note for note in report.notes), str(report)


def test_a_shape_mistake_is_named_before_what_its_numbers_resemble():
    """dgamma, dbeta summed over the wrong axis of a right layer norm: their numbers resemble
    the wrong-axis layer norm's, but the statistics are right; the shape is the thing to fix."""
    report = check_layernorm(impl.ln_forward, impl.ln_backward_params_summed_over_features)
    assert report.mistakes[0] == "wrong_output_shape", str(report)


def test_a_broadcast_error_of_a_statistic_without_keepdims_is_named():
    """x - x.mean(axis=1) raises for N != D: notebook 07 promises missing_keepdims for it."""
    report = check_layernorm(impl.ln_forward_no_keepdims, impl.ln_backward)
    assert report.mistakes[0] == "missing_keepdims", str(report)
    assert "broadcast error between shapes" in report.findings[0].seen
    assert "raised_exception" in report.mistakes  # the error itself is shown too


def test_the_simplified_backward_is_called_by_its_own_name():
    def batchnorm_backward_alt(dout, cache):
        dx, dgamma, dbeta = None, None, None
        return dx, dgamma, dbeta

    report = check_batchnorm_backward(impl.bn_forward, batchnorm_backward_alt)
    assert any("batchnorm_backward_alt returns None" in note for note in report.notes), str(report)


def test_an_unnamed_layer_norm_mismatch_points_at_per_example_statistics():
    def shifted(x, gamma, beta, ln_param):
        out, cache = impl.ln_forward(x, gamma, beta, ln_param)
        return out + 0.1, cache  # no catalogued mistake looks like this

    report = check_layernorm(shifted)
    assert any("the per-example mean and std" in note for note in report.notes), str(report)


def test_a_spatial_backward_that_does_not_move_the_channels_back_is_named():
    report = check_spatial_batchnorm(impl.spatial_bn_forward, impl.spatial_bn_backward_not_moved_back)
    assert report.mistakes[0] == "spatial_bn_channels_mixed", str(report)
    assert "reshaped back without moving the channels back" in report.findings[0].seen


def test_both_paths_missing_names_both():
    report = check_batchnorm_backward(impl.bn_forward, bn_backward(missing_mean_path=True, missing_variance_path=True))
    assert set(report.mistakes) == {"missing_mean_path", "missing_variance_path"}, str(report)


@pytest.mark.parametrize("check, functions, expected", [
    (check_batchnorm_forward, (bn_forward(unbiased_variance=True),),
     [f"over the N examples of each feature is {np.sqrt(3 / 4):.3f} at N=4, {np.sqrt(4 / 5):.3f} at N=5, "
      f"{np.sqrt(63 / 64):.3f} at N=64 instead of 1"]),
    (check_layernorm, (P(impl.ln_forward, unbiased_variance=True),),
     [f"over the D features of each example is {np.sqrt(4 / 5):.3f} at D=5 instead of 1"]),
    (check_spatial_batchnorm, (spatial(unbiased_variance=True),),
     [f"over the N*H*W values of each channel is {np.sqrt(17 / 18):.3f} at N*H*W=18, "
      f"{np.sqrt(39 / 40):.3f} at N*H*W=40 instead of 1"]),
    (check_groupnorm, (P(impl.groupnorm_forward, unbiased_variance=True),),
     [f"over the C/G*H*W values of each group is {np.sqrt(17 / 18):.3f} at C/G*H*W=18 instead of 1"]),
], ids=["batch norm", "layer norm", "spatial batch norm", "group norm"])
def test_unbiased_variance_evidence_names_the_count_of_every_layer(check, functions, expected):
    """The spread is measured over the values each statistic is taken over, and named after them
    (group norm once printed 0.350 at N=18, the std over H of the un-grouped array)."""
    seen = check(*functions).findings[0].seen
    for text in expected:
        assert text in seen, seen


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, np.longdouble])
def test_tolerances_are_never_looser_than_float32s(dtype):
    from cs231n_norm.selfcheck.engine import tolerances

    passing, matching = tolerances(np.zeros(3, dtype=dtype))
    float32_passing, float32_matching = tolerances(np.zeros(3, dtype=np.float32))
    assert passing <= float32_passing < 2e-4 and matching <= float32_matching < 2e-3


def test_a_correct_result_in_extended_precision_passes():
    def forward_longdouble(x, gamma, beta, bn_param):
        out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
        return out.astype(np.longdouble), cache

    report = check_batchnorm_forward(forward_longdouble)
    assert report.passed and report.mistakes == [], str(report)


def test_a_float16_result_is_named_and_its_rounding_explained():
    report = check_batchnorm_forward(bn_forward(dtype=np.float16))
    assert report.mistakes == ["wrong_output_dtype"], str(report)
    assert "out of dtype float16 (the inputs are float64)" in report.findings[0].seen, str(report)
    assert any(note.startswith("apart from the rounding to float16, out agrees") for note in report.notes), str(report)
    assert not any("matches no mistake" in note for note in report.notes), str(report)


def test_a_float16_result_with_wrong_numbers_is_not_excused_by_its_rounding():
    report = check_batchnorm_forward(impl.bn_forward_float16_scaled)
    assert report.mistakes == ["wrong_output_dtype"], str(report)
    assert any("out differs from the correct output" in note and "matches no mistake" in note
               for note in report.notes), str(report)
    assert report.errors["out"]["N=4, D=5"] == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("backward", [P(impl.bn_backward_simplified, eps_outside_sqrt=True),
                                      P(impl.bn_backward_staged, eps_outside_sqrt=True)],
                         ids=["simplified", "staged"])
def test_eps_outside_sqrt_in_the_backward_only_says_where(backward):
    forward = impl.bn_forward_dict if backward.func is impl.bn_backward_simplified else impl.bn_forward
    report = check_batchnorm_backward(forward, backward)
    seen = report.findings[0].seen
    small, large = (float(v) for v in re.search(r"error ([0-9.e+-]+)\) but off by ([0-9.e+-]+)", seen).groups())
    assert seen.startswith("dx is almost right") and "whose variance is ~1e-6" in seen, seen
    assert "dgamma and dbeta are right" in seen and "difference is in the backward pass" in seen, seen
    assert 1e-7 < small < 1e-4 and large > 0.5, seen
    classic = next(note for note in report.notes if "classic check" in note)
    # the classic check barely sees it: 2.5e-6 (simplified) and 1.7e-4 (staged) on this draw
    assert float(classic.rsplit("dx error: ", 1)[1]) < 1e-3, classic


def test_eps_missing_in_test_mode_is_found_on_the_tiny_running_variance():
    report = check_batchnorm_forward(bn_forward(eps_missing_in_test_mode=True))
    seen = report.findings[0].seen
    assert seen.startswith("test-mode out is almost right where running_var is ~1"), seen
    assert "in the feature whose running_var is 1e-6, comparable to eps = 1e-5" in seen, seen
    assert report.errors["out (test mode)"]["test mode (feature 0: running_var 1e-6)"] > 0.5, str(report)


def test_ignores_eps_evidence_contrasts_default_and_given_eps():
    seen = check_batchnorm_forward(bn_forward(ignores_eps=True)).findings[0].seen
    assert "out is right wherever bn_param leaves 'eps' out (so the default 1e-5 applies; largest error < 1e-12)" \
        in seen and "on N=6, D=4 (eps = 1e-3 in bn_param)" in seen, seen


def test_momentum_hard_coded_evidence_shows_the_given_momentum_ignored():
    report = check_batchnorm_forward(bn_forward(momentum_hard_coded=True))
    assert report.mistakes == ["momentum_hard_coded"], str(report)
    seen = report.findings[0].seen
    assert "right when bn_param leaves 'momentum' out" in seen and "with momentum = 0.6 in bn_param" in seen, seen
    assert "matches the running average with momentum 0.9 (to < 1e-12)" in seen, seen


@pytest.mark.parametrize("expected, functions", [
    ("batchnorm_wrong_axis", (bn_forward(batchnorm_wrong_axis=True),)),
    ("missing_keepdims", (P(impl.ln_forward, missing_keepdims=True), impl.ln_backward)),
    ("layernorm_gamma_before_transpose", (impl.ln_forward_gamma_before_transpose,)),
], ids=["batchnorm_wrong_axis", "missing_keepdims", "layernorm_gamma_before_transpose"])
def test_a_mistake_seen_only_when_n_equals_d_does_not_also_blame_eps(expected, functions):
    """These raise on every N != D input, the one that passes its own eps included: nothing there
    shows whether eps was ignored, so ignores_eps must not be named."""
    check = check_batchnorm_forward if expected == "batchnorm_wrong_axis" else check_layernorm
    report = check(*functions)
    assert report.mistakes == [expected, "raised_exception"], str(report)


def test_a_hard_coded_eps_is_named_alongside_the_other_mistake():
    for functions in ((bn_forward(unbiased_variance=True, ignores_eps=True),),
                      (bn_forward(eps_outside_sqrt=True, ignores_eps=True),)):
        report = check_batchnorm_forward(*functions)
        assert len(report.mistakes) == 2 and report.mistakes[1] == "ignores_eps", str(report)


# ------------------------------------------------------------------ the report itself


def test_report_text_and_html_explain_each_mistake():
    report = check_batchnorm_backward(impl.bn_forward, bn_backward(dx_missing_gamma=True))
    entry = mistake("dx_missing_gamma")
    text, html = str(report), report._repr_html_()
    for part in (entry.id, entry.title, entry.cause, entry.hint, "seen:", "measured errors"):
        assert part in text
    assert entry.id in html and "likely cause" in html and "<table" in html
    assert repr(report) == text and isinstance(report, Report)


def test_html_escapes_learner_text():
    report = check_batchnorm_forward(lambda x, g, b, p: (_ for _ in ()).throw(ValueError("<script>")))
    assert "<script>" not in report._repr_html_() and "&lt;script&gt;" in report._repr_html_()


def test_reports_are_deterministic():
    first = str(check_batchnorm_backward(impl.bn_forward, bn_backward(missing_1_over_n=True)))
    assert first == str(check_batchnorm_backward(impl.bn_forward, bn_backward(missing_1_over_n=True)))


def test_checks_reject_arguments_that_are_not_functions():
    with pytest.raises(TypeError, match="forward must be a function"):
        check_batchnorm_forward(np.zeros(3))
    with pytest.raises(TypeError, match="backward must be a function"):
        check_batchnorm_backward(layers.batchnorm_forward, "batchnorm_backward")


# ------------------------------------------------------------------ the catalogue


def test_catalogue_entries_are_complete_and_unique():
    assert len(IDS) == len(set(IDS)) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert re.fullmatch(r"[a-z0-9_]+", entry.id)
        assert all(getattr(entry, f).strip() for f in ("title", "symptom", "cause", "hint")), entry.id


# Phrases that used to hand over the fix instead of saying where to look.
GIVEAWAYS = [
    ("eps_outside_sqrt", "belongs under the square root"),
    ("unbiased_variance", "ddof is the right one"),
    ("dbeta_mean_not_sum", "a sum, not a mean"),
    ("dgamma_mean_not_sum", "its gradient is a sum"),
    ("layernorm_gamma_before_transpose", "apply them after transposing back"),
    ("momentum_reversed", "momentum is the weight of the *old* running value"),
    ("input_modified", "Use out-of-place operations"),
]


@pytest.mark.parametrize("mistake_id, phrase", GIVEAWAYS, ids=[g[0] for g in GIVEAWAYS])
def test_hints_say_where_to_look_not_what_to_write(mistake_id, phrase):
    assert phrase not in mistake(mistake_id).hint


def test_no_hint_spells_out_a_correct_formula():
    formulas = ["sqrt(var + eps)", "ddof=0", "(1 - momentum)", "keepdims=True", "x_hat)", "/ N", "= np."]
    for entry in CATALOGUE:
        assert not [f for f in formulas if f in entry.hint], (entry.id, entry.hint)


def test_mistake_lookup_names_the_known_ids():
    assert mistake("momentum_reversed").id == "momentum_reversed"
    with pytest.raises(KeyError, match="known ids: unbiased_variance"):
        mistake("no_such_mistake")


# ------------------------------------------------------------------ not tied to one draw of the probes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diagnoses_hold_for_other_probe_draws(seed, monkeypatch):
    """The probes are random draws (with a fixed seed, so reports are reproducible):
    every right implementation still passes, every wrong one is still named first."""
    from cs231n_norm.selfcheck import engine

    monkeypatch.setattr(engine, "SEED", seed)
    for label, check, functions in RIGHT:
        report = check(*functions)
        assert report.passed and report.mistakes == [], f"seed {seed}, {label}:\n{report}"
    for expected, label, check, functions in WRONG:
        report = check(*functions)
        assert report.mistakes[:1] == [expected], f"seed {seed}, {expected} ({label}):\n{report}"
