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
keeps every intermediate array alive and makes one pass over memory per node. Here we do the
calculus once, on paper, and arrive at a single line:

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
- check a gradient the right way (float64, random $\gamma$, $\beta$ and upstream gradient, never all ones);
- say why the simplified pass needs about a sixth of the memory and runs faster, and measure it honestly.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    eval_numerical_gradient_array,
    explore_backward,
    normalize_backward,
    rel_error,
)
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
x = rng.normal([-4.0, -1.5, 0.0, 2.0, 5.0, 10.0], [0.5, 1.0, 2.0, 3.0, 4.0, 8.0], size=(N, D))
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
out, cache_staged = batchnorm_forward(x, gamma, beta, {"mode": "train"})  # keep_graph=True: the default
dx_staged, dgamma_staged, dbeta_staged = batchnorm_backward(dout, cache_staged)

# every backward step of the walk, by node name: its upstream gradient is dL/d(node value)
steps = {step.node.name: step for step in explore_backward(cache_staged.graph, dout)}
x_hat, inv_std = cache_staged.x_hat, cache_staged.inv_std  # x_hat (N, D); r = inv_std (1, D)
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
assert rel_error(g, steps["x_hat"].upstream) < 1e-12, "the gradient arriving at node x_hat"
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
assert rel_error(dvar, steps["var"].upstream) < 1e-12, "the gradient arriving at node var"
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

assert np.abs(xmu.sum(axis=0)).max() < 1e-12 * N * np.abs(xmu).max(), "deviations sum to zero"
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
_, cache_small = batchnorm_forward(x, gamma, beta, {"mode": "train", "keep_graph": False})
dx_alt, dgamma_alt, dbeta_alt = batchnorm_backward_alt(dout, cache_small)

dx_one_line = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)  # the boxed formula, typed out
assert rel_error(dx_one_line, dx_alt) < 1e-12
for name, simplified, staged in [("dx", dx_alt, dx_staged), ("dgamma", dgamma_alt, dgamma_staged),
                                 ("dbeta", dbeta_alt, dbeta_staged)]:
    assert rel_error(simplified, staged) < 1e-12, name
    print(f"{name:>6}: simplified == staged (rel error < 1e-12)")
print("dx[:2] =")
print(rounded(dx_alt[:2], 6))
"""),
    # ------------------------------------------------------------------ numerical check
    md(r"""
## Checked against numerical gradients

Agreement with the staged pass could mean both are wrong in the same way, so we also compare
with centred differences, $\frac{\partial L}{\partial x} \approx \frac{L(x+h)-L(x-h)}{2h}$ with
$L = \sum y \cdot dy$, entry by entry, in float64.
""", "slide"),
    code("""
def bn_out(x_, gamma_, beta_):
    return batchnorm_forward(x_, gamma_, beta_, {"mode": "train"})[0]


dx_num = eval_numerical_gradient_array(lambda v: bn_out(v, gamma, beta), x.copy(), dout)
dgamma_num = eval_numerical_gradient_array(lambda v: bn_out(x, v, beta), gamma.copy(), dout)
dbeta_num = eval_numerical_gradient_array(lambda v: bn_out(x, gamma, v), beta.copy(), dout)

for name, analytic, numeric in [("dx", dx_alt, dx_num), ("dgamma", dgamma_alt, dgamma_num),
                                ("dbeta", dbeta_alt, dbeta_num)]:
    assert rel_error(analytic, numeric) < 1e-7, (name, rel_error(analytic, numeric))
    print(f"{name:>6}: matches the numerical gradient (rel error < 1e-7)")
"""),
    md(r"""
### Why the upstream gradient must be random

With $dy$ all ones, $L = \sum_i y_i = N\beta$ per feature: it does not depend on $x$ at all, so
the true $dx$ is zero, and a numerical check passes for *any* `dx` whose columns sum to zero,
including ones that drop a whole path of the derivation. A check with all-ones $dy$ proves nothing.
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
`NormCache.nbytes()` counts the bytes a cache keeps alive (float64: 8 bytes a number).
""", "slide"),
    code("""
table = []
for n, d in [(16, 6), (64, 100), (256, 512), (1024, 1024)]:
    sizes = cache_nbytes(n, d)
    assert sizes["staged"] == (6 * n * d + 6 * d) * 8, "six (N, D) arrays and six (D,) vectors"
    assert sizes["simplified"] == (n * d + 2 * d) * 8, "x_hat, plus inv_std and gamma"
    table.append(f"N x D = {n:>4} x {d:<4}   staged {sizes['staged'] / 2**20:9.4f} MiB   "
                 f"simplified {sizes['simplified'] / 2**20:9.4f} MiB   ratio {sizes['staged'] / sizes['simplified']:.3f}")
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
timings = time_backward([(32, 16), (64, 32), (128, 64), (256, 128), (512, 256), (1024, 256), (1024, 512)],
                        repeats=5)
print(f"{logical_cpus()} CPU(s); data caches: "
      + ", ".join(f"{level} {size // 1024} KiB" for level, size in cpu_cache_sizes().items()))
print(f"{'N x D':>12} {'staged':>10} {'general':>10} {'simplified':>11} {'speed-up':>9}")
for (n, d), staged, general, simplified, speedup in zip(
        timings.shapes, timings.median["staged"], timings.median["core general form"],
        timings.median["simplified"], timings.speedup()):
    print(f"{n:>5} x {d:<5} {staged * 1e3:>8.3f}ms {general * 1e3:>8.3f}ms {simplified * 1e3:>9.3f}ms {speedup:>8.1f}x")
""", tags=["nbval-ignore-output"]),
    code("""
fig = plot_backward_timings(timings, cpu_caches=cpu_cache_sizes())
display(fig)
""", "subslide"),
    md(r"""
## Where the speed comes from

A backward pass over a large batch is limited by memory traffic, not by arithmetic: the CPU
can multiply far faster than it can fetch numbers from main memory. So the fastest code is
the one that reads and writes the fewest arrays.

- **Fewer passes over memory.** The staged walk makes at least one pass per node: about
  fifteen full-array operations, each reading and writing $N \times D$ numbers. The one line reads $dy$ and
  $\hat{x}$ a few times and writes $dx$ once.
- **Fewer temporaries.** Every numpy operation on large arrays allocates a fresh result; a fresh
  large array costs about one extra memory pass (page faults). The staged pass holds several
  $(N, D)$ temporaries at once (the peak-memory cell above).
- **Reductions without temporaries.** The column dot products `dgamma` are
  `einsum('ij,ij->j', dout, x_hat)`, which reads both arrays once and never builds the
  product array `dout * x_hat`; and `dx` needs no reduction of its own, since it reuses
  `dbeta` and `dgamma`.
- **One new array for the whole formula.** numpy gives every operation of the `dx` line a
  new result array. `core.in_one_new_array` lets the first operation make the one new array
  and writes every later step back into it (`out=`): the same numbers, bit for bit, with one
  array's worth of memory traffic and page faults instead of four.
- **Rows shared among cores.** Above 4 MiB, `core.parallel_row_blocks` cuts the rows into
  fixed ranges and hands them to a few threads (numpy releases the GIL inside its loops).
  The ranges do not depend on the number of threads, so the sums come out bit for bit the
  same at every thread count; `CS231N_NORM_THREADS=1` turns the threads off.
""", "slide"),
    md(r"""
### Reading the timing plot

At the smallest sizes everything fits in the cache and the staged pass mostly pays for its
Python overhead (the graph walk's dozens of small calls instead of a handful). At the largest
sizes one array no longer fits in the L2 cache (the dotted line, where your system reports it):
every method is then limited by memory bandwidth, which it shares with everything else running
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
- It equals the staged pass to 12 digits and the numerical gradient to 7, with random
  $\gamma$, $\beta$ and $dy$ in float64; with $dy$ all ones a check proves nothing.
- It needs one cached array instead of six, fewer temporaries and fewer passes over memory,
  which is why it is faster.

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

**4.** The staged pass makes several times more passes over memory, yet on large batches it is
only a few times slower, not ten. Why not more?

<details><summary>Answer</summary>

Small arrays fit in the CPU cache, where extra passes are cheap; there the staged pass mostly pays
Python call overhead. For large arrays the extra passes do cost main-memory bandwidth, but the
simplified pass is memory-bound too: it cannot be faster than reading $dy$ and $\hat{x}$ and writing
$dx$ once.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
