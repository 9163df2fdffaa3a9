"""Shared fixtures for the tests of the core package (tests/test_*.py).

Fixtures, not importable helpers: the repository root has its own conftest.py,
so ``import conftest`` would be ambiguous. Every helper here is a session-scoped
fixture that returns a plain function, which also keeps hypothesis's
function-scoped-fixture health check quiet.

- ``rng``: a numpy Generator seeded from the test's name (reproducible, and
  different per test).
- ``per_feature_data(rng, shape, dtype=np.float64, offset=0.0)``: data whose mean
  and scale differ per feature / channel (axis 1), so that a statistic taken over
  the wrong axis, or channels mixed by a reshape, change the numbers.
- ``normwise_error(analytic, numeric)``: max |a - n| / max |n|, a gradient
  error relative to the gradient's largest entry.
- ``unmodified(*objects)``: a context manager asserting that nothing reachable
  from the objects (arrays, dicts, tuples, caches, graphs) changed inside it.
"""

import contextlib
import copy
import dataclasses
import zlib

import numpy as np
import pytest


def make_per_feature_data(rng, shape, dtype=np.float64, offset=0.0):
    """Normal data of `shape` with a different mean and scale for every index of axis 1.

    Feature / channel k has mean ``offset + means[k]`` and standard deviation
    ``scales[k]``: means evenly spread over [-4, 4] in a random order (so they are
    distinct by construction), scales log-uniform in [0.5, 4].

    Parameters
    ----------
    rng : numpy Generator
    shape : tuple, (N, D) or (N, C, H, W) (any rank >= 2: axis 1 is the feature axis)
    dtype : np.float32 or np.float64
    offset : float, added to every mean (e.g. 1e4 for robustness tests)

    Returns
    -------
    ndarray of `shape` and `dtype`
    """
    features = shape[1]
    means = rng.permutation(np.linspace(-4.0, 4.0, features))
    scales = np.exp(rng.uniform(np.log(0.5), np.log(4.0), features))
    per_feature = [1] * len(shape)
    per_feature[1] = features
    x = rng.standard_normal(shape) * scales.reshape(per_feature) + means.reshape(per_feature)
    # add the offset in float64, then round once to the target dtype
    return (x + offset).astype(dtype)


def normwise_error(analytic, numeric, scale=None):
    """Largest absolute difference, relative to `scale` (default: the largest entry of `numeric`).

    Elementwise relative error (``rel_error``) is dominated by whichever entries of
    the gradient happen to be tiny, where the centred difference's rounding error
    (~1e-11 absolute) is large in relative terms. This measure is not. For the dx of
    a normalization, pass the size of the terms dx is a difference of
    (max|gamma| * max|dout| * max inv_std): batch norm over N = 2 examples has
    dx ~ eps / var, almost nothing left after cancellation, and the numerical
    gradient's rounding is relative to the terms, not to what is left.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    assert analytic.shape == numeric.shape, (analytic.shape, numeric.shape)
    if scale is None:
        scale = np.abs(numeric).max(initial=0.0)
    if scale == 0.0:
        return float(np.abs(analytic).max(initial=0.0))
    return float(np.abs(analytic - numeric).max(initial=0.0) / scale)


def _differences(before, after, path="value"):
    """List of human-readable differences between two snapshots (deep)."""
    if isinstance(before, np.ndarray):
        if not isinstance(after, np.ndarray):
            return [f"{path}: was an array, now {type(after).__name__}"]
        if before.dtype != after.dtype or before.shape != after.shape:
            return [f"{path}: dtype/shape {before.dtype}{before.shape} became {after.dtype}{after.shape}"]
        if not np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"):
            return [f"{path}: array values changed"]
        return []
    if type(before) is not type(after):
        return [f"{path}: type {type(before).__name__} became {type(after).__name__}"]
    if isinstance(before, dict):
        if list(before) != list(after):
            return [f"{path}: keys {list(before)} became {list(after)}"]
        return [d for key in before for d in _differences(before[key], after[key], f"{path}[{key!r}]")]
    if isinstance(before, (list, tuple)):
        if len(before) != len(after):
            return [f"{path}: length {len(before)} became {len(after)}"]
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in _differences(b, a, f"{path}[{i}]")]
    if dataclasses.is_dataclass(before) or hasattr(before, "__dict__"):
        return _differences(vars(before), vars(after), f"{path}.")
    return [] if before == after else [f"{path}: {before!r} became {after!r}"]


@contextlib.contextmanager
def assert_unmodified(*objects, names=None):
    """Assert that the block leaves every object (deeply) exactly as it was.

    Parameters
    ----------
    objects : arrays, dicts, tuples, caches, ... to watch
    names : optional list of names for the messages
    """
    names = names or [f"argument {i}" for i in range(len(objects))]
    snapshots = [copy.deepcopy(obj) for obj in objects]
    yield
    problems = [d for obj, snap, name in zip(objects, snapshots, names) for d in _differences(snap, obj, name)]
    assert not problems, "inputs were modified: " + "; ".join(problems)


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's node id: reproducible and different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(scope="session")
def per_feature_data():
    return make_per_feature_data


@pytest.fixture(scope="session")
def normwise():
    return normwise_error


@pytest.fixture(scope="session")
def unmodified():
    return assert_unmodified
