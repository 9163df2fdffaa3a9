"""Run the experiments headless and write their results as JSON.

    python -m cs231n_norm weight-init --out results.json
    python -m cs231n_norm batch-size --out batch.json

Progress and messages go to stderr; the JSON goes to --out (or stdout). Shape:

    {"dataset": "digits",
     "config": {... every setting ...},
     "wall_time_s": 5.6,                 # this run (a fraction of a second when cached)
     "cached": false,                    # true: results read from data/cache/
     "compute_wall_time_s": 5.6,         # the training that produced them
     "results": [{"norm": "none" | "batchnorm" | "layernorm",
                  "weight_scale": 0.0001,          # batch-size: "batch_size": 5
                  "seed": 0,
                  "best_train_acc": 0.12, "best_val_acc": 0.11,
                  "final_train_loss": 2.30}, ...]}

A diverged run's NaN (or infinite) loss is written as null: JSON has no NaN.
A bad option value, or a combination the data or the machine cannot support
(a batch larger than the training set, layer norm over one unit, more memory
than there is), prints one error line naming the option and exits with status 2,
before anything is trained.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from .experiments import BATCH_SIZE_DEFAULTS, LARGEST_SEED, NORMS, WEIGHT_INIT_DEFAULTS

EPILOG = """\
output: JSON {"dataset", "config", "wall_time_s", "cached", "compute_wall_time_s",
"results": [{"norm", "%s", "seed", "best_train_acc", "best_val_acc",
"final_train_loss"}, ...]}; NaN/inf values are written as null. Progress goes to
stderr. Results are cached in data/cache/ (keyed by every setting, the dataset's
contents and a fingerprint of the package's code) unless --no-cache; a cached result
says "cached": true, and compute_wall_time_s is the original run's."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad option value prints a single line (and exits with status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parse_list(text, convert, what):
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}") from None


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def positive_int_list(text):
    values = _parse_list(text, int, "positive integers")
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of positive integers, got {text!r}")
    return values


def distinct_positive_int_list(text):
    values = positive_int_list(text)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct positive integers, got {text!r}")
    return values


def seed_list(text):
    values = _parse_list(text, int, "non-negative integers")
    if any(not 0 <= v <= LARGEST_SEED for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct integers from 0 to 2**63 - 1, got {text!r}")
    return values


def norm_list(text):
    values = _parse_list(text, str, "norms")
    bad = [v for v in values if v not in NORMS]
    if bad or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct norms from {','.join(NORMS)}, got {text!r}")
    return values


def weight_scales(text):
    """'LOW:HIGH:COUNT' (log-spaced, inclusive) or a comma-separated list of scales."""
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"expected LOW:HIGH:COUNT, e.g. 1e-4:1:20, got {text!r}")
        try:
            low, high, count = positive_float(parts[0]), positive_float(parts[1]), positive_int(parts[2])
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected LOW:HIGH:COUNT, e.g. 1e-4:1:20, got {text!r}") from None
        if (count == 1 and high != low) or (count > 1 and not low < high):
            raise argparse.ArgumentTypeError(f"expected LOW < HIGH (LOW = HIGH for COUNT 1), got {text!r}")
        from .experiments import default_weight_scales

        return [float(v) for v in default_weight_scales(count, low, high)]
    values = _parse_list(text, float, "positive numbers")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite weight scales, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct weight scales, got {text!r}")
    return values


def _common_options(parser, defaults, knob):
    parser.add_argument("--out", metavar="PATH", default="-",
                        help="where to write the JSON (default: '-', standard output)")
    parser.add_argument("--dataset", choices=("auto", "digits", "cifar10"), default="auto",
                        help="auto (default): CIFAR-10 if data/cifar-10-batches-py exists (get it with "
                             "`python data/download_cifar10.py`), else scikit-learn's bundled digits")
    parser.add_argument("--data-dir", metavar="DIR", type=Path, default=None,
                        help="folder holding cifar-10-batches-py (default: the repository's data/)")
    parser.add_argument("--num-train", metavar="N", type=positive_int, default=defaults["num_train"],
                        help=f"training examples (default: {defaults['num_train']})")
    parser.add_argument("--num-val", metavar="N", type=positive_int, default=None,
                        help="validation examples (default: 300 for digits, 1000 for CIFAR-10)")
    parser.add_argument("--split-seed", metavar="S", type=non_negative_int, default=0,
                        help="seed of the fixed train/validation split (default: 0)")
    parser.add_argument("--norms", metavar="LIST", type=norm_list, default=list(NORMS),
                        help=f"comma-separated norms to compare (default: {','.join(NORMS)})")
    parser.add_argument("--hidden-dims", metavar="LIST", type=positive_int_list, default=defaults["hidden_dims"],
                        help="hidden layer widths (default: %s)" % ",".join(map(str, defaults["hidden_dims"])))
    parser.add_argument("--epochs", metavar="N", type=positive_int, default=defaults["num_epochs"],
                        help=f"training epochs per net (default: {defaults['num_epochs']})")
    parser.add_argument("--learning-rate", metavar="LR", type=positive_float, default=defaults["learning_rate"],
                        help=f"Adam learning rate (default: {defaults['learning_rate']:g})")
    parser.add_argument("--seeds", metavar="LIST", type=seed_list, default=defaults["seeds"],
                        help="comma-separated training seeds (weight init and minibatch order), one net each "
                             "(default: %s)" % ",".join(map(str, defaults["seeds"])))
    parser.add_argument("--dtype", choices=("float32", "float64"), default=defaults["dtype"],
                        help=f"arithmetic of the trainer (default: {defaults['dtype']}, about 2x faster)")
    parser.add_argument("--no-cache", action="store_true",
                        help="always recompute; do not read or write data/cache/")
    parser.add_argument("--cache-dir", metavar="DIR", type=Path, default=None,
                        help="folder of the results cache (default: the repository's data/cache/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages on stderr")
    parser.epilog = EPILOG % knob


def build_parser():
    parser = OneLineErrorParser(
        prog="python -m cs231n_norm",
        description="Run the normalization experiments headless and write their results as JSON.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineErrorParser)
    weight_init = commands.add_parser(
        "weight-init", help="best train/val accuracy and final loss across weight scales, per norm",
        description="Train one net per (norm, weight scale, seed) and record best train accuracy, best "
                    "validation accuracy and final training loss.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    weight_init.add_argument("--scales", metavar="SPEC", type=weight_scales, default="1e-4:1:20",
                             help="weight scales: LOW:HIGH:COUNT, log-spaced (default: 1e-4:1:20), "
                                  "or a comma-separated list such as 1e-3,1e-2,0.1")
    weight_init.add_argument("--batch-size", metavar="N", type=positive_int,
                             default=WEIGHT_INIT_DEFAULTS["batch_size"],
                             help=f"minibatch size (default: {WEIGHT_INIT_DEFAULTS['batch_size']})")
    _common_options(weight_init, WEIGHT_INIT_DEFAULTS, "weight_scale")

    batch_size = commands.add_parser(
        "batch-size", help="best train/val accuracy and final loss across batch sizes, per norm",
        description="Train one net per (norm, batch size, seed) at one weight scale and record best train "
                    "accuracy, best validation accuracy and final training loss. The defaults are notebook "
                    "06's setting, in which batch norm's deficit at small batches exceeds the seed-to-seed "
                    "spread on the digits.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch_size.add_argument("--batch-sizes", metavar="LIST", type=distinct_positive_int_list,
                            default=BATCH_SIZE_DEFAULTS["batch_sizes"],
                            help="comma-separated minibatch sizes (default: %s)"
                                 % ",".join(map(str, BATCH_SIZE_DEFAULTS["batch_sizes"])))
    batch_size.add_argument("--weight-scale", metavar="W", type=positive_float,
                            default=BATCH_SIZE_DEFAULTS["weight_scale"],
                            help=f"weight scale of every net (default: {BATCH_SIZE_DEFAULTS['weight_scale']:g})")
    _common_options(batch_size, BATCH_SIZE_DEFAULTS, "batch_size")
    return parser


def _write_atomically(path, text):
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class UsageError(Exception):
    """A bad option value found after parsing: (option, message) for the one error line."""

    def __init__(self, option, message):
        super().__init__(f"argument {option}: {message}")


def _shown(value, values):
    """'5000', or '5000 (in 2,5,5000)' when `value` is one item of a longer list."""
    return str(value) if len(values) == 1 else f"{value} (in {','.join(map(str, values))})"


def _check_writable_folder(folder, option):
    """Try to create (and remove) a file in `folder`, so a run never fails at its very end."""
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
    except OSError as error:
        raise UsageError(option, f"cannot write in folder {str(folder)!r} ({error.strerror})") from None
    os.close(handle)
    os.unlink(temporary)


def check_paths(args):
    """--out and --cache-dir: usable before anything is computed."""
    if args.out != "-":
        out = Path(args.out)
        if out.is_dir():
            raise UsageError("--out", f"got {args.out!r}, which is a folder; needs a file name")
        if not out.parent.is_dir():
            raise UsageError("--out", f"folder {str(out.parent)!r} does not exist")
        _check_writable_folder(out.parent, "--out")
    if not args.no_cache:
        from .results_cache import ResultsCache

        folder = ResultsCache(args.cache_dir).directory
        if folder.exists() and not folder.is_dir():
            raise UsageError("--cache-dir", f"got {str(folder)!r}, which is not a folder (or pass --no-cache)")
        existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
        if not existing.is_dir():  # the cache would be created inside it
            raise UsageError("--cache-dir", f"cannot create folder {str(folder)!r}: {str(existing)!r} is a file")
        _check_writable_folder(existing, "--cache-dir")  # nothing is created until results are saved


def load_data(args):
    """The dataset, or a UsageError naming the option at fault."""
    import pickle

    from .data import SplitSizeError, cifar10_available, load_dataset

    try:
        return load_dataset(args.dataset, num_train=args.num_train, num_val=args.num_val,
                            seed=args.split_seed, dtype=args.dtype, data_dir=args.data_dir)
    except SplitSizeError as error:
        if error.argument == "num_val":
            raise UsageError("--num-val", f"got {error.value}, needs at most {error.maximum} (the data has "
                                          f"{error.total} examples and at least one must be left for training)"
                             ) from None
        raise UsageError("--num-train", f"got {error.value}, needs at most {error.maximum} (the data's "
                                        f"{error.total} examples minus the {error.num_val} of --num-val)") from None
    except (ValueError, OSError, pickle.UnpicklingError) as error:
        # CIFAR-10 asked for but not downloaded: --dataset is at fault (unless a --data-dir was
        # given); files there but unreadable or damaged: the files in --data-dir are
        option = "--data-dir" if args.data_dir is not None or cifar10_available() else "--dataset"
        raise UsageError(option, str(error)) from None


def _available_memory():
    """Bytes of memory available (Linux's MemAvailable), or None where that is unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_settings(args, dataset):
    """Combinations the data, the architecture or the machine cannot support, before any training."""
    from .experiments import setting_problems

    batch_option = "--batch-size" if args.command == "weight-init" else "--batch-sizes"
    batch_sizes = [args.batch_size] if args.command == "weight-init" else args.batch_sizes
    options = {"batch_sizes": (batch_option, batch_sizes), "hidden_dims": ("--hidden-dims", args.hidden_dims)}
    problems = setting_problems(num_train=len(dataset.y_train), batch_sizes=batch_sizes, norms=args.norms,
                                hidden_dims=args.hidden_dims)
    if problems:
        argument, got, needs = problems[0]
        option, values = options[argument]
        raise UsageError(option, f"got {_shown(got, values)}, needs {needs}")
    _check_memory(args, dataset, batch_sizes)


def _check_memory(args, dataset, batch_sizes):
    """Refuse runs that would exhaust memory (a MemoryError, or the system killing the process).

    The estimate: the nets of one sweep are trained at once, each with ~8 copies of its
    parameters (parameters, gradients, two Adam moments, best parameters, temporaries;
    measured: ~6) and ~12 batch-sized activation arrays per layer; the minibatch order
    of every epoch is drawn up front, 8 bytes per example, epoch and seed.
    """
    available = _available_memory()
    if available is None:
        return
    gigabytes = 1024**3
    seeds = len(args.seeds)
    schedule = seeds * args.epochs * len(dataset.y_train) * 8
    if schedule > available:
        most = available // (seeds * len(dataset.y_train) * 8)
        raise UsageError("--epochs", f"got {args.epochs}, needs at most {most} here: the minibatch order of "
                                     f"{args.epochs} epochs would take about {schedule / gigabytes:.0f} GB of "
                                     f"memory, {available / gigabytes:.0f} GB are available")
    itemsize = 4 if args.dtype == "float32" else 8
    dims = [dataset.input_dim, *args.hidden_dims, dataset.num_classes]
    parameters = sum((d_in + 1) * d_out for d_in, d_out in zip(dims, dims[1:])) + 2 * sum(args.hidden_dims)
    per_net = itemsize * (8 * parameters + 12 * max(batch_sizes) * sum(dims))
    nets = seeds * (len(args.scales) if args.command == "weight-init" else 1)
    if nets * per_net <= available:
        return
    need = f"about {nets * per_net / gigabytes:.1f} GB of memory for {nets} nets trained at once, " \
           f"{available / gigabytes:.1f} GB are available"
    if per_net > available:
        raise UsageError("--hidden-dims", f"got {','.join(map(str, args.hidden_dims))}, needs narrower "
                                          f"layers: {need}")
    option, values = ("--scales", args.scales) if args.command == "weight-init" else ("--seeds", args.seeds)
    raise UsageError(option, f"got {len(values)} values, needs fewer (or narrower --hidden-dims): {need}")


def run(args, dataset):
    """Run the chosen experiment on `dataset`; return the JSON document (a dict)."""
    from .experiments import batch_size_experiment, weight_init_sensitivity
    from .results_cache import ResultsCache

    if not args.quiet:
        print(dataset.message, file=sys.stderr)
    cache = None if args.no_cache else ResultsCache(args.cache_dir)
    common = dict(norms=args.norms, hidden_dims=args.hidden_dims, num_epochs=args.epochs,
                  learning_rate=args.learning_rate, seeds=args.seeds, dtype=args.dtype,
                  cache=cache, progress=not args.quiet)
    start = time.perf_counter()
    if args.command == "weight-init":
        result = weight_init_sensitivity(dataset, weight_scales=args.scales, batch_size=args.batch_size, **common)
    else:
        result = batch_size_experiment(dataset, batch_sizes=args.batch_sizes, weight_scale=args.weight_scale,
                                       **common)
    wall_time = time.perf_counter() - start
    if not args.quiet:
        if result.cached:
            took = "" if result.compute_wall_time_s is None else f", computed in {result.compute_wall_time_s:.1f} s"
            print(f"{result.num_runs} nets: results came from the cache ({result.cache_file}{took}); "
                  f"--no-cache recomputes", file=sys.stderr)
        else:
            print(f"{result.num_runs} nets in {wall_time:.1f} s", file=sys.stderr)
    return result.to_json_dict(wall_time)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        check_paths(args)
        dataset = load_data(args)
        check_settings(args, dataset)
        document = run(args, dataset)
    except UsageError as error:
        parser.exit(2, f"{prog}: error: {error} (see --help)\n")
    except MemoryError:
        parser.exit(2, f"{prog}: error: out of memory; use narrower --hidden-dims or fewer --scales / --seeds\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{prog}: interrupted; nothing written\n")
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        _write_atomically(args.out, text)
        if not args.quiet:
            print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
