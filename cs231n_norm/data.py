"""Datasets for the experiments: scikit-learn's digits offline, CIFAR-10 when present.

The default works on a fresh machine with no network: scikit-learn ships the
handwritten digits (1,797 real 8x8 grey images, 10 classes) inside the package,
so :func:`load_dataset` never downloads anything. CIFAR-10 (32x32 colour
images, 3,072 features) is used when ``data/cifar-10-batches-py`` exists; the
script ``data/download_cifar10.py`` puts it there for users with internet.

The CIFAR-10 "python version" batches are pickles. Unpickling runs whatever
callables the file names, so a tampered file could run any code. We read them
with :class:`RestrictedUnpickler`, which knows only the handful of names the
batches need and rebuilds the numpy arrays itself from raw bytes.

Every split is fixed and seeded, and features are standardized with the mean
and standard deviation of the *training* split only (using the validation
statistics would leak information about the data we evaluate on).
"""
from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks import describe

DATASETS = ("auto", "digits", "cifar10")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS_VAL = 300  # digits: 1,797 images = 1,497 train + 300 validation by default
CIFAR10_VAL = 1000  # CIFAR-10: 50,000 training images = 49,000 train + 1,000 validation

GET_CIFAR = "run `python data/download_cifar10.py` (needs internet) to use CIFAR-10 instead"
GET_DIGITS = "pass dataset='digits' (CLI: --dataset digits) for the offline digits instead"


def default_data_dir() -> Path:
    """The repository's ``data/`` folder (next to the package folder)."""
    return Path(__file__).resolve().parent.parent / "data"


# --------------------------------------------------------------------------- safe unpickling


class _ArrayState:
    """Stands in for ``numpy.core.multiarray._reconstruct``'s empty array.

    A pickled ndarray is "make an empty array, then ``__setstate__`` it with
    (version, shape, dtype, is_fortran, raw bytes)". We record that state and
    build the array ourselves with :func:`numpy.frombuffer`, so no numpy code
    ever sees an attacker-chosen state, and object arrays (which would unpickle
    arbitrary Python objects) are refused.
    """

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError(f"unexpected ndarray state: {describe(state)}")
        _version, shape, dtype, is_fortran, raw = state
        if not isinstance(dtype, _DtypeSpec):
            raise pickle.UnpicklingError(f"ndarray state has no numpy dtype: {describe(dtype)}")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError(f"ndarray state has a bad shape: {describe(shape)}")
        if isinstance(raw, str):  # a Python 2 str read with encoding='latin1'
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError(f"ndarray data must be raw bytes, got {type(raw).__name__}")
        self.array = _array_from_bytes(bytes(raw), shape, dtype.resolve(), bool(is_fortran))


class _DtypeSpec:
    """Stands in for ``numpy.dtype(name, align, copy)``: only plain numeric dtypes."""

    ALLOWED = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}

    def __init__(self, name, align=False, copy=True):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if name not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing numpy dtype {name!r}: only plain numeric dtypes {sorted(self.ALLOWED)} are allowed"
            )
        self.name = name
        self.byteorder = "="

    def __setstate__(self, state):
        byteorder = state[1] if isinstance(state, tuple) and len(state) >= 2 else None
        if isinstance(byteorder, bytes):  # a Python 2 str, as in the original CIFAR-10 files
            byteorder = byteorder.decode("latin1")
        if byteorder in ("<", ">", "|", "="):
            self.byteorder = byteorder
        else:
            raise pickle.UnpicklingError(f"unexpected numpy dtype state: {describe(state)}")

    def resolve(self) -> np.dtype:
        dtype = np.dtype(self.name)
        return dtype if self.byteorder in ("|", "=") else dtype.newbyteorder(self.byteorder)


def _array_from_bytes(raw, shape, dtype, is_fortran):
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise pickle.UnpicklingError(
            f"ndarray data has {len(raw)} bytes, shape {shape} of {dtype} needs {count * dtype.itemsize}"
        )
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    array = flat.reshape(shape, order="F" if is_fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)  # writable, native byte order


class _NdarrayName:
    """What the name ``numpy.ndarray`` means inside a restricted pickle: a marker, not callable."""


def _reconstruct(subtype, shape, typecode):
    if subtype is not _NdarrayName:
        raise pickle.UnpicklingError(f"refusing to rebuild {describe(subtype)}: only numpy.ndarray")
    return _ArrayState()


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as Python 3's protocol-2 pickles use it for bytes objects."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({describe(text)}, {encoding!r})")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can load CIFAR-10 batches and nothing more dangerous.

    Plain containers (dict, list, tuple), numbers, ``bytes`` and ``str`` need no
    names and load as usual. The only names a file may refer to are numpy's
    array-rebuilding helpers, which are replaced by safe stand-ins (see
    :class:`_ArrayState`), and the latin-1 ``_codecs.encode`` that Python 3 uses
    to pickle ``bytes`` at protocol 2. Any other name, e.g. ``os.system``,
    raises :class:`pickle.UnpicklingError`.
    """

    SAFE_NAMES = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): _NdarrayName,
        ("numpy", "dtype"): _DtypeSpec,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self.SAFE_NAMES[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch only needs numpy arrays, "
                "lists, dicts, bytes and numbers (the file may have been tampered with)"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids: not used by CIFAR-10 batches")


def _replace_array_states(value):
    if isinstance(value, _ArrayState):
        if not hasattr(value, "array"):
            raise pickle.UnpicklingError("an ndarray in the file has no data")
        return value.array
    if isinstance(value, _DtypeSpec):
        raise pickle.UnpicklingError("a bare numpy dtype is not expected in a CIFAR-10 batch")
    if isinstance(value, dict):
        return {k: _replace_array_states(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_array_states(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace_array_states(v) for v in value)
    return value


def safe_unpickle(raw: bytes):
    """Load a pickle that may only hold containers, numbers, bytes/str and numeric arrays.

    Python 2 ``str`` objects (as in the original CIFAR-10 files) are read as
    ``bytes``. Raises :class:`pickle.UnpicklingError` for anything else.
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError(f"raw must be bytes, got {describe(raw)}")
    value = RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    return _replace_array_states(value)


def load_cifar10_batch(path):
    """Read one CIFAR-10 python batch file safely.

    Returns
    -------
    images : ndarray of uint8, shape (N, 3072)
        Each row is 1024 red, then 1024 green, then 1024 blue values (32x32, row-major).
    labels : ndarray of int64, shape (N,)
        Class indices 0..9 (see ``CIFAR10_CLASSES``).
    """
    path = Path(path)
    batch = safe_unpickle(path.read_bytes())
    if not isinstance(batch, dict):
        raise ValueError(f"{path.name}: a CIFAR-10 batch is a dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = {"data", "labels"} - set(batch)
    if missing:
        raise ValueError(f"{path.name}: a CIFAR-10 batch needs keys 'data' and 'labels', missing {sorted(missing)}")
    images = batch["data"]
    labels = np.asarray(batch["labels"])
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 2 and images.shape[1] == 3072):
        raise ValueError(f"{path.name}: 'data' must be a uint8 array of shape (N, 3072), got {describe(images)}")
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path.name}: 'labels' must be {images.shape[0]} integers in 0..9, got {describe(labels)}")
    return images, labels.astype(np.int64)


def load_cifar10_raw(folder):
    """All five CIFAR-10 training batches from `folder`: uint8 (50000, 3072) images, int64 labels."""
    folder = Path(folder)
    parts = [load_cifar10_batch(folder / name) for name in CIFAR10_TRAIN_FILES]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def cifar10_available(data_dir=None) -> bool:
    folder = Path(data_dir or default_data_dir()) / CIFAR10_FOLDER
    return all((folder / name).is_file() for name in CIFAR10_TRAIN_FILES)


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Dataset:
    """A fixed train/validation split, standardized with training statistics.

    Attributes
    ----------
    name : str
        'digits' or 'cifar10'.
    X_train : ndarray, shape (num_train, D)
    y_train : ndarray of int64, shape (num_train,)
    X_val : ndarray, shape (num_val, D)
    y_val : ndarray of int64, shape (num_val,)
    message : str
        Which dataset is in use and how to get the other one.
    settings : dict
        The arguments that produced the split (for the results cache).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    message: str
    settings: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"Dataset({self.name!r}, X_train {self.X_train.shape} {self.X_train.dtype}, "
                f"X_val {self.X_val.shape}, settings={self.settings})")

    @property
    def input_dim(self) -> int:
        return self.X_train.shape[1]

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max())) + 1

    def as_dict(self) -> dict:
        """The ``data`` dict the trainers take: X_train, y_train, X_val, y_val."""
        return {"X_train": self.X_train, "y_train": self.y_train, "X_val": self.X_val, "y_val": self.y_val}

    def identity(self) -> dict:
        """Everything that identifies this data, for cache keys: name, settings and a content hash."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train, self.X_val, self.y_val):
            digest.update(str((array.shape, array.dtype.str)).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return {"name": self.name, **self.settings, "sha256": digest.hexdigest()}


def split_and_standardize(X, y, *, num_train=None, num_val, seed=0, dtype=np.float64):
    """Shuffle with a seeded generator, split, and standardize with training statistics.

    Parameters
    ----------
    X : ndarray, shape (N, D)
        Raw features (any real dtype); not modified.
    y : ndarray of int, shape (N,)
    num_train : int or None
        Training examples to keep (None: all that remain after the validation split).
    num_val : int
        Validation examples, taken first from the shuffled order, so the validation
        set does not change when `num_train` does.
    seed : int
        Seed of the shuffle.
    dtype : np.float32 or np.float64

    Returns
    -------
    X_train, y_train, X_val, y_val
        Features have mean 0 and standard deviation 1 over the training split
        (constant features, e.g. the always-blank corner pixels of the digits,
        are centred and left unscaled).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must have shape (N, D) and y shape (N,), got X {X.shape} and y {y.shape}")
    _count("num_val", num_val, minimum=1)
    available = X.shape[0] - num_val
    if available < 1:
        raise SplitSizeError("num_val", num_val, X.shape[0] - 1, X.shape[0], num_val,
                             f"{X.shape[0]} examples, of which at least one must be left for training")
    if num_train is None:
        num_train = available
    _count("num_train", num_train, minimum=1)
    if num_train > available:
        raise SplitSizeError("num_train", num_train, available, X.shape[0], num_val,
                             f"the {X.shape[0]} examples minus num_val={num_val}")
    dtype = np.dtype(dtype)
    if dtype.type not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")

    order = np.random.default_rng(seed).permutation(X.shape[0])
    val_index, train_index = order[:num_val], order[num_val : num_val + num_train]
    X_train = X[train_index].astype(np.float64)
    X_val = X[val_index].astype(np.float64)
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    X_train = ((X_train - mean) / std).astype(dtype)
    X_val = ((X_val - mean) / std).astype(dtype)
    return X_train, y[train_index].astype(np.int64), X_val, y[val_index].astype(np.int64)


class SplitSizeError(ValueError):
    """A split size the data cannot supply.

    Attributes
    ----------
    argument : str
        'num_train' or 'num_val'.
    value : int
        What was asked for.
    maximum : int
        The most the data allows.
    total : int
        Examples in the data before the split.
    num_val : int
        The validation examples asked for.
    reason : str
        Where the maximum comes from, e.g. "the 1797 examples minus num_val=300".
    """

    def __init__(self, argument, value, maximum, total, num_val, reason):
        self.argument, self.value, self.maximum = argument, value, maximum
        self.total, self.num_val, self.reason = total, num_val, reason
        super().__init__(f"{argument} must be at most {maximum} ({reason}), got {value}")


def _count(name, value, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {describe(value)}")


def load_dataset(dataset="auto", *, num_train=None, num_val=None, seed=0, dtype=np.float64, data_dir=None):
    """Load a dataset as a fixed, seeded, standardized train/validation split.

    Parameters
    ----------
    dataset : {'auto', 'digits', 'cifar10'}
        'auto' uses CIFAR-10 when ``data_dir/cifar-10-batches-py`` holds the five
        training batches, otherwise scikit-learn's bundled digits (no network).
    num_train, num_val : int or None
        Split sizes. Defaults: digits 1,497 + 300; CIFAR-10 49,000 + 1,000 (both
        taken from CIFAR-10's training batches; its test batch is left untouched).
    seed : int
        Seed of the shuffle that makes the split.
    dtype : np.float32 or np.float64
        Dtype of the features.
    data_dir : path or None
        Folder holding ``cifar-10-batches-py`` (default: the repository's ``data/``).

    Returns
    -------
    Dataset
        ``.message`` says which dataset is in use and how to get the other one.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {describe(dataset)}")
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    if dataset == "auto":
        dataset = "cifar10" if cifar10_available(folder) else "digits"

    if dataset == "digits":
        from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

        digits = load_digits()
        X, y = digits.data, digits.target
        num_val = DIGITS_VAL if num_val is None else num_val
        description = "scikit-learn's bundled handwritten digits (1,797 8x8 grey images, 10 classes)"
        other = GET_CIFAR
    else:
        if not cifar10_available(folder):
            raise FileNotFoundError(
                f"CIFAR-10 not found in {folder / CIFAR10_FOLDER}: {GET_CIFAR}, or {GET_DIGITS}"
            )
        X, y = load_cifar10_raw(folder / CIFAR10_FOLDER)
        num_val = CIFAR10_VAL if num_val is None else num_val
        description = f"CIFAR-10 from {CIFAR10_FOLDER}/ (32x32 colour images, 10 classes)"
        other = GET_DIGITS

    X_train, y_train, X_val, y_val = split_and_standardize(
        X, y, num_train=num_train, num_val=num_val, seed=seed, dtype=dtype
    )
    message = (
        f"Dataset: {description}; {len(y_train)} train / {len(y_val)} validation examples, "
        f"{X_train.shape[1]} features standardized with training statistics. To switch, {other}."
    )
    settings = {"num_train": len(y_train), "num_val": len(y_val), "seed": seed, "dtype": np.dtype(dtype).name}
    return Dataset(dataset, X_train, y_train, X_val, y_val, message, settings)
