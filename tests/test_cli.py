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
    assert set(document) == {"dataset", "config", "wall_time_s", "results"}
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
    assert document["config"]["weight_scale"] == 0.02


def test_diverging_nets_give_null_not_nan(tmp_path):
    out = tmp_path / "r.json"
    assert main(["weight-init", "--scales", "1e30", "--norms", "none", "--out", str(out),
                 "--no-cache", *SMALL]) == 0
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    (row,) = strict_json(text)["results"]
    assert row["final_train_loss"] is None


def test_cache_is_used_on_the_second_run(tmp_path):
    args = ["weight-init", "--scales", "1e-2", "--cache-dir", str(tmp_path / "cache"), *SMALL]
    main([*args, "--out", str(tmp_path / "a.json")])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    main([*args, "--out", str(tmp_path / "b.json")])
    first, second = (strict_json((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert first["results"] == second["results"]
    main([*args, "--no-cache", "--out", str(tmp_path / "c.json")])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # --no-cache neither reads nor writes


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["weight-init", "--scales", "1e-4:x:20"], "argument --scales: expected LOW:HIGH:COUNT"),
        (["weight-init", "--scales", "1,-2"], "argument --scales: expected"),
        (["weight-init", "--scales", "1:1e-4:5"], "argument --scales: expected LOW <= HIGH"),
        (["weight-init", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["weight-init", "--learning-rate", "nan"], "argument --learning-rate: expected a positive finite number"),
        (["weight-init", "--norms", "none,groupnorm"], "argument --norms: expected distinct norms"),
        (["weight-init", "--seeds", "1,1"], "argument --seeds: expected distinct non-negative integers"),
        (["weight-init", "--dtype", "float16"], "argument --dtype: invalid choice"),
        (["weight-init", "--dataset", "mnist"], "argument --dataset: invalid choice"),
        (["batch-size", "--batch-sizes", "5,,10"], "argument --batch-sizes: expected a comma-separated list"),
        (["batch-size", "--weight-scale", "-1"], "argument --weight-scale: expected a positive finite number"),
        (["weight-init", "--num-train", "5000"], "num_train must be at most 1497"),
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
