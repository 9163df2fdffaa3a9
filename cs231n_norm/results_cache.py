"""A results cache for experiments: one ``.npz`` file per full configuration.

The key is the SHA-256 of a canonical JSON of *every* setting that could change
the result: the experiment's own settings, the dataset identity (with a hash of
its contents), the dtype, and, added here so no caller can forget them, this
package's version, numpy's version and a fingerprint of the code that computes
the results (:func:`code_fingerprint`). Two configurations that differ in
anything get different files, and so does the same configuration after a change
to the trainer: the package version alone stays 0.1.0 through such changes.

Which code is fingerprinted: every ``cs231n_norm/*.py`` at the top level of the
package. That is where everything computing a result lives (data, model,
layers, core, sweep, solver, optim, experiments); the subpackages ``widgets/``,
``plots/`` and ``selfcheck/`` only draw or explain results and are left out. A
few top-level modules the experiments do not use are hashed too (timing,
graph, ...): an edit there costs one needless recompute of a few seconds,
whereas a hand-kept list of dependencies could miss a module and serve stale
results.

Entries are written atomically (a temporary file in the same folder, then
``os.replace``), so a crash mid-write never leaves half a file under the real
name, and read with ``np.load(allow_pickle=False)``, so a cache file cannot run
code. A damaged or mismatched entry is recomputed with a warning, never a crash:
besides the zip's own checksums, each entry records the name, dtype and shape
of every array it holds, so a readable file that lost an array, or had one
replaced by another of a different shape, counts as damaged too.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import describe
from .data import default_data_dir

CONFIG_FIELD = "__config__"  # the canonical JSON, stored in the entry to detect mismatches
SECONDS_FIELD = "__compute_seconds__"  # wall time of the computation that made the entry
LAYOUT_FIELD = "__layout__"  # name, dtype and shape of every stored array, to detect missing or altered ones
RESERVED_FIELDS = (CONFIG_FIELD, SECONDS_FIELD, LAYOUT_FIELD)


def package_version() -> str:
    from . import __version__

    return __version__


def fingerprinted_files() -> list[Path]:
    """The source files whose contents are part of every key: ``cs231n_norm/*.py``, sorted."""
    return sorted(Path(__file__).resolve().parent.glob("*.py"))


def source_fingerprint(paths, root) -> str:
    """SHA-256 hex digest over the names (relative to `root`) and contents of `paths`, in order."""
    digest = hashlib.sha256()
    for path in paths:
        content = Path(path).read_bytes()
        digest.update(Path(path).relative_to(root).as_posix().encode() + b"\0")
        digest.update(len(content).to_bytes(8, "little") + content)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Fingerprint of the package's result-computing source (see the module docstring).

    Computed once per process, from the files as they are when first asked: the code
    a running process computes with is the code it imported.
    """
    files = fingerprinted_files()
    return source_fingerprint(files, files[0].parent)


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


def layout(arrays) -> dict:
    """{name: [dtype, shape]} of a dict of arrays, as JSON-ready lists (what an entry records)."""
    return {name: [value.dtype.str, list(value.shape)] for name, value in arrays.items()}


def cache_key(config) -> str:
    """SHA-256 hex digest of the canonical JSON of :func:`key_config` of `config`."""
    return hashlib.sha256(canonical_json(key_config(config)).encode()).hexdigest()


def key_config(config) -> dict:
    """`config` as it is keyed and stored: plus package version, code fingerprint and numpy version."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {describe(config)}")
    return {**config, "package_version": package_version(), "code_fingerprint": code_fingerprint(),
            "numpy_version": np.__version__}


@dataclass(frozen=True)
class CacheEntry:
    """What :meth:`ResultsCache.fetch` returns.

    Attributes
    ----------
    arrays : dict of str -> ndarray
    hit : bool
        True when read from disk, False when computed by this call.
    compute_seconds : float or None
        Wall time of the computation that produced the arrays (this call's on a miss,
        the original one's on a hit; None for an entry stored without it).
    path : Path
        The entry's file.
    """

    arrays: dict
    hit: bool
    compute_seconds: float | None
    path: Path


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
    >>> entry = cache.fetch(config, run_experiment)                 # doctest: +SKIP
    >>> entry.hit, entry.compute_seconds                            # doctest: +SKIP
    (True, 9.8)
    """

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory is not None else default_data_dir() / "cache"

    def path_for(self, config) -> Path:
        return self.directory / f"{cache_key(config)}.npz"

    def load(self, config):
        """The stored arrays for `config` as a dict, or None if absent or damaged (with a warning)."""
        stored = self._read(config)
        return None if stored is None else stored[0]

    def _read(self, config):
        """(arrays, compute_seconds) stored for `config`, or None if absent or damaged (with a warning)."""
        path = self.path_for(config)
        if not path.exists():
            return None
        expected = canonical_json(key_config(config))
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            stored_config = arrays.pop(CONFIG_FIELD, None)
            if stored_config is None or str(stored_config) != expected:
                raise ValueError("its stored configuration does not match the requested one")
            stored_layout = arrays.pop(LAYOUT_FIELD, None)
            seconds = arrays.pop(SECONDS_FIELD, None)
            seconds = None if seconds is None else float(seconds)
            if stored_layout is None or json.loads(str(stored_layout)) != layout(arrays):
                raise ValueError("its arrays are not the ones it was written with (missing, extra, retyped or reshaped)")
        except (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"results cache entry {path.name} is damaged ({type(error).__name__}: {error}); recomputing it",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        return arrays, seconds

    def save(self, config, arrays, compute_seconds=None) -> Path:
        """Store `arrays` (dict of name -> array, no object dtype) for `config`, atomically.

        `compute_seconds` (optional): how long computing them took, returned by later hits.
        """
        if not isinstance(arrays, dict) or any(name in arrays for name in RESERVED_FIELDS):
            raise ValueError(f"arrays must be a dict of named arrays without {RESERVED_FIELDS}, "
                             f"got {describe(arrays)}")
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        for name, value in arrays.items():
            if value.dtype.hasobject:
                raise TypeError(f"arrays[{name!r}] has object dtype, which cannot be stored without pickle")
        extra = {CONFIG_FIELD: np.array(canonical_json(key_config(config))),
                 LAYOUT_FIELD: np.array(json.dumps(layout(arrays), sort_keys=True))}
        if compute_seconds is not None:
            extra[SECONDS_FIELD] = np.array(float(compute_seconds))
        path = self.path_for(config)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays, **extra)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def fetch(self, config, compute) -> CacheEntry:
        """The stored entry for `config`, or ``compute()``'s arrays (timed, then stored)."""
        stored = self._read(config)
        if stored is not None:
            return CacheEntry(stored[0], True, stored[1], self.path_for(config))
        start = time.perf_counter()
        arrays = compute()
        seconds = time.perf_counter() - start
        path = self.save(config, arrays, compute_seconds=seconds)
        return CacheEntry({name: np.asarray(value) for name, value in arrays.items()}, False, seconds, path)

    def get_or_compute(self, config, compute):
        """Stored arrays for `config`, or ``compute()``'s (then stored). Returns a dict of arrays."""
        return self.fetch(config, compute).arrays
