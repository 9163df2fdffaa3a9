#!/usr/bin/env python
"""Write notebooks/01_batchnorm_forward.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_01.py && python tools/run_notebooks.py 01

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "01_batchnorm_forward.ipynb"

NAV = ("[← 00 Index](00_index.ipynb) | [Index](00_index.ipynb) | "
       "[02 Staged backward →](02_staged_backward.ipynb)")


cells = [
    md(f"""
{NAV}

# 01 · Batch normalization: the forward pass

Batch normalization (BN) takes each feature of a layer's input, subtracts the batch's mean
and divides by the batch's standard deviation, then lets the network rescale and shift the
result with two learned parameters, $\\gamma$ and $\\beta$. During training the statistics
come from the batch; at test time they come from running averages collected during
training. This notebook takes both modes apart and checks every claim it makes.
""", "slide"),
    md("""
## Learning goals

After this notebook (about **25 minutes**) you can:

- compute the BN forward pass in train mode and say *which axis* the statistics run over;
- show that BN output has mean 0 and standard deviation 1 per feature, and that $\\gamma$, $\\beta$ then set them;
- explain running averages: what momentum does, how long the average remembers, and its closed form;
- explain what test mode does and why it needs a warm-up;
- translate between CS231n's and PyTorch's conventions (momentum 0.9 vs 0.1; biased vs unbiased running variance);
- see that BN couples the examples of a batch, and layer norm does not.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm.layers import batchnorm_forward, layernorm_forward, pytorch_bn_param
from cs231n_norm.plots.forward import (
    plot_feature_distributions,
    plot_running_means,
    running_average_closed_form,
    simulate_running_stats,
    steps_to_reach,
)
from cs231n_norm.widgets.coupling import (
    build_coupling_explorer,
    draw_coupling,
    example_batch,
    move_one_value,
)

np.set_printoptions(precision=4, suppress=True)


def rounded(a, digits=4):
    \"\"\"Round for printing (+ 0.0 turns -0.0 into 0.0).\"\"\"
    return np.round(a, digits) + 0.0
""", "skip"),
    # ------------------------------------------------------------------ data
    md("""
## The data: four features on four different scales

A layer's input is a batch $x$ of shape $(N, D)$: $N$ examples, $D$ features. We draw one
whose features have very different means and spreads, as the activations of a real
layer do. If an implementation mixed up the axes, these different statistics would show it.
""", "slide"),
    code("""
rng = np.random.default_rng(0)
true_means = np.array([-3.0, 0.0, 5.0, 10.0])
true_stds = np.array([0.5, 1.0, 2.0, 4.0])
N, D = 256, 4
x = rng.normal(true_means, true_stds, size=(N, D))

print("x shape:", x.shape)
print("per-feature mean:", rounded(x.mean(axis=0), 2))
print("per-feature std: ", rounded(x.std(axis=0), 2))
"""),
    # ------------------------------------------------------------------ train mode
    md("""
## Train mode: each feature normalized with the batch's own statistics

For each feature $j$, over the $N$ examples $i$ of the batch:

$$\\mu_j = \\frac{1}{N}\\sum_{i=1}^{N} x_{ij}, \\qquad
\\sigma_j^2 = \\frac{1}{N}\\sum_{i=1}^{N} (x_{ij}-\\mu_j)^2, \\qquad
\\hat{x}_{ij} = \\frac{x_{ij}-\\mu_j}{\\sqrt{\\sigma_j^2+\\epsilon}}, \\qquad
y_{ij} = \\gamma_j\\,\\hat{x}_{ij} + \\beta_j .$$

The variance is the *biased* one ($1/N$), and $\\epsilon = 10^{-5}$ keeps the division safe.
With $\\gamma = 1$ and $\\beta = 0$ the output is $\\hat{x}$ itself: every feature should now have
mean 0 and standard deviation $\\sqrt{\\sigma_j^2/(\\sigma_j^2+\\epsilon)}$, which is 1 up to the $\\epsilon$.
""", "slide"),
    code("""
out, cache = batchnorm_forward(x, np.ones(D), np.zeros(D), {"mode": "train"})

batch_var = x.var(axis=0)  # biased, 1/N
expected_std = np.sqrt(batch_var / (batch_var + 1e-5))
assert np.allclose(out.mean(axis=0), 0.0, atol=1e-12), "each feature (column): mean 0"
assert np.allclose(out.std(axis=0), expected_std,
                   rtol=1e-12, atol=0), "std sqrt(var/(var+eps))"
assert np.allclose(out.std(axis=0), 1.0, atol=1e-4), "... which is 1 up to eps"
assert not np.allclose(out.mean(axis=1), 0.0, atol=0.1), (
    "the rows (examples) are NOT normalized: BN works per feature"
)

print("after BN, per-feature mean:", rounded(out.mean(axis=0), 6))
print("after BN, per-feature std: ", rounded(out.std(axis=0), 6))
print("after BN, mean of the first 4 examples:", rounded(out.mean(axis=1)[:4], 2))
"""),
    md("""
Notice the last line: the *rows* are not normalized. BN averages **down the batch axis**
(axis 0), once per feature. Layer norm (notebook 04) averages along the other axis.
The feature with the smallest spread was drawn with variance $0.5^2 = 0.25$ (its batch variance
is close to that), so its standard deviation after BN is about
$\\sqrt{0.25/(0.25 + 10^{-5})} \\approx 0.99998$: not exactly 1, and the check above knows by how
much (it uses the batch's own variance).
""", "subslide"),
    # ------------------------------------------------------------------ gamma beta
    md("""
## $\\gamma$ and $\\beta$ take over

Normalizing would take away the layer's freedom to choose its scale, so BN gives it back:
since $\\hat{x}$ has mean 0 and standard deviation $s_j \\approx 1$ per feature,

$$\\operatorname{mean}_i(y_{ij}) = \\beta_j, \\qquad \\operatorname{std}_i(y_{ij}) = |\\gamma_j|\\, s_j .$$

The input's own mean and spread are gone from the output; $\\gamma$ and $\\beta$ (learned by
gradient descent, with the gradients of notebook 02) decide them. With
$\\gamma_j = \\sqrt{\\sigma_j^2+\\epsilon}$ and $\\beta_j = \\mu_j$, this batch's own statistics, the layer even gives
this batch back unchanged (checked below; question 4 says why that is less than it sounds).
""", "slide"),
    code("""
gamma = rng.uniform(0.5, 2.0, size=D) * rng.choice([-1.0, 1.0], size=D)
beta = rng.normal(0.0, 2.0, size=D)
out_affine, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
s = out.std(axis=0)  # the std of x_hat: 1 up to eps (times |gamma| below)

assert np.allclose(out_affine.mean(axis=0), beta, atol=1e-12), "the output mean is beta"
assert np.allclose(out_affine.std(axis=0), np.abs(gamma) * s,
                   rtol=1e-12, atol=0), "std |gamma|"
sigma_B, mu_B = np.sqrt(batch_var + 1e-5), x.mean(axis=0)  # this batch's statistics
undo, _ = batchnorm_forward(x, sigma_B, mu_B, {"mode": "train"})
assert np.allclose(undo, x, rtol=1e-12, atol=1e-12), "this batch comes back unchanged"

print("beta:        ", rounded(beta))
print("output mean: ", rounded(out_affine.mean(axis=0)))
print("|gamma|:     ", rounded(np.abs(gamma)))
print("output std:  ", rounded(out_affine.std(axis=0)))
"""),
    md("""
The picture: each violin is one feature's distribution over the batch (dot and bar: mean ± std).
Before BN the four features live on four different scales; after normalization they sit on top
of each other; after $\\gamma$, $\\beta$ they move to where the red markers ($\\beta \\pm |\\gamma|$) say.
""", "subslide"),
    code("""
fig = plot_feature_distributions(
    [("before BN: x", x), ("normalized: $\\\\hat{x}$ ($\\\\gamma$=1, $\\\\beta$=0)", out),
     ("after $\\\\gamma$, $\\\\beta$: y", out_affine)],
    markers={2: (beta, gamma)},
)
display(fig)
"""),
    # ------------------------------------------------------------------ running averages
    md("""
## Running averages: statistics for test time

At test time there may be a single example, so there is no batch to take statistics from;
and a prediction should not depend on which other examples happen to share its batch. So
during training BN keeps an exponential running average of the batch statistics. After each
batch $t$ with mean $b_t$:

$$r_t = m\\, r_{t-1} + (1-m)\\, b_t, \\qquad r_0 = 0,$$

(the same for the variance). $m$ is the **momentum**, the weight of the *old* value (CS231n's
convention, default 0.9). Unrolling the recursion gives the closed form

$$r_t = m^t\\, r_0 + (1-m)\\sum_{s=1}^{t} m^{\\,t-s}\\, b_s :$$

batch $s$ still counts with weight $(1-m)\\,m^{t-s}$ after $t$ steps. The weights fall off
geometrically; they sum to $1-m^t$, and the average "remembers" about $1/(1-m)$ batches.
""", "slide"),
    md("""
We run 150 batches of 16 examples from our four-feature distribution through
`batchnorm_forward` in train mode, with three momenta, letting the package update the running
statistics, and compare with the closed form computed directly from the batch means: they
must agree to rounding error. An update that weighted the *new* value by $m$ (a classic
mistake) follows the closed form with $1 - m$ in place of $m$, and the check tells the two
apart, except at $m = 0.5$, where they are the same: test a momentum update with $m \\neq 0.5$.
""", "subslide"),
    code("""
T, batch_size = 150, 16
batches = rng.normal(true_means, true_stds, size=(T, batch_size, D))
momenta = (0.5, 0.9, 0.99)
records = {m: simulate_running_stats(batches, {"momentum": m}) for m in momenta}

for m, record in records.items():
    closed_mean = running_average_closed_form(record["batch_mean"], m)
    closed_var = running_average_closed_form(record["batch_var"], m)
    reversed_mean = running_average_closed_form(record["batch_mean"], 1 - m)
    assert np.allclose(record["running_mean"], closed_mean, rtol=1e-12, atol=1e-12), m
    assert np.allclose(record["running_var"], closed_var, rtol=1e-12, atol=1e-12), m
    assert (m == 0.5) == np.allclose(record["running_mean"], reversed_mean), m
    print(f"momentum {m}: running mean and variance = closed form at all {T} steps")
    print(f"    final running mean {rounded(record['running_mean'][-1], 2)}")
"""),
    code("""
feature = 2  # true mean 5
closed_forms = {
    m: running_average_closed_form(records[m]["batch_mean"][:, feature], m)
    for m in momenta
}
fig = plot_running_means(
    {m: records[m]["running_mean"][:, feature] for m in momenta},
    records[0.9]["batch_mean"][:, feature],
    true_means[feature],
    closed_forms=closed_forms,
)
display(fig)
""", "subslide"),
    md("""
Read the picture: with $m = 0.5$ the average follows the noisy batch means closely; with
$m = 0.99$ it is smooth but still far from the true mean after 150 steps, because it started at
0 and forgets that start only as $m^t$. For a batch mean that stays constant at $\\mu$, the closed
form is exactly $r_t = \\mu\\,(1-m^t)$, so the number of steps to get 95% of the way there is the
smallest $t$ with $m^t \\le 0.05$. We check that with the real update, feeding one fixed batch
again and again:
""", "subslide"),
    code("""
fixed_batch = batches[0]
mu = fixed_batch.mean(axis=0)
print("momentum | memory 1/(1-m) | steps to 95% of the batch mean")
for m in momenta:
    t95 = steps_to_reach(0.95, m)
    same_batch_again = np.repeat(fixed_batch[None], t95, axis=0)
    record = simulate_running_stats(same_batch_again, {"momentum": m})
    steps = np.arange(1, t95 + 1)[:, None]
    closed_form = mu * (1 - m**steps)
    assert np.allclose(record["running_mean"], closed_form, rtol=1e-12, atol=1e-12)
    fraction = record["running_mean"] / mu
    assert np.all(fraction[-1] >= 0.95 - 1e-12), "95% reached at step t95..."
    assert np.all(fraction[-2] < 0.95), "... and not before"
    print(f"{m:8} | {1 / (1 - m):14.0f} | {t95}")
""", "subslide"),
    # ------------------------------------------------------------------ test mode
    md("""
## Test mode: the running statistics replace the batch's

In test mode BN normalizes with the stored averages, and leaves them as they are:

$$y = \\gamma\\,\\frac{x - r_{\\mu}}{\\sqrt{r_{\\sigma^2} + \\epsilon}} + \\beta .$$

Each example is then treated on its own: its output no longer depends on the rest of the batch.
But the running averages are only as good as the training that filled them. After one training
step with $m = 0.9$ they hold $0.1\\times$ the batch statistics, and test mode is badly off; after
the 150 steps above (a memory of about 10 batches, so long warmed up) they are close to the
true statistics. First, test mode after a single step:
""", "slide"),
    code("""
test_batch = rng.normal(true_means, true_stds, size=(1000, D))
ones, zeros = np.ones(D), np.zeros(D)

bn_param = {"mode": "train", "momentum": 0.9}
batchnorm_forward(batches[0], ones, zeros, bn_param)
assert np.allclose(bn_param["running_mean"], 0.1 * batches[0].mean(axis=0),
                   rtol=1e-12, atol=0)
bn_param["mode"] = "test"
cold, _ = batchnorm_forward(test_batch, ones, zeros, bn_param)
assert np.any(np.abs(cold.mean(axis=0)) > 5), "one step of training is not enough"

mean_cold, std_cold = rounded(cold.mean(axis=0), 2), rounded(cold.std(axis=0), 2)
print("test mode after 1 step:    output mean", mean_cold, " std", std_cold)
""", "subslide"),
    code("""
bn_param["mode"] = "train"
for batch in batches[1:]:  # the other 149 training steps
    batchnorm_forward(batch, ones, zeros, bn_param)
bn_param["mode"] = "test"
stored_mean = bn_param["running_mean"].copy()
stored_var = bn_param["running_var"].copy()
warm, _ = batchnorm_forward(test_batch, ones, zeros, bn_param)

by_hand = (test_batch - stored_mean) / np.sqrt(stored_var + 1e-5)
assert np.allclose(warm, by_hand,
                   rtol=1e-12, atol=0), "test mode uses the running stats"
assert np.array_equal(bn_param["running_mean"], stored_mean), "test mode: no update"
assert np.array_equal(bn_param["running_var"], stored_var)
assert np.all(np.abs(warm.mean(axis=0)) < 0.3), "close to normalized..."
assert np.all(np.abs(warm.std(axis=0) - 1) < 0.3)
assert np.all(np.abs(warm.mean(axis=0)) > 1e-3), (
    "...but not exactly: these are not the test batch's own statistics"
)

mean_warm, std_warm = rounded(warm.mean(axis=0), 2), rounded(warm.std(axis=0), 2)
print("test mode after 150 steps: output mean", mean_warm, " std", std_warm)
""", "subslide"),
    code("""
# Test mode: an example's output does not depend on its batch-mates; train mode: it does
alone, _ = batchnorm_forward(test_batch[:2], ones, zeros, bn_param)
assert np.allclose(alone, warm[:2], rtol=1e-12, atol=0), "test mode: alone = in a batch"
train_alone, _ = batchnorm_forward(test_batch[:2], ones, zeros, {"mode": "train"})
train_full, _ = batchnorm_forward(test_batch, ones, zeros, {"mode": "train"})
assert not np.allclose(train_alone, train_full[:2], atol=0.1), (
    "train mode: output depends on the batch"
)

print("example 0, test mode,  in a batch of 1000:", rounded(warm[0], 3))
print("                       in a batch of 2:   ", rounded(alone[0], 3))
print("example 0, train mode, in a batch of 1000:", rounded(train_full[0], 3))
print("                       in a batch of 2:   ", rounded(train_alone[0], 3))
""", "subslide"),
    md("""
One more consequence (question 4 comes back to it): with $\\gamma = \\sqrt{r_{\\sigma^2}+\\epsilon}$ and $\\beta = r_\\mu$,
test mode computes the identity (up to rounding), for every input. Train mode with the same $\\gamma$, $\\beta$
normalizes each batch with that batch's own statistics, so it is not the identity on any batch
whose statistics differ from the running ones:
""", "subslide"),
    code("""
gamma_undo, beta_undo = np.sqrt(stored_var + 1e-5), stored_mean  # the running stats
undo_test, _ = batchnorm_forward(test_batch, gamma_undo, beta_undo, bn_param)
new_batch = test_batch[:16]
undo_train, _ = batchnorm_forward(new_batch, gamma_undo, beta_undo, {"mode": "train"})
assert np.allclose(undo_test, test_batch, rtol=1e-12, atol=1e-12), "test mode: identity"
train_change = np.abs(undo_train - new_batch).max()
assert train_change > 0.1, "train mode: not the identity on a new batch"
print(f"train mode, a batch of 16: y differs from x by up to {train_change:.2f}")
"""),
    # ------------------------------------------------------------------ PyTorch
    md("""
## PyTorch's conventions, with numbers

`torch.nn.BatchNorm1d` computes the same training output, but keeps its running statistics
differently, in two ways:

| | CS231n (this package) | PyTorch |
|---|---|---|
| update | $r \\leftarrow m\\,r + (1-m)\\,b$, $m = 0.9$ | $r \\leftarrow (1-p)\\,r + p\\,b$, `momentum` $p = 0.1$ |
| running variance | biased batch variance ($1/N$) | **unbiased** batch variance ($1/(N-1)$) |
| initial running variance | 0 | 1 |

So PyTorch's `momentum=0.1` *is* our `momentum=0.9` (its momentum weights the new value), and
`pytorch_bn_param` builds a `bn_param` that follows PyTorch. One step on a tiny batch, by hand:
""", "slide"),
    code("""
tiny = np.array([[1.0, 10.0], [2.0, 14.0], [4.0, 6.0], [5.0, 10.0]])  # N = 4, D = 2
batch_mean = tiny.mean(axis=0)
biased, unbiased = tiny.var(axis=0), tiny.var(axis=0, ddof=1)

ours = {"mode": "train", "momentum": 0.9}
torch_like = pytorch_bn_param(2, momentum=0.1)
out_ours, _ = batchnorm_forward(tiny, np.ones(2), np.zeros(2), ours)
out_torch, _ = batchnorm_forward(tiny, np.ones(2), np.zeros(2), torch_like)

assert torch_like["momentum"] == 0.9, "PyTorch's 0.1 is our 0.9"
assert np.allclose(out_ours, out_torch,
                   rtol=1e-15, atol=0), "same output: biased var in both"
assert np.allclose(ours["running_mean"], 0.1 * batch_mean)
assert np.allclose(torch_like["running_mean"], 0.1 * batch_mean)
assert np.allclose(ours["running_var"], 0.9 * 0 + 0.1 * biased, rtol=1e-15, atol=0)
assert np.allclose(torch_like["running_var"], 0.9 * 1 + 0.1 * unbiased,
                   rtol=1e-15, atol=0)

print("batch mean", batch_mean, "| biased var", biased, "| unbiased", rounded(unbiased))
for name, param, how in [("CS231n ", ours, "0.1 * biased"),
                         ("PyTorch", torch_like, "0.9 * 1 + 0.1 * unbiased")]:
    mean, var = rounded(param["running_mean"]), rounded(param["running_var"])
    print(f"{name} running_mean {mean}  running_var {var}  = {how}")
""", "subslide"),
    md("""
Why PyTorch bothers: the biased variance of a batch of $N$ underestimates the true variance by
the factor $(N-1)/N$ on average. With small batches that shows at test time. With $N = 4$ the
CS231n running variance settles near $0.75\\,\\sigma^2$, so test-mode outputs come out about
$1/\\sqrt{0.75} \\approx 1.15$ times too wide; PyTorch's settles near $\\sigma^2$. The two are tied exactly by
$r^{\\text{torch}}_t = \\frac{N}{N-1}\\, r^{\\text{ours}}_t + m^t$ (the $m^t$ is PyTorch's start at 1).
""", "subslide"),
    code("""
small_batches = rng.normal(true_means, true_stds, size=(1500, 4, D))
ours_run = simulate_running_stats(small_batches, {"momentum": 0.99})
torch_run = simulate_running_stats(small_batches, pytorch_bn_param(D, momentum=0.01))

t = np.arange(1, len(small_batches) + 1)[:, None]
tied = 4 / 3 * ours_run["running_var"] + 0.99**t  # N / (N - 1) = 4 / 3
assert np.allclose(torch_run["running_var"], tied, rtol=1e-10, atol=0)
ratio_ours = (ours_run["running_var"][-500:] / true_stds**2).mean()
ratio_torch = (torch_run["running_var"][-500:] / true_stds**2).mean()
assert abs(ratio_ours - 0.75) < 0.05 and abs(ratio_torch - 1.0) < 0.05
# a feature's test-mode std: sqrt(true variance / running variance)
too_wide = 1 / np.sqrt(ratio_ours)
assert abs(too_wide - 1 / np.sqrt(0.75)) < 0.05

print(f"running_var / true variance, N = 4, averaged over the last 500 steps: "
      f"CS231n {ratio_ours:.2f}, PyTorch {ratio_torch:.2f}")
print(f"so CS231n's test-mode outputs are {too_wide:.2f} times too wide")
"""),
    # ------------------------------------------------------------------ coupling
    md("""
## BN couples the examples of a batch

In train mode every example's output depends on every other example through $\\mu_j$ and
$\\sigma_j$: the normalized value of example $k$ moves with the input of example $i$ at the rate

$$\\frac{\\partial \\hat{x}_{kj}}{\\partial x_{ij}} = \\frac{1}{\\sqrt{\\sigma_j^2+\\epsilon}}
\\left(\\delta_{ki} - \\frac{1}{N} - \\frac{\\hat{x}_{kj}\\,\\hat{x}_{ij}}{N}\\right),$$

which for $k \\neq i$ is not zero (unless $\\hat{x}_{kj}\\,\\hat{x}_{ij} = -1$ exactly).

Move one value $x_{ij}$ and *every* example's normalized feature $j$ moves (the other features
do not). Layer norm takes its statistics over each example's own features, so there only
example $i$ changes. That is why BN behaves differently with small batches (notebook 06), and
why its backward pass (notebook 02) has more paths than you might expect.
""", "slide"),
    code("""
batch = example_batch(N=8, D=3, seed=0)
state = move_one_value(batch, row=2, column=0, value=float(batch[2, 0]) + 4.0)

bn_changed = np.abs(state.batchnorm_after - state.batchnorm_before) > 1e-12
ln_changed = np.abs(state.layernorm_after - state.layernorm_before) > 1e-12
assert bn_changed[:, 0].all(), "BN: every example's moved feature changes..."
assert not bn_changed[:, 1:].any(), "... and no other feature"
assert ln_changed[2].all(), "LN: the moved example changes..."
assert not np.delete(ln_changed, 2, axis=0).any(), "... and no other example"
bn_rows, ln_rows = state.batchnorm_rows_moved, state.layernorm_rows_moved
print("examples whose output changed, batch norm:", np.flatnonzero(bn_rows))
print("examples whose output changed, layer norm:", np.flatnonzero(ln_rows))
display(draw_coupling(state))
""", "subslide"),
    md("""
**Try it.** Drag the slider to move one value of one example (pick which with the other two
sliders). Under batch norm every dot of that feature moves; under layer norm only the gold
example's dots move. (The widget needs a running kernel; the picture above is the same view,
stored.)
""", "subslide"),
    code("""
build_coupling_explorer(example_batch(N=8, D=3, seed=0), row=2, column=0)
""", tags=["nbval-ignore-output"]),
    # ------------------------------------------------------------------ summary
    md("""
## Summary

- Train mode normalizes **each feature over the batch** (axis 0) with the batch mean and the
  biased variance; the output has per-feature mean 0 and std 1 (up to $\\epsilon$), and then $\\gamma$, $\\beta$ set
  mean and std.
- Running averages $r_t = m\\,r_{t-1} + (1-m)\\,b_t$ remember about $1/(1-m)$ batches and start biased
  toward 0; the closed form $r_t = m^t r_0 + (1-m)\\sum_s m^{t-s} b_s$ checks the update exactly.
- Test mode uses the running statistics: examples become independent, but only after a warm-up.
- PyTorch's `momentum=0.1` is our `0.9`; PyTorch stores the *unbiased* running variance, which
  matters with small batches ($0.75\\,\\sigma^2$ vs $\\sigma^2$ at $N = 4$).
- BN couples the examples of a batch; layer norm does not.

""", "slide"),
    md("""
## Questions

**1.** After how many steps does a running mean with $m = 0.9$, started at 0, first reach 95% of a
constant batch mean?

<details><summary>Answer</summary>

29 steps: the smallest $t$ with $0.9^t \\le 0.05$ ($0.9^{28} \\approx 0.052$, $0.9^{29} \\approx 0.047$). With $m = 0.99$ it takes 299.
</details>

**2.** A model trained with batches of 2 gives test-mode outputs that are far too wide. Why, and
what would PyTorch's convention change?

<details><summary>Answer</summary>

The biased variance of 2 values underestimates the true variance by $(N-1)/N = 1/2$ on average, so
the running variance is about half the true one and test outputs are about $\\sqrt{2}$ times too wide.
PyTorch stores the unbiased ($1/(N-1)$) batch variance, which removes this factor on average.
</details>

**3.** Your test-mode outputs have per-feature means of exactly 0 and stds of exactly 1 on every
test batch. Is that good news?

<details><summary>Answer</summary>

No: it means test mode is using the *batch's* statistics instead of the running ones (a common bug).
With running statistics the means and stds are close to, but not exactly, 0 and 1, as in the check above.
</details>

**4.** With $\\gamma_j = \\sqrt{\\sigma_j^2+\\epsilon}$ and $\\beta_j = \\mu_j$, the statistics of one batch
$B$, what does a BN layer compute in train mode? Can a network always learn to undo BN?

<details><summary>Answer</summary>

On batch $B$ itself, the identity: $y = x$ (checked above). But $\\gamma$ and $\\beta$ are fixed
parameters, while in train mode $\\mu_B$ and $\\sigma_B$ change with every batch: on the next batch
the layer normalizes with that batch's statistics and rescales with $B$'s, which is not the
identity. What BN can represent exactly is the identity for *fixed* statistics: with
$\\gamma = \\sqrt{r_{\\sigma^2}+\\epsilon}$, $\\beta = r_\\mu$ (or the population statistics), test mode
computes $y = x$ up to rounding (checked in the test-mode section), and train mode comes close to
it when batches are large enough for their statistics to be close to the population's.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
