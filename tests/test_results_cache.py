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


def test_key_covers_the_code_that_computes_the_results(monkeypatch):
    """A change to the trainer must not serve old results although the package version stays."""
    base = cache_key(CONFIG)
    monkeypatch.setattr(results_cache, "code_fingerprint", lambda: "0" * 64)
    assert cache_key(CONFIG) != base
    monkeypatch.undo()
    monkeypatch.setattr(results_cache.np, "__version__", "0.0.1")
    assert cache_key(CONFIG) != base  # another numpy can round differently


def test_fingerprint_hashes_every_result_computing_module():
    names = {path.name for path in results_cache.fingerprinted_files()}
    computing = {"sweep.py", "model.py", "layers.py", "core.py", "solver.py", "optim.py", "data.py",
                 "experiments.py", "_checks.py", "__init__.py"}
    assert computing <= names, computing - names
    assert all(path.parent.name == "cs231n_norm" for path in results_cache.fingerprinted_files())
    assert len(results_cache.code_fingerprint()) == 64


def test_fingerprint_changes_with_any_byte_or_file_name(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("x = 1\n")
    second.write_text("y = 2\n")
    base = results_cache.source_fingerprint([first, second], tmp_path)
    assert base == results_cache.source_fingerprint([first, second], tmp_path)
    first.write_text("x = 2\n")
    assert results_cache.source_fingerprint([first, second], tmp_path) != base
    first.write_text("x = 1\n")
    assert results_cache.source_fingerprint([first, second], tmp_path) == base
    renamed = second.rename(tmp_path / "c.py")
    assert results_cache.source_fingerprint([first, renamed], tmp_path) != base
    # the same bytes split differently between the files: the lengths are hashed too
    split_before = results_cache.source_fingerprint([first, renamed], tmp_path)  # "x = 1\n" + "y = 2\n"
    first.write_text("x = 1\ny")
    renamed.write_text(" = 2\n")
    assert results_cache.source_fingerprint([first, renamed], tmp_path) != split_before


def test_fetch_says_whether_it_computed_and_keeps_the_original_compute_time(tmp_path):
    cache = ResultsCache(tmp_path)
    compute, calls = compute_counter()
    first = cache.fetch(CONFIG, compute)
    assert first.hit is False and first.compute_seconds >= 0 and first.path == cache.path_for(CONFIG)
    second = cache.fetch(CONFIG, compute)
    assert second.hit is True and len(calls) == 1
    assert second.compute_seconds == first.compute_seconds
    np.testing.assert_array_equal(second.arrays["best_val_acc"], first.arrays["best_val_acc"])
    assert set(second.arrays) == {"best_val_acc", "norm"}  # the reserved fields are not returned


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


def rewritten(change):
    """A damage that rewrites a readable entry (its configuration kept) after change(arrays)."""
    def damage(path):
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
        change(arrays)
        with open(path, "wb") as file:
            np.savez(file, **arrays)
    return damage


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a zip file at all"),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
        lambda path: path.write_bytes(b""),
        lambda path: np.savez(path, best_val_acc=np.zeros(2)),  # no stored configuration
        rewritten(lambda arrays: arrays.pop("norm")),
        rewritten(lambda arrays: arrays.update(best_val_acc=np.zeros(0))),
        rewritten(lambda arrays: arrays.update(norm=np.array([1.0, 2.0]))),
        rewritten(lambda arrays: arrays.update(extra=np.zeros(3))),
        rewritten(lambda arrays: arrays.pop(results_cache.LAYOUT_FIELD)),
    ],
    ids=["garbage", "truncated", "empty", "no-config", "array-missing", "array-emptied", "array-retyped",
         "array-added", "no-layout"],
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
    stored_config = np.array(canonical_json(results_cache.key_config(CONFIG)))
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
    for reserved in ("__config__", "__compute_seconds__"):
        with pytest.raises(ValueError, match=reserved):
            cache.save(CONFIG, {reserved: np.zeros(1)})


def test_stored_config_is_readable_json(tmp_path):
    cache = ResultsCache(tmp_path)
    cache.save(CONFIG, {"a": np.zeros(1)})
    with np.load(cache.path_for(CONFIG), allow_pickle=False) as stored:
        config = json.loads(str(stored["__config__"]))
    assert config["weight_scales"] == [1e-4, 1e-2]
    assert config["package_version"] == results_cache.package_version()
    assert config["code_fingerprint"] == results_cache.code_fingerprint()
    assert config["numpy_version"] == np.__version__


def test_default_directory_is_data_cache():
    directory = ResultsCache().directory
    assert directory.name == "cache" and directory.parent.name == "data"
