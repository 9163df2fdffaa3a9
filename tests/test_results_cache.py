"""Results cache: full-configuration keys, atomic writes, damaged entries recomputed."""
import json
import os
import warnings

import numpy as np
import pytest

from cs231n_norm import results_cache
from cs231n_norm.results_cache import ResultsCache, cache_key, canonical_json

CONFIG = {"experiment": "weight_init", "weight_scales": [1e-4, 1e-2], "dtype": "float32", "seeds": [0, 1]}


def compute_counter():
    calls = []

    def compute():
        calls.append(1)
        return {"best_val_acc": np.array([0.5, 0.75]), "norm": np.array(["none", "batchnorm"])}

    return compute, calls


def test_second_call_reads_the_entry_instead_of_computing(tmp_path):
    cache = ResultsCache(tmp_path)
    compute, calls = compute_counter()
    first = cache.get_or_compute(CONFIG, compute)
    second = cache.get_or_compute(CONFIG, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["best_val_acc"], second["best_val_acc"])
    assert second["norm"].tolist() == ["none", "batchnorm"]
    assert set(second) == {"best_val_acc", "norm"}


def test_key_covers_every_setting_and_the_package_version(monkeypatch):
    base = cache_key(CONFIG)
    assert base == cache_key(dict(reversed(list(CONFIG.items()))))  # order of keys does not matter
    for change in ({"dtype": "float64"}, {"seeds": [0]}, {"weight_scales": [1e-4, 1e-2, 1.0]}, {"extra": 1}):
        assert cache_key({**CONFIG, **change}) != base
    monkeypatch.setattr(results_cache, "package_version", lambda: "999.0")
    assert cache_key(CONFIG) != base


def test_canonical_json_is_plain_and_refuses_what_it_cannot_hold():
    text = canonical_json({"b": np.float32(0.5), "a": (np.int64(3), np.float64), "c": np.array([1, 2])})
    assert text == '{"a":[3,"float64"],"b":0.5,"c":[1,2]}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError, match="config values must be JSON data"):
        canonical_json({"x": object()})
    with pytest.raises(TypeError, match="config keys must be str"):
        canonical_json({1: 2})
    with pytest.raises(TypeError, match="config must be a dict"):
        cache_key([1, 2])


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a zip file at all"),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
        lambda path: path.write_bytes(b""),
        lambda path: np.savez(path, best_val_acc=np.zeros(2)),  # no stored configuration
    ],
    ids=["garbage", "truncated", "empty", "no-config"],
)
def test_damaged_entry_is_recomputed_with_a_warning(tmp_path, damage):
    cache = ResultsCache(tmp_path)
    compute, calls = compute_counter()
    cache.get_or_compute(CONFIG, compute)
    path = cache.path_for(CONFIG)
    damage(path)
    with pytest.warns(RuntimeWarning, match=f"results cache entry {path.name} is damaged.*recomputing"):
        arrays = cache.get_or_compute(CONFIG, compute)
    assert len(calls) == 2
    np.testing.assert_array_equal(arrays["best_val_acc"], [0.5, 0.75])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: the next read is clean
        assert cache.load(CONFIG) is not None


def test_entry_for_another_configuration_under_this_name_is_not_trusted(tmp_path):
    cache = ResultsCache(tmp_path)
    other = {**CONFIG, "dtype": "float64"}
    cache.save(other, {"best_val_acc": np.array([0.1])})
    os.replace(cache.path_for(other), cache.path_for(CONFIG))
    with pytest.warns(RuntimeWarning, match="does not match"):
        assert cache.load(CONFIG) is None


def test_pickled_object_arrays_are_never_loaded(tmp_path):
    cache = ResultsCache(tmp_path)
    stored_config = np.array(canonical_json({**CONFIG, "package_version": results_cache.package_version()}))
    np.savez(cache.path_for(CONFIG), evil=np.array([object()], dtype=object), __config__=stored_config)
    with pytest.warns(RuntimeWarning, match="damaged"):
        assert cache.load(CONFIG) is None


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    cache = ResultsCache(tmp_path / "cache")
    cache.save(CONFIG, {"a": np.arange(3)})
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [cache.path_for(CONFIG).name]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results_cache.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        cache.save(CONFIG, {"a": np.arange(5)})
    # the old entry is intact and no temporary file is left behind
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [cache.path_for(CONFIG).name]
    np.testing.assert_array_equal(cache.load(CONFIG)["a"], np.arange(3))


def test_save_refuses_object_arrays_and_reserved_names(tmp_path):
    cache = ResultsCache(tmp_path)
    with pytest.raises(TypeError, match="object dtype"):
        cache.save(CONFIG, {"x": np.array([{}, 1], dtype=object)})
    with pytest.raises(ValueError, match="__config__"):
        cache.save(CONFIG, {"__config__": np.zeros(1)})


def test_stored_config_is_readable_json(tmp_path):
    cache = ResultsCache(tmp_path)
    cache.save(CONFIG, {"a": np.zeros(1)})
    with np.load(cache.path_for(CONFIG), allow_pickle=False) as stored:
        config = json.loads(str(stored["__config__"]))
    assert config["weight_scales"] == [1e-4, 1e-2]
    assert config["package_version"] == results_cache.package_version()


def test_default_directory_is_data_cache():
    directory = ResultsCache().directory
    assert directory.name == "cache" and directory.parent.name == "data"
