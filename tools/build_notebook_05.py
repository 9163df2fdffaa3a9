#!/usr/bin/env python
"""Write notebooks/05_weight_init.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_05.py && python tools/run_notebooks.py 05

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change. Only the widget cell is tagged
nbval-ignore-output; every other output is compared.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "05_weight_init.ipynb"

NAV = ("[← 04 Layer norm and the family](04_layernorm_and_family.ipynb) | [Index](00_index.ipynb) | "
       "[06 Batch size →](06_batch_size.ipynb)")


cells = [
    md(NAV + r"""

# 05 · Weight-initialization sensitivity

Before batch norm, training a deep net meant choosing the scale of the initial weights with
care: too small and the signal fades layer by layer, too large and it explodes. Batch norm
and layer norm were sold on making this choice matter much less. Here we *measure* that
claim: 60 five-layer nets (no norm, batch norm, layer norm, each at 20 weight scales from
$10^{-4}$ to $1$) trained on real handwritten digits, then we open the nets up at
initialization and look at every layer's activations and gradients.
""", "slide"),
    md(r"""
## Learning goals

After this notebook (about **30 minutes**) you can:

- predict from $\operatorname{Var}(a) = n\,s^2\operatorname{Var}(h)$ how a plain net's activations shrink or grow with the weight scale $s$;
- read the three classic plots (best training accuracy, best validation accuracy, final loss against weight scale) and say where each kind of net trains;
- explain why a normalized layer does not care about the scale of the weights before it, and where that stops being true ($\epsilon$);
- use per-layer activation and gradient histograms (and the saturated share of tanh units) to diagnose a badly initialized net.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm.data import load_dataset
from cs231n_norm.experiments import (
    layer_statistics,
    reliable_scale_range,
    weight_init_sensitivity,
    weight_init_table,
)
from cs231n_norm.plots.experiments import layer_histograms_figure, weight_init_figure
from cs231n_norm.widgets.weight_init import WeightInitExplorer, build_weight_init_explorer
""", "skip"),
    md(r"""
## The data

scikit-learn ships 1,797 real 8×8 images of handwritten digits, so this notebook runs offline.
We keep the classic CS231n setting of a *small* training set (1,000 examples) and a fixed,
seeded validation set of 300; every feature is standardized with the training set's mean and
standard deviation. With CIFAR-10 downloaded, `load_dataset("auto")` would pick it instead;
this notebook asks for the digits explicitly so its stored outputs never change.
""", "slide"),
    code("""
dataset = load_dataset("digits", num_train=1000)
print(dataset.message)
print("train:", dataset.X_train.shape, " validation:", dataset.X_val.shape)
"""),
    md(r"""
## Why the scale matters: one line of variance

A hidden layer computes $a = hW$ with $n$ inputs and weights drawn as
$W_{kj} \sim \mathcal{N}(0, s^2)$. For independent inputs,

$$\operatorname{Var}(a_j) = n\, s^2 \operatorname{Var}(h_k),$$

and a ReLU passes on about half of that. Layer after layer the factor $\tfrac{1}{2} n s^2$
multiplies: below $s^\ast = \sqrt{2/n}$ (He initialization; $0.14$ for $n = 100$) the signal
fades geometrically, above it, it grows geometrically. With batch or layer norm after each
affine layer, $a$ is divided by its own standard deviation, so $s$ cancels out:
$\mathrm{BN}(s\,a) = \mathrm{BN}(a)$ as long as $\operatorname{Var}(s\,a) \gg \epsilon$.
""", "slide"),
    md(r"""
## The experiment: 60 nets, 20 weight scales

Architecture: 5 hidden layers of 100 units, `{affine - [norm] - relu} x 5 - affine - softmax`.
Every net: Adam, learning rate $2 \cdot 10^{-3}$, 10 epochs, batch size 50, seed 0. The sweep trainer
trains all 20 scales of one kind of net at once (stacked weights, batched matrix products), so
the whole run takes seconds. The same run from a terminal:
`python -m cs231n_norm weight-init --dataset digits --out results.json`.
""", "slide"),
    code("""
result = weight_init_sensitivity(dataset, progress=False)
print(f"{result.num_runs} nets trained; settings:")
for key in ("hidden_dims", "num_epochs", "batch_size", "learning_rate", "update_rule", "seeds", "dtype"):
    print(f"  {key}: {result.config[key]}")
"""),
    md(r"""
### Best validation accuracy

The one that matters. The baseline (grey) reaches its best only in a narrow band around
$s^\ast$; batch norm (blue) and layer norm (orange) are flat over most of the range, layer
norm a little lower at the smallest scales. At such scales the variance a layer divides by is
comparable to $\epsilon$ or smaller (the $\epsilon$ effect shown for batch norm in "Inside the
nets" below). Both fall off at the largest scales, where the first updates are large.
""", "slide"),
    code("""
display(weight_init_figure(result, "best_val_acc"))
"""),
    code("""
print(weight_init_table(result, "best_val_acc", digits=2))
""", "subslide"),
    md(r"""
### Best training accuracy and final training loss

At the smallest scales the baseline does not learn at all: its final loss is
$\ln 10 \approx 2.303$, the loss of a net that gives every class probability $1/10$.
At the largest scales its loss is huge: the activations have exploded. The normalized nets
fit the training set almost everywhere.
""", "slide"),
    code("""
display(weight_init_figure(result, "best_train_acc"))
""", "-"),
    code("""
display(weight_init_figure(result, "final_train_loss"))
""", "subslide"),
    md(r"""
### The claim, checked

We call a scale *good* when the net reaches 90% validation accuracy, and measure the widest
run of consecutive good scales, in decades ($\log_{10}$ of highest over lowest scale).
""", "subslide"),
    code("""
ranges = {norm: reliable_scale_range(result, norm, threshold=0.9) for norm in ("none", "batchnorm", "layernorm")}
for norm, r in ranges.items():
    print(f"{norm:>9}: {r['count']:>2} good scales, {r['low']:.1e} .. {r['high']:.1e}, {r['decades']:.2f} decades")

assert ranges["batchnorm"]["decades"] >= ranges["none"]["decades"] + 2, "BN: a range at least 100x wider"
assert ranges["layernorm"]["decades"] >= ranges["none"]["decades"] + 1, "LN: a range at least 10x wider"
assert ranges["batchnorm"]["count"] >= 3 * ranges["none"]["count"]
bn_small_to_quarter = result.select(norm="batchnorm") & (result.columns["weight_scale"] <= 0.25)
assert result.columns["best_val_acc"][bn_small_to_quarter].min() >= 0.95, "BN: >= 95% at every scale up to 0.25"

smallest = result.columns["weight_scale"].min()
loss_at_smallest = result.columns["final_train_loss"][result.select(norm="none", weight_scale=smallest)][0]
assert abs(loss_at_smallest - np.log(10)) < 0.01, "the baseline at 1e-4 predicts the uniform distribution"
print(f"baseline at scale {smallest:.0e}: final loss {loss_at_smallest:.3f} (ln 10 = {np.log(10):.3f})")
"""),
    md(r"""
## Inside the nets at initialization

Why does the baseline fail at small scales? Pass 500 training examples through a freshly
initialized net and record, for every hidden layer, the ReLU outputs and the gradient of the
loss with respect to them. At $s = 10^{-4}$ the variance line predicts a factor of
$\tfrac{1}{2} \cdot 100 \cdot 10^{-8}$ per layer: each layer's outputs are about a thousand
times smaller than the previous layer's. The gradients reaching the first layers are as tiny,
so the weights barely move.
""", "slide"),
    code("""
tiny_plain = layer_statistics(dataset, weight_scale=1e-4, norm="none")
print(tiny_plain.table())
stds = [layer["activation"]["std"] for layer in tiny_plain.layers]
ratios = [later / earlier for earlier, later in zip(stds, stds[1:])]
assert all(1e-4 < r < 1e-2 for r in ratios), ratios
print("layer-to-layer ratio of activation std:", ", ".join(f"{r:.1e}" for r in ratios))
"""),
    md(r"""
With batch norm after every affine layer, the same tiny weights shrink the activations by a
factor of about 5 per layer instead of about 1,000. Why not 1? At $s = 10^{-4}$ the variance of
$a$ in layer 1 is about $64 \cdot 10^{-8} \approx 6 \cdot 10^{-7}$, smaller than
$\epsilon = 10^{-5}$, so batch norm divides by $\sqrt{\operatorname{Var}(a) + \epsilon} \approx \sqrt{\epsilon}$
rather than by the standard deviation, and its output is about 4 times too small; the next layer
starts from that smaller input, and so on. This is the one place where the weight scale still
leaks through (it is why the batch-norm curve above dips at $10^{-4}$); training repairs it
quickly, as $\gamma$ grows. At $s = 10^{-2}$, far from $\epsilon$, every layer looks the same.
""", "slide"),
    code("""
tiny_bn = layer_statistics(dataset, weight_scale=1e-4, norm="batchnorm")
fine_bn = layer_statistics(dataset, weight_scale=1e-2, norm="batchnorm")
print(tiny_bn.table())
print()
print(fine_bn.table())

bn_stds = [layer["activation"]["std"] for layer in tiny_bn.layers]
bn_ratios = [later / earlier for earlier, later in zip(bn_stds, bn_stds[1:])]
assert all(0.1 < r < 0.5 for r in bn_ratios), bn_ratios
print("batch norm at 1e-4, layer-to-layer ratio of activation std:", ", ".join(f"{r:.2f}" for r in bn_ratios))
fine_stds = [layer["activation"]["std"] for layer in fine_bn.layers]
assert max(fine_stds) < 1.1 * min(fine_stds), "at 1e-2 every BN layer has the same spread"
""", "subslide"),
    md(r"""
### Histograms, layer by layer

One line per layer (Karpathy's makemore picture): left the ReLU outputs (their share of exact
zeros is in the legend), right the gradients flowing back into them. The baseline at
$10^{-4}$: layer 1 is visible, every later layer is a spike at zero.
""", "subslide"),
    code("""
display(layer_histograms_figure(tiny_plain))
display(layer_histograms_figure(fine_bn))
"""),
    md(r"""
## Explore: pick a weight scale and a norm

Slide through the 20 scales and switch between no norm, batch norm and layer norm (and ReLU
or tanh). Each setting is computed the first time you ask for it and cached, so the picture
updates within a second. Things to find: the scale at which the plain net's layers have equal
spreads ($s^\ast$); how the gradient histograms of the plain net at $s = 1$ differ between the
first and last layer; what tanh does at large scales.
""", "slide"),
    code("""
explorer = WeightInitExplorer(dataset)
display(build_weight_init_explorer(dataset, explorer=explorer, weight_scale=1e-4, norm="none"))
""", tags=["nbval-ignore-output"]),
    md(r"""
## Saturation: tanh at large scales

With tanh instead of ReLU, a large scale does not explode: tanh squashes everything into
$(-1, 1)$. But a unit with $|\tanh(a)| > 0.97$ has local gradient $1 - \tanh^2(a) < 0.06$: it is
*saturated*, and passes almost no gradient back. At $s = 1$ most units of the plain net are
saturated; batch norm brings its inputs back to unit variance, and almost none are.
""", "slide"),
    code("""
tanh_plain = layer_statistics(dataset, weight_scale=1.0, norm="none", activation="tanh")
tanh_bn = layer_statistics(dataset, weight_scale=1.0, norm="batchnorm", activation="tanh")
print(tanh_plain.table())
print()
print(tanh_bn.table())
assert all(layer["activation"]["saturated"] > 0.5 for layer in tanh_plain.layers)
assert all(layer["activation"]["saturated"] < 0.05 for layer in tanh_bn.layers)
"""),
    md(r"""
## Summary

- Without normalization, each layer multiplies the activation variance by about
  $\tfrac{1}{2} n s^2$: below $s^\ast = \sqrt{2/n}$ the signal and the gradients vanish (the net
  stays at loss $\ln 10$), above it they explode.
- Measured on the digits: the plain net reaches 90% validation accuracy only within less than a
  decade of scales around $s^\ast$; batch norm over more than three decades, layer norm over more
  than two (asserted above).
- A normalized layer divides out the weight scale; only when $\operatorname{Var}(a)$ falls below
  $\epsilon$ does the scale leak through again.
- Per-layer histograms of activations and gradients (and the saturated share for tanh) show a
  bad initialization before any training.

""", "slide"),
    md(r"""
## Questions

**1.** For a plain ReLU net with hidden layers of 400 units, which weight scale keeps the activation
variance constant from layer to layer?

<details><summary>Answer</summary>

$s^\ast = \sqrt{2/n} = \sqrt{2/400} \approx 0.071$ (He initialization): then $\tfrac{1}{2} n s^2 = 1$.
</details>

**2.** Batch norm removes the weight scale, yet the batch-norm curve dips at $10^{-4}$. Which
hyperparameter would you change to remove the dip, and why?

<details><summary>Answer</summary>

$\epsilon$: at $s = 10^{-4}$ the variance of the first layer's pre-activations is about
$6 \cdot 10^{-7}$, below $\epsilon = 10^{-5}$, so the layer divides by about $\sqrt{\epsilon}$ and its
output is too small. A smaller $\epsilon$ (say $10^{-9}$) moves the dip to smaller scales.
</details>

**3.** The plain net at $s = 1$ still reaches some accuracy although its loss ends in the thousands.
How can both be true?

<details><summary>Answer</summary>

Accuracy only needs the largest score to be in the right place; the loss punishes confident
mistakes without bound. Exploded activations make the scores enormous, so every mistake is made
with near-certainty and costs a huge loss, while many examples are still classified right.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
