"""Smoke test of benchmarks/bench_norm.py: a tiny run writes a complete table.

No timing is asserted (the machine's load decides those); what is checked is
that every layer / pass / shape / dtype has a row, every row has every column
filled with a measurement, and the cache table is there and exact.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np

from cs231n_norm.layers import batchnorm_forward, layernorm_forward
from cs231n_norm.timing import batchnorm_problem

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_norm.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_norm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_after(text, heading):
    """The rows (lists of cells) of the first markdown table after `heading`."""
    lines = text[text.index(heading):].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, separator, body = rows[0], rows[1], rows[2:]
    assert set("".join(separator)) <= set("-:")
    return header, body


def test_tiny_run_writes_every_row_and_column(tmp_path):
    bench = load_script()
    shapes, dtypes = ((8, 4), (16, 6)), ("float32", "float64")
    with_torch = bench.torch_available()
    config = bench.Config(shapes=shapes, dtypes=dtypes, repeats=2, min_seconds=1e-4, torch_threads=(1,), use_torch=with_torch)
    out = tmp_path / "results.md"

    assert bench.main(["--out", str(out)], config=config) == out
    text = out.read_text()

    header, rows = table_after(text, "## Time per call")
    expected_header = ["layer", "pass", "N x D", "dtype", "staged ms", "simplified ms", "staged / simplified"]
    if with_torch:
        expected_header += ["torch 1T ms", "torch 1T / simplified"]
    assert header == expected_header
    expected_keys = [(layer, pass_, f"{N} x {D}", dtype)
                     for layer in ("batchnorm", "layernorm") for pass_ in ("forward", "backward")
                     for N, D in shapes for dtype in dtypes]
    assert [tuple(row[:4]) for row in rows] == expected_keys
    for row in rows:
        assert len(row) == len(header)
        for name, cell in zip(header[4:], row[4:]):
            pattern = r"\d+\.\d+x" if "/" in name else r"\d+(\.\d+)? ±\d+%"
            assert re.fullmatch(pattern, cell), (name, cell, row)

    # bytes cached: exact, so compare with the caches themselves
    header, rows = table_after(text, "## Bytes cached per call")
    assert header[:6] == ["layer", "N x D", "dtype", "staged", "simplified", "staged / simplified"]
    assert len(rows) == 2 * len(shapes) * len(dtypes)
    row = rows[0]  # batchnorm, 8 x 4, float32
    x, gamma, beta, _ = batchnorm_problem(8, 4, seed=0, dtype=np.float32)
    _, small = batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": False})
    _, staged = batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": True})
    assert row[:3] == ["batchnorm", "8 x 4", "float32"]
    assert row[3] == f"{staged.nbytes() / 1024:.1f} KiB" and row[4] == f"{small.nbytes() / 1024:.1f} KiB"
    _, ln_small = layernorm_forward(x, gamma, beta, {"keep_graph": False})
    assert rows[len(shapes) * len(dtypes)][4] == f"{ln_small.nbytes() / 1024:.1f} KiB"

    assert "## Where and when it ran" in text and "load average" in text
    assert "Not measured in this run" in text  # the targets need 4096 x 1024 float64


def test_quick_and_full_configurations_cover_the_issue():
    bench = load_script()
    assert bench.FULL.shapes == ((64, 100), (256, 1024), (4096, 1024))
    assert set(bench.FULL.dtypes) == {"float32", "float64"} and bench.FULL.repeats >= 11
    assert bench.FULL.torch_threads == (1, 2)
