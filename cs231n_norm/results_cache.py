"""A results cache for experiments: one ``.npz`` file per full configuration.

The key is the SHA-256 of a canonical JSON of *every* setting that could change
the result: the experiment's own settings, the dataset identity (with a hash of
its contents), the dtype, and this package's version (added here, so no caller
can forget it). Two configurations that differ in anything get different files.

Entries are written atomically (a temporary file in the same folder, then
``os.replace``), so a crash mid-write never leaves half a file under the real
name, and read with ``np.load(allow_pickle=False)``, so a cache file cannot run
code. A damaged or mismatched entry is recomputed with a warning, never a crash.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._checks import describe
from .data import default_data_dir

CONFIG_FIELD = "__config__"  # the canonical JSON, stored in the entry to detect mismatches


def package_version() -> str:
    from . import __version__

    return __version__


def canonical_json(config) -> str:
    """The one JSON text of `config`: sorted keys, no spaces, numpy scalars as Python numbers.

    Raises TypeError for values JSON cannot hold exactly (arrays, objects) and
    ValueError for NaN/inf, so a key can never silently depend on a repr.
    """
    return json.dumps(_plain(config), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(value):
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"config keys must be str, got {describe(key)}")
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, np.dtype):
        return value.name
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"config values must be JSON data (str, numbers, lists, dicts), got {describe(value)}")


def cache_key(config) -> str:
    """SHA-256 hex digest of the canonical JSON of `config` plus the package version."""
    return hashlib.sha256(canonical_json(_with_version(config)).encode()).hexdigest()


def _with_version(config):
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {describe(config)}")
    return {**config, "package_version": package_version()}


class ResultsCache:
    """Experiment results on disk, keyed by the full configuration.

    Parameters
    ----------
    directory : path or None
        Where entries live (default: the repository's ``data/cache/``, gitignored).

    Examples
    --------
    >>> cache = ResultsCache(tmp_dir)                               # doctest: +SKIP
    >>> arrays = cache.get_or_compute(config, run_experiment)       # doctest: +SKIP
    """

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory is not None else default_data_dir() / "cache"

    def path_for(self, config) -> Path:
        return self.directory / f"{cache_key(config)}.npz"

    def load(self, config):
        """The stored arrays for `config` as a dict, or None if absent or damaged (with a warning)."""
        path = self.path_for(config)
        if not path.exists():
            return None
        expected = canonical_json(_with_version(config))
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            stored_config = arrays.pop(CONFIG_FIELD, None)
            if stored_config is None or str(stored_config) != expected:
                raise ValueError("its stored configuration does not match the requested one")
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"results cache entry {path.name} is damaged ({type(error).__name__}: {error}); recomputing it",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        return arrays

    def save(self, config, arrays) -> Path:
        """Store `arrays` (dict of name -> array, no object dtype) for `config`, atomically."""
        if not isinstance(arrays, dict) or CONFIG_FIELD in arrays:
            raise ValueError(f"arrays must be a dict of named arrays without {CONFIG_FIELD!r}, got {describe(arrays)}")
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        for name, value in arrays.items():
            if value.dtype.hasobject:
                raise TypeError(f"arrays[{name!r}] has object dtype, which cannot be stored without pickle")
        path = self.path_for(config)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays, **{CONFIG_FIELD: np.array(canonical_json(_with_version(config)))})
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def get_or_compute(self, config, compute):
        """Stored arrays for `config`, or ``compute()``'s (then stored). Returns a dict of arrays."""
        arrays = self.load(config)
        if arrays is None:
            arrays = compute()
            self.save(config, arrays)
            arrays = {name: np.asarray(value) for name, value in arrays.items()}
        return arrays
