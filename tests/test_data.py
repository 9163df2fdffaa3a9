"""Datasets: the offline digits default, the safe CIFAR-10 reader, the seeded split."""
import os
import pickle
import struct

import numpy as np
import pytest

from cs231n_norm import data as data_module
from cs231n_norm.data import (
    CIFAR10_FOLDER,
    CIFAR10_TRAIN_FILES,
    load_cifar10_batch,
    load_dataset,
    safe_unpickle,
    split_and_standardize,
)


def fake_batch(rng, num_images, protocol=2):
    images = rng.integers(0, 256, size=(num_images, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=num_images)]
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,
        b"data": images,
        b"filenames": [f"image_{i}.png".encode() for i in range(num_images)],
    }
    return pickle.dumps(batch, protocol=protocol), images, labels


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_fake_cifar_batch_reads_back_exactly(tmp_path, protocol):
    raw, images, labels = fake_batch(np.random.default_rng(0), 7, protocol)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    got_images, got_labels = load_cifar10_batch(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64
    assert got_images.flags.writeable


def test_python2_module_name_for_numpy_is_accepted():
    """The original CIFAR-10 files name numpy.core.multiarray (numpy 2 writes numpy._core)."""
    raw, images, _ = fake_batch(np.random.default_rng(1), 3)
    old = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert old != raw
    np.testing.assert_array_equal(safe_unpickle(old)[b"data"], images)


def python2_string(value):
    """A Python 2 str as cPickle writes it: SHORT_BINSTRING, or BINSTRING from 256 bytes."""
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<i", len(value)) + value


def python2_int(value):
    """BININT1 / BININT2 / BININT, as protocol 2 writes a small non-negative int."""
    if value < 256:
        return b"K" + bytes([value])
    return b"M" + struct.pack("<H", value) if value < 65536 else b"J" + struct.pack("<i", value)


def python2_batch(images, labels):
    """A CIFAR-10 batch in the bytes Python 2's cPickle (protocol 2) wrote the original files in.

    Every str of the file is a Python 2 str (read back as bytes), including the ndarray's
    typecode and its dtype's byte order, and the numpy module is numpy.core.multiarray.
    """
    rows, columns = images.shape
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n" b"cnumpy\nndarray\n" + python2_int(0) + b"\x85"
        + python2_string(b"b") + b"\x87R"
        + b"(" + python2_int(1) + python2_int(rows) + python2_int(columns) + b"\x86"
        + b"cnumpy\ndtype\n" + python2_string(b"u1") + python2_int(0) + python2_int(1) + b"\x87R"
        + b"(" + python2_int(3) + python2_string(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + python2_int(0) + b"tb"
        + b"\x89" + python2_string(images.tobytes()) + b"tb"
    )
    return (b"\x80\x02}(" + python2_string(b"data") + array
            + python2_string(b"labels") + b"](" + b"".join(python2_int(label) for label in labels) + b"e"
            + python2_string(b"batch_label") + python2_string(b"training batch 1 of 5") + b"u.")


def test_batch_written_by_python2_as_the_real_files_are_is_read(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    labels = [3, 0, 9, 1]
    raw = python2_batch(images, labels)
    # the bytes are a genuine numpy pickle: the standard (unsafe) unpickler reads the same arrays
    reference = pickle.loads(raw, encoding="bytes")
    np.testing.assert_array_equal(reference[b"data"], images)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    got_images, got_labels = load_cifar10_batch(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_big_endian_and_fortran_arrays_are_rebuilt_correctly():
    array = np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4))
    got = safe_unpickle(pickle.dumps({"a": array}, protocol=2))["a"]
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.dtype("int32")


class RunsCommand:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_pickle_calling_os_system_is_refused(tmp_path):
    raw = pickle.dumps({b"data": RunsCommand()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os|nt)\.system"):
        safe_unpickle(raw)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_cifar10_batch(path)


@pytest.mark.parametrize(
    "payload",
    [
        np.array([object(), 1], dtype=object)[1:],  # object arrays would unpickle arbitrary objects
        np.zeros(2, dtype=[("a", "f8")]),  # structured dtypes are not plain numbers
        eval,  # a builtin function by name
    ],
    ids=["object-array", "structured-dtype", "builtin-eval"],
)
def test_other_dangerous_or_unexpected_content_is_refused(payload):
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_unpickle(pickle.dumps({"x": payload}, protocol=2))


def test_array_with_wrong_byte_count_is_refused():
    raw = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=2)
    tampered = raw.replace(b"\x00\x01\x02\x03", b"\x00\x01\x02")
    # the BINUNICODE length prefix no longer matches either way: any clean refusal is fine
    with pytest.raises((pickle.UnpicklingError, ValueError, EOFError)):
        safe_unpickle(tampered)
    shape_lie = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=2).replace(b"K\x04\x85", b"K\x05\x85")
    with pytest.raises(pickle.UnpicklingError, match="bytes"):
        safe_unpickle(shape_lie)


def test_batch_with_wrong_shape_is_rejected_with_a_clear_message(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1: 'data' must be a uint8 array of shape \(N, 3072\)"):
        load_cifar10_batch(path)


def write_fake_cifar(folder, per_batch=40):
    rng = np.random.default_rng(2)
    (folder / CIFAR10_FOLDER).mkdir(parents=True)
    for name in CIFAR10_TRAIN_FILES:
        raw, _, _ = fake_batch(rng, per_batch)
        (folder / CIFAR10_FOLDER / name).write_bytes(raw)


def test_auto_uses_cifar_when_present_and_digits_otherwise(tmp_path):
    digits = load_dataset("auto", data_dir=tmp_path)
    assert digits.name == "digits"
    assert "download_cifar10.py" in digits.message and "digits" in digits.message
    write_fake_cifar(tmp_path)
    cifar = load_dataset("auto", data_dir=tmp_path, num_val=50)
    assert cifar.name == "cifar10"
    assert cifar.X_train.shape == (150, 3072) and cifar.X_val.shape == (50, 3072)
    assert "CIFAR-10" in cifar.message and "dataset='digits'" in cifar.message


def test_asking_for_missing_cifar_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_cifar10.py"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_digits_default_split_sizes_and_standardization():
    dataset = load_dataset("digits", data_dir="/nonexistent")
    assert dataset.X_train.shape == (1497, 64) and dataset.X_val.shape == (300, 64)
    assert dataset.input_dim == 64 and dataset.num_classes == 10
    assert dataset.X_train.dtype == np.float64 and dataset.y_train.dtype == np.int64
    mean, std = dataset.X_train.mean(axis=0), dataset.X_train.std(axis=0)
    np.testing.assert_allclose(mean, 0, atol=1e-12)
    varying = std > 0.5
    assert varying.sum() >= 60  # a few corner pixels are always blank
    np.testing.assert_allclose(std[varying], 1, rtol=1e-12)
    assert abs(dataset.X_val.mean()) > 1e-6  # validation data is not re-standardized with its own stats


def test_standardization_uses_training_statistics_only():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4)) * [1, 2, 3, 4] + [10, 0, -5, 1]
    y = rng.integers(0, 3, size=50)
    X_before = X.copy()
    X_train, y_train, X_val, y_val = split_and_standardize(X, y, num_val=10, seed=5)
    np.testing.assert_array_equal(X, X_before)  # input not modified
    order = np.random.default_rng(5).permutation(50)
    raw_train = X[order[10:]]
    expected_val = (X[order[:10]] - raw_train.mean(0)) / raw_train.std(0)
    np.testing.assert_allclose(X_val, expected_val, rtol=1e-12)
    np.testing.assert_array_equal(y_val, y[order[:10]])


def test_split_is_fixed_by_seed_and_val_set_does_not_depend_on_num_train():
    a = load_dataset("digits", seed=0, num_train=500)
    b = load_dataset("digits", seed=0)
    c = load_dataset("digits", seed=1)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    np.testing.assert_array_equal(a.y_train, b.y_train[:500])
    assert not np.array_equal(b.y_val, c.y_val)
    assert a.identity() != b.identity()
    assert b.identity() == load_dataset("digits", seed=0).identity()


def test_dtype_float32_and_identity_records_it():
    dataset = load_dataset("digits", num_train=100, dtype=np.float32)
    assert dataset.X_train.dtype == np.float32 and dataset.X_val.dtype == np.float32
    assert dataset.identity()["dtype"] == "float32"
    assert set(dataset.as_dict()) == {"X_train", "y_train", "X_val", "y_val"}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"dataset": "mnist"}, ValueError, "dataset must be one of"),
        ({"num_train": 0}, ValueError, "num_train must be an integer >= 1"),
        ({"num_train": 1.5}, ValueError, "num_train must be an integer"),
        ({"num_train": 1498}, ValueError, "num_train must be at most 1497"),
        ({"num_val": 1797}, ValueError, r"num_val must be at most 1796 \(1797 examples, of which at least one"),
        ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_dataset(**kwargs)


@pytest.mark.parametrize(
    "kwargs, argument, value, maximum",
    [({"num_train": 1498}, "num_train", 1498, 1497), ({"num_val": 1000, "num_train": 800}, "num_train", 800, 797),
     ({"num_val": 5000}, "num_val", 5000, 1796)],
)
def test_split_size_errors_say_which_size_and_its_maximum(kwargs, argument, value, maximum):
    """The command line turns these into errors that name its own options (--num-train, --num-val)."""
    with pytest.raises(data_module.SplitSizeError) as error:
        load_dataset("digits", **kwargs)
    assert (error.value.argument, error.value.value, error.value.maximum) == (argument, value, maximum)
    assert str(error.value).startswith(f"{argument} must be at most {maximum} (")


def test_safe_unpickle_needs_bytes():
    with pytest.raises(TypeError, match="raw must be bytes"):
        safe_unpickle("not bytes")


def test_default_data_dir_is_the_repository_data_folder():
    assert data_module.default_data_dir().name == "data"
    assert (data_module.default_data_dir().parent / "cs231n_norm").is_dir()


def test_repr_is_short():
    text = repr(load_dataset("digits", num_train=100))
    assert text == "Dataset('digits', X_train (100, 64) float64, X_val (300, 64), settings={'num_train': 100, " \
                   "'num_val': 300, 'seed': 0, 'dtype': 'float64'})"
