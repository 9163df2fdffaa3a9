"""Benchmark: the weight-initialization experiment, sweep trainer vs one net at a time.

The experiment of notebook 05: 20 weight scales (log-spaced 1e-4..1) x 3
normalizations (none, batch norm, layer norm) = 60 nets, 10 epochs over 1,000
training examples of scikit-learn's digits, batch 50, 5 hidden layers of 100, Adam.

Five trainers, all timed in every round (so a change in machine load hits them alike,
and every speed-up is a ratio of two times from the same round):

* ``sweep float32``: :func:`cs231n_norm.sweep.train_sweep`, its default dtype, one thread;
* ``sweep float32, 2 workers``: the same, the nets split over two threads (two cores);
* ``sweep float64``: the same in float64;
* ``one by one float32`` / ``one by one float64``: 60 times ``FullyConnectedNet`` +
  :func:`cs231n_norm.solver.train` (the plain training loop, CS231n-style), in that dtype.

Like for like means the same dtype and one core each: sweep float32 against one by one
float32, sweep float64 against one by one float64. Every run uses one BLAS thread (the
sweep sets this itself; the one-by-one loop is given the same). The order of the
trainers rotates from round to round, after an untimed warm-up of each.
Writes benchmarks/results_training.md.

Run from the repository root::

    python benchmarks/bench_training.py                 # 3 rounds, ~3 minutes
    python benchmarks/bench_training.py --rounds 5
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
SWEEP32, SWEEP32_2, SWEEP64 = "sweep float32", "sweep float32, 2 workers", "sweep float64"
ONE32, ONE64 = "one by one float32", "one by one float64"
TRAINERS = (SWEEP32, SWEEP32_2, SWEEP64, ONE32, ONE64)
# (name, slow trainer, fast trainer, what it compares): each ratio is slow / fast, round by round
RATIOS = (
    ("float32, like for like (one core each)", ONE32, SWEEP32),
    ("float64, like for like (one core each)", ONE64, SWEEP64),
    ("float32, sweep on 2 cores vs one by one on 1", ONE32, SWEEP32_2),
    ("across dtypes: one by one float64 vs sweep float32 (the old headline)", ONE64, SWEEP32),
)


def experiment_settings(quick):
    settings = dict(WEIGHT_INIT_EXPERIMENT)
    if quick:
        settings.update(weight_scales=(1e-3, 1e-1), num_epochs=1)
    return settings


def in_dtype(data, dtype):
    """The data with its feature arrays in `dtype` (labels unchanged)."""
    return {key: value.astype(dtype) if value.dtype.kind == "f" else value for key, value in data.items()}


def run_sweep(data, settings, dtype, workers=1):
    """Every normalization of `settings` with the sweep trainer. Returns {norm: [SweepRun]}."""
    return {
        norm: train_sweep(data, hidden_dims=settings["hidden_dims"], normalization=norm,
                          weight_scales=settings["weight_scales"], num_epochs=settings["num_epochs"],
                          batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                          update_rule=settings["update_rule"], dtype=dtype, progress=False, workers=workers)
        for norm in settings["normalizations"]
    }


def run_one_by_one(data, settings, dtype):
    """The same nets, one FullyConnectedNet + train() each, with one BLAS thread. Returns {norm: [History]}."""
    data = in_dtype(data, dtype)  # as the sweep does once; the net would otherwise convert every batch
    histories = {}
    with threadpool_limits(1, user_api="blas"):
        for norm in settings["normalizations"]:
            histories[norm] = []
            for scale in settings["weight_scales"]:
                net = FullyConnectedNet(settings["hidden_dims"], input_dim=data["X_train"].shape[1], num_classes=10,
                                        normalization=norm, weight_scale=scale, dtype=dtype, seed=0)
                histories[norm].append(train(net, data, num_epochs=settings["num_epochs"],
                                             batch_size=settings["batch_size"], update_rule=settings["update_rule"],
                                             optim_config={"learning_rate": settings["learning_rate"]},
                                             seed=0, progress=False))
    return histories


RUNNERS = {
    SWEEP32: lambda data, settings: run_sweep(data, settings, np.float32),
    SWEEP32_2: lambda data, settings: run_sweep(data, settings, np.float32, workers=2),
    SWEEP64: lambda data, settings: run_sweep(data, settings, np.float64),
    ONE32: lambda data, settings: run_one_by_one(data, settings, np.float32),
    ONE64: lambda data, settings: run_one_by_one(data, settings, np.float64),
}


def timed(function, *args):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def relative_difference(a, b):
    """Largest |a - b| / |b| over the entries (|b| clipped away from 0; nan where b is nan)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def agreement(sweep, one_by_one):
    """How closely the sweep's runs match one-by-one training of the same nets, in one dtype."""
    pairs = [(norm, run, history) for norm in one_by_one for run, history in zip(sweep[norm], one_by_one[norm])]
    differences = [(relative_difference(run.loss_history, history.loss_history), norm, run.weight_scale)
                   for norm, run, history in pairs]
    return {
        "nets": len(pairs),
        "differences": sorted(differences, key=lambda d: d[0]),
        "bitwise": sum(np.array_equal(run.loss_history, history.loss_history, equal_nan=True)
                       and np.array_equal(run.train_acc_history, history.train_acc_history)
                       and np.array_equal(run.val_acc_history, history.val_acc_history) for _, run, history in pairs),
        "acc_equal": sum(run.best_val_acc == history.best_val_acc for _, run, history in pairs),
        "acc_gap": max(abs(run.best_val_acc - history.best_val_acc) for _, run, history in pairs),
    }


def sensitivity(data, settings, norm, scale, dtype, nudge):
    """Largest relative loss difference between two one-by-one runs of one net whose first
    weight matrix differs by a factor (1 + nudge): how much this net amplifies rounding."""
    data = in_dtype(data, dtype)

    def losses(factor):
        net = FullyConnectedNet(settings["hidden_dims"], input_dim=data["X_train"].shape[1], num_classes=10,
                                normalization=norm, weight_scale=scale, dtype=dtype, seed=0)
        net.params["W1"] = (net.params["W1"] * factor).astype(dtype)
        return train(net, data, num_epochs=settings["num_epochs"], batch_size=settings["batch_size"],
                     update_rule=settings["update_rule"], optim_config={"learning_rate": settings["learning_rate"]},
                     seed=0, progress=False).loss_history

    return relative_difference(losses(1 + nudge), losses(1.0))


def summary(values, unit=" s"):
    """'5.26 s (5.22-5.47)': the median over the rounds, then the range (alone for one round)."""
    if len(values) == 1:
        return f"{values[0]:.2f}{unit}"
    return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


def ratios_per_round(times, slow, fast):
    return [s / f for s, f in zip(times[slow], times[fast])]


def agreement_lines(dtype_name, checks):
    differences = checks["differences"]
    worst, worst_norm, worst_scale = differences[-1]
    close = sum(d < 1e-8 for d, _, _ in differences)
    largest = (f"largest difference {worst:.1e}, {NORM_NAMES[worst_norm]} at weight scale {worst_scale:.2e}"
               if worst > 0 else "no difference at all")
    lines = [
        f"- {dtype_name}: {checks['bitwise']} of {checks['nets']} nets have the same losses and accuracies as "
        f"one-by-one training bit for bit; {close} of {checks['nets']} agree in every loss to a relative 1e-8 "
        f"({largest}); best validation accuracy identical for {checks['acc_equal']} of {checks['nets']} "
        f"(largest gap {checks['acc_gap']:.3f}).",
    ]
    if "sensitivity" in checks:
        lines.append(
            f"  Why some differ: that net amplifies rounding. Trained one by one twice, with the first weight "
            f"matrix differing by a factor 1 + {checks['nudge']:g}, its losses differ by up to "
            f"{checks['sensitivity']:.1e} (relative)."
        )
    return lines


def write_report(path, settings, data_message, wall, cpu, loads, checks, sweep32, quick, blas):
    scales = settings["weight_scales"]
    rounds = len(wall[SWEEP32])
    sweep_wall = statistics.median(wall[SWEEP32])
    ratio_rows = []
    for name, slow, fast in RATIOS:
        ratio_rows.append((name, ratios_per_round(wall, slow, fast), ratios_per_round(cpu, slow, fast)))
    like32 = statistics.median(ratio_rows[0][1])
    like32_cpu = statistics.median(ratio_rows[0][2])
    like64 = statistics.median(ratio_rows[1][1])
    two_cores = statistics.median(ratio_rows[2][1])
    met = {True: "met", False: "NOT met"}
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
        "- one BLAS thread in every run (the sweep limits itself to one; the one-by-one loop is given the same",
        "  limit: matrices this small gain nothing from a second BLAS thread, and on a busy machine OpenBLAS's",
        "  spinning threads made the sweep 5x slower). The 2-worker sweep uses two Python threads instead.",
        f"- {rounds} round{'s' * (rounds > 1)}; in each, every trainer once, in an order that rotates from round "
        "to round, after an untimed warm-up of each trainer (a short run: the process's first allocations and "
        "imports are not charged to whichever trainer comes first)",
        "",
        "## Time of the whole experiment",
        "",
        "Median over the rounds (fastest-slowest in parentheses). CPU is this process's CPU time "
        "(both cores' when 2 workers run).",
        "",
        "| trainer | wall | CPU |",
        "|---|---|---|",
    ]
    for name in TRAINERS:
        lines.append(f"| {name} | {summary(wall[name])} | {summary(cpu[name])} |")
    lines += [
        "",
        "## Speed-up of the sweep over one-by-one training",
        "",
        "Each ratio is one by one / sweep, both timed in the same round; median over the rounds "
        "(lowest-highest in parentheses).",
        "",
        "| comparison | wall | CPU |",
        "|---|---|---|",
    ]
    for name, wall_ratios, cpu_ratios in ratio_rows:
        lines.append(f"| {name} | {summary(wall_ratios, 'x')} | {summary(cpu_ratios, 'x')} |")
    lines += [
        "",
        "Targets of the issue (whole experiment under 15 s wall, at least 3x faster than one by one), stated plainly:",
        "",
        f"- under 15 s wall: **{met[sweep_wall < 15]}** (sweep float32, median {sweep_wall:.1f} s; "
        f"2 workers {statistics.median(wall[SWEEP32_2]):.1f} s; float64 {statistics.median(wall[SWEEP64]):.1f} s).",
        f"- 3x, like for like in float32 on one core: **{met[like32 >= 3]}**, {like32:.2f}x wall "
        f"({like32_cpu:.2f}x CPU).",
        f"- 3x, like for like in float64 on one core: **{met[like64 >= 3]}**, {like64:.2f}x wall.",
        f"- 3x in float32 when the sweep may use the second core (2 workers) and one by one uses one: "
        f"**{met[two_cores >= 3]}**, {two_cores:.2f}x wall. This is wall time only: the 2-worker sweep uses more "
        "CPU than the 1-worker one (see the CPU column), needs the second core free, and the one-by-one loop "
        "could be split over two processes as well.",
        "- Across dtypes (one by one in float64, its model's default, vs the sweep's float32 default: the "
        f"comparison the earlier record headlined) {statistics.median(ratio_rows[3][1]):.2f}x: not like for "
        "like, as float32 alone makes the sweep "
        f"{statistics.median(ratios_per_round(wall, SWEEP64, SWEEP32)):.2f}x and one by one "
        f"{statistics.median(ratios_per_round(wall, ONE64, ONE32)):.2f}x faster.",
        "",
        "## Machine load",
        "",
        f"Load average (1 min) before each round: {', '.join(f'{x:.2f}' for x in loads)} on "
        f"{os.cpu_count()} cores. The machine is shared with other engineers' jobs: wall times are disturbed "
        "upward by them (CPU times less so), and the spread between rounds shows by how much.",
        "",
        "## Agreement: the sweep vs one-by-one training of the same nets",
        "",
        *agreement_lines("float64", checks[np.float64]),
        *agreement_lines("float32", checks[np.float32]),
        "",
        "tests/test_sweep.py asserts agreement to 1e-10 in float64 (bit for bit is what this machine gives,",
        "but it relies on BLAS computing each matrix of a stacked product as it computes a single one).",
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing every trainer once (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 scales, 1 epoch")
    parser.add_argument("--output", type=Path, default=HERE / "results_training.md")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")

    settings = experiment_settings(args.quick)
    dataset = load_dataset("digits", num_train=settings["num_train"])
    data = dataset.as_dict()
    warm_up = dict(settings, weight_scales=settings["weight_scales"][:2], num_epochs=1)
    for name in TRAINERS:
        RUNNERS[name](data, warm_up)
    wall = {name: [] for name in TRAINERS}
    cpu = {name: [] for name in TRAINERS}
    results, loads = {}, []
    for round_ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        order = TRAINERS[round_ % len(TRAINERS):] + TRAINERS[:round_ % len(TRAINERS)]
        for name in order:
            results[name], w, c = timed(RUNNERS[name], data, settings)
            wall[name].append(w)
            cpu[name].append(c)
        print(f"round {round_ + 1} (load {loads[-1]:.2f}): "
              + ", ".join(f"{name} {wall[name][-1]:.2f} s" for name in TRAINERS), file=sys.stderr)
    blas = ", ".join(f"{info.get('internal_api')} {info.get('version')}" for info in threadpool_info()
                     if info.get("user_api") == "blas") or "unknown"
    checks = {np.float64: agreement(results[SWEEP64], results[ONE64]),
              np.float32: agreement(results[SWEEP32], results[ONE32])}
    for dtype, nudge in ((np.float64, 1e-15), (np.float32, 1e-7)):
        worst, worst_norm, worst_scale = checks[dtype]["differences"][-1]
        if worst > 1e-8:
            checks[dtype].update(sensitivity=sensitivity(data, settings, worst_norm, worst_scale, dtype, nudge),
                                 nudge=nudge)
    write_report(args.output, settings, dataset.message, wall, cpu, loads, checks, results[SWEEP32], args.quick,
                 blas)
    print(args.output.read_text())


if __name__ == "__main__":
    main()
