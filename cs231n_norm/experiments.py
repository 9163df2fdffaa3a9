"""The experiments that show why normalization matters, as plain functions.

- :func:`weight_init_sensitivity`: train the same net at ~20 weight scales
  (log-spaced 1e-4..1) without normalization, with batch norm and with layer
  norm; record best train and validation accuracy and the final training loss.
- :func:`batch_size_experiment`: the same nets at small and large batch sizes,
  over several seeds, to show that batch norm degrades with small batches
  while layer norm does not.
- :func:`layer_statistics`: per-layer activation and gradient statistics of a
  freshly initialized net (mean, std, histogram, saturation share), the
  numbers behind the weight-init explorer.

The first two train many nets at once with the sweep trainer
(:func:`cs231n_norm.sweep.train_sweep`), so a full run takes seconds. Their
results are an :class:`ExperimentResult` (one row per trained net), which can
be cached on disk with :class:`cs231n_norm.results_cache.ResultsCache`.
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from ._checks import describe
from .data import Dataset

NORMS = ("none", "batchnorm", "layernorm")  # names in results and JSON; the model takes None for "none"
METRICS = ("best_train_acc", "best_val_acc", "final_train_loss")
LARGEST_SEED = 2**63 - 1  # seeds are stored as int64
# The cache key holds a fingerprint of this package's source (results_cache.code_fingerprint),
# so a change to this module or to the trainer never serves results of the old code.
WEIGHT_INIT_DEFAULTS = {
    "num_train": 1000,  # the classic small-data setting of CS231n
    "hidden_dims": [100, 100, 100, 100, 100],
    "num_epochs": 10,
    "batch_size": 50,
    "learning_rate": 2e-3,  # at 1e-3, BN at scale 1e-4 has not converged in 10 epochs (0.88 val)
    "update_rule": "adam",
    "seeds": [0],
    "dtype": "float32",
}
# The setting of notebook 06 (and of `python -m cs231n_norm batch-size`). On the digits, CS231n's
# setting (1,000 examples, 10 epochs, 5 hidden layers, scale 0.02) hides the effect: at batch 5
# BN 0.961 ± 0.007 vs LN 0.959 ± 0.011 over 5 seeds. With 500 examples and 4 epochs, batch norm
# trails layer norm at batch 5 by more than the seed-to-seed spread, in 3 groups of 5 seeds.
BATCH_SIZE_DEFAULTS = {
    "num_train": 500,
    "batch_sizes": [2, 5, 10, 50],
    "hidden_dims": [100, 100, 100],
    "num_epochs": 4,
    "weight_scale": 0.1,  # where even the plain net trains well (notebook 05)
    "learning_rate": 1e-3,
    "update_rule": "adam",
    "seeds": [0, 1, 2, 3, 4],
    "dtype": "float32",
}


def default_weight_scales(count=20, low=1e-4, high=1.0):
    """`count` weight scales log-spaced from `low` to `high` (the classic CS231n sweep)."""
    return np.logspace(np.log10(low), np.log10(high), count)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExperimentResult:
    """One row per trained net, as named columns.

    Attributes
    ----------
    experiment : str
        'weight_init' or 'batch_size'.
    dataset : str
        Name of the dataset the nets were trained on.
    config : dict
        Every setting of the run (JSON data).
    columns : dict of str -> ndarray, each of shape (num_runs,) or (num_runs, T)
        'norm' (str), 'weight_scale', 'batch_size', 'seed', 'best_train_acc',
        'best_val_acc', 'final_train_loss', and the per-epoch histories
        'train_acc_history' and 'val_acc_history' of shape (num_runs, num_epochs + 1)
        or (num_runs, num_epochs) depending on the trainer.
    cached : bool
        True when the columns were read from the results cache instead of trained.
    compute_wall_time_s : float or None
        Wall time of the training that produced the columns (the original run's when
        cached).
    cache_file : str or None
        The cache entry read or written (None without a cache).
    """

    experiment: str
    dataset: str
    config: dict
    columns: dict
    cached: bool = False
    compute_wall_time_s: float | None = None
    cache_file: str | None = None

    @property
    def num_runs(self) -> int:
        return len(self.columns["norm"])

    def select(self, **where) -> np.ndarray:
        """Boolean mask of the rows whose columns equal the given values, e.g. ``select(norm='none')``."""
        mask = np.ones(self.num_runs, dtype=bool)
        for name, value in where.items():
            if name not in self.columns:
                raise ValueError(f"no column {name!r}; columns are {sorted(self.columns)}")
            mask &= self.columns[name] == value
        return mask

    def records(self) -> list[dict]:
        """One dict per run, in JSON-ready Python types (NaN and inf become None).

        Keys: norm, the experiment's knob ('weight_scale' or 'batch_size'), seed,
        best_train_acc, best_val_acc, final_train_loss.
        """
        knob = "weight_scale" if self.experiment == "weight_init" else "batch_size"
        rows = []
        for i in range(self.num_runs):
            row = {"norm": str(self.columns["norm"][i])}
            value = self.columns[knob][i]
            row[knob] = int(value) if knob == "batch_size" else _json_float(value)
            row["seed"] = int(self.columns["seed"][i])
            for metric in METRICS:
                row[metric] = _json_float(self.columns[metric][i])
            rows.append(row)
        return rows

    def summary(self, metric="best_val_acc"):
        """Mean and standard deviation of `metric` over seeds, per (norm, knob value).

        Returns
        -------
        list of dict with keys norm, knob ('weight_scale' or 'batch_size'), mean, std
        (population std over seeds; 0 for one seed), n (number of seeds). NaN runs
        make the mean NaN: a diverged seed is not silently dropped.
        """
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {describe(metric)}")
        knob = "weight_scale" if self.experiment == "weight_init" else "batch_size"
        rows = []
        for norm in _unique(self.columns["norm"]):
            for value in _unique(self.columns[knob]):
                values = self.columns[metric][self.select(norm=norm, **{knob: value})]
                if len(values):
                    rows.append({"norm": norm, knob: value, "mean": float(np.mean(values)),
                                 "std": float(np.std(values)), "n": len(values)})
        return rows

    def to_json_dict(self, wall_time_s) -> dict:
        """The CLI's JSON document (see README).

        Keys: dataset, config, wall_time_s (of this run: short when cached), cached,
        compute_wall_time_s (of the training that produced the results) and results.
        """
        return {
            "dataset": self.dataset,
            "config": self.config,
            "wall_time_s": _json_float(wall_time_s),
            "cached": bool(self.cached),
            "compute_wall_time_s": None if self.compute_wall_time_s is None else _json_float(self.compute_wall_time_s),
            "results": self.records(),
        }


def _unique(values):
    """Distinct values in order of first appearance."""
    seen = []
    for value in values.tolist():
        if value not in seen:
            seen.append(value)
    return seen


def _json_float(value):
    value = float(value)
    return value if math.isfinite(value) else None


def weight_init_table(result, metric="best_val_acc", digits=3) -> str:
    """A deterministic text table: one row per weight scale, one column per norm (mean over seeds)."""
    _expect_experiment(result, "weight_init")
    rows = result.summary(metric)
    norms = _unique(result.columns["norm"])
    scales = _unique(result.columns["weight_scale"])
    value = {(r["norm"], r["weight_scale"]): r["mean"] for r in rows}
    lines = [f"{metric} by weight scale", "weight scale " + "".join(f"{n:>11}" for n in norms)]
    for scale in scales:
        cells = "".join(f"{_fmt(value.get((n, scale)), digits):>11}" for n in norms)
        lines.append(f"{scale:>12.2e} {cells}")
    return "\n".join(lines)


def batch_size_table(result, metric="best_val_acc", digits=3) -> str:
    """A deterministic text table: mean ± std over seeds, one row per norm, one column per batch size."""
    _expect_experiment(result, "batch_size")
    rows = result.summary(metric)
    norms = _unique(result.columns["norm"])
    sizes = _unique(result.columns["batch_size"])
    cell = {(r["norm"], r["batch_size"]): r for r in rows}
    n = max(r["n"] for r in rows)
    width = 2 * digits + 9
    lines = [f"{metric}, mean ± std over {n} seeds",
             "norm       " + "".join(f"{f'batch {s}':>{width}}" for s in sizes)]
    for norm in norms:
        cells = "".join(
            f"{_fmt(cell[norm, s]['mean'], digits) + ' ± ' + _fmt(cell[norm, s]['std'], digits):>{width}}"
            for s in sizes
        )
        lines.append(f"{norm:<11}{cells}")
    return "\n".join(lines)


def reliable_scale_range(result, norm, threshold=0.9, metric="best_val_acc"):
    """The widest run of consecutive weight scales at which `norm` reaches `threshold`.

    "Reaches" means the mean over seeds of `metric` is at least `threshold`.

    Returns
    -------
    dict with 'low' and 'high' (the first and last scale of the run, None if no scale
    reaches the threshold), 'count' (scales in the run) and 'decades'
    (log10(high / low); 0 for a single scale, None when empty).
    """
    _expect_experiment(result, "weight_init")
    rows = [r for r in result.summary(metric) if r["norm"] == norm]
    if not rows:
        raise ValueError(f"norm {norm!r} is not in this result; it has {_unique(result.columns['norm'])}")
    rows.sort(key=lambda r: r["weight_scale"])
    best, current = [], []
    for row in rows:
        current = current + [row] if row["mean"] >= threshold else []
        if len(current) > len(best):
            best = current
    if not best:
        return {"low": None, "high": None, "count": 0, "decades": None}
    low, high = best[0]["weight_scale"], best[-1]["weight_scale"]
    return {"low": low, "high": high, "count": len(best), "decades": float(np.log10(high / low))}


def paired_gap(result, better="layernorm", worse="batchnorm", metric="best_val_acc"):
    """Per batch size, how much `better` beats `worse`, seed by seed.

    The two norms with the same seed start from the same random weights (before
    normalization) and see the same minibatches, so their difference is paired:
    its spread over seeds is the noise the effect must exceed.

    Returns
    -------
    list of dict, one per batch size: 'batch_size', 'mean' and 'std' of
    ``metric(better) - metric(worse)`` over seeds, and 'n' (seeds).
    """
    _expect_experiment(result, "batch_size")
    rows = []
    for size in _unique(result.columns["batch_size"]):
        values = {}
        for norm in (better, worse):
            mask = result.select(norm=norm, batch_size=size)
            if not mask.any():
                raise ValueError(f"no runs of norm {norm!r} at batch size {size}")
            values[norm] = dict(zip(result.columns["seed"][mask].tolist(), result.columns[metric][mask].tolist()))
        seeds = sorted(set(values[better]) & set(values[worse]))
        gaps = np.array([values[better][s] - values[worse][s] for s in seeds])
        rows.append({"batch_size": size, "mean": float(gaps.mean()), "std": float(gaps.std()), "n": len(seeds)})
    return rows


def paired_gap_table(result, better="layernorm", worse="batchnorm", metric="best_val_acc", digits=3) -> str:
    """Deterministic text of :func:`paired_gap`: one line per batch size."""
    rows = paired_gap(result, better, worse, metric)
    lines = [f"{metric}: {better} minus {worse}, paired by seed (mean ± std over {rows[0]['n']} seeds)"]
    for row in rows:
        ratio = row["mean"] / row["std"] if row["std"] > 0 else float("inf")
        lines.append(f"batch {row['batch_size']:>4}: {_fmt(row['mean'], digits):>7} ± {_fmt(row['std'], digits)}"
                     f"   (effect / spread = {ratio:.1f})")
    return "\n".join(lines)


def _fmt(value, digits):
    if value is None or not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}"


def _expect_experiment(result, experiment):
    if not isinstance(result, ExperimentResult) or result.experiment != experiment:
        raise TypeError(f"result must be an ExperimentResult of a {experiment} experiment, got {describe(result)}")


# --------------------------------------------------------------------------- argument checks


def _norm_list(norms):
    if isinstance(norms, str) or not isinstance(norms, (list, tuple)) or not norms:
        raise ValueError(f"norms must be a non-empty list drawn from {NORMS}, got {describe(norms)}")
    for norm in norms:
        if norm not in NORMS:
            raise ValueError(f"norms must be drawn from {NORMS}, got {describe(norm)} in {list(norms)}")
    if len(set(norms)) != len(norms):
        raise ValueError(f"norms must not repeat, got {list(norms)}")
    return list(norms)


def _positive_floats(name, values):
    array = np.asarray(values, dtype=np.float64) if not isinstance(values, str) else None
    if array is None or array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be a non-empty 1-D list of positive finite numbers, got {describe(values)}")
    return [float(v) for v in array]


def _positive_ints(name, values):
    if isinstance(values, (numbers.Integral,)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty list of positive integers, got {describe(values)}")
    for value in values:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must hold positive integers, got {describe(value)} in {list(values)}")
    return [int(v) for v in values]


def _seed_list(seeds):
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple, np.ndarray)) or len(seeds) == 0:
        raise ValueError(f"seeds must be an integer or a non-empty list of integers, got {describe(seeds)}")
    for seed in seeds:
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed <= LARGEST_SEED:
            raise ValueError(f"seeds must be integers from 0 to 2**63 - 1, got {describe(seed)} in {list(seeds)}")
    return _without_repeats("seeds", [int(s) for s in seeds])


def _without_repeats(name, values):
    """`values`, or a ValueError naming `name` if one of them occurs twice (it would train twice)."""
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat, got {list(values)}")
    return values


def _dtype_name(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {describe(dtype)}")
    return name


def _dataset_of(data, identity=True):
    """(data dict for the trainer, dataset name, identity dict or None) from a Dataset or a plain dict."""
    if isinstance(data, dict) and {"X_train", "y_train", "X_val", "y_val"} <= set(data):
        data = Dataset("custom", data["X_train"], data["y_train"], data["X_val"], data["y_val"], "")
    if isinstance(data, Dataset):
        return data.as_dict(), data.name, data.identity() if identity else None
    raise TypeError(
        f"data must be a Dataset (cs231n_norm.data.load_dataset) or a dict with X_train, y_train, "
        f"X_val, y_val; got {describe(data)}"
    )


def setting_problems(*, num_train, batch_sizes, norms, hidden_dims):
    """What the training data and the architecture cannot support, found before anything trains.

    Parameters
    ----------
    num_train : int
        Training examples.
    batch_sizes : list of int
    norms : list of str, drawn from NORMS
    hidden_dims : list of int

    Returns
    -------
    list of (argument, got, needs) triples: argument is 'batch_sizes' or 'hidden_dims',
    got the offending value, needs what it must be (plain words, no argument names,
    so the command line can name its own options). Empty when all is well.
    """
    problems = []
    for size in batch_sizes:
        if size > num_train:
            problems.append(("batch_sizes", size, f"at most {num_train}, the number of training examples"))
        elif size < 2 and "batchnorm" in norms:
            problems.append(("batch_sizes", size, "at least 2 with batch norm: one example has batch variance 0"))
    if "layernorm" in norms:
        for width in hidden_dims:
            if width < 2:
                problems.append(("hidden_dims", width,
                                 "at least 2 units per hidden layer with layer norm: one unit has variance 0"))
    return problems


def _check_settings(data_dict, batch_sizes, norms, hidden_dims, batch_argument):
    problems = setting_problems(num_train=len(data_dict["X_train"]), batch_sizes=batch_sizes, norms=norms,
                                hidden_dims=hidden_dims)
    if problems:
        argument, got, needs = problems[0]
        argument = batch_argument if argument == "batch_sizes" else argument
        raise ValueError(f"{argument} must be {needs}, got {got}")


# --------------------------------------------------------------------------- running sweeps


def _run_sweeps(data, jobs, settings, progress):
    """Train every (norm, batch size) job with the sweep trainer; return result columns.

    `jobs` is a list of (norm, batch_size, weight_scales). Each job is one call of
    ``train_sweep`` (all its scales and seeds trained at once, stacked).
    """
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    from .sweep import train_sweep  # imported here: the data/plots side works without the trainer

    columns = {name: [] for name in ("norm", "weight_scale", "batch_size", "seed", *METRICS,
                                     "train_acc_history", "val_acc_history")}
    for norm, batch_size, scales in jobs:
        # The sweep's matrices are small (a batch of 5-50 rows): a second BLAS thread only adds
        # synchronisation, and on a busy 2-core machine it made the weight-init run 2.5x slower
        # (22 s vs 9 s). The results are the same either way.
        with threadpool_limits(limits=1, user_api="blas"):
            runs = train_sweep(
                data,
                hidden_dims=list(settings["hidden_dims"]),
                normalization=None if norm == "none" else norm,
                weight_scales=list(scales),
                num_epochs=settings["num_epochs"],
                batch_size=batch_size,
                learning_rate=settings["learning_rate"],
                update_rule=settings["update_rule"],
                seeds=list(settings["seeds"]),
                dtype=np.dtype(settings["dtype"]).type,
                progress=progress,
            )
        for run in runs:
            columns["norm"].append(norm)
            columns["weight_scale"].append(float(run.weight_scale))
            columns["batch_size"].append(batch_size)
            columns["seed"].append(int(run.seed))
            columns["best_train_acc"].append(float(run.best_train_acc))
            columns["best_val_acc"].append(float(run.best_val_acc))
            columns["final_train_loss"].append(float(run.final_train_loss))
            columns["train_acc_history"].append(np.asarray(run.train_acc_history, dtype=np.float64))
            columns["val_acc_history"].append(np.asarray(run.val_acc_history, dtype=np.float64))
    return {
        "norm": np.array(columns["norm"], dtype=str),
        "weight_scale": np.array(columns["weight_scale"], dtype=np.float64),
        "batch_size": np.array(columns["batch_size"], dtype=np.int64),
        "seed": np.array(columns["seed"], dtype=np.int64),
        **{m: np.array(columns[m], dtype=np.float64) for m in METRICS},
        "train_acc_history": np.array(columns["train_acc_history"]),
        "val_acc_history": np.array(columns["val_acc_history"]),
    }


def _cached(cache, config, compute):
    """(columns, provenance): provenance holds cached, compute_wall_time_s and cache_file."""
    if cache is None:
        start = time.perf_counter()
        columns = compute()
        return columns, {"cached": False, "compute_wall_time_s": time.perf_counter() - start, "cache_file": None}
    entry = cache.fetch(config, compute)
    return entry.arrays, {"cached": entry.hit, "compute_wall_time_s": entry.compute_seconds,
                          "cache_file": str(entry.path)}


def weight_init_sensitivity(
    data,
    *,
    weight_scales=None,
    norms=NORMS,
    hidden_dims=WEIGHT_INIT_DEFAULTS["hidden_dims"],
    num_epochs=WEIGHT_INIT_DEFAULTS["num_epochs"],
    batch_size=WEIGHT_INIT_DEFAULTS["batch_size"],
    learning_rate=WEIGHT_INIT_DEFAULTS["learning_rate"],
    update_rule=WEIGHT_INIT_DEFAULTS["update_rule"],
    seeds=WEIGHT_INIT_DEFAULTS["seeds"],
    dtype=WEIGHT_INIT_DEFAULTS["dtype"],
    cache=None,
    progress=True,
):
    """Train one net per (norm, weight scale, seed) and record how well each trains.

    Parameters
    ----------
    data : Dataset or dict
        From :func:`cs231n_norm.data.load_dataset` (or a dict X_train, y_train, X_val, y_val).
    weight_scales : sequence of float or None
        Standard deviations of the initial weights (default: 20 log-spaced from 1e-4 to 1).
    norms : sequence of {'none', 'batchnorm', 'layernorm'}
    hidden_dims : sequence of int
        Widths of the hidden layers.
    num_epochs, batch_size, learning_rate, update_rule :
        Training settings, the same for every net.
    seeds : int or sequence of int
        One net per seed (weight initialization and minibatch order).
    dtype : 'float32' or 'float64'
        Arithmetic of the trainer (float32 is about twice as fast).
    cache : ResultsCache or None
        Reuse results of an identical earlier run (keyed by every setting above,
        the dataset's identity and a fingerprint of the package's code).
    progress : bool
        Show the trainer's progress bar (on stderr).

    Returns
    -------
    ExperimentResult
        ``experiment='weight_init'``; one row per (norm, weight scale, seed).
    """
    data_dict, dataset_name, identity = _dataset_of(data)
    scales = _positive_floats("weight_scales", default_weight_scales() if weight_scales is None else weight_scales)
    scales = _without_repeats("weight_scales", scales)
    config = {
        "experiment": "weight_init",
        "dataset": identity,
        "weight_scales": scales,
        "norms": _norm_list(norms),
        "hidden_dims": _positive_ints("hidden_dims", hidden_dims),
        "num_epochs": _positive_ints("num_epochs", num_epochs)[0],
        "batch_size": _positive_ints("batch_size", batch_size)[0],
        "learning_rate": _positive_floats("learning_rate", [learning_rate])[0],
        "update_rule": update_rule,
        "seeds": _seed_list(seeds),
        "dtype": _dtype_name(dtype),
    }
    _check_settings(data_dict, [config["batch_size"]], config["norms"], config["hidden_dims"], "batch_size")
    jobs = [(norm, config["batch_size"], scales) for norm in config["norms"]]
    columns, provenance = _cached(cache, config, lambda: _run_sweeps(data_dict, jobs, config, progress))
    return ExperimentResult("weight_init", dataset_name, _public_config(config), dict(columns), **provenance)


def batch_size_experiment(
    data,
    *,
    batch_sizes=BATCH_SIZE_DEFAULTS["batch_sizes"],
    norms=NORMS,
    weight_scale=BATCH_SIZE_DEFAULTS["weight_scale"],
    hidden_dims=BATCH_SIZE_DEFAULTS["hidden_dims"],
    num_epochs=BATCH_SIZE_DEFAULTS["num_epochs"],
    learning_rate=BATCH_SIZE_DEFAULTS["learning_rate"],
    update_rule=BATCH_SIZE_DEFAULTS["update_rule"],
    seeds=BATCH_SIZE_DEFAULTS["seeds"],
    dtype=BATCH_SIZE_DEFAULTS["dtype"],
    cache=None,
    progress=True,
):
    """Train one net per (norm, batch size, seed) at a fixed weight scale.

    Batch norm normalizes each example with statistics of its minibatch: with 5
    examples those are noisy estimates, so training sees noise and the running
    averages used at test time are poor. Layer norm uses each example's own
    statistics, so the batch size does not enter. Several seeds give the spread
    that any claimed effect must exceed.

    Parameters are those of :func:`weight_init_sensitivity`, with `batch_sizes`
    (sequence of distinct int) in place of `batch_size` and one `weight_scale`.
    The defaults are notebook 06's setting (``BATCH_SIZE_DEFAULTS``; load the data
    with ``num_train=BATCH_SIZE_DEFAULTS["num_train"]``).

    Returns
    -------
    ExperimentResult
        ``experiment='batch_size'``; one row per (norm, batch size, seed).
    """
    data_dict, dataset_name, identity = _dataset_of(data)
    config = {
        "experiment": "batch_size",
        "dataset": identity,
        "batch_sizes": _without_repeats("batch_sizes", _positive_ints("batch_sizes", batch_sizes)),
        "norms": _norm_list(norms),
        "weight_scale": _positive_floats("weight_scale", [weight_scale])[0],
        "hidden_dims": _positive_ints("hidden_dims", hidden_dims),
        "num_epochs": _positive_ints("num_epochs", num_epochs)[0],
        "learning_rate": _positive_floats("learning_rate", [learning_rate])[0],
        "update_rule": update_rule,
        "seeds": _seed_list(seeds),
        "dtype": _dtype_name(dtype),
    }
    _check_settings(data_dict, config["batch_sizes"], config["norms"], config["hidden_dims"], "batch_sizes")
    jobs = [(norm, size, [config["weight_scale"]]) for size in config["batch_sizes"] for norm in config["norms"]]
    columns, provenance = _cached(cache, config, lambda: _run_sweeps(data_dict, jobs, config, progress))
    return ExperimentResult("batch_size", dataset_name, _public_config(config), dict(columns), **provenance)


def _public_config(config):
    """The config as reported in results: the dataset identity without its long hash."""
    public = dict(config)
    public["dataset"] = {k: v for k, v in config["dataset"].items() if k != "sha256"}
    return public


# --------------------------------------------------------------------------- layer statistics


@dataclass(frozen=True)
class LayerStatistics:
    """Per-layer activation and gradient statistics of one net at initialization.

    Attributes
    ----------
    weight_scale : float
    norm : str
    activation : str
        'relu' or 'tanh'.
    layers : list of dict, one per hidden layer, with for each of 'activation' and
        'gradient' (the gradient of the loss with respect to the activation): 'mean',
        'std', 'counts' (histogram, shape (bins,)), 'edges' (shape (bins + 1,)); the
        activation also has 'saturated': the share of units where the nonlinearity's local gradient is
        (nearly) zero: |tanh| > 0.97, or ReLU output exactly 0.
    """

    weight_scale: float
    norm: str
    activation: str
    layers: list

    def table(self, digits=3) -> str:
        """Deterministic text: one line per layer with activation mean and std, saturated share
        and gradient std.

        The gradient's mean is left out on purpose: behind a normalized layer it is zero in
        exact arithmetic, so what a computer prints for it is rounding noise.
        """
        saturated = "|a|>0.97" if self.activation == "tanh" else "a=0"
        lines = [f"{self.norm}, weight scale {self.weight_scale:.2e}, {self.activation}",
                 f"layer   act mean    act std  {saturated:>9}   grad std"]
        for i, layer in enumerate(self.layers, start=1):
            a, g = layer["activation"], layer["gradient"]
            lines.append(f"{i:>5} {a['mean']:>10.{digits}g} {a['std']:>10.{digits}g} {a['saturated']:>10.{digits}f}"
                         f" {g['std']:>10.{digits}g}")
        return "\n".join(lines)


SATURATION_THRESHOLD = 0.97  # |tanh(x)| above this: local gradient 1 - tanh^2 < 0.06


def layer_statistics(
    data,
    *,
    weight_scale,
    norm,
    hidden_dims=WEIGHT_INIT_DEFAULTS["hidden_dims"],
    activation="relu",
    num_examples=500,
    bins=40,
    seed=0,
):
    """Activation and gradient statistics per hidden layer of a freshly initialized net.

    One forward and backward pass (float64) over the first `num_examples` training
    examples. At weight scale 1e-4 without normalization the activations shrink
    layer by layer and the gradients vanish; with batch or layer norm every layer
    sees unit-scale inputs whatever the scale.

    Parameters
    ----------
    data : Dataset or dict
    weight_scale : float
    norm : {'none', 'batchnorm', 'layernorm'}
    hidden_dims : sequence of int
    activation : {'relu', 'tanh'}
    num_examples : int
        Examples in the batch that is passed through the net.
    bins : int
        Histogram bins. The range is shared by the layers so their histograms can be
        compared (see ``_histograms``); for ReLU outputs only the nonzero outputs are
        counted (the zeros are the 'saturated' share).
    seed : int
        Seed of the weight initialization.

    Returns
    -------
    LayerStatistics
    """
    from .model import FullyConnectedNet

    data_dict, _, _ = _dataset_of(data, identity=False)
    weight_scale = _positive_floats("weight_scale", [weight_scale])[0]
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {describe(norm)}")
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {describe(activation)}")
    num_examples = _positive_ints("num_examples", num_examples)[0]
    bins = _positive_ints("bins", bins)[0]
    X = np.asarray(data_dict["X_train"][:num_examples], dtype=np.float64)
    y = data_dict["y_train"][:num_examples]
    net = FullyConnectedNet(
        list(_positive_ints("hidden_dims", hidden_dims)),
        input_dim=X.shape[1],
        num_classes=int(max(np.max(data_dict["y_train"]), np.max(data_dict["y_val"]))) + 1,
        normalization=None if norm == "none" else norm,
        weight_scale=weight_scale,
        dtype=np.float64,
        seed=seed,
        activation=activation,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: see _run_sweeps
        net.loss(X, y, record=True)
    activations = [np.asarray(layer["activation"]) for layer in net.recorded]
    gradients = [np.asarray(layer["activation_grad"]) for layer in net.recorded]
    if activation == "tanh":
        saturated = [float(np.mean(np.abs(a) > SATURATION_THRESHOLD)) for a in activations]
    else:
        saturated = [float(np.mean(a == 0)) for a in activations]
    activation_hists = _histograms(activations, bins, positive_only=activation == "relu")
    gradient_hists = _histograms(gradients, bins)
    layers = []
    for i in range(len(activations)):
        layers.append({
            "activation": {**activation_hists[i], "saturated": saturated[i]},
            "gradient": gradient_hists[i],
        })
    return LayerStatistics(weight_scale, norm, activation, layers)


def _histograms(arrays, bins, positive_only=False):
    """Histogram each array over one shared range; also each array's mean and std.

    The range is ±limit, or [0, limit] with `positive_only`, when the histogram
    counts only the values > 0 (ReLU outputs: their exact zeros are the
    'saturated' share and would dwarf the rest). limit is the largest
    ``|mean| + 5 std`` over the arrays (capped at the largest magnitude), so a few
    extreme values do not squash the picture; values beyond it are not counted.
    """
    largest = max(float(np.max(np.abs(a))) for a in arrays)
    typical = max(float(abs(a.mean()) + 5 * a.std()) for a in arrays)
    limit = min(largest, typical)
    limit = limit if limit > 0 else 1.0
    low = 0.0 if positive_only else -limit
    edges = np.linspace(low, limit, bins + 1)
    result = []
    for a in arrays:
        values = a[a > 0] if positive_only else a.ravel()
        counts = np.histogram(values, bins=edges)[0]
        result.append({"mean": float(a.mean()), "std": float(a.std()), "counts": counts, "edges": edges})
    return result
