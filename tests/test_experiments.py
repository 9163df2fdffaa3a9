"""Experiment runners: the rows they return, caching, summaries, layer statistics."""
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from cs231n_norm import experiments as ex
from cs231n_norm.data import load_dataset
from cs231n_norm.experiments import (
    ExperimentResult,
    batch_size_experiment,
    batch_size_table,
    layer_statistics,
    paired_gap,
    paired_gap_table,
    reliable_scale_range,
    weight_init_sensitivity,
    weight_init_table,
)
from cs231n_norm.model import FullyConnectedNet
from cs231n_norm.results_cache import ResultsCache
from cs231n_norm.sweep import train_sweep

SMALL = dict(hidden_dims=[12, 12], num_epochs=2, learning_rate=1e-3, progress=False)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", num_train=120, num_val=60)


@pytest.fixture(scope="module")
def weight_init_result(digits):
    return weight_init_sensitivity(digits, weight_scales=[1e-3, 1e-1], batch_size=20, seeds=[0, 1], **SMALL)


def test_weight_init_rows_match_direct_sweeps(digits, weight_init_result):
    result = weight_init_result
    assert result.experiment == "weight_init" and result.dataset == "digits"
    assert result.num_runs == 3 * 2 * 2
    for norm in ("none", "batchnorm", "layernorm"):
        runs = train_sweep(digits.as_dict(), hidden_dims=[12, 12], normalization=None if norm == "none" else norm,
                           weight_scales=[1e-3, 1e-1], num_epochs=2, batch_size=20, learning_rate=1e-3,
                           seeds=[0, 1], dtype=np.float32, progress=False)
        for run in runs:
            row = result.select(norm=norm, weight_scale=run.weight_scale, seed=run.seed)
            assert row.sum() == 1
            assert result.columns["best_val_acc"][row][0] == run.best_val_acc
            assert result.columns["best_train_acc"][row][0] == run.best_train_acc
            np.testing.assert_array_equal(result.columns["final_train_loss"][row][0], run.final_train_loss)
            np.testing.assert_array_equal(result.columns["val_acc_history"][row][0], run.val_acc_history)
    assert set(result.columns["batch_size"].tolist()) == {20}


def test_records_are_json_with_the_documented_keys(weight_init_result):
    records = weight_init_result.records()
    assert len(records) == weight_init_result.num_runs
    for record in records:
        assert set(record) == {"norm", "weight_scale", "seed", "best_train_acc", "best_val_acc", "final_train_loss"}
        assert record["norm"] in ("none", "batchnorm", "layernorm")
        assert 0 <= record["best_val_acc"] <= 1 and 0 <= record["best_train_acc"] <= 1
    document = weight_init_result.to_json_dict(1.5)
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["config"]["weight_scales"] == [1e-3, 1e-1]
    assert document["config"]["dataset"]["name"] == "digits" and "sha256" not in document["config"]["dataset"]


def handmade(experiment, norms, knob_values, metric_values, seeds=(0,)):
    """An ExperimentResult with given best_val_acc, for summary/table tests (row order: norm, knob, seed)."""
    rows = [(n, k, s) for n in norms for k in knob_values for s in seeds]
    knob = "weight_scale" if experiment == "weight_init" else "batch_size"
    values = np.asarray(metric_values, dtype=float)
    columns = {
        "norm": np.array([r[0] for r in rows]),
        "weight_scale": np.array([r[1] if knob == "weight_scale" else 0.1 for r in rows], dtype=float),
        "batch_size": np.array([r[1] if knob == "batch_size" else 50 for r in rows]),
        "seed": np.array([r[2] for r in rows]),
        "best_val_acc": values,
        "best_train_acc": values,
        "final_train_loss": np.full(len(rows), np.nan),
    }
    return ExperimentResult(experiment, "digits", {}, columns)


def test_nan_and_inf_become_null_in_records():
    result = handmade("weight_init", ["none"], [1e-3, 1.0], [0.5, np.nan])
    result.columns["final_train_loss"][0] = np.inf
    records = result.records()
    assert records[1]["best_val_acc"] is None
    assert records[0]["final_train_loss"] is None and records[1]["final_train_loss"] is None
    json.dumps(result.to_json_dict(float("nan")), allow_nan=False)  # valid JSON, no NaN token
    assert result.to_json_dict(float("nan"))["wall_time_s"] is None


def test_weight_init_table_is_exact_text():
    result = handmade("weight_init", ["none", "batchnorm"], [1e-4, 1e-2], [0.1, 0.9, 0.95, 0.975])
    assert weight_init_table(result, digits=2) == (
        "best_val_acc by weight scale\n"
        "weight scale        none  batchnorm\n"
        "    1.00e-04        0.10       0.95\n"
        "    1.00e-02        0.90       0.97"  # 0.975 is 0.97499999... in binary: rounds down
    )


def test_summary_and_batch_size_table_report_mean_and_std_over_seeds():
    result = handmade("batch_size", ["batchnorm"], [5, 50], [0.8, 0.9, 0.96, 0.98], seeds=(0, 1))
    summary = result.summary()
    assert summary == [
        {"norm": "batchnorm", "batch_size": 5, "mean": pytest.approx(0.85), "std": pytest.approx(0.05), "n": 2},
        {"norm": "batchnorm", "batch_size": 50, "mean": pytest.approx(0.97), "std": pytest.approx(0.01), "n": 2},
    ]
    assert batch_size_table(result) == (
        "best_val_acc, mean ± std over 2 seeds\n"
        "norm               batch 5       batch 50\n"
        "batchnorm    0.850 ± 0.050  0.970 ± 0.010"
    )


def test_paired_gap_pairs_by_seed():
    # seed 1 is better for both norms: unpaired spreads are large, the paired gap is exact
    result = handmade("batch_size", ["layernorm", "batchnorm"], [5], [0.5, 0.9, 0.4, 0.8], seeds=(0, 1))
    (row,) = paired_gap(result)
    assert row == {"batch_size": 5, "mean": pytest.approx(0.1), "std": pytest.approx(0.0), "n": 2}
    assert paired_gap_table(result).splitlines()[1] == "batch    5:   0.100 ± 0.000   (effect / spread = inf)"


def test_reliable_scale_range_takes_the_widest_consecutive_run():
    scales = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    result = handmade("weight_init", ["none"], scales, [0.95, 0.5, 0.92, 0.97, 0.91])
    assert reliable_scale_range(result, "none") == {"low": 1e-2, "high": 1.0, "count": 3, "decades": pytest.approx(2.0)}
    assert reliable_scale_range(result, "none", threshold=0.99)["count"] == 0
    with pytest.raises(ValueError, match="norm 'batchnorm' is not in this result"):
        reliable_scale_range(result, "batchnorm")


def test_batch_size_experiment_rows_and_pairing(digits):
    result = batch_size_experiment(digits, batch_sizes=[5, 30], norms=["batchnorm", "layernorm"], weight_scale=0.1,
                                   seeds=[0, 1, 2], **SMALL)
    assert result.num_runs == 2 * 2 * 3
    for norm in ("batchnorm", "layernorm"):
        for size in (5, 30):
            assert sorted(result.columns["seed"][result.select(norm=norm, batch_size=size)].tolist()) == [0, 1, 2]
    # more steps per epoch with small batches: the loss histories differ in length, the accuracy
    # histories (after the first step and every epoch) do not
    assert result.columns["val_acc_history"].shape == (12, 3)
    assert [r["batch_size"] for r in paired_gap(result)] == [5, 30]
    assert {r["batch_size"] for r in result.records()} == {5, 30}


def test_cache_returns_the_same_result_without_training(digits, tmp_path, monkeypatch):
    cache = ResultsCache(tmp_path)
    kwargs = dict(weight_scales=[1e-2], norms=["batchnorm"], batch_size=20, cache=cache, **SMALL)
    first = weight_init_sensitivity(digits, **kwargs)

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the result was cached")

    monkeypatch.setattr("cs231n_norm.sweep.train_sweep", no_training)
    second = weight_init_sensitivity(digits, **kwargs)
    for name, column in first.columns.items():
        np.testing.assert_array_equal(second.columns[name], column)
    assert (first.cached, second.cached) == (False, True)
    assert second.compute_wall_time_s == first.compute_wall_time_s > 0  # the original run's time
    assert second.cache_file == first.cache_file
    assert Path(first.cache_file).parent == tmp_path and Path(first.cache_file).is_file()
    document = second.to_json_dict(0.01)
    assert document["cached"] is True and document["compute_wall_time_s"] == first.compute_wall_time_s
    with pytest.raises(AssertionError, match="trained although"):
        weight_init_sensitivity(digits, **{**kwargs, "seeds": [3]})  # another setting: another entry
    other_data = load_dataset("digits", num_train=120, num_val=60, seed=1)
    with pytest.raises(AssertionError, match="trained although"):
        weight_init_sensitivity(other_data, **kwargs)  # other data: another entry


def test_inputs_are_not_modified(digits):
    before = {k: v.copy() for k, v in digits.as_dict().items()}
    scales = [1e-2, 1e-1]
    weight_init_sensitivity(digits, weight_scales=scales, norms=["none"], batch_size=30, **SMALL)
    layer_statistics(digits, weight_scale=1e-2, norm="batchnorm", hidden_dims=[12, 12])
    assert scales == [1e-2, 1e-1]
    for key, value in digits.as_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weight_scales": [1e-2, -1.0]}, "weight_scales must be a non-empty 1-D list of positive finite numbers"),
        ({"weight_scales": []}, "weight_scales must be a non-empty"),
        ({"norms": ["none", "groupnorm"]}, "norms must be drawn from"),
        ({"norms": "batchnorm"}, "norms must be a non-empty list"),
        ({"norms": ["none", "none"]}, "norms must not repeat"),
        ({"seeds": [0, 0]}, "seeds must not repeat"),
        ({"seeds": [-1]}, "seeds must be integers from 0"),
        ({"hidden_dims": [10, 0]}, "hidden_dims must hold positive integers"),
        ({"num_epochs": 0}, "num_epochs must hold positive integers"),
        ({"dtype": "float16"}, "dtype must be float32 or float64"),
    ],
)
def test_bad_settings_are_named(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        weight_init_sensitivity(digits, **{**dict(weight_scales=[1e-2], **SMALL), **kwargs})


@pytest.mark.parametrize(
    "experiment, kwargs, match",
    [
        ("weight_init", {"batch_size": 121}, "batch_size must be at most 120, the number of training examples, got 121"),
        ("weight_init", {"batch_size": 1}, "batch_size must be at least 2 with batch norm"),
        ("weight_init", {"hidden_dims": [12, 1], "norms": ["layernorm"]}, "hidden_dims must be at least 2 units"),
        ("weight_init", {"weight_scales": [0.1, 0.1]}, "weight_scales must not repeat"),
        ("weight_init", {"seeds": [2**63]}, r"seeds must be integers from 0 to 2\*\*63 - 1"),
        ("batch_size", {"batch_sizes": [5, 500]}, "batch_sizes must be at most 120, the number of training examples"),
        ("batch_size", {"batch_sizes": [1, 5]}, "batch_sizes must be at least 2 with batch norm"),
        ("batch_size", {"batch_sizes": [5, 5]}, "batch_sizes must not repeat"),
    ],
)
def test_settings_the_data_cannot_support_fail_before_anything_trains(digits, monkeypatch, experiment, kwargs, match):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before the settings were checked")

    monkeypatch.setattr("cs231n_norm.sweep.train_sweep", no_training)
    run = weight_init_sensitivity if experiment == "weight_init" else batch_size_experiment
    base = dict(weight_scales=[1e-2], batch_size=20) if experiment == "weight_init" else dict(batch_sizes=[5])
    with pytest.raises(ValueError, match=match):
        run(digits, **{**base, **SMALL, **kwargs})


def test_batch_norm_at_batch_one_is_fine_without_batch_norm(digits):
    result = weight_init_sensitivity(digits, weight_scales=[1e-2], batch_size=1, norms=["none", "layernorm"],
                                     hidden_dims=[4], num_epochs=1, progress=False)
    assert result.num_runs == 2


def test_setting_problems_lists_every_problem_in_plain_words():
    problems = ex.setting_problems(num_train=10, batch_sizes=[1, 5, 11], norms=["batchnorm", "layernorm"],
                                   hidden_dims=[1, 8])
    assert [(argument, got) for argument, got, _ in problems] == [("batch_sizes", 1), ("batch_sizes", 11),
                                                                   ("hidden_dims", 1)]
    assert ex.setting_problems(num_train=10, batch_sizes=[1, 10], norms=["none"], hidden_dims=[1]) == []


def test_batch_size_defaults_are_notebook_06s_setting():
    """One setting for notebook 06, the command line and the function, so they tell one story."""
    assert ex.BATCH_SIZE_DEFAULTS == {
        "num_train": 500, "batch_sizes": [2, 5, 10, 50], "hidden_dims": [100, 100, 100], "num_epochs": 4,
        "weight_scale": 0.1, "learning_rate": 1e-3, "update_rule": "adam", "seeds": [0, 1, 2, 3, 4],
        "dtype": "float32",
    }
    parameters = inspect.signature(batch_size_experiment).parameters
    for name, value in ex.BATCH_SIZE_DEFAULTS.items():
        if name != "num_train":  # a property of the data the function is given
            assert parameters[name].default == value, name


def test_data_must_be_a_dataset_or_a_data_dict():
    with pytest.raises(TypeError, match="data must be a Dataset"):
        weight_init_sensitivity([1, 2, 3], **SMALL)


# --------------------------------------------------------------------------- layer statistics


def test_layer_statistics_match_a_direct_forward_backward(digits):
    stats = layer_statistics(digits, weight_scale=0.05, norm="layernorm", hidden_dims=[20, 15], num_examples=50,
                             seed=3)
    net = FullyConnectedNet([20, 15], input_dim=64, normalization="layernorm", weight_scale=0.05, seed=3)
    net.loss(digits.X_train[:50], digits.y_train[:50], record=True)
    assert len(stats.layers) == 2
    for layer, recorded in zip(stats.layers, net.recorded):
        assert layer["activation"]["mean"] == pytest.approx(recorded["activation"].mean(), rel=1e-12)
        assert layer["activation"]["std"] == pytest.approx(recorded["activation"].std(), rel=1e-12)
        assert layer["gradient"]["std"] == pytest.approx(recorded["activation_grad"].std(), rel=1e-12)
        assert layer["activation"]["saturated"] == np.mean(recorded["activation"] == 0)
        # ReLU: the histogram counts exactly the nonzero outputs
        edges = layer["activation"]["edges"]
        positive = recorded["activation"][recorded["activation"] > 0]
        assert layer["activation"]["counts"].sum() == np.count_nonzero(positive <= edges[-1])
        assert layer["activation"]["counts"].sum() >= 0.99 * positive.size
        grads, grad_edges = recorded["activation_grad"], layer["gradient"]["edges"]
        assert layer["gradient"]["counts"].sum() == np.count_nonzero(np.abs(grads) <= grad_edges[-1])


def test_without_normalization_tiny_weights_make_activations_vanish(digits):
    stats = layer_statistics(digits, weight_scale=1e-4, norm="none", num_examples=100)
    stds = [layer["activation"]["std"] for layer in stats.layers]
    assert all(later < 0.01 * earlier for earlier, later in zip(stds, stds[1:]))


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_normalized_layers_do_not_care_about_the_weight_scale(digits, norm):
    """Away from eps, scaling W scales the pre-activations, and normalization removes that."""
    small = layer_statistics(digits, weight_scale=0.1, norm=norm, num_examples=100)
    large = layer_statistics(digits, weight_scale=1.0, norm=norm, num_examples=100)
    for a, b in zip(small.layers, large.layers):
        assert a["activation"]["std"] == pytest.approx(b["activation"]["std"], rel=1e-3)
        assert a["activation"]["mean"] == pytest.approx(b["activation"]["mean"], rel=1e-3)


def test_tanh_saturates_at_large_scale_without_normalization(digits):
    stats = layer_statistics(digits, weight_scale=1.0, norm="none", activation="tanh", num_examples=100)
    assert all(layer["activation"]["saturated"] > 0.5 for layer in stats.layers)
    calm = layer_statistics(digits, weight_scale=1.0, norm="batchnorm", activation="tanh", num_examples=100)
    assert all(layer["activation"]["saturated"] < 0.1 for layer in calm.layers)
    for layer in stats.layers:  # tanh: all but the rare values beyond mean ± 5 std are counted
        assert 0.99 * 100 * 100 <= layer["activation"]["counts"].sum() <= 100 * 100
    assert stats.table().splitlines()[0] == "none, weight scale 1.00e+00, tanh"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"norm": "groupnorm"}, "norm must be one of"),
        ({"activation": "gelu"}, "activation must be 'relu' or 'tanh'"),
        ({"weight_scale": 0.0}, "weight_scale must be"),
        ({"num_examples": 0}, "num_examples must hold positive integers"),
    ],
)
def test_layer_statistics_bad_arguments(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer_statistics(digits, **{**dict(weight_scale=1e-2, norm="none"), **kwargs})


def test_default_weight_scales_are_the_classic_sweep():
    scales = ex.default_weight_scales()
    assert len(scales) == 20 and scales[0] == pytest.approx(1e-4) and scales[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(np.diff(np.log10(scales)), 4 / 19)
