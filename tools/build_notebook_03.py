#!/usr/bin/env python
"""Write notebooks/03_simplified_backward.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_03.py && python tools/run_notebooks.py 03

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change. Timing cells are tagged
nbval-ignore-output (their numbers depend on the machine); everything else is compared.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "03_simplified_backward.ipynb"

NAV = ("[← 02 Staged backward](02_staged_backward.ipynb) | [Index](00_index.ipynb) | "
       "[04 Layer norm and the family →](04_layernorm_and_family.ipynb)")
RESULTS = "../benchmarks/results_norm.md"


cells = [
    md(NAV + r"""

# 03 · The simplified backward pass

In notebook 02 the backward pass of batch normalization walked the computational graph node
by node: nine small operations, each with its own local derivative. It is correct, but it
keeps every intermediate array alive and makes one or two passes over memory per node. Here we
do the calculus once, on paper, and arrive at a single line:

$$dx = \frac{\gamma\, r}{N}\Big(N\,dy - \textstyle\sum_i dy_i - \hat{x}\sum_i dy_i\,\hat{x}_i\Big),
\qquad r = \frac{1}{\sqrt{\sigma^2+\epsilon}} .$$

Every step of the derivation is checked against the staged graph, the result against
numerical gradients, and the speed and memory claims are measured.
""", "slide"),
    md(r"""
## Learning goals

After this notebook (about **30 minutes**) you can:

- derive the closed-form gradient of batch norm by following the three paths from $x$ to $\hat{x}$;
- explain why the path through the variance adds nothing to $\partial L/\partial \mu$;
- write the one-line `dx` and the general form $dx = r\,(g - \overline{g} - \hat{x}\,\overline{g\hat{x}})$ it comes from;
- check a gradient the right way (float64, random $\gamma$, $\beta$ and upstream gradient, never all ones)
  and read its error (why the worst entry's relative error can mislead);
- say why the simplified pass's cache is about a sixth of the staged one's (a quarter of what it adds to the caller's own arrays) and why it runs faster, and measure both honestly.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    error_relative_to_largest,
    numerical_gradients,
    explore_backward,
    normalize_backward,
    rel_error,
)
from cs231n_norm.core import PARALLEL_MIN_BYTES
from cs231n_norm.plots.timing import plot_backward_timings
from cs231n_norm.timing import (
    backward_peak_bytes,
    cache_nbytes,
    cpu_cache_sizes,
    logical_cpus,
    time_backward,
)

np.set_printoptions(precision=4, suppress=True)


def rounded(a, digits=4):
    \"\"\"Round for printing (+ 0.0 turns -0.0 into 0.0).\"\"\"
    return np.round(a, digits) + 0.0
""", "skip"),
    # ------------------------------------------------------------------ data
    md(r"""
## The batch: six features, six different scales

A batch $x$ of shape $(N, D)$ whose features have different means and spreads (so a
statistic over the wrong axis would show), random $\gamma$ and $\beta$ (so a missing factor
$\gamma$ would show), and a random upstream gradient $dy = \partial L/\partial y$. Everything in
float64, because numerical gradients need it.
""", "slide"),
    code("""
rng = np.random.default_rng(3)
N, D = 16, 6
means = [-4.0, -1.5, 0.0, 2.0, 5.0, 10.0]
stds = [0.5, 1.0, 2.0, 3.0, 4.0, 8.0]
x = rng.normal(means, stds, size=(N, D))
gamma = rng.normal(1.0, 0.5, D)
beta = rng.normal(0.0, 0.5, D)
dout = rng.normal(size=(N, D))  # dy: random, never all ones (see below)

print("x:", x.shape, x.dtype)
print("per-feature mean:", rounded(x.mean(axis=0), 2))
print("per-feature std: ", rounded(x.std(axis=0), 2))
print("gamma:", rounded(gamma, 3))
"""),
    # ------------------------------------------------------------------ staged reference
    md(r"""
## The reference: the staged backward pass

The forward pass, per feature $j$ over the batch $i = 1..N$ (we drop the index $j$ from now
on: every feature is handled the same way, independently):

$$\mu = \frac{1}{N}\sum_i x_i, \qquad \sigma^2 = \frac{1}{N}\sum_i (x_i-\mu)^2, \qquad
r = \frac{1}{\sqrt{\sigma^2+\epsilon}}, \qquad \hat{x}_i = (x_i-\mu)\,r, \qquad y_i = \gamma\hat{x}_i + \beta .$$

`batchnorm_forward` keeps the staged graph in its cache by default (`keep_graph=True`), and
`batchnorm_backward` walks it in reverse. Its results are what we must reproduce.
""", "slide"),
    code("""
# keep_graph=True is the default: the cache holds the staged graph
out, cache_staged = batchnorm_forward(x, gamma, beta, {"mode": "train"})
dx_staged, dgamma_staged, dbeta_staged = batchnorm_backward(dout, cache_staged)

# each backward step of the walk, by node name; its upstream is dL/d(node value)
steps = {step.node.name: step for step in explore_backward(cache_staged.graph, dout)}
x_hat = cache_staged.x_hat  # (N, D)
inv_std = cache_staged.inv_std  # r, (1, D)
xmu = cache_staged.graph["xmu"].value  # x - mu, (N, D)

print("staged graph:", " -> ".join(node.name for node in cache_staged.graph.nodes))
print("backward steps:", len(steps))
"""),
    # ------------------------------------------------------------------ derivation
    md(r"""
## Step 1: $\beta$ and $\gamma$ are easy

$y_i = \gamma\hat{x}_i + \beta$ for every example $i$, so each example contributes to the
gradient of the shared $\beta$ and $\gamma$:

$$\frac{\partial L}{\partial \beta} = \sum_i dy_i, \qquad
\frac{\partial L}{\partial \gamma} = \sum_i dy_i\,\hat{x}_i, \qquad
g_i := \frac{\partial L}{\partial \hat{x}_i} = \gamma\, dy_i .$$
""", "slide"),
    code("""
dbeta = dout.sum(axis=0)
dgamma = (dout * x_hat).sum(axis=0)
g = gamma * dout

assert rel_error(dbeta, dbeta_staged) < 1e-12
assert rel_error(dgamma, dgamma_staged) < 1e-12
assert rel_error(g, steps["x_hat"].upstream) < 1e-12, "the gradient arriving at x_hat"
print("dbeta: ", rounded(dbeta, 6))
print("dgamma:", rounded(dgamma, 6))
"""),
    md(r"""
## Step 2: three paths from $x_i$ to the output

$x_i$ reaches $\hat{x}$ directly, through the mean $\mu$ and through the variance $\sigma^2$
(which also depends on $\mu$). The chain rule adds the three paths:

$$\frac{\partial L}{\partial x_i}
= \underbrace{g_i\, r}_{\text{direct}}
+ \underbrace{\frac{\partial L}{\partial \mu}\,\frac{1}{N}}_{\text{through } \mu}
+ \underbrace{\frac{\partial L}{\partial \sigma^2}\,\frac{2(x_i-\mu)}{N}}_{\text{through } \sigma^2},
\qquad \text{since } \frac{\partial \mu}{\partial x_i} = \frac{1}{N},\;
\frac{\partial \sigma^2}{\partial x_i} = \frac{2(x_i-\mu)}{N}.$$

We need the two gradients in the middle.
""", "slide"),
    md(r"""
## Step 3: the gradient at the variance

$\sigma^2$ enters every $\hat{x}_k$ through $r = (\sigma^2+\epsilon)^{-1/2}$, with
$\partial r/\partial \sigma^2 = -\tfrac{1}{2}(\sigma^2+\epsilon)^{-3/2} = -\tfrac{1}{2}r^3$:

$$\frac{\partial L}{\partial \sigma^2} = \sum_k g_k\,(x_k-\mu)\left(-\frac{r^3}{2}\right)
= -\frac{r^2}{2}\sum_k g_k\,\hat{x}_k .$$
""", "subslide"),
    code("""
dvar = -0.5 * inv_std**2 * (g * x_hat).sum(axis=0, keepdims=True)
assert rel_error(dvar, steps["var"].upstream) < 1e-12, "the gradient arriving at var"
print("dL/dvar:", rounded(dvar, 6))
"""),
    md(r"""
## Step 4: the gradient at the mean, where one path vanishes

$\mu$ enters every $\hat{x}_k$ directly (with $\partial \hat{x}_k / \partial \mu = -r$) and
through $\sigma^2$:

$$\frac{\partial L}{\partial \mu} = -r\sum_k g_k
+ \frac{\partial L}{\partial \sigma^2}\cdot\frac{-2}{N}\underbrace{\sum_k (x_k-\mu)}_{=\,0}
= -r\sum_k g_k .$$

The deviations from the mean sum to zero, so the path through the variance contributes
nothing. (The staged graph computes that zero anyway, up to rounding.)
""", "subslide"),
    code("""
dmu = -inv_std * g.sum(axis=0, keepdims=True)

deviation_sums = np.abs(xmu.sum(axis=0))
assert deviation_sums.max() < 1e-12 * N * np.abs(xmu).max(), "deviations sum to 0"
assert rel_error(dmu, steps["mu"].upstream) < 1e-12, "the gradient arriving at node mu"
print("dL/dmu:", rounded(dmu, 6))
"""),
    md(r"""
## Step 5: put the three paths together

Substitute steps 3 and 4 into step 2, and write $x_i - \mu = \hat{x}_i / r$:

$$\frac{\partial L}{\partial x_i} = g_i r - \frac{r}{N}\sum_k g_k - \frac{r}{N}\,\hat{x}_i\sum_k g_k\hat{x}_k
= r\Big(g_i - \overline{g} - \hat{x}_i\,\overline{g\,\hat{x}}\Big),$$

with bars for means over the batch. This is the **general form** in the package's core
(`normalize_backward`): it holds for any normalization, over any axes, because nothing in the
derivation used which axis the means run over. The two subtracted terms remove from $g$ its
mean and (up to the tiny $\epsilon$) its component along $\hat{x}$: the two directions that
normalization itself takes out, since shifting or scaling $x$ leaves $\hat{x}$ unchanged.
""", "slide"),
    code("""
dx_three_paths = inv_std * g + dmu / N + dvar * 2 * xmu / N  # step 2, term by term
dx_general = normalize_backward(g, x_hat, inv_std, axes=(0,))  # the core's closed form

assert rel_error(dx_three_paths, dx_staged) < 1e-12
assert rel_error(dx_general, dx_staged) < 1e-12
print("three paths == general form == staged (rel error < 1e-12)")
"""),
    md(r"""
## Step 6: the one line

For batch norm, $\gamma$ is the same for every example of a feature, so it comes out of the
means, and the means are the sums we already have:
$\overline{g} = \gamma\,\frac{1}{N}\sum_i dy_i = \gamma\,\frac{\partial L/\partial\beta}{N}$ and
$\overline{g\hat{x}} = \gamma\,\frac{\partial L/\partial\gamma}{N}$. Hence

$$\boxed{\;dx = \frac{\gamma\,r}{N}\Big(N\,dy - \frac{\partial L}{\partial \beta} - \hat{x}\,\frac{\partial L}{\partial \gamma}\Big)\;}$$

No new reduction at all: `dbeta` and `dgamma` are computed anyway. This is
`batchnorm_backward_alt`, and it needs only $\hat{x}$, $r$ and $\gamma$ from the forward pass,
so the forward can skip the graph (`keep_graph=False`).
""", "slide"),
    code("""
small_param = {"mode": "train", "keep_graph": False}
_, cache_small = batchnorm_forward(x, gamma, beta, small_param)
dx_alt, dgamma_alt, dbeta_alt = batchnorm_backward_alt(dout, cache_small)

# the boxed formula, typed out
dx_one_line = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
assert rel_error(dx_one_line, dx_alt) < 1e-12
simplified_grads = {"dx": dx_alt, "dgamma": dgamma_alt, "dbeta": dbeta_alt}
staged_grads = {"dx": dx_staged, "dgamma": dgamma_staged, "dbeta": dbeta_staged}
for name in simplified_grads:
    assert rel_error(simplified_grads[name], staged_grads[name]) < 1e-12, name
    print(f"{name:>6}: simplified == staged (rel error < 1e-12)")
print("dx[:2] =")
print(rounded(dx_alt[:2], 6))
"""),
    # ------------------------------------------------------------------ numerical check
    md(r"""
## Checked against numerical gradients

Agreement with the staged pass could mean both are wrong in the same way, so we also compare
with centred differences, $\frac{\partial L}{\partial x} \approx \frac{L(x+h)-L(x-h)}{2h}$ with
$L = \sum y \cdot dy$, entry by entry, in float64, two ways: with `rel_error` (notebook 02), and
with the largest error relative to the gradient's largest entry,
$\max_k |a_k - b_k| \,/\, \max_k |b_k|$.
""", "slide"),
    code("""
def bn_out(x_, gamma_, beta_):
    return batchnorm_forward(x_, gamma_, beta_, {"mode": "train"})[0]


# notebook 02's three eval_numerical_gradient_array calls (x, gamma, beta), in one
numerical = numerical_gradients(bn_out, {"dx": x, "dgamma": gamma, "dbeta": beta}, dout)
for name in simplified_grads:
    analytic, numeric = simplified_grads[name], numerical[name]
    error_to_largest = error_relative_to_largest(analytic, numeric)
    assert error_to_largest < 1e-8, (name, error_to_largest)
    assert rel_error(analytic, numeric) < 1e-7, (name, rel_error(analytic, numeric))
    print(f"{name:>6}: error / largest entry < 1e-8, rel_error < 1e-7")
"""),
    md(r"""
The two measures tell different stories about `dx`. Relative to its largest entry
(`error_relative_to_largest`, in `cs231n_norm.gradcheck` beside `rel_error`), its error is
below $10^{-8}$, like that of `dgamma` and `dbeta`; but its `rel_error` only passes the looser
bound $10^{-7}$ (it is about $10^{-8}$ here; $10^{-10}$ is typical in notebook 02). Nothing is
wrong: `rel_error` reports the worst *entry*, and here that is the entry of `dx` closest to zero,
where an absolute error of a few $10^{-11}$, no larger than elsewhere, is large relative to the
entry. The more entries a gradient has, the likelier such a small one:
""", "subslide"),
    code("""
dx_num = numerical["dx"]
smallest, largest = np.abs(dx_num).min(), np.abs(dx_num).max()
assert np.abs(dx_alt - dx_num).max() < 1e-9, "every entry: absolute error < 1e-9"
assert smallest < 1e-2 * largest
print(f"|dx| ranges from {smallest:.4f} to {largest:.2f} over {dx_num.size} entries;")
print("every entry's absolute error is < 1e-9")
"""),
    md(r"""
So from here on (notebook 04 too) a gradient check asks for an error below $10^{-8}$ of the
gradient's largest entry, the way the package's own tests measure it (`tests/test_properties.py`).
A correct float64 gradient gives about $10^{-10}$ on this measure; notebook 04 shows that the
typical mistakes give errors of order $0.1$ to $1$.
""", "fragment"),
    md(r"""
### Why the upstream gradient must be random

With $dy$ all ones, $L = \sum_i y_i = N\beta$ per feature: it does not depend on $x$ at all, so
the true $dx$ is zero, and a numerical check passes for any backward pass that returns zero for
a constant $dy$, including ones that drop a whole path of the derivation (notebook 02 shows one).
A check with all-ones $dy$ proves nothing.
""", "subslide"),
    code("""
dx_for_ones = batchnorm_backward_alt(np.ones_like(dout), cache_small)[0]
assert np.abs(dx_for_ones).max() < 1e-12
print("dx for dout = ones: zero everywhere (largest |entry| < 1e-12)")
"""),
    # ------------------------------------------------------------------ memory
    md(r"""
## The cache: one array instead of six

The staged backward needs every node value of the graph: $x$, $x-\mu$, $(x-\mu)^2$, $\hat{x}$,
$\gamma\hat{x}$ and $y$ are six arrays of shape $(N, D)$, plus six vectors of length $D$. The
simplified one needs $\hat{x}$, $r$ and $\gamma$: one array and two vectors.
`NormCache.nbytes()` counts the bytes a cache keeps alive (float64: 8 bytes a number). Two of
the staged six, $x$ and $y$, are the layer's input and output, which the caller usually holds
anyway: what the staged cache adds to them is four arrays, against the simplified one's one.
""", "slide"),
    code("""
table = []
for n, d in [(16, 6), (64, 100), (256, 512), (1024, 1024)]:
    sizes = cache_nbytes(n, d)
    assert sizes["staged"] == (6 * n * d + 6 * d) * 8, "six (N, D), six (D,) arrays"
    assert sizes["simplified"] == (n * d + 2 * d) * 8, "x_hat, plus inv_std and gamma"
    staged_mib, simplified_mib = sizes["staged"] / 2**20, sizes["simplified"] / 2**20
    ratio = staged_mib / simplified_mib
    table.append(f"N x D = {n:>4} x {d:<4}   staged {staged_mib:9.4f} MiB   "
                 f"simplified {simplified_mib:9.4f} MiB   ratio {ratio:.3f}")
print("\\n".join(table))
"""),
    md(r"""
During training, every layer's cache stays alive until its backward pass has run: with many
layers the caches, not the weights, fill the memory. And the small cache really is all the
simplified pass needs; the staged pass cannot work from it:
""", "subslide"),
    code("""
batchnorm_backward(dout, cache_small)
""", tags=["raises-exception"]),
    md(r"""
The backward passes also differ in the temporary arrays they allocate. `tracemalloc` records
the peak memory of one call (dx included), here in units of one $(N, D)$ array. The exact
numbers depend on numpy's internals, so they are not compared; that the staged pass needs more is asserted.
""", "subslide"),
    code("""
n, d = 1024, 512
peaks = backward_peak_bytes(n, d)
for method, peak in peaks.items():
    print(f"{method:>17}: peak {peak / (n * d * 8):.1f} arrays of shape (N, D)")
assert peaks["simplified"] < peaks["staged"]
""", tags=["nbval-ignore-output"]),
    # ------------------------------------------------------------------ timing
    md(r"""
## How much faster? Measured

`time_backward` runs each backward pass with `timeit`: enough calls per repeat to last at least
10 ms, five repeats, and reports the **median** (one slow repeat, caused by another program,
barely moves it). Before timing it checks that the three methods agree: timing a wrong answer
is pointless. Three methods:

- **staged**: the graph walk (`batchnorm_backward`);
- **core general form**: $r\,(g - \overline{g} - \hat{x}\,\overline{g\hat{x}})$ written as plain numpy (`normalize_backward`);
- **simplified**: the one line, tuned (`batchnorm_backward_alt`).

The numbers depend on your machine and on what else it is doing, so they are printed but
never compared by the tests. Sizes stay modest so that the whole notebook runs in seconds.
""", "slide"),
    code("""
shapes = [(32, 16), (64, 32), (128, 64), (256, 128),
          (512, 256), (1024, 256), (1024, 512)]
timings = time_backward(shapes, repeats=5)

caches = cpu_cache_sizes()
print(f"{logical_cpus()} CPU(s); data caches: "
      + ", ".join(f"{level} {size // 1024} KiB" for level, size in caches.items()))
header = "".join(f"{name:>11}" for name in ("staged", "general", "simplified"))
print(f"{'N x D':>12} {header} {'speed-up':>9}")
methods = ("staged", "core general form", "simplified")
medians = [timings.median[method] for method in methods]
for (n, d), *seconds, speedup in zip(timings.shapes, *medians, timings.speedup()):
    milliseconds = "".join(f"{1e3 * s:>9.3f}ms" for s in seconds)
    print(f"{n:>5} x {d:<5}{milliseconds} {speedup:>8.1f}x")
""", "subslide", tags=["nbval-ignore-output"]),
    code("""
fig = plot_backward_timings(timings, cpu_caches=cpu_cache_sizes())
display(fig)
""", "subslide"),
    md(r"""
## Where the speed comes from

A backward pass over a large batch is limited by memory traffic, not by arithmetic: the CPU
can multiply far faster than it can move numbers between memory (or its larger, slower caches)
and its registers. So the fastest code is the one that reads and writes the fewest arrays.

- **Fewer passes over memory.** The staged walk makes fifteen passes over whole $(N, D)$
  arrays: six products, two additions where paths fork, one negation, four sums over the batch
  and two copies (the two means spreading their gradient back). The simplified pass makes six:
  two sums (`dbeta`, `dgamma`) and the four operations of the `dx` line. (Counted by
  instrumenting numpy in `tests/test_timing.py`.)
- **Fewer temporaries.** Every numpy operation on large arrays allocates a fresh result; a fresh
  large array costs about one extra memory pass (page faults). The staged pass holds several
  $(N, D)$ temporaries at once (the peak-memory cell above).
- **Reductions without temporaries.** The column dot products `dgamma` are
  `einsum('ij,ij->j', dout, x_hat)`, which reads both arrays once and never builds the
  product array `dout * x_hat`; and `dx` needs no reduction of its own, since it reuses
  `dbeta` and `dgamma`.
""", "slide"),
    md(r"""
Two more tricks of the simplified pass work only on large arrays:

- **One new array for the whole formula.** numpy gives every operation of the `dx` line a
  new result array. For arrays of 256 KiB and more, `core.in_one_new_array` lets the first
  operation make the one new array and writes every later step back into it (`out=`): the
  same numbers, bit for bit, with one array's worth of page faults instead of four.
- **Rows shared among cores.** For arrays of at least 4 MiB (`core.PARALLEL_MIN_BYTES`),
  `core.parallel_row_blocks` cuts the rows into four fixed ranges and hands them to up to
  four threads, no more than there are CPUs (numpy releases the GIL inside its loops). The ranges do not depend on the
  number of threads, so the sums come out bit for bit the same at every thread count;
  `CS231N_NORM_THREADS=1` turns the threads off. In the timings above only the largest size
  is that large:
""", "subslide"),
    code("""
threaded = [(n, d) for n, d in shapes if n * d * 8 >= PARALLEL_MIN_BYTES]  # float64
assert PARALLEL_MIN_BYTES == 4 * 2**20 and threaded == [(1024, 512)]
print("timed sizes whose float64 arrays take at least 4 MiB (threads):", threaded)
"""),
    md(r"""
### Reading the timing plot

At the smallest sizes everything fits in the cache and the staged pass mostly pays for its
Python overhead (the graph walk's dozens of small calls instead of a handful). At the largest
sizes one array no longer fits in the L2 cache (the dotted line, where your system reports it):
every method is then limited by how fast data moves in from the larger caches (and, for
arrays larger than those, from main memory: see the benchmark linked below), a bandwidth it shares
with everything else running
on the machine, so these points vary most from run to run. The tuning of these paths, with
measurements at larger sizes and against PyTorch, is written up in
[benchmarks/results_norm.md](""" + RESULTS + r""").
""", "subslide"),
    # ------------------------------------------------------------------ summary
    md(r"""
## Summary

- The gradient through a normalization is $dx = r\,(g - \overline{g} - \hat{x}\,\overline{g\hat{x}})$
  with $g = \partial L/\partial\hat{x}$: the direct path, minus what flows back through the mean,
  minus what flows back through the variance. The path from the variance into the mean vanishes.
- For batch norm, $g = \gamma\,dy$ and the two means are `dbeta / N` and `dgamma / N`:
  `dx = gamma * r / N * (N * dout - dbeta - x_hat * dgamma)`.
- It equals the staged pass to rounding (rel error $< 10^{-12}$) and the numerical gradient to
  within $10^{-8}$ of the gradient's largest entry, with random $\gamma$, $\beta$ and $dy$ in
  float64. `rel_error` reports the worst entry, for `dx` typically the one closest to zero; with
  $dy$ all ones a check proves nothing.
- It needs one cached array instead of six, fewer temporaries and fewer passes over memory
  (6 instead of 15), which is why it is faster.

""", "slide"),
    md(r"""
## Questions

**1.** Why can the simplified pass work without $x$ itself?

<details><summary>Answer</summary>

The gradient depends on $x$ only through $\hat{x}$ and $r$: $x - \mu = \hat{x}/r$. Everything the
derivation needs ($\hat{x}$, $r$, $\gamma$, and $dy$ from upstream) is in the small cache.
</details>

**2.** Someone's `dx` passes the numerical check with $\gamma = 1$ but fails with random $\gamma$. What did they forget?

<details><summary>Answer</summary>

The factor $\gamma$ in $g = \gamma\,dy$ (the gradient at $\hat{x}$). With $\gamma = 1$ the missing
factor is invisible, which is why gradient checks use random $\gamma$.
</details>

**3.** Layer norm uses the same general form, with means over the features (axis 1). Why does its
backward pass not reuse `dbeta` and `dgamma` the way the boxed formula does?

<details><summary>Answer</summary>

In layer norm, $\gamma_j$ varies along the axis the means run over (the features), so it cannot be
pulled out of $\overline{g}$ and $\overline{g\hat{x}}$; and `dbeta`, `dgamma` are sums over the
*batch*, not over the features. So `layernorm_backward` applies the general form to $g = \gamma\,dy$.
</details>

**4.** The staged pass makes 15 passes over the batch, the simplified one 6. At which sizes
would you expect the measured speed-up to be close to $15/6 = 2.5$, and why can it differ?

<details><summary>Answer</summary>

For large arrays, which do not fit in the CPU cache: there both passes are limited by memory
bandwidth, so time follows memory traffic. Even there the staged pass pays more than its passes,
since it allocates fresh temporaries (page faults), while the simplified pass allocates one array
and, from 4 MiB on, can use several cores. For small arrays, which fit in the cache, passes over
memory are cheap and both pay mostly Python overhead: the graph walk's dozens of small numpy
calls against a handful, a ratio that has nothing to do with 2.5.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
