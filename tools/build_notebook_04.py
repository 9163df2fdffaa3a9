#!/usr/bin/env python
"""Write notebooks/04_layernorm_and_family.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_04.py && python tools/run_notebooks.py 04

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change. Only the widget cell is tagged
nbval-ignore-output; every other output is compared.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "04_layernorm_and_family.ipynb"

NAV = ("[← 03 Simplified backward](03_simplified_backward.ipynb) | [Index](00_index.ipynb) | "
       "[05 Weight-init sensitivity →](05_weight_init.ipynb)")


cells = [
    md(NAV + r"""

# 04 · Layer norm and the family

Batch norm averages each feature over the examples of a batch. Layer norm averages each
example over its features: the same operation along the other axis. For images, with four
axes $(N, C, H, W)$, there are more choices, and each one is a member of the family: batch
norm, layer norm, spatial batch norm, group norm, instance norm. This notebook shows that
they are all one normalization with a different choice of axes, draws which numbers each one
averages together, and checks what makes layer norm different: it never looks at the rest
of the batch.
""", "slide"),
    md(r"""
## Learning goals

After this notebook (about **30 minutes**) you can:

- write layer norm as the core normalization over axis 1, and explain the "transpose trick";
- say, for BN, LN, spatial BN, group norm and instance norm, which axes of an $(N, C, H, W)$ block one mean and variance are taken over;
- show that layer norm's output for one example does not depend on the rest of the batch, and that its train and test modes are identical;
- gradient-check layer norm, spatial batch norm, group norm and RMSNorm properly;
- explain RMSNorm as layer norm without the mean.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm import (
    batchnorm_backward_alt,
    batchnorm_forward,
    error_relative_to_largest,
    numerical_gradients,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
    normalize,
    normalize_backward,
    rel_error,
    rmsnorm_backward,
    rmsnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from cs231n_norm.plots.family import (
    NORMS,
    group_summary,
    plot_normalization_family,
    statistic_groups,
)
from cs231n_norm.selfcheck.symptoms import dx_family
from cs231n_norm.widgets.axes import (
    axes_view,
    build_axes_explorer,
    layer_output,
    normalize_by_labels,
)

np.set_printoptions(precision=4, suppress=True)


def rounded(a, digits=4):
    \"\"\"Round for printing (+ 0.0 turns -0.0 into 0.0).\"\"\"
    return np.round(a, digits) + 0.0
""", "skip"),
    md(r"""
## The data

A batch of $N = 6$ examples with $D = 5$ features, each feature with its own mean and spread;
random $\gamma$, $\beta$ and upstream gradient; float64.
""", "slide"),
    code("""
rng = np.random.default_rng(4)
N, D = 6, 5
x = rng.normal([-4.0, -1.0, 0.0, 2.0, 5.0], [0.5, 1.0, 2.0, 3.0, 4.0], size=(N, D))
gamma = rng.normal(1.0, 0.5, D)
beta = rng.normal(0.0, 0.5, D)
dout = rng.normal(size=(N, D))

print("per-feature mean:", rounded(x.mean(axis=0), 2))
print("per-example mean:", rounded(x.mean(axis=1), 2))
"""),
    # ------------------------------------------------------------------ LN = core over axis 1
    md(r"""
## Layer norm: the same normalization over the other axis

Batch norm takes one mean per feature $j$, over the examples; layer norm one mean per example
$i$, over the features:

$$\text{BN: } \mu_j = \frac{1}{N}\sum_{i=1}^{N} x_{ij}, \qquad\qquad
\text{LN: } \mu_i = \frac{1}{D}\sum_{j=1}^{D} x_{ij},$$

and the same for the variance. Everything else is shared:
$\hat{x}_{ij} = (x_{ij}-\mu)/\sqrt{\sigma^2+\epsilon}$ and $y_{ij} = \gamma_j\hat{x}_{ij} + \beta_j$,
with $\gamma$ and $\beta$ **per feature in both**. In the package, both layers are the core
`normalize(x, axes, eps)`: batch norm with `axes=(0,)`, layer norm with `axes=(1,)`.
""", "slide"),
    code("""
out_ln, cache_ln = layernorm_forward(x, gamma, beta, {})  # keeps the staged graph
out_ln_closed, _ = layernorm_forward(x, gamma, beta, {"keep_graph": False})  # core only
x_hat, mean, var, inv_std = normalize(x, axes=(1,), eps=1e-5)  # the core, over features

assert mean.shape == (N, 1), "one mean per example"
assert rel_error(out_ln, gamma * x_hat + beta) < 1e-12
assert rel_error(out_ln_closed, out_ln) < 1e-12
assert np.allclose(cache_ln.x_hat.mean(axis=1), 0.0, atol=1e-12), "each row: mean 0"
assert np.allclose(cache_ln.x_hat.std(axis=1), 1.0, atol=1e-4), "... and std 1"
assert not np.allclose(cache_ln.x_hat.mean(axis=0), 0.0, atol=0.1), (
    "the features (columns) are not normalized"
)

print("LN x_hat, mean of each example: ", rounded(cache_ln.x_hat.mean(axis=1), 6))
print("LN x_hat, std of each example:  ", rounded(cache_ln.x_hat.std(axis=1), 4))
print("LN x_hat, mean of each feature: ", rounded(cache_ln.x_hat.mean(axis=0), 2))
"""),
    # ------------------------------------------------------------------ transpose trick
    md(r"""
## Why the transpose trick works

CS231n's hint for layer norm is to reuse batch norm on the transposed input. The docstring of
`cs231n_norm/graph.py` says why that is correct: batch norm and layer norm share one graph
builder, `normalization_graph`, and only the axis of the two mean nodes differs. Normalizing
the rows of $x$ *is* normalizing the columns of $x^\top$; the transpose only relabels the axes.
But $\gamma$ and $\beta$ stay per feature, so they must not go into the transposed batch norm
(there they would be per *example*); they are applied after transposing back:

$$\mathrm{LN}(x) = \gamma \odot \mathrm{BN}_{\gamma=1,\beta=0}\big(x^\top\big)^\top + \beta,
\qquad
\frac{\partial L}{\partial x} = \mathrm{BN}'\Big(\big(\gamma \odot dy\big)^\top\Big)^\top .$$
""", "slide"),
    code("""
# batch norm on the transpose, with gamma = 1 and beta = 0 (one per example of x)
ones, zeros = np.ones(N), np.zeros(N)
bn_of_transpose, bn_cache = batchnorm_forward(x.T, ones, zeros, {"mode": "train"})
assert rel_error(gamma * bn_of_transpose.T + beta, out_ln) < 1e-12

dx_ln, dgamma_ln, dbeta_ln = layernorm_backward(dout, cache_ln)
dx_via_transpose = batchnorm_backward_alt((gamma * dout).T, bn_cache)[0].T
assert rel_error(dx_via_transpose, dx_ln) < 1e-12
dx_staged = layernorm_backward_staged(dout, cache_ln)[0]
assert rel_error(dx_staged, dx_ln) < 1e-12, "the staged graph walk agrees"

ln_nodes = [node.name for node in cache_ln.graph.nodes]
bn_nodes = [node.name for node in bn_cache.graph.nodes]
assert ln_nodes == bn_nodes
print("same graph nodes for BN and LN:", ln_nodes == bn_nodes)
bn_axis, ln_axis = bn_cache.graph["mu"].op.axis, cache_ln.graph["mu"].op.axis
print("axis of the mean node: BN", bn_axis, "| LN", ln_axis)
print("LN forward and backward == BN on the transpose (rel error < 1e-12)")
""", "subslide"),
    # ------------------------------------------------------------------ the family
    md(r"""
## The family on an image batch

A convolutional layer's activations have four axes: $N$ examples, $C$ channels, and $H \times W$
positions. A normalization picks a set $S$ of cells that share one mean and one variance,

$$\hat{x} = \frac{x - \mu_S}{\sqrt{\sigma_S^2 + \epsilon}}, \qquad
\mu_S = \frac{1}{|S|}\sum_{k \in S} x_k, \qquad \sigma^2_S = \frac{1}{|S|}\sum_{k \in S} (x_k-\mu_S)^2 ,$$

and the members of the family differ only in how the block is cut into such sets. Below, each
cube is one block (after the figure in Wu and He's *Group Normalization* paper, with $H$ and $W$
flattened into one axis); the shaded cells are the ones that share a statistic with the front
top-left cell $(n, c, h, w) = (0, 0, 0, 0)$.
""", "slide"),
    code("""
fig = plot_normalization_family(shape=(4, 6, 2, 2), G=2)
display(fig)
"""),
    md(r"""
| normalization | one statistic per | averaged over | package |
|---|---|---|---|
| batch norm (on $N \times CHW$) | position $(c, h, w)$ | $N$ | `batchnorm_forward(x.reshape(N, -1), ...)` |
| layer norm | example $n$ | $C, H, W$ | `layernorm_forward(x.reshape(N, -1), ...)` |
| spatial batch norm | channel $c$ | $N, H, W$ | `spatial_batchnorm_forward` |
| group norm | example and group of $C/G$ channels | $C/G, H, W$ | `spatial_groupnorm_forward(x, gamma, beta, G, ...)` |
| instance norm | example and channel | $H, W$ | `spatial_groupnorm_forward` with $G = C$ |

Group norm sits between the two ends: with $G = 1$ it is layer norm over $(C, H, W)$, with
$G = C$ it is instance norm. Only batch norm and spatial batch norm reach across examples.
""", "subslide"),
    md(r"""
The picture is not drawn by hand: `statistic_groups(norm, shape, G)` gives every cell the label
of its statistic, and the cubes colour those labels. That function is checked against the
layers themselves: `normalize_by_labels` normalizes a block using nothing but the labels (one
mean and variance per label), and it must reproduce each real layer's output (to rounding,
rel error $< 10^{-12}$). The test
block has a different mean and scale per channel, so a wrong grouping cannot pass by accident.
""", "subslide"),
    code("""
shape = (4, 6, 2, 2)
image_rng = np.random.default_rng(5)
# per-channel scales and offsets
images = (image_rng.normal(size=shape) * image_rng.uniform(0.5, 4.0, (1, 6, 1, 1))
          + image_rng.uniform(-4.0, 4.0, (1, 6, 1, 1)))

for norm in NORMS:
    G = 2 if norm == "groupnorm" else None
    labels = statistic_groups(norm, shape, G)
    by_labels = normalize_by_labels(images, labels)
    assert rel_error(by_labels, layer_output(norm, images, G)) < 1e-12, norm
    print(group_summary(norm, shape, G))

groups = {G: statistic_groups("groupnorm", shape, G) for G in (1, 6)}
assert np.array_equal(groups[1], statistic_groups("layernorm", shape)), "G = 1: LN"
assert np.array_equal(groups[6], statistic_groups("instancenorm", shape)), "G = C"
"""),
    # ------------------------------------------------------------------ widget
    md(r"""
## Explore: switch between the normalizations

Pick a normalization and, for group norm, the number of groups $G$ (a divisor of $C = 6$).
*one statistic* shades the cells that share a statistic with cell $(0, 0, 0, 0)$; *every
statistic* gives each set of cells its own colour.
""", "slide"),
    code("""
display(build_axes_explorer(shape=(4, 6, 2, 2), norm="groupnorm", G=2))
""", tags=["nbval-ignore-output"]),
    md(r"""
Behind the widget is a plain function, `axes_view(norm, G, shape)`, that returns the figure,
the labels and the sentence shown. Instance norm, for example, gives every $(n, c)$ pair its own
label: the labels of example 0, one row per channel, one column per position:
""", "subslide"),
    code("""
_, labels, summary = axes_view("instancenorm", shape=(4, 6, 2, 2))
print(summary)
print(labels[0].reshape(6, 4))
"""),
    # ------------------------------------------------------------------ batch independence
    md(r"""
## Layer norm does not look at the rest of the batch

Layer norm's statistics for example $i$ use only $x_{i1}, \dots, x_{iD}$, so
$\mathrm{LN}(x)_i = f(x_i)$: the output for one example is the same alone, in its own batch,
or next to entirely different examples. Batch norm's is not, because its mean and variance mix
all examples. (This is why BN suffers with small batches, notebook 06, and why LN is the
normalization of transformers, whose batches hold sequences of different lengths.)
""", "slide"),
    code("""
others = rng.normal(3.0, 10.0, size=(N - 1, D))  # a different rest of the batch
new_batch = np.vstack([x[:1], others])  # example 0, then the others
for keep_graph in (True, False):
    settings = {"keep_graph": keep_graph}
    alone = layernorm_forward(x[:1], gamma, beta, settings)[0]
    among_others = layernorm_forward(new_batch, gamma, beta, settings)[0]
    assert rel_error(alone[0], out_ln[0]) < 1e-12
    assert rel_error(among_others[0], out_ln[0]) < 1e-12

bn_in_own_batch = batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]
bn_among_others = batchnorm_forward(new_batch, gamma, beta, {"mode": "train"})[0]
change = np.abs(bn_among_others[0] - bn_in_own_batch[0]).max()
assert change > 0.1

print("LN output of example 0: the same alone, in its own batch and among others")
print(f"BN output of example 0 changes by up to {change:.2f} with its batch-mates")
"""),
    md(r"""
## Train and test mode are the same computation

Batch norm needs running averages for test time, because a test example may come alone.
Layer norm has nothing to average: its statistics always come from the example itself, so
train and test mode compute exactly the same thing (the `mode` key is accepted and ignored).
""", "slide"),
    code("""
ln_train = layernorm_forward(x, gamma, beta, {"mode": "train"})[0]
ln_test = layernorm_forward(x, gamma, beta, {"mode": "test"})[0]
assert np.array_equal(ln_train, ln_test)

bn_param = {"mode": "train"}
bn_train = batchnorm_forward(x, gamma, beta, bn_param)[0]
bn_param["mode"] = "test"  # running averages after one batch: far from the batch's own
bn_test = batchnorm_forward(x, gamma, beta, bn_param)[0]
assert not np.allclose(bn_train, bn_test)

print("LN: train and test outputs identical, bit for bit")
difference = np.abs(bn_train - bn_test).max()
print(f"BN: train and test outputs differ by up to {difference:.2f}")
"""),
    # ------------------------------------------------------------------ gradient checks
    md(r"""
## Gradient checks: layer norm, spatial batch norm, group norm

All three backward passes are the core's closed form
$dx = r\,(g - \overline{g} - \hat{x}\,\overline{g\hat{x}})$ with $g = \gamma\,dy$ (notebook 03), with
the means over each layer's own axes. Each is checked against centred differences, in float64,
with random $\gamma$, $\beta$ and $dy$, and with per-channel offsets and scales in the input
(so that statistics over the wrong axes, or channels mixed by a reshape, would show).

As in notebook 03, the error is measured relative to the gradient's largest entry,
$\max_k |a_k - n_k| \,/\, \max_k |n_k|$, not entry by entry: `rel_error`
would report the entry of $dx$ closest to zero. A correct float64 gradient gives about $10^{-10}$;
we require $< 10^{-8}$. The typical mistakes give errors of order $0.1$ to $1$ (measured below).
""", "slide"),
    code("""
# layer norm, (N, D): one centred difference per entry of x, gamma and beta
# (numerical_gradients makes notebook 02's three eval_numerical_gradient_array calls)
def ln_out(x_, gamma_, beta_):
    return layernorm_forward(x_, gamma_, beta_, {})[0]


def assert_gradients_match(analytic, numerical):
    # each analytic gradient within 1e-8 of the numerical one (relative to its largest)
    for name in numerical:
        error = error_relative_to_largest(analytic[name], numerical[name])
        assert error < 1e-8, (name, error)


numerical = numerical_gradients(ln_out, {"dx": x, "dgamma": gamma, "dbeta": beta}, dout)
analytic = dict(zip(numerical, layernorm_backward(dout, cache_ln)))
assert_gradients_match(analytic, numerical)
print("layer norm: dx, dgamma, dbeta match the numerical gradients (error < 1e-8)")
"""),
    md(r"""
**What a mistake looks like.** The self-check of notebook 07 knows what the common backward
mistakes compute (`selfcheck.symptoms.dx_family`: the core's formula with a path switched off).
On the same data, with the same measure:
""", "subslide"),
    code("""
g = gamma * dout  # dL/dx_hat
x_hat_ln, r = cache_ln.x_hat, cache_ln.inv_std
mistakes = {
    "gamma forgotten (dout for g)": normalize_backward(dout, x_hat_ln, r, axes=(1,)),
    "no path through the mean": dx_family(g, x_hat_ln, r, (1,), mean_weight=0),
    "no path through the variance": dx_family(g, x_hat_ln, r, (1,), variance_weight=0),
    "means over the batch (axis 0)": dx_family(g, x_hat_ln, r, (0,)),
}
dx_num, dgamma_num = numerical["dx"], numerical["dgamma"]
# with both paths and the right axis, dx_family is the correct gradient
right = dx_family(g, x_hat_ln, r, (1,))
assert error_relative_to_largest(right, dx_num) < 1e-8
for mistake, wrong_dx in mistakes.items():
    error = error_relative_to_largest(wrong_dx, dx_num)
    assert error > 1e-2, (mistake, error)
    print(f"{mistake:30} error {error:.2f}")
wrong_dgamma = analytic["dgamma"] / N
dgamma_error = error_relative_to_largest(wrong_dgamma, dgamma_num)
assert dgamma_error > 1e-2
print(f"{'dgamma as a mean, not a sum':30} error {dgamma_error:.2f}")
"""),
    code("""
# spatial batch norm, (N, C, H, W) with per-channel offsets and scales
C = 3
xs = (rng.normal(size=(2, C, 4, 5)) * rng.uniform(0.5, 4.0, (1, C, 1, 1))
      + rng.uniform(-4.0, 4.0, (1, C, 1, 1)))
gamma_s, beta_s = rng.normal(1.0, 0.5, C), rng.normal(0.0, 0.5, C)
dout_s = rng.normal(size=xs.shape)


def sbn_out(x_, gamma_, beta_):
    return spatial_batchnorm_forward(x_, gamma_, beta_, {"mode": "train"})[0]


per_channel = xs.transpose(1, 0, 2, 3).reshape(C, -1)
print("per-channel mean of xs:", rounded(per_channel.mean(axis=1), 2))
print("per-channel std of xs: ", rounded(per_channel.std(axis=1), 2))
""", "subslide"),
    code("""
numerical = numerical_gradients(
    sbn_out, {"dx": xs, "dgamma": gamma_s, "dbeta": beta_s}, dout_s)
_, cache_s = spatial_batchnorm_forward(xs, gamma_s, beta_s, {"mode": "train"})
analytic = dict(zip(numerical, spatial_batchnorm_backward(dout_s, cache_s)))
assert_gradients_match(analytic, numerical)
print("spatial batch norm: dx, dgamma, dbeta match the numerical gradients",
      "(error < 1e-8)")
""", "subslide"),
    code("""
# group norm, (N, C, H, W), G = 2 groups of 3 channels, per-channel offsets and scales
C, G = 6, 2
xg = (rng.normal(size=(2, C, 2, 3)) * rng.uniform(0.5, 4.0, (1, C, 1, 1))
      + rng.uniform(-4.0, 4.0, (1, C, 1, 1)))
gamma_g, beta_g = rng.normal(1.0, 0.5, (1, C, 1, 1)), rng.normal(0.0, 0.5, (1, C, 1, 1))
dout_g = rng.normal(size=xg.shape)


def gn_out(x_, gamma_, beta_):
    return spatial_groupnorm_forward(x_, gamma_, beta_, G, {})[0]


per_channel = xg.transpose(1, 0, 2, 3).reshape(C, -1)
print("per-channel mean of xg:", rounded(per_channel.mean(axis=1), 2))
print("per-channel std of xg: ", rounded(per_channel.std(axis=1), 2))
""", "subslide"),
    code("""
numerical = numerical_gradients(
    gn_out, {"dx": xg, "dgamma": gamma_g, "dbeta": beta_g}, dout_g)
_, cache_g = spatial_groupnorm_forward(xg, gamma_g, beta_g, G, {})
analytic = dict(zip(numerical, spatial_groupnorm_backward(dout_g, cache_g)))
assert_gradients_match(analytic, numerical)
print("group norm: dx, dgamma, dbeta match the numerical gradients (error < 1e-8)")
""", "subslide"),
    # ------------------------------------------------------------------ RMSNorm
    md(r"""
## RMSNorm: layer norm without the mean

RMSNorm (Zhang and Sennrich, 2019; used in many large language models) keeps layer norm's
axis but skips the centring: it divides by the root mean square, and has no $\beta$:

$$y_{ij} = \gamma_j\,\frac{x_{ij}}{\sqrt{\frac{1}{D}\sum_k x_{ik}^2 + \epsilon}} .$$

It is the core with `center=False`. Each example comes out with root mean square 1 (up to
$\epsilon$), but its mean is not removed, only rescaled: adding a constant to an example changes
RMSNorm's output, while layer norm removes it.
""", "slide"),
    code("""
out_rms, cache_rms = rmsnorm_forward(x, gamma, {})
x_scaled, _, mean_square, inv_rms = normalize(x, axes=(1,), eps=1e-5, center=False)
assert rel_error(out_rms, gamma * x_scaled) < 1e-12

rms = np.sqrt((cache_rms.x_hat**2).mean(axis=1))
assert np.allclose(rms, 1.0, atol=1e-4), "root mean square 1 per example"

shifted = x + 5.0
ln_shifted = layernorm_forward(shifted, gamma, beta, {})[0]
rms_shifted = rmsnorm_forward(shifted, gamma, {})[0]
assert np.allclose(ln_shifted, out_ln, atol=1e-10), "LN removes the shift"
assert np.abs(rms_shifted - out_rms).max() > 0.1, "RMSNorm keeps it"

print("RMSNorm x_hat, root mean square of each example:", rounded(rms, 4))
print("RMSNorm x_hat, mean of each example:", rounded(cache_rms.x_hat.mean(axis=1), 2))
"""),
    code("""
numerical = numerical_gradients(lambda x_, gamma_: rmsnorm_forward(x_, gamma_, {})[0],
                                {"dx": x, "dgamma": gamma}, dout)
analytic = dict(zip(numerical, rmsnorm_backward(dout, cache_rms)))
assert_gradients_match(analytic, numerical)
print("RMSNorm: dx, dgamma match the numerical gradients (error < 1e-8)")
""", "subslide"),
    # ------------------------------------------------------------------ summary
    md(r"""
## Summary

- Layer norm is the core normalization over the features (`axes=(1,)`) instead of the batch
  (`axes=(0,)`); $\gamma$ and $\beta$ stay per feature. That is why batch norm on $x^\top$,
  with $\gamma$ and $\beta$ applied afterwards, computes layer norm.
- On an $(N, C, H, W)$ block the family differs only in which cells share a statistic: batch
  norm per position over $N$; spatial batch norm per channel over $(N, H, W)$; layer norm per
  example over $(C, H, W)$; group norm per example and group over $(C/G, H, W)$; instance norm
  per example and channel over $(H, W)$. The labels behind the pictures reproduce every layer exactly.
- Layer norm's output for an example does not depend on the rest of the batch, and train and
  test mode are identical; batch norm's depends on both.
- RMSNorm is layer norm without the mean. All backward passes pass float64 gradient checks
  (error below $10^{-8}$ of the gradient's largest entry) with random $\gamma$, $\beta$, $dy$ and
  per-channel offsets; typical mistakes give errors of order $0.1$ to $1$.

""", "slide"),
    md(r"""
## Questions

**1.** Can you train with batch norm at batch size 1? With layer norm?

<details><summary>Answer</summary>

Not with batch norm: the variance of one value is 0, so $\hat{x} = 0$ and the output is $\beta$
whatever the input (the package refuses it in train mode: "x must hold at least 2 examples"). Layer norm takes its statistics over the $D$ features
of the one example, so batch size 1 is fine.
</details>

**2.** A group norm implementation puts channels $c$, $c+G$, $c+2G$, ... in one group instead of
$C/G$ neighbouring channels. Which check catches this, and which does not?

<details><summary>Answer</summary>

Comparing the forward output against the labels (or a reference) with **per-channel offsets**
catches it: with different means per channel, the interleaved groups mix different channels and
give different outputs. With data that has the same statistics in every channel, both groupings
give outputs that look alike. A gradient check does not catch it either, as long as the backward
pass uses the same interleaved grouping as the forward: it is then the correct gradient of the
wrong layer. (A backward with the right grouping behind the wrong forward would fail it.)
</details>

**3.** In a transformer, activations have shape (batch, tokens, features). Over which axes does
layer norm take its statistics, and does the number of tokens in other sequences matter?

<details><summary>Answer</summary>

Over the features only: one mean and variance per token. Other tokens and other sequences play no
part, which is exactly the batch independence asserted above, one level finer.
</details>

**4.** For inputs whose every example already has mean 0, how do RMSNorm and layer norm differ?

<details><summary>Answer</summary>

They don't (apart from $\beta$): with $\mu_i = 0$, the variance is the mean square, so both divide
by the same $\sqrt{\frac{1}{D}\sum_k x_{ik}^2 + \epsilon}$. RMSNorm saves the mean computation by
betting that centring matters little.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
