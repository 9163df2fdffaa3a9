"""Staged vs simplified batch norm and layer norm, forward and backward: how long, and how much memory.

Usage (from the repository root)::

    python benchmarks/bench_norm.py [--quick] [--out benchmarks/results_norm.md]

What is timed, for every shape (N, D) and dtype:

=============  =================================================  =================================================
variant        forward                                            backward
=============  =================================================  =================================================
staged         ``*_forward`` with ``keep_graph=True``: builds     ``batchnorm_backward`` / ``layernorm_backward_staged``:
               and keeps the staged graph                         walks the graph node by node
simplified     ``*_forward`` with ``keep_graph=False``            ``batchnorm_backward_alt`` / ``layernorm_backward``:
                                                                  the closed form
torch 1T / 2T  ``torch.nn.functional.batch_norm`` / ``layer_norm``  ``torch.autograd.grad`` of that output (graph
               with autograd recording, 1 and 2 intra-op threads  retained, so only the backward pass is timed)
=============  =================================================  =================================================

The simplified backward passes split large arrays' rows among threads
(``cs231n_norm.core.THREADS``): they are timed at that default and, as
"simplified 1T", at one thread (the threads table).

The PyTorch columns appear only when PyTorch happens to be installed; it is never
a dependency of the project.

How it is timed: each variant's calls per repeat (``number``) are chosen once so
that a repeat lasts at least ``min_seconds``; then every repeat round times every
variant of every configuration once, in an order rotated from round to round
(all variants interleaved in one run, so a burst of load from another process
hits them all alike). The table reports the median over the rounds, and half the
interquartile range as a percentage of it (the spread). Before any timing, the
variants' results are compared with each other: timing a wrong answer is pointless.

The results file also records the cache each forward leaves for its backward
(``NormCache.nbytes()``; for PyTorch, the tensors autograd saved), the machine,
the BLAS settings, and the load average while it ran.
"""

import argparse
import dataclasses
import datetime
import importlib.util
import os
import platform
import sys
import timeit
from pathlib import Path

import numpy as np

from cs231n_norm import core
from cs231n_norm.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
)
from cs231n_norm.timing import batchnorm_problem, cpu_cache_sizes

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPOSITORY / "benchmarks" / "results_norm.md"

LAYERS = ("batchnorm", "layernorm")
PASSES = ("forward", "backward")
EPS = 1e-5
# The simplified backward passes split large arrays' rows among threads (core.THREADS of
# them, the calling one included); the "simplified 1T" variant times them at one thread.
DEFAULT_THREADS = core.THREADS
# Largest normwise difference (max |a - b| / max |b|) accepted between variants.
AGREEMENT = {"float64": 1e-9, "float32": 1e-3}


@dataclasses.dataclass(frozen=True)
class Config:
    """What to measure.

    shapes : tuple of (N, D)
    dtypes : tuple of 'float32' / 'float64'
    repeats : int, timing rounds (medians over these)
    min_seconds : float, least duration of one repeat of one variant
    torch_threads : tuple of int, intra-op thread counts for the PyTorch columns
    use_torch : bool, add the PyTorch columns if PyTorch is installed
    """

    shapes: tuple = ((64, 100), (256, 1024), (4096, 1024))
    dtypes: tuple = ("float32", "float64")
    repeats: int = 31
    min_seconds: float = 0.02
    torch_threads: tuple = (1, 2)
    use_torch: bool = True


FULL = Config()
QUICK = Config(shapes=((64, 100), (256, 1024)), repeats=3, min_seconds=0.002)


def torch_available():
    return importlib.util.find_spec("torch") is not None


# ------------------------------------------------------------------ the variants


@dataclasses.dataclass
class Variant:
    """One timed callable.

    setup() runs before each repeat, outside the timed region; when it returns
    True (it changed a setting, such as PyTorch's thread count), one untimed call
    follows, so that starting threads is not timed either.
    """

    layer: str
    pass_: str
    shape: tuple
    dtype: str
    name: str
    call: object
    setup: object = None
    number: int = 1
    seconds: list = dataclasses.field(default_factory=list)


def _normwise(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max() / max(np.abs(b).max(), np.finfo(np.float64).tiny))


def _check_agreement(label, results, reference, dtype):
    for name, values in results.items():
        for value, expected in zip(values, reference):
            error = _normwise(value, expected)
            if not error <= AGREEMENT[dtype]:
                raise AssertionError(f"{label}: {name} disagrees with the staged result (normwise error {error:.1e})")


def numpy_variants(layer, shape, dtype):
    """The staged and simplified forward and backward calls of one layer, and their cache sizes."""
    x, gamma, beta, dout = batchnorm_problem(*shape, seed=0, dtype=np.dtype(dtype).type)
    forward = batchnorm_forward if layer == "batchnorm" else layernorm_forward
    backward = {
        "staged": batchnorm_backward if layer == "batchnorm" else layernorm_backward_staged,
        "simplified": batchnorm_backward_alt if layer == "batchnorm" else layernorm_backward,
    }
    variants, outputs, cache_bytes = [], {}, {}
    set_threads = lambda count: core.THREADS != count and setattr(core, "THREADS", count) is None
    for name, keep_graph in (("staged", True), ("simplified", False)):
        param = {"mode": "train", "eps": EPS, "keep_graph": keep_graph}
        out, cache = forward(x, gamma, beta, dict(param))
        grads = backward[name](dout, cache)
        outputs[name] = (out, *grads)
        cache_bytes[name] = cache.nbytes()
        variants.append(Variant(layer, "forward", shape, dtype, name,
                                lambda forward=forward, param=param: forward(x, gamma, beta, param)))
        variants.append(Variant(layer, "backward", shape, dtype, name,
                                lambda function=backward[name], cache=cache: function(dout, cache),
                                lambda: set_threads(DEFAULT_THREADS)))
    simplified_backward = variants[-1].call
    set_threads(1)
    outputs["simplified 1T"] = (outputs["simplified"][0], *simplified_backward())
    set_threads(DEFAULT_THREADS)
    variants.append(Variant(layer, "backward", shape, dtype, "simplified 1T", simplified_backward, lambda: set_threads(1)))
    label = f"{layer} {shape} {dtype}"
    _check_agreement(label, {k: outputs[k] for k in ("simplified", "simplified 1T")}, outputs["staged"], dtype)
    return variants, outputs["staged"], cache_bytes


def torch_variants(layer, shape, dtype, threads, reference):
    """PyTorch's forward (autograd recording) and autograd backward, at each thread count."""
    import torch
    import torch.nn.functional as F

    x, gamma, beta, dout = (torch.from_numpy(a) for a in batchnorm_problem(*shape, seed=0, dtype=np.dtype(dtype).type))
    x, gamma, beta = (t.requires_grad_() for t in (x, gamma, beta))
    D = shape[1]
    if layer == "batchnorm":
        running_mean, running_var = torch.zeros(D, dtype=x.dtype), torch.ones(D, dtype=x.dtype)

        def forward():
            return F.batch_norm(x, running_mean, running_var, gamma, beta, training=True, momentum=0.1, eps=EPS)
    else:

        def forward():
            return F.layer_norm(x, (D,), gamma, beta, eps=EPS)

    saved = {}

    def pack(tensor):  # count each storage autograd keeps for the backward pass once
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = forward()
    grads = torch.autograd.grad(out, (x, gamma, beta), dout, retain_graph=True)
    _check_agreement(f"{layer} {shape} {dtype}", {"torch": [out.detach().numpy()] + [g.numpy() for g in grads]}, reference, dtype)

    def set_threads(count):
        if torch.get_num_threads() == count:
            return False
        torch.set_num_threads(count)
        return True

    variants = []
    for count in threads:
        name = f"torch {count}T"
        setup = lambda count=count: set_threads(count)
        variants.append(Variant(layer, "forward", shape, dtype, name, forward, setup))
        variants.append(Variant(layer, "backward", shape, dtype, name,
                                lambda: torch.autograd.grad(out, (x, gamma, beta), dout, retain_graph=True), setup))
    return variants, sum(saved.values())


# ------------------------------------------------------------------ timing


def calibrate(variant, min_seconds):
    """Choose calls per repeat so that one repeat lasts at least `min_seconds` (doubling, like timeit's autorange)."""
    if variant.setup:
        variant.setup()
    timer = timeit.Timer(variant.call)
    timer.timeit(1)  # warm up: first-call allocations, lazy initialisation
    number = 1
    while timer.timeit(number) < min_seconds and number < 1_000_000:
        number *= 2
    variant.number = number


def run_rounds(variants, repeats, progress=None):
    """Time every variant once per round, rotating the order; return the load averages seen."""
    loads = [os.getloadavg()[0]]
    timers = [timeit.Timer(v.call) for v in variants]
    for round_ in range(repeats):
        shift = (round_ * 7) % len(variants)  # rotate so no variant always follows the same one
        for index in list(range(shift, len(variants))) + list(range(shift)):
            variant = variants[index]
            if variant.setup and variant.setup():
                variant.call()
            variant.seconds.append(timers[index].timeit(variant.number) / variant.number)
        loads.append(os.getloadavg()[0])
        if progress:
            progress(round_ + 1, repeats)
    return loads


# ------------------------------------------------------------------ the report


def _median(seconds):
    return float(np.median(seconds))


def _cell(variant):
    if variant is None:
        return "n/a"
    median = _median(variant.seconds)
    q1, q3 = np.percentile(variant.seconds, [25, 75])
    spread = 50 * (q3 - q1) / median
    text = f"{median * 1e3:.3f}" if median < 1e-3 else f"{median * 1e3:.2f}" if median < 0.1 else f"{median * 1e3:.0f}"
    return f"{text} ±{spread:.0f}%"


def _fastest(variant):
    """The fastest round, in ms: what the call costs when nothing else got in the way."""
    return "n/a" if variant is None else f"{min(variant.seconds) * 1e3:.3g}"


def _ratio(slow, fast):
    if slow is None or fast is None:
        return "n/a"
    return f"{_median(slow.seconds) / _median(fast.seconds):.2f}x"


def _bytes(count):
    return f"{count / 2**20:.2f} MiB" if count >= 2**20 else f"{count / 2**10:.1f} KiB"


def _blas_lines():
    try:
        import threadpoolctl
    except ImportError:
        return ["- BLAS: threadpoolctl not installed, settings unknown"]
    lines = []
    for pool in threadpoolctl.threadpool_info():
        facts = [pool.get("internal_api"), pool.get("version"), pool.get("architecture") and f"kernel {pool['architecture']}"]
        lines.append(
            f"- threadpoolctl: {pool.get('user_api')} ({', '.join(str(f) for f in facts if f)}): "
            f"{pool.get('num_threads')} threads, in {Path(pool.get('filepath', '?')).name}"
        )
    return lines or ["- BLAS: none loaded"]


def environment_lines(torch_version):
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    caches = ", ".join(f"{level} {size >> 10} KiB" for level, size in cpu_cache_sizes().items()) or "unknown"
    lines = [
        f"- cs231n_norm: {DEFAULT_THREADS} threads (core.THREADS) for arrays of {core.PARALLEL_MIN_BYTES >> 20} MiB and more",
        f"- CPU: {cpu}, {len(os.sched_getaffinity(0))} logical CPUs usable; caches per core (Linux): {caches}",
        f"- Python {platform.python_version()}, numpy {np.__version__}"
        + (f", PyTorch {torch_version}" if torch_version else ", PyTorch not used (not installed, or switched off): no PyTorch columns"),
        *_blas_lines(),
    ]
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        lines.append(f"- {name}: {os.environ.get(name, 'not set')}")
    return lines


def render(config, variants, cache_bytes, torch_saved, loads, started, seconds, torch_version):
    by_key = {(v.layer, v.pass_, v.shape, v.dtype, v.name): v for v in variants}
    torch_names = [f"torch {n}T" for n in config.torch_threads] if torch_version else []
    header = ["layer", "pass", "N x D", "dtype", "staged ms", "simplified ms", "staged / simplified"]
    for name in torch_names:
        header += [f"{name} ms", f"{name} / simplified"]
    rows = []
    for layer in LAYERS:
        for pass_ in PASSES:
            for shape in config.shapes:
                for dtype in config.dtypes:
                    get = lambda name: by_key.get((layer, pass_, shape, dtype, name))
                    row = [layer, pass_, f"{shape[0]} x {shape[1]}", dtype,
                           _cell(get("staged")), _cell(get("simplified")), _ratio(get("staged"), get("simplified"))]
                    for name in torch_names:
                        row += [_cell(get(name)), _ratio(get(name), get("simplified"))]
                    rows.append(row)

    def table(header, rows):
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]

    lines = [
        "# Benchmark: staged vs simplified batch norm and layer norm",
        "",
        "Written by `python benchmarks/bench_norm.py"
        + (" --quick" if config == QUICK else "")
        + "` (see its docstring for what each column times). Times are medians over "
        f"{config.repeats} interleaved rounds, in milliseconds per call, ± half the interquartile range. "
        "A ratio above 1 means the simplified variant is that many times faster.",
        "",
        "## Where and when it ran",
        "",
        f"- started {started:%Y-%m-%d %H:%M} UTC, took {seconds:.0f} s",
        f"- load average (1 min) during the run: min {min(loads):.2f}, median {np.median(loads):.2f}, "
        f"max {max(loads):.2f}, on {os.cpu_count()} CPUs. Anything above ~1 means other processes shared "
        "the cores: absolute times are then inflated and noisier; ratios, measured interleaved, less so.",
        *environment_lines(torch_version),
        "",
        "## Time per call",
        "",
        *table(header, rows),
        "",
        "## Bytes cached per call",
        "",
        "What the forward pass keeps alive for its backward pass: `NormCache.nbytes()`"
        + ("; for PyTorch, the storages autograd saved (these include the input x itself, which it references rather than copies)." if torch_version else "."),
        "",
    ]
    cache_header = ["layer", "N x D", "dtype", "staged", "simplified", "staged / simplified"] + (["torch saved"] if torch_version else [])
    cache_rows = []
    for layer in LAYERS:
        for shape in config.shapes:
            for dtype in config.dtypes:
                sizes = cache_bytes[(layer, shape, dtype)]
                row = [layer, f"{shape[0]} x {shape[1]}", dtype, _bytes(sizes["staged"]), _bytes(sizes["simplified"]),
                       f"{sizes['staged'] / sizes['simplified']:.1f}x"]
                if torch_version:
                    row.append(_bytes(torch_saved[(layer, shape, dtype)]))
                cache_rows.append(row)
    lines += table(cache_header, cache_rows)
    thread_names = ["simplified", "simplified 1T"] + torch_names
    thread_header = ["layer", "N x D", "dtype", f"simplified ({DEFAULT_THREADS}T) ms", "simplified 1T ms",
                     "1T / default"] + [f"{name} ms" for name in torch_names] + ["fastest round ms: " + ", ".join(
                         f"{DEFAULT_THREADS}T" if name == "simplified" else name for name in thread_names)]
    thread_rows = []
    for layer in LAYERS:
        for shape in config.shapes:
            for dtype in config.dtypes:
                get = lambda name: by_key.get((layer, "backward", shape, dtype, name))
                thread_rows.append([layer, f"{shape[0]} x {shape[1]}", dtype, _cell(get("simplified")),
                                    _cell(get("simplified 1T")), _ratio(get("simplified 1T"), get("simplified"))]
                                   + [_cell(get(name)) for name in torch_names]
                                   + [" / ".join(_fastest(get(name)) for name in thread_names)])
    lines += [
        "",
        "## Simplified backward: threads",
        "",
        f"On arrays of {core.PARALLEL_MIN_BYTES >> 20} MiB and more, `batchnorm_backward_alt` and `layernorm_backward` "
        f"split the rows among threads (`core.parallel_row_blocks`; here {DEFAULT_THREADS}, "
        "`CS231N_NORM_THREADS` or `core.THREADS` sets the number). The same calls, interleaved in the same rounds, "
        "at the default thread count and at one thread (bit for bit the same results). The last column gives each "
        "variant's fastest round, closest to what a call costs on an otherwise idle machine:",
        "",
        *table(thread_header, thread_rows),
    ]
    lines += ["", "## Targets", ""] + target_lines(by_key, torch_names)
    lines += ["", "## Reading the table", "", *NOTES]
    return "\n".join(lines) + "\n"


NOTES = [
    "- The simplified backward passes split the rows of arrays of 4 MiB and more among threads (numpy "
    "releases the GIL in its loops), at the default thread count in the main table; the threads table "
    "adds them at one thread, to compare with PyTorch's 1-thread column. Everything else in numpy here runs "
    "on one thread and makes no BLAS calls (the sums are numpy reductions and einsum).",
    "- The staged forward is slower than the simplified one by design: it builds and keeps every "
    "intermediate array of the graph (the bytes table shows how many), which is what the staged "
    "backward and the step-through explorer need.",
    "- At 64 x 100 every variant is bound by the cost of calls (a numpy call costs about a microsecond), "
    "not by arithmetic: argument checks and Python overhead dominate the numpy variants, autograd's "
    "bookkeeping PyTorch's backward.",
    "- A new large array costs page faults when it is first written (glibc serves arrays of 32 MiB and "
    "more, such as 4096 x 1024 float64, with fresh memory from the kernel every time); every variant pays "
    "this for the arrays it returns, the staged graph for each of its nodes.",
    "- PyTorch at 2 threads needs both cores at the same moment: when another process holds one, its "
    "threads wait for each other, which shows as a large spread and a median that can exceed the 1-thread time.",
]


def target_lines(by_key, torch_names):
    """The issue's targets at (4096, 1024) float64, batch-norm backward, met or not."""
    key = ("batchnorm", "backward", (4096, 1024), "float64")
    staged, simplified = by_key.get(key + ("staged",)), by_key.get(key + ("simplified",))
    if staged is None or simplified is None:
        return ["Not measured in this run (the targets are for batch norm backward at 4096 x 1024, float64)."]
    lines = []
    speedup = _median(staged.seconds) / _median(simplified.seconds)
    lines.append(f"- simplified batch-norm backward at least 2x faster than staged (4096 x 1024 float64): "
                 f"{speedup:.2f}x, {'met' if speedup >= 2 else 'NOT met'}")
    single = by_key.get(key + ("simplified 1T",))
    for name in torch_names:
        ratio = _median(by_key[key + (name,)].seconds) / _median(simplified.seconds)
        lines.append(f"- no slower than PyTorch's autograd backward at {name[6:]} ({name}): "
                     f"PyTorch takes {ratio:.2f}x the simplified time ({DEFAULT_THREADS}T), {'met' if ratio >= 1 else 'NOT met'}")
        if name == "torch 1T" and single is not None:
            ratio = _median(by_key[key + (name,)].seconds) / _median(single.seconds)
            lines.append(f"- the same, thread for thread (simplified 1T against torch 1T): "
                         f"PyTorch takes {ratio:.2f}x the simplified time, {'met' if ratio >= 1 else 'NOT met'}")
    if not torch_names:
        lines.append("- no slower than PyTorch's: not measured (PyTorch is not installed)")
    return lines


# ------------------------------------------------------------------ main


def measure(config, progress=None):
    """Build every variant, check they agree, time them interleaved; return the rendered report."""
    started = datetime.datetime.now(datetime.timezone.utc)
    clock = timeit.default_timer()
    use_torch = config.use_torch and torch_available()
    torch_version = None
    if use_torch:
        import torch

        torch_version = torch.__version__
        threads_before = torch.get_num_threads()
    variants, cache_bytes, torch_saved = [], {}, {}
    for layer in LAYERS:
        for shape in config.shapes:
            for dtype in config.dtypes:
                found, reference, cache_bytes[(layer, shape, dtype)] = numpy_variants(layer, shape, dtype)
                variants += found
                if use_torch:
                    found, torch_saved[(layer, shape, dtype)] = torch_variants(layer, shape, dtype, config.torch_threads, reference)
                    variants += found
    for variant in variants:
        calibrate(variant, config.min_seconds)
    loads = run_rounds(variants, config.repeats, progress)
    core.THREADS = DEFAULT_THREADS
    if use_torch:
        torch.set_num_threads(threads_before)
    seconds = timeit.default_timer() - clock
    return render(config, variants, cache_bytes, torch_saved, loads, started, seconds, torch_version)


def main(argv=None, config=None):
    """Run the benchmark and write its report. `config` (tests) overrides --quick.

    Returns the path written.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (3 rounds, short repeats)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write the table (default {DEFAULT_OUT.relative_to(REPOSITORY)})")
    args = parser.parse_args(argv)
    if config is None:
        config = QUICK if args.quick else FULL

    def progress(done, total):
        print(f"\rround {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    report = measure(config, progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"written to {args.out}", file=sys.stderr)
    return args.out


if __name__ == "__main__":
    main()
