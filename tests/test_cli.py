"""The headless command: python -m cs231n_norm weight-init / batch-size."""
import json
import math
import subprocess
import sys

import pytest

from cs231n_norm.__main__ import build_parser, main

SMALL = ["--dataset", "digits", "--num-train", "100", "--num-val", "50", "--epochs", "1",
         "--hidden-dims", "10,10", "--quiet"]


def strict_json(text):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_weight_init_writes_the_documented_json(tmp_path):
    out = tmp_path / "results.json"
    assert main(["weight-init", "--scales", "1e-3:1e-1:3", "--out", str(out), "--no-cache", *SMALL]) == 0
    document = strict_json(out.read_text())
    assert set(document) == {"dataset", "config", "wall_time_s", "cached", "compute_wall_time_s", "results"}
    assert document["cached"] is False  # --no-cache
    assert 0 < document["compute_wall_time_s"] <= document["wall_time_s"]
    assert document["dataset"] == "digits"
    assert document["config"]["weight_scales"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert document["config"]["hidden_dims"] == [10, 10] and document["config"]["num_epochs"] == 1
    assert document["config"]["dataset"]["num_train"] == 100
    assert isinstance(document["wall_time_s"], float) and document["wall_time_s"] > 0
    assert len(document["results"]) == 3 * 3
    for row in document["results"]:
        assert set(row) == {"norm", "weight_scale", "seed", "best_train_acc", "best_val_acc", "final_train_loss"}
        assert row["norm"] in ("none", "batchnorm", "layernorm")
        assert isinstance(row["best_val_acc"], float)
    assert [t.name for t in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


def test_batch_size_uses_batch_size_in_place_of_weight_scale(tmp_path, capsys):
    assert main(["batch-size", "--batch-sizes", "5,25", "--seeds", "0,1", "--norms", "batchnorm,layernorm",
                 "--no-cache", *SMALL]) == 0
    document = strict_json(capsys.readouterr().out)  # no --out: standard output
    assert len(document["results"]) == 2 * 2 * 2
    assert {row["batch_size"] for row in document["results"]} == {5, 25}
    assert all("weight_scale" not in row for row in document["results"])
    assert document["config"]["weight_scale"] == 0.1


def test_diverging_nets_give_null_not_nan(tmp_path):
    out = tmp_path / "r.json"
    assert main(["weight-init", "--scales", "1e30", "--norms", "none", "--out", str(out),
                 "--no-cache", *SMALL]) == 0
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    (row,) = strict_json(text)["results"]
    assert row["final_train_loss"] is None


def test_cache_is_used_on_the_second_run_and_says_so(tmp_path, capsys):
    args = ["weight-init", "--scales", "1e-2", "--cache-dir", str(tmp_path / "cache"),
            *[a for a in SMALL if a != "--quiet"]]
    main([*args, "--out", str(tmp_path / "a.json")])
    assert "from the cache" not in capsys.readouterr().err
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    main([*args, "--out", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    (entry,) = (tmp_path / "cache").glob("*.npz")
    assert f"results came from the cache ({entry}, computed in" in err and "--no-cache recomputes" in err
    first, second = (strict_json((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert first["results"] == second["results"] and first["config"] == second["config"]
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["compute_wall_time_s"] == first["compute_wall_time_s"]  # the original run's
    main([*args, "--no-cache", "--out", str(tmp_path / "c.json")])
    assert strict_json((tmp_path / "c.json").read_text())["cached"] is False
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # --no-cache neither reads nor writes


def test_batch_size_defaults_are_notebook_06s_setting():
    """README, notebook 06 and the command tell one story: the command's defaults are its setting."""
    parser = build_parser()
    args = parser.parse_args(["batch-size"])
    assert args.num_train == 500 and args.epochs == 4 and args.hidden_dims == [100, 100, 100]
    assert args.weight_scale == 0.1 and args.batch_sizes == [2, 5, 10, 50] and args.seeds == [0, 1, 2, 3, 4]
    assert args.learning_rate == 1e-3 and args.dtype == "float32"
    weight_init = parser.parse_args(["weight-init"])
    assert weight_init.num_train == 1000 and weight_init.epochs == 10 and weight_init.batch_size == 50
    assert len(weight_init.scales) == 20 and weight_init.hidden_dims == [100] * 5


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["weight-init", "--scales", "1e-4:x:20"], "argument --scales: expected LOW:HIGH:COUNT"),
        (["weight-init", "--scales", "1,-2"], "argument --scales: expected"),
        (["weight-init", "--scales", "1:1e-4:5"], "argument --scales: expected LOW < HIGH"),
        (["weight-init", "--scales", "0.1:0.1:5"], "argument --scales: expected LOW < HIGH"),
        (["weight-init", "--scales", "0.1,0.1"], "argument --scales: expected distinct weight scales"),
        (["weight-init", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["weight-init", "--learning-rate", "nan"], "argument --learning-rate: expected a positive finite number"),
        (["weight-init", "--norms", "none,groupnorm"], "argument --norms: expected distinct norms"),
        (["weight-init", "--seeds", "1,1"], "argument --seeds: expected distinct integers from 0 to 2**63 - 1"),
        (["weight-init", "--seeds", str(2**63)], "argument --seeds: expected distinct integers from 0 to 2**63 - 1"),
        (["weight-init", "--dtype", "float16"], "argument --dtype: invalid choice"),
        (["weight-init", "--dataset", "mnist"], "argument --dataset: invalid choice"),
        (["batch-size", "--batch-sizes", "5,,10"], "argument --batch-sizes: expected a comma-separated list"),
        (["batch-size", "--batch-sizes", "5,5"], "argument --batch-sizes: expected distinct positive integers"),
        (["batch-size", "--batch-sizes", ""], "argument --batch-sizes: expected a comma-separated list"),
        (["batch-size", "--norms", ""], "argument --norms: expected a comma-separated list of norms"),
        (["batch-size", "--seeds", ""], "argument --seeds: expected a comma-separated list"),
        (["batch-size", "--weight-scale", "-1"], "argument --weight-scale: expected a positive finite number"),
        (["batch-size", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["weight-init", "--num-train", "0"], "argument --num-train: expected a positive integer, got '0'"),
        (["weight-init", "--num-val", "0"], "argument --num-val: expected a positive integer, got '0'"),
        # combinations the data cannot support: the option, what it got, what it needs
        (["weight-init", "--num-train", "5000"], "argument --num-train: got 5000, needs at most 1497 (the data's "
                                                 "1797 examples minus the 300 of --num-val)"),
        (["weight-init", "--num-val", "1000"], "argument --num-train: got 1000, needs at most 797"),
        (["weight-init", "--num-val", "2000"], "argument --num-val: got 2000, needs at most 1796"),
        (["weight-init", "--batch-size", "2000"], "argument --batch-size: got 2000, needs at most 1000, the number "
                                                  "of training examples"),
        (["weight-init", "--batch-size", "60", "--num-train", "50"], "argument --batch-size: got 60, needs at most 50"),
        (["batch-size", "--batch-sizes", "5000"], "argument --batch-sizes: got 5000, needs at most 500"),
        (["batch-size", "--batch-sizes", "2,5,5000"], "argument --batch-sizes: got 5000 (in 2,5,5000), needs at most"),
        (["weight-init", "--batch-size", "1"], "argument --batch-size: got 1, needs at least 2 with batch norm"),
        (["batch-size", "--batch-sizes", "1,5"], "argument --batch-sizes: got 1 (in 1,5), needs at least 2 with batch"),
        (["weight-init", "--hidden-dims", "1", "--norms", "layernorm"],
         "argument --hidden-dims: got 1, needs at least 2 units per hidden layer with layer norm"),
        (["batch-size", "--hidden-dims", "50,1"], "argument --hidden-dims: got 1 (in 50,1), needs at least 2 units"),
        # more memory than any machine has: refused before training, not a MemoryError
        (["weight-init", "--epochs", "99999999999"], "argument --epochs: got 99999999999, needs at most"),
        (["weight-init", "--hidden-dims", "100000000"], "argument --hidden-dims: got 100000000, needs narrower"),
        (["weight-init", "--scales", "1e-4:1:10000000"], "argument --scales: got 10000000 values, needs fewer"),
        (["weight-init", "--out", "/nonexistent-folder/r.json"], "argument --out: folder"),
        (["weight-init", "--dataset", "cifar10", "--data-dir", "/nonexistent"], "download_cifar10.py"),
        (["frobnicate"], "invalid choice"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_values_give_one_error_line_and_status_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m cs231n_norm") and "error:" in lines[0]
    assert fragment in lines[0]


def one_error_line(capsys, exit_info, status=2):
    assert exit_info.value.code == status
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_out_must_be_a_writable_file_name(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--out", str(tmp_path), "--no-cache"])
    assert f"argument --out: got {str(tmp_path)!r}, which is a folder" in one_error_line(capsys, exit_info)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("cs231n_norm.__main__.tempfile.mkstemp", refuse)
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--out", str(tmp_path / "r.json"), "--no-cache"])
    line = one_error_line(capsys, exit_info)
    assert f"argument --out: cannot write in folder {str(tmp_path)!r} (Permission denied)" in line
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_must_be_a_folder(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--cache-dir", str(a_file)])
    assert f"argument --cache-dir: got {str(a_file)!r}, which is not a folder" in one_error_line(capsys, exit_info)
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--cache-dir", str(a_file / "cache")])
    line = one_error_line(capsys, exit_info)
    assert f"argument --cache-dir: cannot create folder {str(a_file / 'cache')!r}: {str(a_file)!r} is a file" in line
    # --no-cache: the cache folder is not used at all
    assert main(["weight-init", "--cache-dir", str(a_file), "--no-cache", "--scales", "0.1", *SMALL]) == 0
    capsys.readouterr()
    # checking a cache folder does not create it: a refused run leaves nothing behind
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--cache-dir", str(tmp_path / "new" / "cache"), "--batch-size", "2000"])
    assert "argument --batch-size: got 2000" in one_error_line(capsys, exit_info)
    assert not (tmp_path / "new").exists()


def test_damaged_cifar_batch_names_the_data_dir(tmp_path, capsys):
    (tmp_path / "cifar-10-batches-py").mkdir()
    for i in range(1, 6):
        (tmp_path / "cifar-10-batches-py" / f"data_batch_{i}").write_bytes(b"\x80\x02cos\nsystem\n.")
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--data-dir", str(tmp_path), "--no-cache"])
    assert "argument --data-dir: refusing to load os.system" in one_error_line(capsys, exit_info)


def test_memory_estimate_is_checked_against_what_is_available(monkeypatch, capsys):
    monkeypatch.setattr("cs231n_norm.__main__._available_memory", lambda: 10 * 1024**2)  # 10 MB
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--hidden-dims", "1000,1000", "--no-cache"])
    line = one_error_line(capsys, exit_info)
    assert "argument --hidden-dims: got 1000,1000, needs narrower layers: about" in line
    assert "GB of memory for 20 nets trained at once, 0.0 GB are available" in line
    monkeypatch.setattr("cs231n_norm.__main__._available_memory", lambda: None)  # unknown: no check
    assert main(["weight-init", "--scales", "0.1", "--no-cache", *SMALL]) == 0


@pytest.mark.parametrize("error, status, fragment", [
    (MemoryError, 2, "error: out of memory; use narrower --hidden-dims or fewer --scales / --seeds"),
    (KeyboardInterrupt, 130, "interrupted; nothing written"),
])
def test_running_out_of_memory_or_ctrl_c_is_one_line(tmp_path, monkeypatch, capsys, error, status, fragment):
    def fail(args, dataset):
        raise error

    monkeypatch.setattr("cs231n_norm.__main__.run", fail)
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--out", str(tmp_path / "r.json"), "--no-cache", *SMALL])
    assert fragment in one_error_line(capsys, exit_info, status)
    assert list(tmp_path.iterdir()) == []


def test_help_documents_every_option():
    for command, extra in (("weight-init", ["--scales", "--batch-size"]),
                           ("batch-size", ["--batch-sizes", "--weight-scale"])):
        parser = build_parser()
        subparser = parser._subparsers._group_actions[0].choices[command]
        text = subparser.format_help()
        for option in (*extra, "--out", "--epochs", "--dataset", "--seeds", "--dtype", "--no-cache",
                       "--num-train", "--norms", "--hidden-dims", "--learning-rate", "--cache-dir", "--quiet"):
            assert option in text, f"{command} --help does not mention {option}"
        assert "null" in text  # NaN is written as null: documented
        for action in subparser._actions:
            assert action.help, f"{command}: option {action.option_strings} has no help text"


def test_module_runs_as_a_program_with_progress_on_stderr(tmp_path):
    out = tmp_path / "r.json"
    small = [a for a in SMALL if a != "--quiet"]
    completed = subprocess.run(
        [sys.executable, "-m", "cs231n_norm", "weight-init", "--scales", "1e-2", "--norms", "layernorm",
         "--out", str(out), "--no-cache", *small],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    assert "Dataset: scikit-learn's bundled handwritten digits" in completed.stderr
    assert "download_cifar10.py" in completed.stderr  # how to get the other dataset
    assert f"wrote {out}" in completed.stderr
    assert math.isfinite(strict_json(out.read_text())["results"][0]["best_val_acc"])
    help_run = subprocess.run([sys.executable, "-m", "cs231n_norm", "--help"], capture_output=True, text=True,
                              timeout=60)
    assert help_run.returncode == 0 and "weight-init" in help_run.stdout and "batch-size" in help_run.stdout


def test_auto_picks_cifar_when_its_batches_are_in_the_data_dir(tmp_path, capsys):
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    (tmp_path / "cifar-10-batches-py").mkdir()
    for i in range(1, 6):
        batch = {b"data": rng.integers(0, 256, (40, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, 40)]}
        (tmp_path / "cifar-10-batches-py" / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    argv = ["weight-init", "--scales", "1e-2", "--norms", "batchnorm", "--data-dir", str(tmp_path),
            "--num-train", "100", "--num-val", "50", "--epochs", "1", "--hidden-dims", "10", "--no-cache"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    document = strict_json(captured.out)
    assert document["dataset"] == "cifar10"
    assert document["config"]["dataset"]["num_train"] == 100
    assert "CIFAR-10" in captured.err and "--dataset digits" in captured.err


def test_cifar10_not_downloaded_is_blamed_on_the_dataset_option(tmp_path, monkeypatch, capsys):
    """--dataset cifar10 without the files: the option given is named, not --data-dir (not given)."""
    from cs231n_norm import data

    monkeypatch.setattr(data, "default_data_dir", lambda: tmp_path)  # a data/ folder without CIFAR-10
    with pytest.raises(SystemExit) as exit_info:
        main(["weight-init", "--dataset", "cifar10", "--no-cache"])
    line = one_error_line(capsys, exit_info)
    assert "argument --dataset: CIFAR-10 not found" in line and "download_cifar10.py" in line
