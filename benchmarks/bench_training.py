"""Benchmark: the weight-initialization experiment, sweep trainer vs one net at a time.

The experiment of notebook 05: 20 weight scales (log-spaced 1e-4..1) x 3
normalizations (none, batch norm, layer norm), 10 epochs over 1,000 training
examples of scikit-learn's digits, batch 50, 5 hidden layers of 100, Adam.

Timed side by side, in rounds (so a change in machine load hits both alike):

* ``sweep float32``: :func:`cs231n_norm.sweep.train_sweep`, the default dtype;
* ``sweep float64``: the same in float64 (the numbers one-by-one training gives);
* ``one by one float64``: 60 times ``FullyConnectedNet`` + :func:`cs231n_norm.solver.train`,
  CS231n-style, float64 (the model's default).

Both run with one BLAS thread (the sweep sets this itself; the one-by-one
loop is given the same, see "Threads" in the results). Writes
benchmarks/results_training.md.

Run from the repository root::

    python benchmarks/bench_training.py                 # 3 rounds, one-by-one in the first
    python benchmarks/bench_training.py --rounds 5 --one-by-one-rounds 2
    python benchmarks/bench_training.py --quick         # a smoke run (2 scales, 1 epoch)
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cs231n_norm.data import load_dataset
from cs231n_norm.model import FullyConnectedNet
from cs231n_norm.solver import train
from cs231n_norm.sweep import WEIGHT_INIT_EXPERIMENT, train_sweep

HERE = Path(__file__).resolve().parent
NORM_NAMES = {None: "none", "batchnorm": "batchnorm", "layernorm": "layernorm"}


def experiment_settings(quick):
    settings = dict(WEIGHT_INIT_EXPERIMENT)
    if quick:
        settings.update(weight_scales=(1e-3, 1e-1), num_epochs=1)
    return settings


def run_sweep(data, settings, dtype):
    """All three normalizations with the sweep trainer. Returns {norm: [SweepRun]}."""
    return {
        norm: train_sweep(data, hidden_dims=settings["hidden_dims"], normalization=norm,
                          weight_scales=settings["weight_scales"], num_epochs=settings["num_epochs"],
                          batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                          update_rule=settings["update_rule"], dtype=dtype, progress=False)
        for norm in settings["normalizations"]
    }


def run_one_by_one(data, settings):
    """The same nets, one FullyConnectedNet + train() each. Returns {norm: [History]}."""
    histories = {}
    for norm in settings["normalizations"]:
        histories[norm] = []
        for scale in settings["weight_scales"]:
            net = FullyConnectedNet(settings["hidden_dims"], input_dim=data["X_train"].shape[1], num_classes=10,
                                    normalization=norm, weight_scale=scale, seed=0)
            histories[norm].append(train(net, data, num_epochs=settings["num_epochs"],
                                         batch_size=settings["batch_size"], update_rule=settings["update_rule"],
                                         optim_config={"learning_rate": settings["learning_rate"]},
                                         seed=0, progress=False))
    return histories


def timed(function, *args):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def agreement(sweep64, sweep32, one_by_one):
    """How closely the three ways agree (the sweep's float64 should match train to rounding)."""
    loss_error = max(
        float(np.max(np.abs(run.loss_history - np.array(history.loss_history)) / np.abs(history.loss_history)))
        for norm in one_by_one for run, history in zip(sweep64[norm], one_by_one[norm])
    )
    acc_equal = all(run.best_val_acc == history.best_val_acc
                    for norm in one_by_one for run, history in zip(sweep64[norm], one_by_one[norm]))
    acc_gap32 = max(abs(run32.best_val_acc - run64.best_val_acc)
                    for norm in sweep64 for run32, run64 in zip(sweep32[norm], sweep64[norm]))
    return loss_error, acc_equal, acc_gap32


def summary(times):
    return f"{min(times):.2f} s (median {statistics.median(times):.2f} s, {len(times)} run{'s' * (len(times) > 1)})"


def write_report(path, settings, data_message, wall, cpu, loads, checks, sweep32, quick, blas):
    sweep_wall, obo_wall = min(wall["sweep float32"]), min(wall["one by one float64"])
    scales = settings["weight_scales"]
    lines = [
        "# Training benchmark: the weight-initialization experiment",
        "",
        f"Generated by `python benchmarks/bench_training.py{' --quick' if quick else ''}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()}.",
        "",
        "## Setup",
        "",
        f"- {len(scales)} weight scales (log-spaced {scales[0]:g}..{scales[-1]:g}) x "
        f"{len(settings['normalizations'])} normalizations (none, batch norm, layer norm) = "
        f"{len(scales) * len(settings['normalizations'])} nets",
        f"- hidden layers {list(settings['hidden_dims'])}, {settings['num_epochs']} epochs, batch "
        f"{settings['batch_size']}, {settings['update_rule']} learning rate {settings['learning_rate']:g}, seed 0",
        f"- data: {data_message}",
        f"- machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, numpy {np.__version__}, BLAS {blas}",
        "- threads: every run with one BLAS thread (the sweep limits itself to one; the one-by-one loop is",
        "  given the same limit, so both compute alike; matrices this small gain nothing from a second thread,",
        "  and on a busy machine OpenBLAS's spinning threads made the sweep 5x slower)",
        "",
        "## Wall time of the whole experiment (best of the rounds)",
        "",
        "| trainer | wall | CPU (process) |",
        "|---|---|---|",
    ]
    for name in wall:
        lines.append(f"| {name} | {summary(wall[name])} | {min(cpu[name]):.2f} s |")
    lines += [
        "",
        f"**Sweep (float32) vs one by one (float64, CS231n-style): {obo_wall / sweep_wall:.1f}x faster; "
        f"sweep float64 vs one by one float64: {obo_wall / min(wall['sweep float64']):.1f}x.** "
        f"Targets: the whole experiment under 15 s wall ({'met' if sweep_wall < 15 else 'NOT met'}: "
        f"{sweep_wall:.1f} s), at least 3x faster than one by one "
        f"({'met' if obo_wall / sweep_wall >= 3 else 'NOT met'}).",
        "",
        "## Machine load",
        "",
        f"Load average (1 min) before each round: {', '.join(f'{x:.2f}' for x in loads)} on "
        f"{os.cpu_count()} cores. Other engineers' jobs were running on this shared machine during the "
        "measurement: the times are disturbed (upward) by them, and the spread between rounds shows by how much.",
        "",
        "## Agreement",
        "",
        f"- sweep float64 vs one by one float64: largest relative difference of any loss in any iteration "
        f"{checks[0]:.1e}; best validation accuracies {'identical for every net' if checks[1] else 'DIFFER'}",
        f"- sweep float32 vs float64: best validation accuracies differ by at most {checks[2]:.3f}",
        "",
        "## Result (sweep, float32): best validation accuracy per weight scale",
        "",
        "| weight scale | " + " | ".join(NORM_NAMES[n] for n in settings["normalizations"]) + " |",
        "|---|" + "---|" * len(settings["normalizations"]),
    ]
    for i, scale in enumerate(scales):
        lines.append(f"| {scale:.2e} | " + " | ".join(f"{sweep32[n][i].best_val_acc:.3f}"
                                                       for n in settings["normalizations"]) + " |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the sweep timings (default 3)")
    parser.add_argument("--one-by-one-rounds", type=int, default=1,
                        help="how many of the rounds also time the one-by-one loop (default 1: it takes ~1 min)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 scales, 1 epoch")
    parser.add_argument("--output", type=Path, default=HERE / "results_training.md")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.one_by_one_rounds <= args.rounds:
        parser.error("need rounds >= 1 and 1 <= one-by-one-rounds <= rounds")

    settings = experiment_settings(args.quick)
    dataset = load_dataset("digits", num_train=settings["num_train"])
    data = dataset.as_dict()
    wall = {"sweep float32": [], "sweep float64": [], "one by one float64": []}
    cpu = {name: [] for name in wall}
    loads = []
    for round_ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        sweep32, w, c = timed(run_sweep, data, settings, np.float32)
        wall["sweep float32"].append(w), cpu["sweep float32"].append(c)
        sweep64, w, c = timed(run_sweep, data, settings, np.float64)
        wall["sweep float64"].append(w), cpu["sweep float64"].append(c)
        if round_ < args.one_by_one_rounds:
            with threadpool_limits(1, user_api="blas"):
                one_by_one, w, c = timed(run_one_by_one, data, settings)
            wall["one by one float64"].append(w), cpu["one by one float64"].append(c)
        print(f"round {round_ + 1}: " + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in wall.items()),
              file=sys.stderr)
    blas = ", ".join(f"{info.get('internal_api')} {info.get('version')}" for info in threadpool_info()
                     if info.get("user_api") == "blas") or "unknown"
    checks = agreement(sweep64, sweep32, one_by_one)
    write_report(args.output, settings, dataset.message, wall, cpu, loads, checks, sweep32, args.quick, blas)
    print(args.output.read_text())


if __name__ == "__main__":
    main()
